// Package auth decides who a caller is: the shared token, sessions opened by
// signing in with the password or the token, devices (Ed25519 pairing and
// short-lived device tokens), a trusted proxy's user header, or, in mode
// none, the local owner. It counts failed attempts per client, compares
// secrets in constant time, never logs them, and never falls back to a
// weaker mode than the one configured.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"gateway/cookie"
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
	// ScopeInvite counts wrong, used and expired invitation codes.
	ScopeInvite = "invite"
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
	// KnownClients are the owner's known-client cookies.
	KnownClients *KnownClients
	Tokens       *TokenIssuer
	Now          func() time.Time
	docs         store.Docs
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
	s.KnownClients = NewKnownClients(st.Docs, now, func() []byte { return s.Tokens.DeriveKey("known-client") })
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
	knownSem chan struct{}
	gate     hashGate
	hashWait time.Duration
	// fingerprint identifies the credential in force for each secret, so
	// a known-client cookie issued under another dies with it.
	fingerprint map[string]string
	observe     func(method, result string)
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
		knownSem: make(chan struct{}, 1),
	}
	if a.hashWait <= 0 {
		a.hashWait = DefaultHashWait
	}
	a.fingerprint = credentialFingerprints(o)
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
	case ModeTrustedProxy, ModeNone:
		// On the agent origin there is no second way in: devices are
		// off, and a configured token answers on the admin origin
		// only (credentialsHere).
		a.device.Enabled = false
		if a.mode == ModeTrustedProxy && tp.UserHeader == "" {
			return nil, errors.New("auth: trusted-proxy mode needs gateway.auth.trustedProxy.userHeader")
		}
		if o.Token != "" {
			if a.token, err = NewTokenVerifier(o.Token); err != nil {
				return nil, err
			}
		}
	default:
		return nil, errors.New("auth: unknown mode " + a.mode)
	}
	return a, nil
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
	return map[string]string{SecretPassword: fp(SecretPassword, password), SecretToken: fp(SecretToken, o.Token)}
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
	switch {
	case a.mode == ModeTrustedProxy && a.proxyHonoured(rec):
		// On the agent origin there is no second way in; on admin.host
		// a request the proxy identified is judged by that alone.
		if !rec.Admin || r.Header.Get(a.tp.UserHeader) != "" {
			id, err := a.trustedProxy(r, rec)
			return id, ModeTrustedProxy, err
		}
	case a.mode == ModeNone && !rec.Admin:
		// No credential at all, so only the owner at this machine: a
		// request through any proxy, for a foreign Host, from another
		// site's page or from another Unix user's process is refused.
		// It is the owner, but never admin.
		if !rec.Local() {
			return nil, ModeNone, unauthorized(ErrNotLocal)
		}
		return &request.Identity{User: "owner", Method: ModeNone, Role: request.RoleUser}, ModeNone, nil
	case a.mode == ModeNone && rec.AdminListener && rec.Local():
		// The owner's own processes on the admin listener are the
		// owner (SPEC "none": admin needs the token, or a local
		// request on the admin listener).
		return &request.Identity{User: "owner", Method: ModeNone, Role: request.RoleAdmin}, ModeNone, nil
	}
	if !a.credentialsHere(rec) {
		return nil, MethodAny, unauthorized(ErrMissingCredentials)
	}
	// Our own credential comes first in Proxy-Authorization (the client's
	// Authorization is then the upstream's), then a session cookie.
	if tok, ok := Bearer(r.Header.Get("Proxy-Authorization")); ok {
		return a.bearer(rec, tok, request.CredentialProxyAuthorization)
	}
	if id, err := a.cookieSession(r); id != nil || err != nil {
		return id, MethodSession, err
	}
	if tok, ok := Bearer(r.Header.Get("Authorization")); ok {
		return a.bearer(rec, tok, request.CredentialAuthorization)
	}
	if rec.Upgrade == request.UpgradeWebSocket {
		if tok, ok := ProtocolToken(r.Header); ok {
			return a.bearer(rec, tok, request.CredentialWebSocketProtocol)
		}
	}
	return nil, MethodAny, unauthorized(ErrMissingCredentials)
}

// AuthenticateBearer authenticates only a bearer credential
// (Proxy-Authorization or Authorization): what the agent origin accepts
// for /admin/*, where a page of the agent's, which carries the person's
// cookies and proxy identity implicitly, must never act as the owner.
// ok is false when the request carries no bearer the gateway takes here.
func (a *Authenticator) AuthenticateBearer(r *http.Request) (id *request.Identity, ok bool, err error) {
	rec := recordOf(r)
	if !a.credentialsHere(rec) {
		return nil, false, nil
	}
	method := MethodAny
	if tok, found := Bearer(r.Header.Get("Proxy-Authorization")); found {
		id, method, err = a.bearer(rec, tok, request.CredentialProxyAuthorization)
	} else if tok, found := Bearer(r.Header.Get("Authorization")); found {
		id, method, err = a.bearer(rec, tok, request.CredentialAuthorization)
	} else {
		return nil, false, nil
	}
	a.observed(method, err)
	return id, true, err
}

