// Package server wires the gateway together: trust, then identity, then the
// routes (health, whoami, the proxy). It is the only place middleware is
// composed, so the order that security depends on is visible in one function.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"gateway/access"
	"gateway/admin"
	"gateway/audit"
	"gateway/auth"
	"gateway/config"
	"gateway/httperr"
	"gateway/jsonhttp"

	"gateway/policy"
	"gateway/proxy"
	"gateway/request"
	"gateway/trust"
	"gateway/web"
)

// Options configure a handler.
type Options struct {
	// Config is the validated configuration. Required.
	Config *config.Config
	// Token is the shared token in token mode (from config, env or the
	// state dir).
	Token string
	// Shared is the state that outlives a reload. Required.
	Shared *Shared
	// Logger receives the access records; nil means slog.Default().
	Logger *slog.Logger
	// SelfURL is where this gateway listens (for /admin/audit?deep=1).
	SelfURL string
	// UpstreamTransport overrides the proxy transport (tests, benchmarks).
	UpstreamTransport http.RoundTripper
	// BodyReadTimeout bounds how long a client may take to send a request
	// body; zero means DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
	// OpenClaw says where OpenClaw's configuration is, for the audit's
	// openclaw.* checks (zero: none).
	OpenClaw audit.OpenClawInput
	// HashWait bounds a sign-in's wait for a password-hashing slot; zero
	// means auth.DefaultHashWait.
	HashWait time.Duration
	// AdminURL is the console's address as refusals on the agent origin
	// name it ("http://127.0.0.1:18781/admin/"); empty: derived from the
	// configuration.
	AdminURL string
	// AgentURL is the agent's address for device invitations when
	// gateway.publicUrl is unset ("http://127.0.0.1:18780").
	AgentURL string
	// AuthHTTPClient fetches the OpenID provider's documents and the
	// assertion keys (nil: a client with a 5 s timeout).
	AuthHTTPClient *http.Client
}

// Handlers serve the gateway's two origins.
type Handlers struct {
	// Main serves the main listener: the agent origin, and the admin
	// origin for requests whose Host is gateway.admin.host.
	Main http.Handler
	// Admin serves the admin listener (gateway.admin.listen).
	Admin http.Handler
}

// DefaultBodyReadTimeout bounds how long a client may take to send a
// request body.
const DefaultBodyReadTimeout = 2 * time.Minute

// NewHandler builds the main listener's handler for one configuration
// (NewHandlers has the admin listener's too).
func NewHandler(o Options) (http.Handler, error) {
	h, err := NewHandlers(o)
	if err != nil {
		return nil, err
	}
	return h.Main, nil
}

