// Package auth decides who a caller is: the shared token, sessions opened by
// signing in with the password or the token, devices (Ed25519 pairing and
// short-lived device tokens), a trusted proxy's user header, or, in mode
// none, the local owner. It counts failed attempts per client, compares
// secrets in constant time, never logs them, and never falls back to a
// weaker mode than the one configured.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"gateway/httperr"
	"gateway/request"
	"gateway/store"
)

// Errors returned by Authenticate.
var (
	ErrMissingCredentials = errors.New("no credentials")
	ErrBadCredentials     = errors.New("wrong credentials")
	ErrLockedOut          = errors.New("locked out after too many failures")
	ErrProxyAuth          = errors.New("trusted-proxy checks failed")
	ErrNotLocal           = errors.New("mode none serves only local requests")
)

// SessionCookie is the session cookie name over plain http. Over https the
// cookie is "__Host-" + SessionCookie (see CookieName).
const SessionCookie = "gateway_session"

// CookieName returns the session cookie's name for a request resolved as
// proto: the __Host- prefix behind https makes browsers refuse a cookie of
// that name set by any other origin or without Secure.
func CookieName(proto string) string {
	if proto == "https" {
		return "__Host-" + SessionCookie
	}
	return SessionCookie
}

// Methods a caller can authenticate with besides the modes: a session
// opened by signing in, and a device token.
const (
	MethodSession = "session"
	MethodDevice  = "device"
)

// Credential scopes for the failure lockout: a client that exhausts one
// (guessing tokens) can still use another (the owner's password login).
const (
	ScopeToken    = "token"
	ScopePassword = "password"
	ScopeDevice   = "device"
)

// Auth modes (gateway.auth.mode).
const (
	ModeToken        = "token"
	ModePassword     = "password"
	ModeTrustedProxy = "trusted-proxy"
	ModeNone         = "none"
)

// Stores is what authentication keeps across config reloads: lockout
// counters, challenges, sessions, devices and the device-token keys, all
// in one store backend (files or Redis).
type Stores struct {
	Lockouts store.Lockouts
	Nonces   store.Nonces
	Sessions *SessionStore
	Devices  *DeviceStore
	Tokens   *TokenIssuer
	Now      func() time.Time
	docs     store.Docs
}

// LockoutPolicy is the failure rule of one configuration.
type LockoutPolicy = store.LockoutPolicy

// NewStores opens authentication's state in st.
func NewStores(st *store.Store, now func() time.Time) (*Stores, error) {
	if now == nil {
		now = time.Now
	}
	s := &Stores{Now: now, Nonces: st.Nonces, Lockouts: st.Lockouts, docs: st.Docs}
	var err error
	if s.Sessions, err = NewSessionStore(st.Docs, now); err != nil {
		return nil, err
	}
	s.Devices = NewDeviceStore(st.Docs, now)
	if s.Tokens, err = LoadOrCreateKeys(st.Docs, now); err != nil {
		return nil, err
	}
	return s, nil
}

// OpenStores opens authentication's state in files under stateDir.
func OpenStores(stateDir string, now func() time.Time) (*Stores, error) {
	st, err := store.Open(store.Options{Dir: stateDir, Now: now})
	if err != nil {
		return nil, err
	}
	return NewStores(st, now)
}

// Refresh reloads what replicas share and a request may need while the
// store is down: the paired devices and revoked tokens (so device tokens
// stay checkable against a list at most a second old) and the signing
// keys (re-stored if the store lost them, merged if another replica made
// new ones). The server calls it every second on a shared backend.
func (s *Stores) Refresh() error {
	return errors.Join(s.Devices.refresh(), s.Tokens.refresh(s.docs))
}

// TrustedProxyOptions configure trusted-proxy mode.
type TrustedProxyOptions struct {
	// UserHeader carries the user; required in trusted-proxy mode.
	UserHeader string
	// RequiredHeaders must all be present.
	RequiredHeaders []string
	// AllowUsers, when set, lists who may pass; they are admin.
	AllowUsers []string
	// AllowLoopback honours a loopback proxy (any local process could
	// then forge the header).
	AllowLoopback bool
}

// DeviceOptions configure device pairing.
type DeviceOptions struct {
	// Enabled turns device auth on (token and password modes).
	Enabled bool
	// AutoApproveLocal pairs clean local requests for non-admin roles
	// without asking the owner.
	AutoApproveLocal bool
	// TokenTTL is the device token lifetime.
	TokenTTL time.Duration
}

