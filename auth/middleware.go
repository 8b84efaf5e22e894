package auth

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"gateway/config"
	"gateway/httperr"
	"gateway/trust"
)

// Errors returned by Authenticate.
var (
	ErrMissingCredentials = errors.New("no credentials")
	ErrBadCredentials     = errors.New("wrong credentials")
	ErrLockedOut          = errors.New("locked out after too many failures")
	ErrProxyAuth          = errors.New("trusted-proxy checks failed")
)

// SessionCookie is the password-session cookie name.
const SessionCookie = "gateway_session"

// Credential scopes for the failure lockout.
const (
	ScopeToken    = "token"
	ScopeSession  = "session"
	ScopePassword = "password"
	ScopeDevice   = "device"
)

// Deps is the authentication state that outlives a config reload: lockout
// counters, challenges, sessions, devices and signing keys.
type Deps struct {
	Limiter  *Limiter
	Nonces   *Nonces
	Sessions *SessionStore
	Devices  *DeviceStore
	Tokens   *TokenIssuer
	Now      func() time.Time
}

// NewDeps opens the state-dir backed stores.
func NewDeps(stateDir string, cfg *config.Config, now func() time.Time) (*Deps, error) {
	if now == nil {
		now = time.Now
	}
	rl := cfg.Gateway.Auth.RateLimit
	d := &Deps{Now: now, Nonces: NewNonces(now),
		Limiter: NewLimiter(rl.MaxAttempts, cfg.Typed.RateWindow, cfg.Typed.Lockout, DefaultLimiterCap, now)}
	var err error
	if d.Sessions, err = NewSessionStore(stateDir, cfg.Typed.SessionIdle, cfg.Typed.SessionAbsolute, now); err != nil {
		return nil, err
	}
	if d.Devices, err = NewDeviceStore(stateDir, now); err != nil {
		return nil, err
	}
	if d.Tokens, err = LoadOrCreateKeys(stateDir, now); err != nil {
		return nil, err
	}
	return d, nil
}

// Authenticator authenticates requests in the configured mode. It is
// immutable; a config reload builds a new one over the same Deps.
type Authenticator struct {
	mode     string
	token    *TokenVerifier
	password *PasswordHash
	deps     *Deps
	tp       config.TrustedProxy
	trusted  bool // any trusted proxies configured
	device   bool
	autoLoc  bool
	tokenTTL time.Duration
	loginSem chan struct{}
}

// Options configure an Authenticator.
type Options struct {
	Config *config.Config
	// Token is the shared token (token mode; optional in password mode,
	// where it lets connectors authenticate without a session).
	Token string
	Deps  *Deps
}

// NewAuthenticator builds an Authenticator. A mode that cannot be satisfied
// is an error here, at startup: it never degrades to a weaker one.
func NewAuthenticator(o Options) (*Authenticator, error) {
	cfg := o.Config
	tp := cfg.Gateway.Auth.TrustedProxy
	// Canonicalise header names once, not on every request.
	tp.UserHeader = http.CanonicalHeaderKey(strings.TrimSpace(tp.UserHeader))
	a := &Authenticator{
		mode: cfg.Gateway.Auth.Mode, deps: o.Deps, tp: tp,
		trusted: len(cfg.Typed.TrustedProxies) > 0, device: cfg.Typed.DeviceEnabled,
		autoLoc: cfg.Typed.AutoApproveLocal, tokenTTL: cfg.Typed.DeviceTokenTTL,
		// Argon2id costs 64 MiB and tens of milliseconds: cap concurrent
		// logins so they cannot be used to exhaust memory.
		loginSem: make(chan struct{}, 2),
	}
	if a.deps == nil {
		return nil, errors.New("auth: no state (Deps)")
	}
	a.deps.Limiter.Configure(cfg.Gateway.Auth.RateLimit.MaxAttempts, cfg.Typed.RateWindow, cfg.Typed.Lockout)
	a.deps.Sessions.SetTimeouts(cfg.Typed.SessionIdle, cfg.Typed.SessionAbsolute)
	switch a.mode {
	case config.ModeToken:
		v, err := NewTokenVerifier(o.Token)
		if err != nil {
			return nil, errors.New("auth: token mode needs a token (config, OPENCLAW_GATEWAY_TOKEN or a writable state dir)")
		}
		a.token = v
	case config.ModePassword:
		ph, err := passwordHashFrom(cfg.Gateway.Auth)
		if err != nil {
			return nil, err
		}
		a.password = &ph
		if o.Token != "" {
			if a.token, err = NewTokenVerifier(o.Token); err != nil {
				return nil, err
			}
		}
	case config.ModeTrustedProxy:
		// There is no second way in: devices and tokens are off.
		a.device = false
	case config.ModeNone:
	default:
		return nil, errors.New("auth: unknown mode " + a.mode)
	}
	return a, nil
}