// NewHandlers builds the gateway's HTTP handlers for one configuration. It
// has no side effect on Shared: a configuration that fails here, or is
// built and then discarded, changes nothing that is running.
func NewHandlers(o Options) (*Handlers, error) {
	if o.Shared == nil {
		return nil, errors.New("server: no shared state")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.BodyReadTimeout <= 0 {
		o.BodyReadTimeout = DefaultBodyReadTimeout
	}
	ao := authOptions(o.Config, o.Token, o.Shared.Auth)
	ao.Observe, ao.HashWait = o.Shared.Metrics.Auth, o.HashWait
	rr := redirectsOf(o.Config)
	ao.Redirect = rr.safe
	ao.HTTPClient = o.AuthHTTPClient
	authn, err := auth.NewAuthenticator(ao)
	if err != nil {
		return nil, err
	}
	return routes(o, authn, trust.New(trustOptions(o.Config))), nil
}

// routes wires the middleware chain and the routes of both origins. It is
// the only place either is composed, so the order security depends on is
// visible here.
func routes(o Options, authn *auth.Authenticator, rv *trust.Resolver) *Handlers {
	cfg, log, m := o.Config, o.Logger, o.Shared.Metrics
	out := outgoing(cfg)
	// The agent, decided once (nil without one), and one connection pool
	// to it, timed, for proxied requests and channel deliveries alike.
	var up *proxy.Upstream
	if cfg.Typed.Upstream != nil {
		up = proxy.NewUpstream(cfg.Typed.Upstream)
	}
	transport := m.Transport(upstreamTransport(o.UpstreamTransport, up, cfg.Typed.UpstreamIdleTimeout))
	tokens := o.Shared.Auth.Tokens
	b := browser{a: authn, csrf: web.NewCSRF(func() []byte { return tokens.DeriveKey("csrf") }), rd: redirectsOf(cfg)}
	cr := channelRoutes{
		engine:   &policy.Engine{Channels: policy.Channels(cfg.Typed.Channels), Store: o.Shared.Pairing, Counters: o.Shared.Counters},
		upstream: cfg.Typed.Upstream,
		out:      out,
		client:   &http.Client{Transport: transport},
		log:      log,
		redact:   cfg.Logging.RedactSensitive != "off",
	}
	st := o.Shared.Auth
	svc := &admin.Service{Devices: st.Devices, Sessions: st.Sessions, SessionPolicy: authn.Sessions(),
		KnownClients: st.KnownClients, Pairing: o.Shared.Pairing}
	au := auditRoutes{cfg: cfg, stateDir: o.Shared.Dir, selfURL: o.SelfURL, token: o.Token, openClaw: o.OpenClaw}
	con := console{b: b, svc: svc, channels: cfg.Typed.Channels, au: au, clock: time.Now, devicesOff: !authn.DevicesEnabled()}
	adm := adminRoutes{svc: svc, b: b, c: con, log: log, channels: cfg.Typed.Channels, pairURL: pairURL(o)}
	ar := authRoutes{a: authn, b: b}
	authenticated := requireIdentity(authn)
	adminURL := o.AdminURL
	if adminURL == "" {
		adminURL = defaultAdminURL(cfg)
	}

	// The owner's pages and API (8), the same on both origins: every
	// route checks the identity is admin first; an unknown /admin path
	// is 404, never proxied.
	adminAPI := func(r chi.Router) {
		r.Use(auth.RequireAdmin)
		r.NotFound(notFound)
		r.Get("/", con.page)
		adm.mount(r)
		r.Get("/audit", au.audit)
	}
	// Both origins: liveness, readiness and metrics; the sign-in page,
	// its stylesheet and the sign-in itself (which do their own lockout
	// accounting); then, with an identity (6), whoami and sign-out. A
	// change authenticated by a cookie must come from the origin itself,
	// whatever its Content-Type (7).
	common := func(r chi.Router) {
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			httperr.Write(w, r, httperr.New(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed", nil))
		})
		r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			jsonhttp.Write(w, http.StatusOK, map[string]string{"status": "ok"})
		})
		r.Get("/readyz", readyz(up, o.Shared))
		if m != nil {
			r.Get("/metrics", metricsAccess(authn, metricsToken(cfg), m.Handler()))
		}
		r.Get("/auth/login", b.signInPage)
		r.Handle("/auth/assets/*", web.Assets())
		r.Post("/auth/login", ar.login)
		r.Get("/auth/logout", b.signOutPage)
		r.With(authenticated, cookieChangesSameOrigin).Get("/auth/whoami", whoami)
		r.With(authenticated, cookieChangesSameOrigin).Post("/auth/logout", ar.logout)
	}

	// The agent origin: devices connect here, connectors deliver chat
	// messages here, everything else is the agent's. /admin/* answers
	// only a bearer credential here (curl, the CLI): the agent's pages
	// run with the person's cookies and proxy identity.
	agentMux, adminMux := chi.NewRouter(), chi.NewRouter()
	common(agentMux)
	// Each method's own routes (device pairing, OIDC sign-in).
	for _, rt := range authn.Routes() {
		agentMux.Method(rt.Method, rt.Path, rt.Handler)
		if !rt.AgentOnly {
			adminMux.Method(rt.Method, rt.Path, rt.Handler)
		}
	}
	agentMux.Get("/auth/device/pair", devicePairPage)
	agentMux.Route("/admin", func(r chi.Router) {
		r.Use(bearerAdmin(authn, adminURL))
		adminAPI(r)
	})
	agentMux.With(bearerAdmin(authn, adminURL)).Get("/admin", toConsole)
	agentMux.With(authenticated, cookieChangesSameOrigin).Group(cr.mount)
	// Everything else is the agent's (6 then the proxy). It is chi's
	// not-found handler rather than a "/*" route so no path parameters are
	// built per request; the global middlewares still run first.
	// Between the identity and the agent: what each person may do (the
	// access rules; nothing when there are none).
	rules := access.New(cfg.Typed.Access).Middleware(access.Options{MaxBody: cfg.Gateway.MaxBodyBytes, Log: log})
	agentMux.NotFound(authenticated(rules(agent(o, up, out, transport))).ServeHTTP)

	// The admin origin: the console and the admin API with the admin
	// session cookie; nothing is proxied to the agent.
	common(adminMux)
	adminMux.Route("/admin", func(r chi.Router) {
		r.Use(authenticated, cookieChangesSameOrigin)
		adminAPI(r)
	})
	adminMux.Get("/admin", toConsole)
	adminMux.Get("/", toConsole)
	adminMux.NotFound(notFound)

	// The order is the security argument:
	//  1. newRecord: the request's one record (id, upgrade kind,
	//     navigation, route class, origin), read by everything below.
	//  2. accessLog: wraps everything after it, so every request gets
	//     exactly one access record with its cause, refusals by trust
	//     included.
	//  3. recoverer: a panic below is contained, answered 500 and logged.
	//  4. trust: the Host is checked against the allowlist (DNS
	//     rebinding), disguised own routes are refused, and the client
	//     address, scheme, host and locality are decided once, before
	//     anything reads them; untrusted forwarding headers are stripped
	//     or the request refused.
	//  5. bodyDeadline: slow senders cannot hold connections.
	//  6. the origin: the admin listener is the admin origin; on the main
	//     listener so is gateway.admin.host (decided from the Host trust
	//     resolved), everything else is the agent's.
	chain := func(admin bool, h http.Handler) http.Handler {
		return newRecord(admin)(accessLog(log, m)(recoverer(log)(rv.Middleware(bodyDeadline(o.BodyReadTimeout)(h)))))
	}
	// The apps forward auth protects: /auth/* only, never the agent.
	fa := newForwardAuth(cfg, authn)
	faMux := chi.NewRouter()
	fa.mount(faMux)
	adminHost := cfg.Typed.AdminHost
	main := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := request.FromContext(r.Context())
		switch {
		case adminHost != "" && hostName(rec.Host) == adminHost:
			rec.Admin = true
			adminMux.ServeHTTP(w, r)
		case len(fa.hosts) > 0 && fa.serves(rec.Host):
			faMux.ServeHTTP(w, r)
		default:
			agentMux.ServeHTTP(w, r)
		}
	})
	return &Handlers{Main: chain(false, main), Admin: chain(true, adminMux)}
}

