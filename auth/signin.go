package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"gateway/cookie"
	"gateway/httperr"
	"gateway/request"
)

// Secrets a sign-in form asks for.
const (
	SecretPassword = "password"
	SecretToken    = "token"
)

// secretSignIn is a method whose secret a sign-in form takes (the
// password, the shared token), opening a session for the owner.
type secretSignIn interface {
	offered
	// scope is the lockout scope of its sign-ins.
	scope() string
	// hashed says a check costs a password hash (and a hashing slot).
	hashed() bool
	verify(secret string) bool
}

// Offers lists what the sign-in page presents on r's origin, in order.
func (a *Authenticator) Offers(r *http.Request) []Offer {
	rec := recordOf(r)
	var out []Offer
	for _, m := range a.signIns {
		if o, ok := m.(offered); ok {
			if of, ok := o.offer(rec); ok {
				out = append(out, of)
			}
		}
	}
	return out
}

// formMethod is the method whose secret a sign-in on rec's origin takes,
// nil when none does there.
func (a *Authenticator) formMethod(rec *request.Record) secretSignIn {
	for _, m := range a.signIns {
		if s, ok := m.(secretSignIn); ok {
			if o, ok := s.offer(rec); ok && o.Field != "" {
				return s
			}
		}
	}
	return nil
}

// LoginSecret names the secret a sign-in takes on r's origin ("password",
// "token"), "" when no form sign-in is offered there.
func (a *Authenticator) LoginSecret(r *http.Request) string {
	if m := a.formMethod(recordOf(r)); m != nil {
		o, _ := m.offer(recordOf(r))
		return o.Field
	}
	return ""
}

// LoginResult is a sign-in that worked.
type LoginResult struct {
	// Token is the session's token; Expires its absolute end.
	Token   string
	Expires time.Time
	// KnownClient is the known-client cookie to set ("" when it could not
	// be stored: the sign-in still worked).
	KnownClient string
	// SSO is the forward-auth SSO cookie to set for the cookie domain
	// ("" when forward auth has none, or on the admin origin).
	SSO string
}

// Login verifies the secret a form sign-in takes on r's origin (see
// LoginSecret) and opens a session there for the owner. It is rate limited
// like every credential check (the attempt is reserved before the hash
// slot and the lockout re-checked after it) and bounded in concurrency. A
// known client (KnownClients) is counted in its own bucket and hashed in
// its own slot.
func (a *Authenticator) Login(ctx context.Context, r *http.Request, secret string) (LoginResult, error) {
	m := a.formMethod(recordOf(r))
	if m == nil {
		return LoginResult{}, httperr.New(http.StatusNotFound, "login_disabled", "sign-in with a password or token is not available here (gateway.auth.mode)", nil)
	}
	res, err := a.login(ctx, r, m, secret)
	a.observed(m.Name(), err)
	return res, err
}

func (a *Authenticator) login(ctx context.Context, r *http.Request, m secretSignIn, secret string) (LoginResult, error) {
	rec := recordOf(r)
	scope := m.scope()
	fp := a.limiter.fingerprint[m.Name()]
	known, att := a.knownAttempt(ctx, r, rec, scope, fp)
	if known == "" {
		var err error
		if att, err = a.reserve(ctx, scope, rec); err != nil {
			return LoginResult{}, err
		}
	}
	if m.hashed() {
		release, err := a.limiter.hashSlot(ctx, rec, known != "")
		if err != nil {
			att.Cancel()
			return LoginResult{}, err
		}
		defer release()
		// Failures may have engaged the lockout while this attempt
		// waited its turn: a locked client is not verified.
		if known == "" {
			left, err := a.st.Lockouts.Locked(ctx, a.lockout, scope, rec.Client)
			if err != nil {
				att.Cancel()
				return LoginResult{}, err
			}
			if left > 0 && !rec.Local() {
				att.Cancel()
				return LoginResult{}, rateLimited(left)
			}
		}
	}
	if !m.verify(secret) {
		if att.Fail() && known != "" {
			// The cookie's own bucket locked: a stolen or planted
			// cookie. It is forgotten, so its holder counts like
			// anyone from now on.
			_ = a.st.KnownClients.Revoke(ctx, known)
		}
		return LoginResult{}, unauthorized(ErrBadCredentials)
	}
	att.Succeed()
	who := Opened{Origin: originOf(rec), User: request.Owner, Role: request.RoleAdmin, Method: m.Name()}
	tok, exp, err := a.st.Sessions.Create(ctx, a.sessions, who)
	if err != nil {
		return LoginResult{}, err
	}
	var sso string
	if !rec.Admin {
		if sso, err = a.openSSO(ctx, who); err != nil {
			return LoginResult{}, err
		}
	}
	// Rotated on every use; a store that cannot take it costs the
	// client its bucket next time, never this sign-in.
	kc, _ := a.st.KnownClients.Issue(ctx, scope, fp, known)
	return LoginResult{Token: tok, Expires: exp, KnownClient: kc, SSO: sso}, nil
}

// credentialFingerprints identify the password and the token in force,
// keyed with a key every replica derives alike: a known-client cookie
// issued under one credential is refused once it changes. The password's
// is taken from what is configured (the plaintext, hashed here with a
// fresh salt at every start, would change it on every restart).
func credentialFingerprints(o Options) map[string]string {
	key := o.Stores.Tokens.DeriveKey("known-client fingerprint")
	fp := func(kind, material string) string {
		if material == "" {
			return ""
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(kind + "|" + material))
		return hex.EncodeToString(m.Sum(nil))
	}
	password := o.Password
	if password == "" {
		password = o.PasswordHash
	}
	return map[string]string{request.MethodPassword: fp(SecretPassword, password), request.MethodToken: fp(SecretToken, o.Token)}
}

// SetCookies sets what a sign-in gives a browser: the session cookie of the
// origin it signed in on, the known-client cookie, and forward auth's SSO
// cookie for its domain.
//
// The session cookie is HttpOnly and behind https Secure with the __Host-
// prefix (the scheme resolved through trusted proxies). The agent origin's
// is SameSite=Lax, so the first navigation from a bookmark or another
// site's link carries it while cross-site posts do not; the admin origin's
// is Strict: nothing that starts on another site carries the owner's
// console session. The SSO cookie is domain-wide (__Secure- behind https)
// and answers only /auth/verify and /auth/login.
func (a *Authenticator) SetCookies(w http.ResponseWriter, r *http.Request, res LoginResult) {
	rec := recordOf(r)
	base, same := cookie.Session, http.SameSiteLaxMode
	if rec.Admin {
		base, same = cookie.Admin, http.SameSiteStrictMode
	}
	cookie.Set(w, base, rec.Proto, res.Token, res.Expires, same)
	if res.KnownClient != "" {
		cookie.Set(w, cookie.KnownClient, rec.Proto, res.KnownClient, a.st.Now().Add(KnownClientTTL), http.SameSiteStrictMode)
	}
	if res.SSO != "" {
		cookie.SetDomain(w, cookie.SSO, rec.Proto, res.SSO, res.Expires, a.domain)
	}
}

// ClearCookies drops the origin's session cookie, and the SSO cookie.
func (a *Authenticator) ClearCookies(w http.ResponseWriter, r *http.Request) {
	rec := recordOf(r)
	base := cookie.Session
	if rec.Admin {
		base = cookie.Admin
	}
	cookie.Clear(w, base, rec.Proto)
	if a.sso && !rec.Admin {
		cookie.ClearDomain(w, cookie.SSO, rec.Proto, a.domain)
	}
}