// proxyHonoured reports whether a trusted proxy's identity may be taken
// for rec: on the agent origin always (the mode's checks follow); on the
// admin origin never on the admin listener, and on admin.host only from a
// trusted proxy that is not on this host (a local process could forge the
// header).
func (a *Authenticator) proxyHonoured(rec *request.Record) bool {
	if !rec.Admin {
		return true
	}
	return !rec.AdminListener && rec.PeerTrusted && !rec.Peer.Addr().IsLoopback()
}

// credentialsHere reports whether the gateway's own credentials (the shared
// token, sessions, device tokens) are taken for rec: in token and password
// mode everywhere; in trusted-proxy and none mode only on the admin origin,
// where they are the owner's way to the console.
func (a *Authenticator) credentialsHere(rec *request.Record) bool {
	return a.mode == ModeToken || a.mode == ModePassword || rec.Admin
}

// originOf names the origin a request is on, for its sessions.
func originOf(rec *request.Record) string {
	if rec.Admin {
		return OriginAdmin
	}
	return OriginAgent
}

// sessionCookie is the session cookie's base name on the request's origin.
func sessionCookie(rec *request.Record) string {
	if rec.Admin {
		return cookie.Admin
	}
	return cookie.Session
}

// SessionCookie returns the name of the session cookie a request's origin
// uses (resolved scheme included).
func SessionCookie(r *http.Request) string {
	rec := recordOf(r)
	return cookie.Name(sessionCookie(rec), rec.Proto)
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
	c, err := r.Cookie(cookie.Name(sessionCookie(rec), rec.Proto))
	if err != nil || c.Value == "" {
		return nil, nil
	}
	se, err := a.st.Sessions.Check(c.Value, a.sessions, originOf(rec))
	if errors.Is(err, ErrNoSession) {
		return nil, nil
	}
	if err != nil {
		return nil, StoreUnavailable(err)
	}
	id := sessionIdentity(se)
	id.Credential = request.CredentialCookie
	return id, nil
}

