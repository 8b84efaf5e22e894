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
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"gateway/auth"
	"gateway/config"
	"gateway/httperr"
	"gateway/trust"
)

// Options configure a Proxy.
type Options struct {
	// Upstream is the agent's base URL. Required.
	Upstream *url.URL
	// AllowAnyOrigin accepts any Origin on WebSocket upgrades.
	AllowAnyOrigin bool
	// AllowedOrigins are accepted Origins ("scheme://host[:port]",
	// normalised) besides the gateway's own origin.
	AllowedOrigins map[string]bool
	// MaxBodyBytes caps request bodies; 0 means 10 MiB.
	MaxBodyBytes int64
	// Transport is used for upstream requests; nil means NewTransport().
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
	log     *slog.Logger
	maxBody int64
}

// NewLeanTransport returns the default upstream transport: the lean pooled
// path for plain HTTP, and NewTransport for upgrades and https.
func NewLeanTransport() *LeanTransport {
	return &LeanTransport{Fallback: NewTransport()}
}

// NewTransport returns the standard upstream transport: bounded dial and handshake
// times, a generous response-header wait (agents think before they answer),
// connection reuse, and no HTTP_PROXY from the environment.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
	}
}

// New builds a Proxy.
func New(o Options) *Proxy {
	p := &Proxy{opts: o, log: o.Logger, maxBody: o.MaxBodyBytes}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.maxBody <= 0 {
		p.maxBody = 10 << 20
	}
	tr := o.Transport
	if tr == nil {
		tr = NewLeanTransport()
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: tr,
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
	if isUpgrade(r) && !p.originAllowed(r) {
		httperr.Write(w, httperr.New(http.StatusForbidden, "origin_not_allowed",
			"WebSocket origin not allowed; add it to gateway.allowedOrigins", nil))
		return
	}
	if r.ContentLength > p.maxBody {
		httperr.Write(w, httperr.New(http.StatusRequestEntityTooLarge, "body_too_large", "request body too large", nil))
		return
	}
	if isUpgrade(r) {
		p.serveUpgrade(w, r)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, p.maxBody)
	}
	p.rp.ServeHTTP(w, r)
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// originAllowed implements the browser check on WebSocket upgrades: no
// Origin (a non-browser client), the gateway's own origin as the client
// sees it, or a configured origin.
func (p *Proxy) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if p.opts.AllowAnyOrigin {
		return true
	}
	norm, err := config.NormalizeOrigin(origin)
	if err != nil {
		return false // "null", garbage: not an origin we can allow
	}
	if p.opts.AllowedOrigins[norm] {
		return true
	}
	if res, ok := trust.FromContext(r.Context()); ok {
		self, err := config.NormalizeOrigin(res.Proto + "://" + res.Host)
		return err == nil && norm == self
	}
	return false
}

// rewrite builds the outgoing request. httputil.ReverseProxy has already
// removed hop-by-hop headers and, because Rewrite is set, X-Forwarded-For,
// X-Forwarded-Host, X-Forwarded-Proto and Forwarded from Out.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.opts.Upstream)
	h := pr.Out.Header
	for k := range h {
		if strings.HasPrefix(k, "X-Gateway-") {
			delete(h, k)
		}
	}
	h.Del("Forwarded")
	h.Del("X-Real-Ip")
	trust.Strip(h)
	if res, ok := trust.FromContext(pr.In.Context()); ok {
		h.Set("X-Forwarded-For", res.ForwardedFor)
		h.Set("X-Real-Ip", res.Client.String())
		h.Set("X-Forwarded-Proto", res.Proto)
		h.Set("X-Forwarded-Host", res.Host)
	}
	if id, ok := auth.FromContext(pr.In.Context()); ok {
		h.Set("X-Gateway-User", id.User)
		h.Set("X-Gateway-Auth", id.Method)
		// The gateway's credential is for the gateway: the agent never
		// sees it.
		switch id.Credential {
		case "authorization":
			h.Del("Authorization")
		case "websocket-protocol":
			stripProtocolToken(h)
		}
	}
	// The session cookie is the gateway's whatever authenticated this
	// request; other cookies belong to the agent and pass.
	stripCookie(h, auth.SessionCookie)
}

// stripProtocolToken removes the bearer.<token> entry from
// Sec-WebSocket-Protocol, keeping any real subprotocols.
func stripProtocolToken(h http.Header) {
	var keep []string
	for _, line := range h.Values("Sec-WebSocket-Protocol") {
		for v := range strings.SplitSeq(line, ",") {
			v = strings.TrimSpace(v)
			if v != "" && !strings.HasPrefix(v, auth.WebSocketProtocolPrefix) {
				keep = append(keep, v)
			}
		}
	}
	h.Del("Sec-WebSocket-Protocol")
	if len(keep) > 0 {
		h.Set("Sec-WebSocket-Protocol", strings.Join(keep, ", "))
	}
}

// stripCookie removes one cookie from the Cookie header(s), keeping the
// rest byte for byte.
func stripCookie(h http.Header, name string) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var keep []string
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			p := strings.TrimSpace(part)
			if p == "" {
				continue
			}
			if k, _, _ := strings.Cut(p, "="); strings.TrimSpace(k) == name {
				continue
			}
			keep = append(keep, p)
		}
	}
	h.Del("Cookie")
	if len(keep) > 0 {
		h.Set("Cookie", strings.Join(keep, "; "))
	}
}

// errorHandler answers upstream failures with JSON that names no internals.
func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		httperr.Write(w, httperr.New(http.StatusRequestEntityTooLarge, "body_too_large",
			"request body too large (limit "+strconv.FormatInt(mbe.Limit, 10)+" bytes)", err))
		return
	case errors.Is(err, context.Canceled):
		// The client went away; nobody is left to answer.
		w.WriteHeader(499)
		return
	}
	if p.opts.OnError != nil {
		p.opts.OnError(err)
	}
	p.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream error",
		slog.String("path", r.URL.Path), slog.String("err", err.Error()))
	httperr.Write(w, httperr.New(http.StatusBadGateway, "bad_gateway", "upstream unavailable", err))
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