func notFound(w http.ResponseWriter, r *http.Request) {
	httperr.Write(w, r, httperr.New(http.StatusNotFound, "not_found", "not found", nil))
}

func toConsole(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/admin/", http.StatusMovedPermanently)
}

// hostName is a Host value's name, lower case, without the port.
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.Trim(host, "[]"))
}

// defaultAdminURL names the console's address from the configuration: the
// admin host, else the admin listener.
func defaultAdminURL(cfg *config.Config) string {
	switch {
	case cfg.Typed.AdminHost != "":
		return "https://" + cfg.Typed.AdminHost + "/admin/"
	case cfg.Typed.AdminNetwork == "tcp":
		return "http://" + cfg.Typed.AdminAddr + "/admin/"
	case cfg.Typed.AdminNetwork == "unix":
		return "the Unix socket " + cfg.Typed.AdminAddr + " (ssh -L 9000:" + cfg.Typed.AdminAddr + ", then http://127.0.0.1:9000/admin/)"
	}
	return "(no admin listener: gateway.admin.listen is off; use the CLI)"
}

// pairURL is where device invitations point: the agent's public URL, else
// its listener.
func pairURL(o Options) string {
	if u := o.Config.Typed.PublicURL; u != nil {
		return u.String()
	}
	if o.AgentURL != "" {
		return o.AgentURL
	}
	return "http://" + o.Config.Typed.ListenAddr
}

