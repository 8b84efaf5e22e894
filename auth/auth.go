// Package auth decides who a caller is. Every way in is a Method in a file
// of its own (token, password, session, device, trusted-proxy, none, oidc,
// assertion) and ends as one request.Identity; People decides who is
// admitted and with which role and groups, on every request. It counts
// failed attempts per client, compares secrets in constant time, never
// logs them, and never falls back to a weaker method than the one
// configured.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"gateway/config"
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

// Credential scopes for the failure lockout: a client that exhausts one
// (guessing tokens) can still use another (the owner's password login).
// Each method names its own.
const (
	ScopeToken    = "token"
	ScopePassword = "password"
	ScopeDevice   = "device"
	// ScopeInvite counts wrong, used and expired invitation codes.
	ScopeInvite = "invite"
	// ScopeAssertion counts assertions that fail verification.
	ScopeAssertion = "assertion"
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return errors.Join(s.Devices.refresh(ctx), s.Tokens.refresh(s.docs))
}

// TrustedProxyOptions configure trusted-proxy mode.
type TrustedProxyOptions struct {
	// UserHeader carries the user; required in trusted-proxy mode.
	UserHeader string
	// RequiredHeaders must all be present.
	RequiredHeaders []string
	// AllowUsers, when set, lists who may pass (admins while no people
	// are configured).
	AllowUsers []string
	// AllowLoopback honours a loopback proxy (any local process could
	// then forge the header).
	AllowLoopback bool
	// GroupsHeader carries the user's groups, comma-separated.
	GroupsHeader string
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
	// Mode is gateway.auth.mode: the primary method (request.MethodToken,
	// MethodPassword, MethodTrustedProxy or MethodNone).
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
	// People are gateway.users and gateway.groups.
	People config.People
	// OIDC configures sign-in with an OpenID provider (nil: off).
	OIDC *config.OIDCTyped
	// Assertion configures assertions from the proxy in front (nil: off).
	Assertion *config.AssertionTyped
	// HTTPClient fetches the OpenID provider's documents and the
	// assertion keys; nil means a client with a 5 s timeout.
	HTTPClient *http.Client
	// Redirect keeps a post-sign-in destination safe (the server's rule
	// for rd); nil sends everyone to "/".
	Redirect func(r *http.Request, rd string) string
	// CookieDomain, when set, opens a forward-auth SSO session beside
	// every sign-in on the agent origin, its cookie set for this domain
	// (gateway.forwardAuth.cookieDomain).
	CookieDomain string
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

// Authenticator decides who a request is, through the methods of one
// configuration. It is immutable; a config reload builds a new one over the
// same Stores.
type Authenticator struct {
	st       *Stores
	lockout  LockoutPolicy
	sessions SessionPolicy
	people   *People
	observe  func(method, result string)
	limiter  *limiter
	redirect func(r *http.Request, rd string) string
	sso      bool
	domain   string

	// front are the methods that judge the request as a whole (an
	// assertion, the proxy's user header, mode none), in order; a method
	// that owns the agent origin (trusted-proxy, none) answers every
	// request there.
	front []Method
	// credentials are the methods that check a credential the gateway
	// issued or holds (a device token, a session, the shared token), in
	// the order they are asked to take it.
	credentials []credentialMethod
	// credentialsHere says where the gateway's own credentials are taken:
	// everywhere in token and password mode; on the admin origin only in
	// trusted-proxy and none mode (the owner's way to the console there).
	credentialsHere func(rec *request.Record) bool
	// signIns are the methods a person signs in with on a page.
	signIns []Method
	// routes are the methods' own routes.
	routes []Route

	session  *sessionMethod
	token    *tokenMethod
	password *passwordMethod
	device   *deviceMethod
}

// NewAuthenticator builds an Authenticator. A method that cannot be
// satisfied is an error here, at startup: it never degrades to a weaker
// one. This is the one place gateway.auth.mode is read.
func NewAuthenticator(o Options) (*Authenticator, error) {
	if o.Stores == nil {
		return nil, errors.New("auth: no stores")
	}
	a := &Authenticator{st: o.Stores, lockout: o.Lockout, sessions: o.Sessions, observe: o.Observe,
		people: NewPeople(o.People, o.TrustedProxy.AllowUsers), redirect: o.Redirect, sso: o.CookieDomain != "", domain: o.CookieDomain}
	if a.redirect == nil {
		a.redirect = func(*http.Request, string) string { return "/" }
	}
	a.limiter = newLimiter(a, o.HashWait)
	if IsSessionToken(o.Token) {
		return nil, errors.New("auth: gateway.auth.token may not start with " + SessionTokenPrefix + " (the form of session tokens); choose another token")
	}
	var err error
	if a.token, err = newTokenMethod(a, o.Token, o.Mode == request.MethodToken); err != nil {
		return nil, err
	}
	a.session = &sessionMethod{a: a}
	a.device = &deviceMethod{a: a, o: o.Device}
	everywhere := func(*request.Record) bool { return true }
	adminOnly := func(rec *request.Record) bool { return rec.Admin }
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	if o.Assertion != nil {
		am, err := newAssertionMethod(a, *o.Assertion, client)
		if err != nil {
			return nil, err
		}
		a.front = append(a.front, am)
	}
	switch o.Mode {
	case request.MethodToken:
		a.credentialsHere = everywhere
		a.signIns = append(a.signIns, a.token)
	case request.MethodPassword:
		if a.password, err = newPasswordMethod(a, o.Password, o.PasswordHash); err != nil {
			return nil, err
		}
		a.credentialsHere = everywhere
		a.signIns = append(a.signIns, a.password)
	case request.MethodTrustedProxy:
		tp, err := newTrustedProxyMethod(a, o.TrustedProxy, o.HaveTrustedProxies)
		if err != nil {
			return nil, err
		}
		// On the agent origin there is no second way in: devices are
		// off, and a configured token answers on the admin origin only.
		a.device.o.Enabled = false
		a.credentialsHere = adminOnly
		a.front = append(a.front, tp)
		a.signIns = append(a.signIns, tp, a.token)
	case request.MethodNone:
		a.device.o.Enabled = false
		a.credentialsHere = adminOnly
		a.front = append(a.front, noneMethod{})
		a.signIns = append(a.signIns, noneMethod{}, a.token)
	default:
		return nil, errors.New("auth: unknown mode " + o.Mode)
	}
	if o.OIDC != nil {
		om, err := newOIDCMethod(a, *o.OIDC, client)
		if err != nil {
			return nil, err
		}
		a.signIns = append(a.signIns, om)
		a.routes = append(a.routes, om.Routes()...)
	}
	if a.device.o.Enabled {
		a.routes = append(a.routes, a.device.Routes()...)
	}
	// A device token, then a session, then the shared token: each takes
	// the credentials of its own form.
	a.credentials = []credentialMethod{a.device, a.session, a.token}
	a.limiter.fingerprint = credentialFingerprints(o)
	return a, nil
}

// Stores returns the shared state.
func (a *Authenticator) Stores() *Stores { return a.st }

// DevicesEnabled reports whether device pairing is on.
func (a *Authenticator) DevicesEnabled() bool { return a.device.o.Enabled }

// Sessions returns the session rule in force.
func (a *Authenticator) Sessions() SessionPolicy { return a.sessions }

// People returns the directory of people in force.
func (a *Authenticator) People() *People { return a.people }

// Routes are the methods' own routes, for the server to mount.
func (a *Authenticator) Routes() []Route { return a.routes }

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

// authenticate is Authenticate, also naming the method that judged.
func (a *Authenticator) authenticate(r *http.Request) (*request.Identity, string, error) {
	rec := recordOf(r)
	for _, m := range a.front {
		if id, err := m.Authenticate(r, rec); id != nil || err != nil {
			return id, m.Name(), err
		}
	}
	if !a.credentialsHere(rec) {
		return nil, MethodAny, unauthorized(ErrMissingCredentials)
	}
	return a.check(r.Context(), rec, presentedCredentials(r, rec, false))
}

// check has the credential method that takes each presented credential
// verify it, in order, until one answers: a stale session cookie is no
// credential, so the next one is looked at.
func (a *Authenticator) check(ctx context.Context, rec *request.Record, ps []presented) (*request.Identity, string, error) {
	for _, p := range ps {
		for _, m := range a.credentials {
			if !m.takes(p) {
				continue
			}
			id, err := m.check(ctx, rec, p)
			if id != nil {
				id.Credential = p.carrier
			}
			if id != nil || err != nil {
				return id, m.Name(), err
			}
			break
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
	ps := presentedCredentials(r, rec, true)
	if len(ps) == 0 {
		return nil, false, nil
	}
	id, method, err := a.check(r.Context(), rec, ps)
	a.observed(method, err)
	return id, true, err
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

// StoreUnavailable makes any failure to read needed state (a Redis that
// does not answer, a session file that does not parse) the store's own
// answer, 503 store_unavailable, never "no session" or "signed in".
func StoreUnavailable(err error) error {
	if store.IsUnavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
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

// RequireAdmin refuses every identity that is not an admin with 403.
func RequireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IdentityOf(r).IsAdmin() {
			httperr.Write(w, r, httperr.New(http.StatusForbidden, "forbidden", "admin only", nil))
			return
		}
		next.ServeHTTP(w, r)
	})
}
