package auth

import (
	"context"
	"errors"
	"net/http"

	"gateway/cookie"
	"gateway/request"
)

// Forward auth (/auth/verify) asks who the person behind a request to
// another app on the host is. It takes the domain-wide SSO cookie, a
// session or device token in Proxy-Authorization, and an access proxy's
// assertion; never the shared token or the password (an app's users must
// not be handed the agent's master key), and never the agent's own session
// cookie (host-only: it never reaches the apps). Authorization is the
// app's own and is not read; a Proxy-Authorization value of none of the
// gateway's forms is no credential, not a counted failure.

// AuthenticateForward returns the identity of a forward-auth request, or a
// refusal (401 without a usable credential).
func (a *Authenticator) AuthenticateForward(r *http.Request) (*request.Identity, error) {
	rec := recordOf(r)
	ctx := r.Context()
	for _, m := range a.front {
		if am, ok := m.(*assertionMethod); ok {
			if id, err := am.Authenticate(r, rec); id != nil || err != nil {
				a.observed(am.Name(), err)
				return id, err
			}
		}
	}
	if a.sso {
		if c := cookie.Only(r, cookie.SSO, rec.Proto); c != "" {
			se, err := a.st.Sessions.Check(ctx, c, a.sessions, OriginSSO)
			switch {
			case err == nil:
				id, err := a.session.identity(se)
				if id != nil {
					id.Credential = request.CredentialCookie
				}
				a.observed(request.MethodSession, err)
				return id, err
			case !errors.Is(err, ErrNoSession):
				return nil, StoreUnavailable(err)
			}
		}
	}
	if tok, ok := Bearer(r.Header.Get("Proxy-Authorization")); ok {
		p := presented{tok, request.CredentialProxyAuthorization}
		for _, m := range []credentialMethod{a.device, a.session} {
			if m.takes(p) {
				id, err := m.check(ctx, rec, p)
				if id != nil {
					id.Credential = p.carrier
				}
				a.observed(m.Name(), err)
				if id != nil || err != nil {
					return id, err
				}
			}
		}
	}
	a.observed(MethodAny, unauthorized(ErrMissingCredentials))
	return nil, unauthorized(ErrMissingCredentials)
}

// openSSO opens the SSO session beside a sign-in on the agent origin, when
// forward auth has a cookie domain; "" when it does not.
func (a *Authenticator) openSSO(ctx context.Context, who Opened) (string, error) {
	if !a.sso {
		return "", nil
	}
	who.Origin = OriginSSO
	tok, _, err := a.st.Sessions.Create(ctx, a.sessions, who)
	return tok, err
}

// SSOFromCookie opens an agent-origin session for the person the request's
// SSO cookie signed in (so /auth/login skips its form), or reports false.
func (a *Authenticator) SSOFromCookie(ctx context.Context, r *http.Request) (LoginResult, bool, error) {
	rec := recordOf(r)
	if !a.sso || rec.Admin {
		return LoginResult{}, false, nil
	}
	c := cookie.Only(r, cookie.SSO, rec.Proto)
	if c == "" {
		return LoginResult{}, false, nil
	}
	se, err := a.st.Sessions.Check(ctx, c, a.sessions, OriginSSO)
	if errors.Is(err, ErrNoSession) {
		return LoginResult{}, false, nil
	}
	if err != nil {
		return LoginResult{}, false, StoreUnavailable(err)
	}
	// The person must still be admitted.
	if _, err := a.session.identity(se); err != nil {
		return LoginResult{}, false, err
	}
	who := se.Opened
	who.Origin = OriginAgent
	tok, exp, err := a.st.Sessions.Create(ctx, a.sessions, who)
	if err != nil {
		return LoginResult{}, false, err
	}
	return LoginResult{Token: tok, Expires: exp}, true, nil
}

// EndSSO ends the SSO session of the request's cookie, if any.
func (a *Authenticator) EndSSO(r *http.Request) error {
	if c := cookie.Only(r, cookie.SSO, recordOf(r).Proto); c != "" {
		return a.st.Sessions.Revoke(r.Context(), c, a.sessions)
	}
	return nil
}