// errAdminElsewhere is a request for the console or an admin action on the
// agent origin without a bearer credential.
var errAdminElsewhere = errors.New("admin request on the agent origin without a bearer credential")

// bearerAdmin guards /admin/* on the agent origin: only a bearer credential
// (the shared token, an admin device token, a session bearer from a JSON
// sign-in: what curl and the CLI send, and what no page can attach) is
// taken, and it must be the owner's. Anything else, a cookie or a
// trusted-proxy identity included, is 403 admin_elsewhere naming the
// console's address.
func bearerAdmin(authn *auth.Authenticator, adminURL string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok, err := authn.AuthenticateBearer(r)
			switch {
			case !ok:
				httperr.Write(w, r, httperr.New(http.StatusForbidden, "admin_elsewhere",
					"the console and /admin/* answer browsers only on the admin origin: "+adminURL+"; here they take only a bearer credential", errAdminElsewhere))
				return
			case err != nil:
				httperr.Write(w, r, err)
				return
			}
			request.FromContext(r.Context()).Identity = id
			next.ServeHTTP(w, r)
		})
	}
}

// agent is the handler for the agent's requests: the proxy, or the
// built-in status page when no upstream is configured.
func agent(o Options, up *proxy.Upstream, out *proxy.Outgoing, transport http.RoundTripper) http.Handler {
	cfg, m := o.Config, o.Shared.Metrics
	if up == nil {
		return http.HandlerFunc(statusPage)
	}
	return proxy.New(proxy.Options{
		Upstream:       up,
		Outgoing:       out,
		AllowAnyOrigin: cfg.Typed.AllowAnyOrigin,
		AllowedOrigins: cfg.Typed.AllowedOrigins,
		MaxBodyBytes:   cfg.Gateway.MaxBodyBytes,
		Transport:      transport,
		Logger:         o.Logger,
		OnError:        func(error) { m.UpstreamError() },
		OnTunnel:       func(d int) { m.WebSocket(float64(d)) },
	})
}

// metricsAccess lets local requests and the holder of gateway.metrics.token
// (a Prometheus running as another user) read metrics, and asks everyone
// else for an admin identity.
func metricsAccess(authn *auth.Authenticator, token *auth.TokenVerifier, h http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := request.FromContext(r.Context())
		if tok, ok := auth.Bearer(r.Header.Get("Authorization")); ok && token != nil && token.Verify(tok) {
			h.ServeHTTP(w, r)
			return
		}
		if rec.Local() {
			h.ServeHTTP(w, r)
			return
		}
		id, err := authn.Authenticate(r)
		if err != nil {
			httperr.Write(w, r, err)
			return
		}
		rec.Identity = id
		if !id.IsAdmin() {
			httperr.Write(w, r, httperr.New(http.StatusForbidden, "forbidden", "admin only", nil))
			return
		}
		h.ServeHTTP(w, r)
	}
}

// metricsToken is gateway.metrics.token's verifier, nil when unset.
func metricsToken(cfg *config.Config) *auth.TokenVerifier {
	if cfg.Gateway.Metrics.Token == "" {
		return nil
	}
	v, _ := auth.NewTokenVerifier(cfg.Gateway.Metrics.Token)
	return v
}

