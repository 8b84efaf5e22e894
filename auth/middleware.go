package auth

import (
	"errors"
	"net/http"

	"gateway/config"
	"gateway/httperr"
)

// Errors returned by Authenticate.
var (
	ErrMissingCredentials = errors.New("no credentials")
	ErrBadCredentials     = errors.New("wrong credentials")
	ErrModeUnavailable    = errors.New("auth mode not available")
)

// Authenticator authenticates requests in the configured mode. It is
// immutable; a config reload builds a new one.
type Authenticator struct {
	mode  string
	token *TokenVerifier
}

// NewAuthenticator builds an Authenticator. token is required in token
// mode. Modes this build cannot serve are refused here, at startup, rather
// than silently weakened.
func NewAuthenticator(mode string, token string) (*Authenticator, error) {
	a := &Authenticator{mode: mode}
	switch mode {
	case config.ModeToken:
		v, err := NewTokenVerifier(token)
		if err != nil {
			return nil, errors.New("auth: token mode needs a token (config, OPENCLAW_GATEWAY_TOKEN or a writable state dir)")
		}
		a.token = v
	case config.ModeNone:
	case config.ModePassword, config.ModeTrustedProxy:
		return nil, errors.New("auth: mode " + mode + " is not supported by this build")
	default:
		return nil, errors.New("auth: unknown mode " + mode)
	}
	return a, nil
}

// Mode returns the configured mode.
func (a *Authenticator) Mode() string { return a.mode }

// Authenticate returns the caller's identity or an *httperr.Error (401).
func (a *Authenticator) Authenticate(r *http.Request) (*Identity, error) {
	switch a.mode {
	case config.ModeNone:
		// Only reachable with bind: loopback (config refuses otherwise).
		return &Identity{User: "local", Method: config.ModeNone, Role: RoleAdmin}, nil
	case config.ModeToken:
		tok, cred := BearerToken(r)
		if tok == "" {
			return nil, unauthorized(ErrMissingCredentials)
		}
		if !a.token.Verify(tok) {
			return nil, unauthorized(ErrBadCredentials)
		}
		return &Identity{User: "owner", Method: config.ModeToken, Role: RoleAdmin, Credential: cred}, nil
	}
	return nil, unauthorized(ErrModeUnavailable)
}

func unauthorized(cause error) error {
	e := httperr.New(http.StatusUnauthorized, "unauthorized", "authentication required", cause)
	if errors.Is(cause, ErrBadCredentials) {
		e.Code, e.Msg = "invalid_credentials", "invalid credentials"
	}
	e.Header = http.Header{"Www-Authenticate": {`Bearer realm="gateway"`}}
	return e
}

// Middleware authenticates every request, answering 401 JSON on failure and
// storing the identity in the context on success. onResult, if set, sees
// every outcome (for the access log).
func (a *Authenticator) Middleware(onResult func(*http.Request, *Identity, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := a.Authenticate(r)
			if onResult != nil {
				onResult(r, id, err)
			}
			if err != nil {
				httperr.Write(w, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
		})
	}
}
