// Package server wires the gateway together: trust, then identity, then the
// routes (health, whoami, the proxy). It is the only place middleware is
// composed, so the order that security depends on is visible in one function.
package server

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"gateway/auth"
	"gateway/config"
	"gateway/httperr"
	"gateway/metrics"
	"gateway/policy"
	"gateway/proxy"
	"gateway/trust"
)

// Options configure a handler.
type Options struct {
	// Config is the validated configuration. Required.
	Config *config.Config
	// Token is the shared token in token mode (from config, env or the
	// state dir).
	Token string
	// Auth is the authentication state shared across reloads. Required.
	Auth *auth.Deps
	// Pairing is the channel pairing store. Required.
	Pairing *policy.Store
	// PolicyCounters counts policy decisions across reloads; nil: a fresh one.
	PolicyCounters *policy.Counters
	// Logger receives access and error logs; nil means slog.Default().
	Logger *slog.Logger
	// StateDir is the state directory (for /admin/audit).
	StateDir string
	// SelfURL is where this gateway listens (for /admin/audit?deep=1).
	SelfURL string
	// Metrics records Prometheus metrics; nil disables them.
	Metrics *metrics.Metrics
	// UpstreamTransport overrides the proxy transport (tests, benchmarks).
	UpstreamTransport http.RoundTripper
}

// BodyReadTimeout bounds how long a client may take to send a request body.
const BodyReadTimeout = 2 * time.Minute

// NewHandler builds the gateway's HTTP handler for one configuration.
func NewHandler(o Options) (http.Handler, error) {
	cfg := o.Config
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	authn, err := auth.NewAuthenticator(auth.Options{Config: cfg, Token: o.Token, Deps: o.Auth})
	if err != nil {
		return nil, err
	}
	rv := trust.New(trust.Options{
		TrustedProxies:      cfg.Typed.TrustedProxies,
		AllowRealIPFallback: cfg.Gateway.AllowRealIPFallback,
		PreferForwarded:     cfg.Gateway.PreferForwarded,
	})
	channels, err := policy.Channels(cfg)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if o.Pairing == nil {
		return nil, errors.New("server: no pairing store")
	}
	counters := o.PolicyCounters
	if counters == nil {
		counters = &policy.Counters{}
	}
	// One upstream connection pool, timed, for proxied requests and
	// channel deliveries alike.
	transport := o.Metrics.Transport(upstreamTransport(o.UpstreamTransport))
	cr := channelRoutes{
		engine:   &policy.Engine{Channels: channels, Store: o.Pairing, Counters: counters},
		upstream: cfg.Typed.Upstream,
		client:   &http.Client{Transport: transport},
		log:      log,
		redact:   cfg.Logging.RedactSensitive != "off",
	}
	var upstream http.Handler
	if cfg.Typed.Upstream != nil {
		upstream = proxy.New(proxy.Options{
			Upstream:       cfg.Typed.Upstream,
			AllowAnyOrigin: cfg.Typed.AllowAnyOrigin,
			AllowedOrigins: cfg.Typed.AllowedOrigins,
			MaxBodyBytes:   cfg.Gateway.MaxBodyBytes,
			Transport:      transport,
			Logger:         log,
			OnError:        func(error) { o.Metrics.UpstreamError() },
			OnTunnel:       func(d int) { o.Metrics.WebSocket(float64(d)) },
		})
	} else {
		upstream = http.HandlerFunc(statusPage)
	}

	r := chi.NewRouter()
	notFound := func(w http.ResponseWriter, _ *http.Request) {
		httperr.Write(w, httperr.New(http.StatusNotFound, "not_found", "not found", nil))
	}
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		httperr.Write(w, httperr.New(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed", nil))
	})
	// The order is the security argument:
	//  1. requestID: every later log line and error can name the request.
	//  2. recoverer: a panic below is contained and logged.
	//  3. trust: the client address, scheme and host are decided once,
	//     before anything reads them; untrusted forwarding headers are
	//     stripped or the request refused.
	//  4. accessLog: after trust, so it logs both peer and client.
	//  5. bodyDeadline: slow senders cannot hold connections.
	r.Use(
		requestID,
		recoverer(log),
		rv.Middleware(func(r *http.Request, err error) {
			log.LogAttrs(r.Context(), slog.LevelWarn, "request refused",
				slog.String("peer", r.RemoteAddr), slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.String("err", err.Error()))
		}),
		accessLog(log, o.Metrics),
		bodyDeadline(BodyReadTimeout),
	)

	// Public: liveness and readiness say nothing about the caller.
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		httperr.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", readyz(cfg))
	if o.Metrics != nil {
		// Admin, or a clean local request (a Prometheus on this host).
		r.Get("/metrics", metricsAccess(authn, o.Metrics.Handler()))
	}

	// Public auth endpoints: they take credentials, so they do their own
	// lockout accounting.
	ar := authRoutes{a: authn}
	r.Post("/auth/login", ar.login)
	r.Post("/auth/device/challenge", ar.challenge)
	r.Post("/auth/device/connect", ar.connect)

	// Everything else needs an identity (6).
	r.Group(func(r chi.Router) {
		r.Use(authn.Middleware(noteAuth(log, o.Metrics)))
		r.Get("/auth/whoami", whoami)
		r.Post("/auth/logout", ar.logout)
		// The owner only (7): every /admin route checks first.
		r.Route("/admin", func(r chi.Router) {
			r.Use(auth.RequireAdmin)
			r.NotFound(notFound) // never proxy an unknown /admin path
			ar.mountAdminDevices(r)
			cr.mountAdmin(r)
			au := auditRoutes{cfg: cfg, stateDir: o.StateDir, selfURL: o.SelfURL, token: o.Token}
			r.Get("/audit", au.audit)
		})
		cr.mount(r)
	})
	// Everything else is the agent's (6 then the proxy). It is chi's
	// not-found handler rather than a "/*" route so no path parameters are
	// built per request; the global middlewares above still run first.
	r.NotFound(authn.Middleware(noteAuth(log, o.Metrics))(upstream).ServeHTTP)
	return r, nil
}