// Options configure an Authenticator. Building one has no side effect on
// the Stores: the lockout and session rules travel with the Authenticator,
// so a rejected reload leaves the running behaviour untouched.
type Options struct {
	// Mode is ModeToken, ModePassword, ModeTrustedProxy or ModeNone.
	Mode string
	// Token is the shared token: required in token mode; in password mode
	// optional (connectors may use it instead of a session).
	Token string
	// Password or PasswordHash (argon2id PHC) is the login password in
	// password mode. A Password is hashed here and not kept.
	Password, PasswordHash string
	// Lockout is the failure rule.
	Lockout LockoutPolicy
	// Sessions are the session lifetimes.
	Sessions SessionPolicy
	// TrustedProxy configures trusted-proxy mode.
	TrustedProxy TrustedProxyOptions
	// HaveTrustedProxies says gateway.trustedProxies is not empty.
	HaveTrustedProxies bool
	// Device configures device pairing.
	Device DeviceOptions
	// Stores is the state shared across reloads. Required.
	Stores *Stores
	// HashWait bounds how long a sign-in waits for one of the password
	// hashing slots (argon2id costs 64 MiB and tens of milliseconds, so
	// only a few run at once) before it is answered 503 busy, neither
	// verified nor counted. Zero means DefaultHashWait.
	HashWait time.Duration
	// Observe, when set, is told the outcome of every credential check,
	// for every way in (requests, sign-in, device connect): the method
	// tried and a Result.
	Observe func(method, result string)
}

// DefaultHashWait is Options.HashWait's default.
const DefaultHashWait = 5 * time.Second

// Results of a credential check, as Observe is told them.
const (
	ResultSuccess     = "success"
	ResultFailure     = "failure"
	ResultLocked      = "locked"
	ResultMissing     = "missing"
	ResultUnavailable = "unavailable"
)

// MethodAny labels a check where no credential was presented.
const MethodAny = "any"

// Authenticator authenticates requests in the configured mode. It is
// immutable; a config reload builds a new one over the same Stores.
type Authenticator struct {
	mode     string
	token    *TokenVerifier
	password *PasswordHash
	st       *Stores
	lockout  LockoutPolicy
	sessions SessionPolicy
	tp       TrustedProxyOptions
	trusted  bool
	device   DeviceOptions
	loginSem chan struct{}
	hashWait time.Duration
	observe  func(method, result string)
}

// NewAuthenticator builds an Authenticator. A mode that cannot be satisfied
// is an error here, at startup: it never degrades to a weaker one.
func NewAuthenticator(o Options) (*Authenticator, error) {
	if o.Stores == nil {
		return nil, errors.New("auth: no stores")
	}
	tp := o.TrustedProxy
	// Canonicalise header names once, not on every request.
	tp.UserHeader = http.CanonicalHeaderKey(strings.TrimSpace(tp.UserHeader))
	a := &Authenticator{
		mode: o.Mode, st: o.Stores, lockout: o.Lockout, sessions: o.Sessions, tp: tp,
		trusted: o.HaveTrustedProxies, device: o.Device, observe: o.Observe, hashWait: o.HashWait,
		// Argon2id costs 64 MiB and tens of milliseconds: cap concurrent
		// logins so they cannot be used to exhaust memory.
		loginSem: make(chan struct{}, 2),
	}
	if a.hashWait <= 0 {
		a.hashWait = DefaultHashWait
	}
	if IsSessionToken(o.Token) {
		return nil, errors.New("auth: gateway.auth.token may not start with " + SessionTokenPrefix + " (the form of session tokens); choose another token")
	}
	var err error
	switch a.mode {
	case ModeToken:
		if a.token, err = NewTokenVerifier(o.Token); err != nil {
			return nil, errors.New("auth: token mode needs a token (gateway.auth.token, GATEWAY_TOKEN or a writable state dir)")
		}
	case ModePassword:
		ph, err := passwordHashFrom(o.Password, o.PasswordHash)
		if err != nil {
			return nil, err
		}
		a.password = &ph
		if o.Token != "" {
			if a.token, err = NewTokenVerifier(o.Token); err != nil {
				return nil, err
			}
		}
	case ModeTrustedProxy:
		// There is no second way in: devices and tokens are off.
		a.device.Enabled = false
		if tp.UserHeader == "" {
			return nil, errors.New("auth: trusted-proxy mode needs gateway.auth.trustedProxy.userHeader")
		}
	case ModeNone:
		a.device.Enabled = false
	default:
		return nil, errors.New("auth: unknown mode " + a.mode)
	}
	return a, nil
}

