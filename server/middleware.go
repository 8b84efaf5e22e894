package server

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gateway/httperr"
	"gateway/metrics"
	"gateway/request"
	"gateway/web"
)

// idPrefix makes request ids unique across restarts; the counter makes
// them unique within a process without a random read per request.
var (
	idPrefix  = func() string { var b [4]byte; _, _ = rand.Read(b[:]); return hex.EncodeToString(b[:]) }()
	idCounter atomic.Uint64
)

// newRecord starts the request's one record: a fresh id (a client-sent
// X-Request-Id is not reused: it would let a client forge log
// correlation), the request's shape (upgrade kind, browser navigation) and
// its route class. Trust and auth fill in the rest. The request is copied
// once here, not once per middleware.
//
// admin marks the admin listener's requests: the admin origin.
func newRecord(admin bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return recordStart(admin, next) }
}

func recordStart(admin bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, rec := request.NewContext(r.Context())
		rec.Admin, rec.AdminListener = admin, admin
		rec.ID = idPrefix + strconv.FormatUint(idCounter.Add(1), 16)
		rec.Upgrade = request.UpgradeOf(r)
		rec.Navigation = request.IsNavigation(r)
		rec.Route = routeClass(r.URL.Path, rec.Upgrade)
		rec.Page = web.ErrorPage
		w.Header()["X-Request-Id"] = []string{rec.ID}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// routeClass labels a request for metrics without exposing its path.
func routeClass(path string, up request.Upgrade) string {
	switch {
	case path == "/healthz" || path == "/readyz":
		return metrics.RouteHealth
	case path == "/metrics":
		return metrics.RouteMetrics
	case strings.HasPrefix(path, "/auth/"):
		return metrics.RouteAuth
	case path == "/admin" || strings.HasPrefix(path, "/admin/"):
		return metrics.RouteAdmin
	case strings.HasPrefix(path, "/channels/"):
		return metrics.RouteChannels
	case up == request.UpgradeWebSocket:
		return metrics.RouteWS
	}
	return metrics.RouteProxy
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
					httperr.Write(w, r, fmt.Errorf("panic: %v", v))
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

// accessLog writes the request's one access record when it is done:
// refusals included (trust's too, since this runs before trust), with the
// status, the public code and the cause. Only the path is logged, never the
// query (it may carry secrets) and never a header value.
func accessLog(log *slog.Logger, m *metrics.Metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			dur := time.Since(start)
			if sw.status == 0 {
				sw.status = http.StatusOK // net/http's answer to a handler that wrote nothing
			}
			rec := request.FromContext(r.Context())
			m.Request(rec.Route, sw.status, dur)
			attrs := make([]slog.Attr, 0, 16)
			attrs = append(attrs,
				slog.String("id", rec.ID),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", sw.status),
				slog.Duration("dur", dur), // nanoseconds in JSON, no formatting cost
				slog.Int64("bytes", sw.bytes),
				slog.String("route", rec.Route),
			)
			if rec.Peer.IsValid() {
				attrs = append(attrs, slog.String("peer", rec.Peer.String()), slog.String("client", rec.Client.String()),
					slog.Bool("viaProxy", rec.ViaProxy))
				// Locality is logged when a rule asked for it (looking
				// it up only for the log would cost a /proc read).
				if local, known := rec.LocalKnown(); known {
					attrs = append(attrs, slog.Bool("local", local))
				}
				if rec.SameHost {
					attrs = append(attrs, slog.Bool("sameHost", true))
				}
			}
			if id := rec.Identity; id != nil {
				attrs = append(attrs, slog.String("user", id.User), slog.String("auth", id.Method), slog.String("role", id.Role))
				if id.OpenedWith != "" {
					attrs = append(attrs, slog.String("openedWith", id.OpenedWith))
				}
			}
			level := slog.LevelInfo
			if rec.Cause != nil {
				level = slog.LevelWarn
				he := httperr.Public(rec.Cause)
				attrs = append(attrs, slog.String("code", he.Code), slog.String("cause", rec.Cause.Error()))
				if he.Status >= 500 {
					level = slog.LevelError
				}
			}
			log.LogAttrs(r.Context(), level, "request", attrs...)
		})
	}
}

// bodyDeadline bounds how long a client may take to send its request body,
// so a slow sender cannot hold a connection forever. Only a WebSocket
// handshake, as decided once in the request record, is exempt: its
// connection outlives the request and is governed by the peers. A request
// with any other Upgrade header is an ordinary request and gets the
// deadline.
func bodyDeadline(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Only a request with a body has anything left to read
			// (headers are bounded by ReadHeaderTimeout); skipping the
			// rest saves a deadline update per request.
			hasBody := r.ContentLength != 0 || len(r.TransferEncoding) > 0
			if hasBody && request.FromContext(r.Context()).Upgrade != request.UpgradeWebSocket {
				_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
			}
			next.ServeHTTP(w, r)
		})
	}
}