// sessionIdentity is who a session was opened for. Its method is the
// session's (how this request proved itself); the sign-in's is kept in
// the session record.
func sessionIdentity(se Session) *request.Identity {
	user, role, _ := se.identity()
	return &request.Identity{User: user, Role: role, Method: MethodSession, SessionID: se.ID}
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
		se, err := a.st.Sessions.Check(tok, a.sessions, originOf(rec))
		switch {
		case err == nil:
			id = sessionIdentity(se)
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

// reserve claims a credential check for the client. Local requests are
// exempt (the owner at the machine never locks themselves out); nothing
// else is, whatever it claims. Locality costs a lookup of the socket's
// owner, so it is asked only when it changes the answer: when the client
// is locked out (reserve), or its credential was wrong (failed).
func (a *Authenticator) reserve(scope string, rec *request.Record) (attempt, error) {
	att, left := a.st.Lockouts.Reserve(a.lockout, scope, rec.Client)
	if left > 0 {
		if rec.Local() {
			return attempt{rec: rec}, nil
		}
		return attempt{}, rateLimited(left)
	}
	return attempt{Attempt: att, rec: rec}, nil
}

// attempt is a reserved check of a request's credential.
type attempt struct {
	store.Attempt
	rec *request.Record
}

// Fail records a wrong credential, unless the request is local.
func (t attempt) Fail() bool {
	if t.rec != nil && t.rec.Local() {
		t.Cancel()
		return false
	}
	return t.Attempt.Fail()
}

// failed settles a wrong credential and returns the 401 to send. The
// failure that engages the lockout is still a 401 (OpenClaw's semantics);
// the attempts after it get 429.
func (a *Authenticator) failed(att attempt) error {
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

// Secrets a sign-in form asks for.
const (
	SecretPassword = "password"
	SecretToken    = "token"
)

// LoginSecret names what signs a person in on the request's origin: the
// password in password mode, the shared token in token mode, and on the
// admin origin in trusted-proxy and none mode the shared token when one is
// configured (the owner's way to the console there). "" means no sign-in.
func (a *Authenticator) LoginSecret(r *http.Request) string {
	switch {
	case a.mode == ModePassword:
		return SecretPassword
	case a.mode == ModeToken:
		return SecretToken
	case recordOf(r).Admin && a.token != nil:
		return SecretToken
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
}

// Login verifies the password or the shared token (see LoginSecret) and
// opens a session on the request's origin for the owner. It is rate
// limited like every credential check (the attempt is reserved before the
// hash slot and the lockout re-checked after it) and bounded in
// concurrency. A known client (KnownClients) is counted in its own bucket
// and hashed in its own slot.
func (a *Authenticator) Login(ctx context.Context, r *http.Request, secret string) (LoginResult, error) {
	kind := a.LoginSecret(r)
	res, err := a.login(ctx, r, kind, secret)
	if kind != "" {
		a.observed(kind, err)
	}
	return res, err
}

func (a *Authenticator) login(ctx context.Context, r *http.Request, kind, secret string) (LoginResult, error) {
	rec := recordOf(r)
	scope := ScopePassword
	switch kind {
	case SecretPassword:
	case SecretToken:
		scope = ScopeToken
	default:
		return LoginResult{}, httperr.New(http.StatusNotFound, "login_disabled", "sign-in is not available in this auth mode (gateway.auth.mode)", nil)
	}
	fp := a.fingerprint[kind]
	known, att := a.knownAttempt(ctx, r, rec, scope, fp)
	if known == "" {
		var err error
		if att, err = a.reserve(scope, rec); err != nil {
			return LoginResult{}, err
		}
	}
	if kind == SecretPassword {
		release, err := a.hashSlot(ctx, rec, known != "")
		if err != nil {
			att.Cancel()
			return LoginResult{}, err
		}
		defer release()
		// Failures may have engaged the lockout while this attempt
		// waited its turn: a locked client is not verified.
		if known == "" {
			if left := a.st.Lockouts.Locked(a.lockout, scope, rec.Client); left > 0 && !rec.Local() {
				att.Cancel()
				return LoginResult{}, rateLimited(left)
			}
		}
	}
	ok := false
	if kind == SecretPassword {
		ok = a.password.Verify(secret)
	} else {
		ok = a.token.Verify(secret)
	}
	if !ok {
		if att.Fail() && known != "" {
			// The cookie's own bucket locked: a stolen or planted
			// cookie. It is forgotten, so its holder counts like
			// anyone from now on.
			_ = a.st.KnownClients.Revoke(ctx, known)
		}
		return LoginResult{}, unauthorized(ErrBadCredentials)
	}
	att.Succeed()
	tok, exp, err := a.st.Sessions.Create(a.sessions, Opened{Origin: originOf(rec), User: "owner", Role: request.RoleAdmin, Method: kind})
	if err != nil {
		return LoginResult{}, err
	}
	// Rotated on every use; a store that cannot take it costs the
	// client its bucket next time, never this sign-in.
	kc, _ := a.st.KnownClients.Issue(ctx, scope, fp, known)
	return LoginResult{Token: tok, Expires: exp, KnownClient: kc}, nil
}

// knownAttempt reserves a sign-in of a known client in the cookie's own
// bucket. It returns "" (and the caller reserves in the address's bucket)
// when the request carries no valid known-client cookie for scope and the
// credential in force, or when that cookie's bucket is locked.
func (a *Authenticator) knownAttempt(ctx context.Context, r *http.Request, rec *request.Record, scope, fp string) (string, attempt) {
	v := knownClientCookie(r, rec.Proto)
	if v == "" {
		return "", attempt{}
	}
	id, err := a.st.KnownClients.Check(ctx, v, scope, fp)
	if err != nil {
		return "", attempt{}
	}
	att, left := a.st.Lockouts.Reserve(a.lockout, "known:"+scope+":"+id, knownBucket)
	if left > 0 {
		return "", attempt{}
	}
	return id, attempt{Attempt: att}
}

// hashSlot waits for the right to hash a password: a known client takes
// the slot kept for known clients; anyone else waits for their network's
// turn (one verification per /24 or /48 at a time) and one of the shared
// slots. Argon2id costs 64 MiB and tens of milliseconds, so the slots also
// bound memory. A wait longer than HashWait is 503 busy.
func (a *Authenticator) hashSlot(ctx context.Context, rec *request.Record, known bool) (func(), error) {
	busy := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return httperr.New(http.StatusServiceUnavailable, "busy", "too many sign-ins at once; retry", err)
	}
	deadline := time.NewTimer(a.hashWait)
	defer deadline.Stop()
	if known {
		select {
		case a.knownSem <- struct{}{}:
			return func() { <-a.knownSem }, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, busy(errBusy)
		}
	}
	_, network := store.ClientBuckets(rec.Client)
	release, err := a.gate.acquire(ctx, network, a.hashWait)
	if err != nil {
		return nil, busy(err)
	}
	select {
	case a.loginSem <- struct{}{}:
		return func() { <-a.loginSem; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	case <-deadline.C:
		release()
		return nil, busy(errBusy)
	}
}