// passwordHashFrom hashes a configured password once at startup (the
// plaintext is not kept), or parses a configured hash.
func passwordHashFrom(c config.Auth) (PasswordHash, error) {
	if c.PasswordHash != "" {
		h, err := ParsePasswordHash(c.PasswordHash)
		if err != nil {
			return PasswordHash{}, errors.New("auth: gateway.auth.passwordHash: " + err.Error())
		}
		return h, nil
	}
	if c.Password == "" {
		return PasswordHash{}, errors.New("auth: password mode needs gateway.auth.password or passwordHash")
	}
	s, err := HashPassword(c.Password)
	if err != nil {
		return PasswordHash{}, err
	}
	return ParsePasswordHash(s)
}

// Mode returns the configured mode.
func (a *Authenticator) Mode() string { return a.mode }

// Deps returns the shared state.
func (a *Authenticator) Deps() *Deps { return a.deps }

func resultOf(r *http.Request) *trust.Result {
	if res, ok := trust.FromContext(r.Context()); ok {
		return res
	}
	// No trust decision means the chain is mis-wired: treat as a remote
	// stranger, never as local.
	return &trust.Result{Client: netip.IPv4Unspecified()}
}

// Authenticate returns the caller's identity or an *httperr.Error.
func (a *Authenticator) Authenticate(r *http.Request) (*Identity, error) {
	res := resultOf(r)
	switch a.mode {
	case config.ModeNone:
		// Only reachable with bind: loopback (config refuses otherwise).
		return &Identity{User: "local", Method: config.ModeNone, Role: RoleAdmin}, nil
	case config.ModeTrustedProxy:
		return a.trustedProxy(r, res)
	}
	tok, cred := BearerToken(r)
	scope := ScopeToken
	switch {
	case tok != "" && a.device && LooksLikeJWT(tok):
		scope = ScopeDevice
	case a.mode == config.ModePassword:
		scope = ScopeSession
		if tok == "" {
			if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
				tok, cred = c.Value, "cookie"
			}
		}
	}
	if tok == "" {
		return nil, unauthorized(ErrMissingCredentials)
	}
	if err := a.checkLocked(scope, res); err != nil {
		return nil, err
	}
	id, ok := a.verify(scope, tok)
	if !ok {
		return nil, a.failed(scope, res, ErrBadCredentials)
	}
	id.Credential = cred
	a.deps.Limiter.Succeed(scope, res.Client)
	return id, nil
}

func (a *Authenticator) verify(scope, tok string) (*Identity, bool) {
	switch scope {
	case ScopeDevice:
		return a.verifyDeviceToken(tok)
	case ScopeToken:
		if a.token != nil && a.token.Verify(tok) {
			return &Identity{User: "owner", Method: config.ModeToken, Role: RoleAdmin}, true
		}
	case ScopeSession:
		if _, err := a.deps.Sessions.Check(tok); err == nil {
			return &Identity{User: "owner", Method: config.ModePassword, Role: RoleAdmin}, true
		}
		// Connectors in password mode may use the shared token.
		if a.token != nil && a.token.Verify(tok) {
			return &Identity{User: "owner", Method: config.ModeToken, Role: RoleAdmin}, true
		}
	}
	return nil, false
}

func (a *Authenticator) verifyDeviceToken(tok string) (*Identity, bool) {
	claims, err := a.deps.Tokens.Parse(tok)
	if err != nil {
		return nil, false
	}
	dev, paired, revoked, err := a.deps.Devices.Lookup(claims.Subject, claims.ID)
	if err != nil || !paired || revoked {
		return nil, false
	}
	// A token issued before the current pairing (the device was revoked
	// and paired again) is dead; iat has second granularity.
	if claims.IssuedAt == nil || claims.IssuedAt.UnixMilli() < dev.ApprovedAtMs-999 {
		return nil, false
	}
	if claims.Role != dev.Role && dev.Role != RoleAdmin {
		return nil, false
	}
	return &Identity{User: "device:" + dev.DeviceID[:16], Method: "device", Role: claims.Role, DeviceID: dev.DeviceID, TokenID: claims.ID}, true
}

// checkLocked refuses a locked-out client. Clean local requests are exempt
// (the owner at the machine must never lock themselves out).
func (a *Authenticator) checkLocked(scope string, res *trust.Result) error {
	if res.Local {
		return nil
	}
	if locked, left := a.deps.Limiter.Locked(scope, res.Client); locked {
		return rateLimited(left)
	}
	return nil
}

// failed counts a wrong credential and returns the error to send.
func (a *Authenticator) failed(scope string, res *trust.Result, cause error) error {
	if !res.Local && a.deps.Limiter.Fail(scope, res.Client) {
		if _, left := a.deps.Limiter.Locked(scope, res.Client); left > 0 {
			return rateLimited(left)
		}
	}
	return unauthorized(cause)
}