// metricsAccess lets clean local requests read metrics and asks everyone
// else for an admin identity.
func metricsAccess(authn *auth.Authenticator, h http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if res, ok := trust.FromContext(r.Context()); ok && res.Local {
			h.ServeHTTP(w, r)
			return
		}
		authn.StripUserHeader(r)
		id, err := authn.Authenticate(r)
		if err != nil {
			httperr.Write(w, err)
			return
		}
		if !id.IsAdmin() {
			httperr.Write(w, httperr.New(http.StatusForbidden, "forbidden", "admin only", nil))
			return
		}
		h.ServeHTTP(w, r)
	}
}

func upstreamTransport(rt http.RoundTripper) http.RoundTripper {
	if rt != nil {
		return rt
	}
	return proxy.NewLeanTransport()
}

// Whoami is the /auth/whoami body.
type Whoami struct {
	User     string `json:"user"`
	Method   string `json:"method"`
	Role     string `json:"role"`
	Client   string `json:"client"`
	Peer     string `json:"peer"`
	ViaProxy bool   `json:"viaProxy"`
	Local    bool   `json:"local"`
	Proto    string `json:"proto"`
	Host     string `json:"host"`
}

func whoamiOf(r *http.Request) Whoami {
	var out Whoami
	if id, ok := auth.FromContext(r.Context()); ok {
		out.User, out.Method, out.Role = id.User, id.Method, id.Role
	}
	if res, ok := trust.FromContext(r.Context()); ok {
		out.Client, out.Peer = res.Client.String(), res.Peer.Addr().String()
		out.ViaProxy, out.Local, out.Proto, out.Host = res.ViaProxy, res.Local, res.Proto, res.Host
	}
	return out
}

func whoami(w http.ResponseWriter, r *http.Request) {
	httperr.WriteJSON(w, http.StatusOK, whoamiOf(r))
}

// readyz reports ready when the configuration is loaded (it is, or this
// handler would not exist) and the upstream accepts TCP connections.
func readyz(cfg *config.Config) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if u := cfg.Typed.Upstream; u != nil {
			host := u.Host
			if u.Port() == "" {
				port := "80"
				if u.Scheme == "https" {
					port = "443"
				}
				host = net.JoinHostPort(u.Hostname(), port)
			}
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", host)
			if err != nil {
				httperr.Write(w, httperr.New(http.StatusServiceUnavailable, "upstream_unreachable", "upstream unreachable", err))
				return
			}
			_ = c.Close()
		}
		httperr.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

var statusTmpl = template.Must(template.New("status").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>gateway</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>gateway is running</h1>
<p>No upstream is configured (<code>gateway.upstream</code>), so this status page is all there is.</p>
<table>
<tr><th align="left">user</th><td>{{.User}}</td></tr>
<tr><th align="left">auth method</th><td>{{.Method}}</td></tr>
<tr><th align="left">client address</th><td>{{.Client}}</td></tr>
<tr><th align="left">peer (TCP)</th><td>{{.Peer}}</td></tr>
<tr><th align="left">via proxy</th><td>{{.ViaProxy}}</td></tr>
<tr><th align="left">local</th><td>{{.Local}}</td></tr>
<tr><th align="left">scheme / host</th><td>{{.Proto}}://{{.Host}}</td></tr>
</table>
</body></html>
`))

// statusPage serves the built-in page when there is no upstream.
func statusPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		httperr.Write(w, httperr.New(http.StatusNotFound, "no_upstream", "no upstream configured", nil))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		httperr.Write(w, httperr.New(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed", nil))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_ = statusTmpl.Execute(w, whoamiOf(r))
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
