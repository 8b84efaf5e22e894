// Package proxy forwards authenticated HTTP and WebSocket traffic to the
// agent upstream. It sets every forwarding and identity header fresh from
// what trust and auth decided, and never passes on a client-supplied
// X-Gateway-* header, Forwarded header or the gateway's own credential.
package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"time"

	"gateway/config"
	"gateway/httperr"
	"gateway/request"
	"gateway/trust"
)

// Options configure a Proxy.
type Options struct {
	// Upstream is the agent. Required.
	Upstream *Upstream
	// Outgoing builds the upstream's request (identity header names,
	// preserveHost, the trusted-proxy header to remove).
	Outgoing *Outgoing
	// AllowAnyOrigin accepts any Origin on WebSocket upgrades.
	AllowAnyOrigin bool
	// AllowedOrigins are accepted Origins ("scheme://host[:port]",
	// normalised) besides the gateway's own origin.
	AllowedOrigins map[string]bool
	// MaxBodyBytes caps request bodies; 0 means 10 MiB.
	MaxBodyBytes int64
	// Transport is used for upstream requests; nil means
	// NewLeanTransport(0).
	Transport http.RoundTripper
	// Logger receives upstream errors; nil means slog.Default().
	Logger *slog.Logger
	// OnError, if set, is told about each upstream failure (metrics).
	OnError func(error)
	// OnTunnel, if set, is told +1 when a WebSocket tunnel opens and -1
	// when it closes (metrics).
	OnTunnel func(delta int)
}

// Proxy is an http.Handler that forwards to the upstream.
type Proxy struct {
	rp      *httputil.ReverseProxy
	opts    Options
	out     *Outgoing
	log     *slog.Logger
	maxBody int64
}

// NewLeanTransport returns the default upstream transport: the lean pooled
// path for plain HTTP, and NewTransport for https. idle is how long a
// pooled connection may sit unused (gateway.upstreamIdleTimeout); 0 means
// DefaultIdleTimeout.
func NewLeanTransport(idle time.Duration) *LeanTransport {
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	return &LeanTransport{Fallback: NewTransport(idle), IdleTimeout: idle}
}

// NewTransport returns the standard upstream transport: bounded dial and handshake
// times, a generous response-header wait (agents think before they answer),
// connection reuse, and no HTTP_PROXY from the environment.
func NewTransport(idle time.Duration) *http.Transport {
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       idle,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
	}
}

// New builds a Proxy.
func New(o Options) *Proxy {
	p := &Proxy{opts: o, out: o.Outgoing, log: o.Logger, maxBody: o.MaxBodyBytes}
	if p.out == nil {
		p.out = &Outgoing{PreserveHost: true}
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.maxBody <= 0 {
		p.maxBody = 10 << 20
	}
	tr := o.Transport
	if tr == nil {
		tr = o.Upstream.Transport(0)
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		ModifyResponse: p.modifyResponse,
		Transport:      tr,
		// 0: responses of known length are written in one go; streamed
		// ones (no Content-Length, or text/event-stream: token streams)
		// are flushed on every write by ReverseProxy itself. -1 would
		// cost a second write syscall on every small response.
		FlushInterval: 0,
		ErrorHandler:  p.errorHandler,
		// Without a pool ReverseProxy allocates a fresh 32 KiB copy
		// buffer per response: the largest source of GC work in profiles.
		BufferPool: bufferPool{},
		ErrorLog:   slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
	}
	return p
}

// ServeHTTP checks the Origin of WebSocket upgrades, caps the body and
// forwards.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := request.FromContext(r.Context())
	ws := rec != nil && rec.Upgrade == request.UpgradeWebSocket
	if ws {
		if origin := r.Header.Get("Origin"); !p.originAllowed(origin, rec) {
			httperr.Write(w, r, httperr.New(http.StatusForbidden, "origin_not_allowed",
				"WebSocket origin "+quoteOrigin(origin)+" not allowed; add it to gateway.allowedOrigins", nil))
			return
		}
	}
	if r.ContentLength > p.maxBody {
		httperr.Write(w, r, httperr.New(http.StatusRequestEntityTooLarge, "body_too_large", "request body too large", nil))
		return
	}
	if ws {
		p.serveUpgrade(w, r)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, p.maxBody)
	}
	p.rp.ServeHTTP(w, r)
}

// quoteOrigin quotes a refused Origin for the error message, bounded.
func quoteOrigin(o string) string {
	if len(o) > 100 {
		o = o[:100] + "..."
	}
	return strconv.Quote(o)
}

// originAllowed implements the browser check on WebSocket upgrades: no
// Origin (a non-browser client), a configured origin, or the gateway's own
// origin as the client addressed it. The last is what OpenClaw calls the
// Host-header origin fallback; it is safe here only because trust has
// already refused every Host the allowlist does not serve, so a rebinding
// page never gets this far.
func (p *Proxy) originAllowed(origin string, rec *request.Record) bool {
	if origin == "" || p.opts.AllowAnyOrigin {
		return true
	}
	norm, err := config.NormalizeOrigin(origin)
	if err != nil {
		return false // "null", garbage: not an origin we can allow
	}
	if p.opts.AllowedOrigins[norm] {
		return true
	}
	return trust.SameOrigin(origin, rec.Proto, rec.Host)
}

// rewrite builds the outgoing request for httputil.ReverseProxy.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	if rec := request.FromContext(pr.In.Context()); rec != nil && rec.UpstreamPath != "" {
		// The path as the access rules read it, encoded canonically:
		// what was matched is what the upstream routes.
		pr.Out.URL.Path, pr.Out.URL.RawPath = rec.UpstreamPath, ""
	}
	pr.SetURL(p.opts.Upstream.URL)
	p.out.Build(pr.In, pr.Out)
}

// errorHandler answers upstream failures with JSON that names no internals.
func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		httperr.Write(w, r, httperr.New(http.StatusRequestEntityTooLarge, "body_too_large",
			"request body too large (limit "+strconv.FormatInt(mbe.Limit, 10)+" bytes)", err))
		return
	case errors.Is(err, context.Canceled):
		// The client went away; nobody is left to answer.
		w.WriteHeader(httperr.StatusClientGone)
		return
	}
	if p.opts.OnError != nil {
		p.opts.OnError(err)
	}
	// The cause goes into the request's one access record.
	httperr.Write(w, r, httperr.New(http.StatusBadGateway, "bad_gateway", "upstream unavailable", err))
}

// copyBufs backs bufferPool.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// bufferPool implements httputil.BufferPool over a sync.Pool.
type bufferPool struct{}

func (bufferPool) Get() []byte { return *(copyBufs.Get().(*[]byte)) }

func (bufferPool) Put(b []byte) {
	if cap(b) >= 32<<10 {
		b = b[:32<<10]
		copyBufs.Put(&b)
	}
}