func rateLimited(left time.Duration) error {
	e := httperr.New(http.StatusTooManyRequests, "rate_limited", "too many failed attempts; try again later", ErrLockedOut)
	secs := int(left.Seconds() + 0.999)
	if secs < 1 {
		secs = 1
	}
	e.Header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
	return e
}

// trustedProxy authenticates from an identity-aware proxy's user header.
// Every check must pass; nothing else is accepted instead.
func (a *Authenticator) trustedProxy(r *http.Request, res *trust.Result) (*Identity, error) {
	refuse := func(msg string) error {
		return httperr.New(http.StatusUnauthorized, "proxy_auth_required", msg, ErrProxyAuth)
	}
	if !a.trusted {
		return nil, refuse("trusted-proxy mode needs gateway.trustedProxies; every request is refused until it is set")
	}
	if !res.PeerTrusted {
		return nil, refuse("request did not come from a trusted proxy")
	}
	if res.Peer.Addr().IsLoopback() && !a.tp.AllowLoopback {
		return nil, refuse("a loopback proxy is not accepted unless gateway.auth.trustedProxy.allowLoopback is true")
	}
	for _, h := range a.tp.RequiredHeaders {
		if strings.TrimSpace(r.Header.Get(h)) == "" {
			return nil, refuse("a required proxy header is missing")
		}
	}
	user := strings.TrimSpace(r.Header.Get(a.tp.UserHeader))
	if user == "" || len(r.Header.Values(a.tp.UserHeader)) != 1 {
		return nil, refuse("the proxy sent no (or more than one) user header")
	}
	role := "user"
	if len(a.tp.AllowUsers) > 0 {
		if !slices.Contains(a.tp.AllowUsers, user) {
			return nil, httperr.New(http.StatusForbidden, "user_not_allowed", "user not allowed", ErrProxyAuth)
		}
		role = RoleAdmin
	}
	return &Identity{User: user, Method: config.ModeTrustedProxy, Role: role}, nil
}

func unauthorized(cause error) error {
	e := httperr.New(http.StatusUnauthorized, "unauthorized", "authentication required", cause)
	if errors.Is(cause, ErrBadCredentials) {
		e.Code, e.Msg = "invalid_credentials", "invalid credentials"
	}
	e.Header = http.Header{"Www-Authenticate": {`Bearer realm="gateway"`}}
	return e
}

// StripUserHeader removes the trusted-proxy user header from requests that
// did not come from a trusted proxy, in every mode, so neither the gateway
// nor the upstream can be fooled by a client that sets it.
func (a *Authenticator) StripUserHeader(r *http.Request) {
	if res := resultOf(r); !res.PeerTrusted && a.tp.UserHeader != "" {
		delete(r.Header, a.tp.UserHeader)
	}
}

// Middleware authenticates every request, answering 4xx JSON on failure and
// storing the identity in the context on success. onResult, if set, sees
// every outcome (for the access log and metrics).
func (a *Authenticator) Middleware(onResult func(*http.Request, *Identity, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a.StripUserHeader(r)
			id, err := a.Authenticate(r)
			if onResult != nil {
				onResult(r, id, err)
			}
			if err != nil {
				httperr.Write(w, err)
				return
			}
			if setInContext(r.Context(), id) {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
		})
	}
}

// RequireAdmin refuses every identity that is not the owner with 403.
func RequireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := FromContext(r.Context())
		if !ok || !id.IsAdmin() {
			httperr.Write(w, httperr.New(http.StatusForbidden, "forbidden", "admin only", nil))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Login verifies the password and opens a session. It is rate limited like
// every credential check and bounded in concurrency.
func (a *Authenticator) Login(ctx context.Context, r *http.Request, password string) (string, time.Time, error) {
	res := resultOf(r)
	if a.mode != config.ModePassword {
		return "", time.Time{}, httperr.New(http.StatusNotFound, "password_login_disabled", "password login is not enabled (gateway.auth.mode)", nil)
	}
	if err := a.checkLocked(ScopePassword, res); err != nil {
		return "", time.Time{}, err
	}
	select {
	case a.loginSem <- struct{}{}:
		defer func() { <-a.loginSem }()
	case <-ctx.Done():
		return "", time.Time{}, ctx.Err()
	case <-time.After(5 * time.Second):
		return "", time.Time{}, httperr.New(http.StatusTooManyRequests, "busy", "too many logins at once; retry", nil)
	}
	if !a.password.Verify(password) {
		return "", time.Time{}, a.failed(ScopePassword, res, ErrBadCredentials)
	}
	a.deps.Limiter.Succeed(ScopePassword, res.Client)
	return a.deps.Sessions.Create()
}
