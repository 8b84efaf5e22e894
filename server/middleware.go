package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"gateway/auth"
	"gateway/httperr"
	"gateway/metrics"
	"gateway/trust"
)

// access is the per-request record the access log writes; middlewares later
// in the chain fill it in through the context.
type access struct {
	id     string
	user   string
	method string
}

type accessKey struct{}

func accessFrom(ctx context.Context) *access {
	a, _ := ctx.Value(accessKey{}).(*access)
	return a
}

// idPrefix makes request ids unique across restarts; the counter makes
// them unique within a process without a random read per request.
var (
	idPrefix  = func() string { var b [4]byte; _, _ = rand.Read(b[:]); return hex.EncodeToString(b[:]) }()
	idCounter atomic.Uint64
)

// requestID gives every request a fresh id. A client-sent X-Request-Id is
// not reused: it would let a client forge log correlation. It also
// installs the context slots that trust and auth fill later, so the
// request is copied once here instead of once per middleware.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := &access{id: idPrefix + strconv.FormatUint(idCounter.Add(1), 16)}
		w.Header()["X-Request-Id"] = []string{a.id}
		ctx := context.WithValue(r.Context(), accessKey{}, a)
		ctx = auth.WithSlot(trust.WithSlot(ctx))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// recoverer turns a panic into a logged stack and a 500 JSON with no
// internals. A panic is a bug; this keeps it from also being an outage.
func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.Error("panic", slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
					httperr.Write(w, errors.New("panic"))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// statusWriter records the status and size for the access log. It keeps
// Flush, Hijack and Unwrap working: streaming and WebSocket depend on them.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijack not supported")
	}
	if s.status == 0 {
		s.status = http.StatusSwitchingProtocols
	}
	return h.Hijack()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog writes one structured record per request. Only the path is
// logged, never the query (it may carry secrets) and never a header value.
func accessLog(log *slog.Logger, m *metrics.Metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			route := metrics.Route(r)
			next.ServeHTTP(sw, r)
			m.Request(route, sw.status, time.Since(start))
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", sw.status),
				slog.Duration("dur", time.Since(start)), // nanoseconds in JSON, no formatting cost
				slog.Int64("bytes", sw.bytes),
			}
			if res, ok := trust.FromContext(r.Context()); ok {
				attrs = append(attrs, slog.String("peer", res.Peer.String()), slog.String("client", res.Client.String()),
					slog.Bool("viaProxy", res.ViaProxy))
			}
			if a := accessFrom(r.Context()); a != nil {
				attrs = append(attrs, slog.String("id", a.id), slog.String("user", a.user), slog.String("auth", a.method))
			}
			log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		})
	}
}

// noteAuth copies the auth outcome into the access record.
func noteAuth(log *slog.Logger, m *metrics.Metrics) func(*http.Request, *auth.Identity, error) {
	return func(r *http.Request, id *auth.Identity, err error) {
		switch {
		case id != nil:
			m.Auth(id.Method, "success")
		case errors.Is(err, auth.ErrLockedOut):
			m.Auth("any", "locked")
		case errors.Is(err, auth.ErrBadCredentials):
			m.Auth("any", "failure")
		default:
			m.Auth("any", "missing")
		}
		a := accessFrom(r.Context())
		if a == nil {
			return
		}
		if id != nil {
			a.user, a.method = id.User, id.Method
			return
		}
		a.method = "failed"
		if errors.Is(err, auth.ErrBadCredentials) {
			attrs := []slog.Attr{slog.String("id", a.id), slog.String("reason", "wrong credentials")}
			if res, ok := trust.FromContext(r.Context()); ok {
				attrs = append(attrs, slog.String("client", res.Client.String()), slog.String("peer", res.Peer.String()))
			}
			log.LogAttrs(r.Context(), slog.LevelWarn, "auth failed", attrs...)
		}
	}
}

// bodyDeadline bounds how long a client may take to send its request body,
// so a slow sender cannot hold a connection forever. WebSocket upgrades are
// exempt: their connection outlives the request and is governed by the peers.
func bodyDeadline(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Only a request with a body has anything left to read
			// (headers are bounded by ReadHeaderTimeout); skipping the
			// rest saves a deadline update per request.
			hasBody := r.ContentLength != 0 || len(r.TransferEncoding) > 0
			if hasBody && r.Header.Get("Upgrade") == "" {
				_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
			}
			next.ServeHTTP(w, r)
		})
	}
}