// passwordHashFrom hashes a configured password once (the plaintext is not
// kept), or parses a configured hash. A password wins over a hash: config
// loading puts the environment's password there, so rotating it through
// the environment works even when the file holds a hash.
func passwordHashFrom(password, hash string) (PasswordHash, error) {
	if password != "" {
		s, err := HashPassword(password)
		if err != nil {
			return PasswordHash{}, err
		}
		return ParsePasswordHash(s)
	}
	if hash == "" {
		return PasswordHash{}, errors.New("auth: password mode needs gateway.auth.password or passwordHash")
	}
	h, err := ParsePasswordHash(hash)
	if err != nil {
		return PasswordHash{}, errors.New("auth: gateway.auth.passwordHash: " + err.Error())
	}
	return h, nil
}

// Stores returns the shared state.
func (a *Authenticator) Stores() *Stores { return a.st }

// DevicesEnabled reports whether device pairing is on in this mode.
func (a *Authenticator) DevicesEnabled() bool { return a.device.Enabled }

// Mode returns the configured mode.
func (a *Authenticator) Mode() string { return a.mode }

// Sessions returns the session rule in force.
func (a *Authenticator) Sessions() SessionPolicy { return a.sessions }

// recordOf returns r's record. A request without one did not pass the
// gateway's middleware (a mis-wired chain): it is treated as a remote
// stranger, never as local.
func recordOf(r *http.Request) *request.Record {
	if rec := request.FromContext(r.Context()); rec != nil {
		return rec
	}
	return &request.Record{Trust: request.Trust{Client: netip.IPv4Unspecified()}}
}

// Authenticate returns the caller's identity or an *httperr.Error, and
// tells Observe the outcome.
func (a *Authenticator) Authenticate(r *http.Request) (*request.Identity, error) {
	id, method, err := a.authenticate(r)
	a.observed(method, err)
	return id, err
}

// observed tells Observe the outcome of a check of method.
func (a *Authenticator) observed(method string, err error) {
	if a.observe == nil {
		return
	}
	result := ResultSuccess
	switch {
	case err == nil:
	case errors.Is(err, ErrLockedOut):
		result = ResultLocked
	case store.IsUnavailable(err):
		result = ResultUnavailable
	case errors.Is(err, ErrMissingCredentials), errors.Is(err, ErrNotLocal):
		result = ResultMissing
	default:
		result = ResultFailure
	}
	a.observe(method, result)
}

// authenticate is Authenticate, also naming the method it tried.
func (a *Authenticator) authenticate(r *http.Request) (*request.Identity, string, error) {
	rec := recordOf(r)
	switch a.mode {
	case ModeNone:
		// No credential at all, so only the owner at this machine: a
		// request through any proxy, for a foreign Host or from another
		// site's page is refused.
		if !rec.Local {
			return nil, ModeNone, unauthorized(ErrNotLocal)
		}
		return &request.Identity{User: "local", Method: ModeNone, Role: request.RoleUser}, ModeNone, nil
	case ModeTrustedProxy:
		id, err := a.trustedProxy(r, rec)
		return id, ModeTrustedProxy, err
	}
	// Our own credential comes first in Proxy-Authorization (the client's
	// Authorization is then the upstream's), then a session cookie.
	if tok, ok := bearer(r.Header.Get("Proxy-Authorization")); ok {
		return a.bearer(rec, tok, request.CredentialProxyAuthorization)
	}
	if id, err := a.cookieSession(r); id != nil || err != nil {
		return id, MethodSession, err
	}
	if tok, ok := bearer(r.Header.Get("Authorization")); ok {
		return a.bearer(rec, tok, request.CredentialAuthorization)
	}
	if rec.Upgrade == request.UpgradeWebSocket {
		if tok, ok := ProtocolToken(r.Header); ok {
			return a.bearer(rec, tok, request.CredentialWebSocketProtocol)
		}
	}
	return nil, MethodAny, unauthorized(ErrMissingCredentials)
}

// bearerMethod names the method a bearer value is checked as.
func (a *Authenticator) bearerMethod(tok string) string {
	switch {
	case a.device.Enabled && LooksLikeJWT(tok):
		return MethodDevice
	case IsSessionToken(tok):
		return MethodSession
	}
	return ModeToken
}

