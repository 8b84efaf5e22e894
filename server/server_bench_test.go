package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gateway/config"
)

// stubUpstream answers every request in memory, so the benchmark measures
// the gateway's own work: trust, auth, logging, metrics, proxying.
type stubUpstream struct{}

func (stubUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{"Content-Type": {"text/plain"}},
		Body: io.NopCloser(strings.NewReader("ok\n")), ContentLength: 3, Request: r}, nil
}

// BenchmarkProxyRequest is one authenticated, proxied request through the
// whole middleware chain (allocations are the number to watch).
func BenchmarkProxyRequest(b *testing.B) {
	cfg := config.Default()
	cfg.Gateway.Upstream = "http://127.0.0.1:1"
	cfg.Gateway.Auth.Token = testToken
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	st, err := OpenShared(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	o := st.Options(cfg, testToken, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	o.UpstreamTransport = stubUpstream{}
	h, err := NewHandler(o)
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://127.0.0.1:18780/bench", nil)
	req.RemoteAddr = "127.0.0.1:50000"
	req.Header.Set("Authorization", "Bearer "+testToken)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