func upstreamTransport(rt http.RoundTripper, up *proxy.Upstream, idle time.Duration) http.RoundTripper {
	if rt != nil {
		return rt
	}
	if up == nil {
		return proxy.NewLeanTransport(idle) // no agent: channel deliveries fail as they would
	}
	return up.Transport(idle)
}

// Whoami is the /auth/whoami body.
type Whoami struct {
	User   string   `json:"user"`
	Method string   `json:"method"`
	Role   string   `json:"role"`
	Groups []string `json:"groups"`
	// OpenedWith is, for a session, how it was opened.
	OpenedWith string `json:"openedWith,omitempty"`
	Client     string `json:"client"`
	Peer       string `json:"peer"`
	ViaProxy   bool   `json:"viaProxy"`
	Local      bool   `json:"local"`
	Proto      string `json:"proto"`
	Host       string `json:"host"`
}

func whoamiOf(r *http.Request) Whoami {
	out := Whoami{Groups: []string{}}
	rec := request.FromContext(r.Context())
	if id := rec.Identity; id != nil {
		out.User, out.Method, out.Role, out.OpenedWith = id.User, id.Method, id.Role, id.OpenedWith
		if id.Groups != nil {
			out.Groups = id.Groups
		}
	}
	out.Client, out.Peer = rec.Client.String(), rec.Peer.Addr().String()
	out.ViaProxy, out.Local, out.Proto, out.Host = rec.ViaProxy, rec.Local(), rec.Proto, rec.Host
	return out
}

func whoami(w http.ResponseWriter, r *http.Request) {
	jsonhttp.Write(w, http.StatusOK, whoamiOf(r))
}

// readyz reports ready when the configuration is loaded (it is, or this
// handler would not exist) and the upstream accepts TCP connections.
func readyz(up *proxy.Upstream, sh *Shared) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// A replica whose shared store is down drains: its load
		// balancer sends new connections to the others.
		if err := sh.Ready(r.Context()); err != nil {
			httperr.Write(w, r, auth.StoreUnavailable(err))
			return
		}
		if up != nil {
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			if err := up.Reachable(ctx); err != nil {
				httperr.Write(w, r, httperr.New(http.StatusServiceUnavailable, "upstream_unreachable", "upstream unreachable", err))
				return
			}
		}
		jsonhttp.Write(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// statusPage serves the built-in page when there is no upstream.
func statusPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		httperr.Write(w, r, httperr.New(http.StatusNotFound, "no_upstream", "no upstream configured", nil))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		httperr.Write(w, r, httperr.New(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed", nil))
		return
	}
	v := whoamiOf(r)
	web.RenderStatus(w, web.You{User: v.User, Method: v.Method, Role: v.Role, Client: v.Client, Peer: v.Peer,
		Proto: v.Proto, Host: v.Host, ViaProxy: v.ViaProxy, Local: v.Local})
}

// Swappable is an http.Handler whose target can be replaced atomically, so a
// config reload never serves a half-built handler.
type Swappable struct {
	h atomic.Pointer[http.Handler]
}

// NewSwappable returns a Swappable serving h.
func NewSwappable(h http.Handler) *Swappable {
	s := &Swappable{}
	s.Store(h)
	return s
}

// Store replaces the handler.
func (s *Swappable) Store(h http.Handler) { s.h.Store(&h) }

func (s *Swappable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

// NewHTTPServer returns an http.Server with the gateway's limits: a bounded
// time to send headers, idle keep-alive connections closed, a header size
// cap. There is no whole-request ReadTimeout or WriteTimeout because
// WebSockets and streamed agent replies legitimately last long; body reads
// are bounded per request by bodyDeadline instead.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Serve runs srv on ln until ctx is done, then shuts down gracefully,
// draining in-flight requests for up to drain.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