// cookieSession returns the identity of a live session cookie. A stale or
// unknown cookie is no credential: it is not a failed attempt (a browser
// keeps sending an expired cookie), and guessing a 256-bit session id is
// hopeless anyway. A session store that cannot answer is a 503, never "no
// session" and never "signed in".
func (a *Authenticator) cookieSession(r *http.Request) (*request.Identity, error) {
	rec := recordOf(r)
	c, err := r.Cookie(CookieName(rec.Proto))
	if err != nil || c.Value == "" {
		return nil, nil
	}
	se, err := a.st.Sessions.Check(c.Value, a.sessions)
	if errors.Is(err, ErrNoSession) {
		return nil, nil
	}
	if err != nil {
		return nil, StoreUnavailable(err)
	}
	return &request.Identity{User: "owner", Method: MethodSession, Role: request.RoleAdmin, Credential: request.CredentialCookie, SessionID: se.ID}, nil
}

// StoreUnavailable makes any failure to read needed state (a Redis that
// does not answer, a session file that does not parse) the store's own
// answer, 503 store_unavailable, never "no session" or "signed in".
func StoreUnavailable(err error) error {
	if store.IsUnavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

// bearer verifies a presented bearer value: a device token (JWT-shaped),
// a session token from a sign-in, or the shared token. It also names the
// method it checked the value as.
func (a *Authenticator) bearer(rec *request.Record, tok string, cred request.Credential) (*request.Identity, string, error) {
	method := a.bearerMethod(tok)
	id, err := a.verifyBearer(rec, tok, cred, method)
	return id, method, err
}

func (a *Authenticator) verifyBearer(rec *request.Record, tok string, cred request.Credential, method string) (*request.Identity, error) {
	scope := ScopeToken
	if method == MethodDevice {
		scope = ScopeDevice
	}
	att, err := a.reserve(scope, rec)
	if err != nil {
		return nil, err
	}
	var id *request.Identity
	switch {
	case scope == ScopeDevice:
		var err error
		if id, err = a.verifyDeviceToken(tok); err != nil {
			att.Cancel()
			return nil, StoreUnavailable(err)
		}
	case method == MethodSession:
		// A session, never the shared token (which cannot start with
		// the prefix): one the store cannot check is answered 503 and
		// not counted, so a valid session used during an outage never
		// locks its client out.
		se, err := a.st.Sessions.Check(tok, a.sessions)
		switch {
		case err == nil:
			id = &request.Identity{User: "owner", Method: MethodSession, Role: request.RoleAdmin, SessionID: se.ID}
		case !errors.Is(err, ErrNoSession):
			att.Cancel()
			return nil, StoreUnavailable(err)
		}
	case a.token != nil && a.token.Verify(tok):
		id = &request.Identity{User: "owner", Method: ModeToken, Role: request.RoleAdmin}
	}
	// Anything else is a wrong guess, counted even while the store is
	// down: the shared token is checked without it.
	if id == nil {
		return nil, a.failed(att)
	}
	att.Succeed()
	id.Credential = cred
	return id, nil
}

// verifyDeviceToken returns the identity of a valid device token, nil for
// an invalid one, or an error when the device lists cannot be read (never
// loaded, or not decodable): refused either way.
func (a *Authenticator) verifyDeviceToken(tok string) (*request.Identity, error) {
	claims, err := a.st.Tokens.Parse(tok)
	if err != nil {
		return nil, nil
	}
	dev, paired, revoked, err := a.st.Devices.LookupToken(claims.Subject, claims.ID)
	if err != nil {
		return nil, err
	}
	if !paired || revoked {
		return nil, nil
	}
	// A token from an earlier pairing (the device was revoked and paired
	// again, however quickly) names another pairing id: dead.
	if claims.PairingID != dev.PairingID {
		return nil, nil
	}
	if claims.Role != dev.Role && dev.Role != request.RoleAdmin {
		return nil, nil
	}
	return &request.Identity{User: "device:" + dev.DeviceID[:16], Method: MethodDevice, Role: claims.Role, DeviceID: dev.DeviceID, TokenID: claims.ID}, nil
}

// reserve claims a credential check for the client. Clean local requests
// are exempt (the owner at the machine never locks themselves out); nothing
// else is, whatever it claims.
func (a *Authenticator) reserve(scope string, rec *request.Record) (store.Attempt, error) {
	if rec.Local {
		return store.Attempt{}, nil
	}
	att, left := a.st.Lockouts.Reserve(a.lockout, scope, rec.Client)
	if left > 0 {
		return store.Attempt{}, rateLimited(left)
	}
	return att, nil
}

// failed settles a wrong credential and returns the 401 to send. The
// failure that engages the lockout is still a 401 (OpenClaw's semantics);
// the attempts after it get 429.
func (a *Authenticator) failed(att store.Attempt) error {
	att.Fail()
	return unauthorized(ErrBadCredentials)
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

// RetryAfter returns how long a rate_limited refusal asks the client to
// wait, 0 for any other error.
func RetryAfter(err error) time.Duration {
	var he *httperr.Error
	if !errors.As(err, &he) || he.Header == nil {
		return 0
	}
	n, _ := strconv.Atoi(he.Header.Get("Retry-After"))
	return time.Duration(n) * time.Second
}

// trustedProxy authenticates from an identity-aware proxy's user header.
// Every check must pass; nothing else is accepted instead.
func (a *Authenticator) trustedProxy(r *http.Request, rec *request.Record) (*request.Identity, error) {
	refuse := func(msg string) error {
		return httperr.New(http.StatusUnauthorized, "proxy_auth_required", msg, ErrProxyAuth)
	}
	if !a.trusted {
		return nil, refuse("trusted-proxy mode needs gateway.trustedProxies; every request is refused until it is set")
	}
	if !rec.PeerTrusted {
		return nil, refuse("request did not come from a trusted proxy")
	}
	if rec.Peer.Addr().IsLoopback() && !a.tp.AllowLoopback {
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
	role := request.RoleUser
	if len(a.tp.AllowUsers) > 0 {
		if !slices.Contains(a.tp.AllowUsers, user) {
			return nil, httperr.New(http.StatusForbidden, "user_not_allowed", "user not allowed", ErrProxyAuth)
		}
		role = request.RoleAdmin
	}
	return &request.Identity{User: user, Method: ModeTrustedProxy, Role: role}, nil
}

func unauthorized(cause error) error {
	e := httperr.New(http.StatusUnauthorized, "unauthorized", "authentication required", cause)
	switch {
	case errors.Is(cause, ErrBadCredentials):
		e.Code, e.Msg = "invalid_credentials", "invalid credentials"
	case errors.Is(cause, ErrNotLocal):
		e.Msg = "auth mode none serves only local requests (this host, no proxy, a loopback Host)"
	}
	e.Header = http.Header{"Www-Authenticate": {`Bearer realm="gateway"`}}
	return e
}

// IdentityOf returns the request's authenticated identity, or nil.
func IdentityOf(r *http.Request) *request.Identity {
	if rec := request.FromContext(r.Context()); rec != nil {
		return rec.Identity
	}
	return nil
}

// RequireAdmin refuses every identity that is not the owner with 403.
func RequireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IdentityOf(r).IsAdmin() {
			httperr.Write(w, r, httperr.New(http.StatusForbidden, "forbidden", "admin only", nil))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Login verifies the password (password mode) or the shared token (token
// mode, a browser's sign-in) and opens a session. It is rate limited like
// every credential check (the attempt is reserved before the semaphore and
// the lockout re-checked after it) and bounded in concurrency.
func (a *Authenticator) Login(ctx context.Context, r *http.Request, secret string) (string, time.Time, error) {
	tok, exp, err := a.login(ctx, r, secret)
	if a.mode == ModePassword || a.mode == ModeToken {
		a.observed(a.mode, err)
	}
	return tok, exp, err
}

func (a *Authenticator) login(ctx context.Context, r *http.Request, secret string) (string, time.Time, error) {
	rec := recordOf(r)
	scope := ScopePassword
	switch a.mode {
	case ModePassword:
	case ModeToken:
		scope = ScopeToken
	default:
		return "", time.Time{}, httperr.New(http.StatusNotFound, "login_disabled", "sign-in is not available in this auth mode (gateway.auth.mode)", nil)
	}
	att, err := a.reserve(scope, rec)
	if err != nil {
		return "", time.Time{}, err
	}
	if a.mode == ModePassword {
		select {
		case a.loginSem <- struct{}{}:
			defer func() { <-a.loginSem }()
		case <-ctx.Done():
			att.Cancel()
			return "", time.Time{}, ctx.Err()
		case <-time.After(a.hashWait):
			att.Cancel()
			return "", time.Time{}, httperr.New(http.StatusServiceUnavailable, "busy", "too many sign-ins at once; retry", nil)
		}
		// Failures may have engaged the lockout while this attempt
		// waited its turn: a locked client is not verified.
		if !rec.Local {
			if left := a.st.Lockouts.Locked(a.lockout, scope, rec.Client); left > 0 {
				att.Cancel()
				return "", time.Time{}, rateLimited(left)
			}
		}
	}
	ok := false
	if a.mode == ModePassword {
		ok = a.password.Verify(secret)
	} else {
		ok = a.token.Verify(secret)
	}
	if !ok {
		return "", time.Time{}, a.failed(att)
	}
	att.Succeed()
	tok, exp, err := a.st.Sessions.Create(a.sessions)
	return tok, exp, err
}
