package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gateway/buildinfo"
)

func TestExposition(t *testing.T) {
	decisions := func(yield func(string, string, uint64)) { yield("whatsapp", "pairing", 1) }
	m := New(Sources{Decisions: decisions, Lockouts: func() float64 { return 3 }})
	m.Request(RouteProxy, 200, time.Millisecond)
	m.Request(RouteProxy, 502, time.Millisecond)
	m.Request(RouteAuth, 999, time.Millisecond) // out of range: counted as 5xx, no panic
	m.Auth("token", "success")
	m.UpstreamError()
	m.WebSocket(1)
	m.Reload("ok")
	var nilM *Metrics
	nilM.Request(RouteProxy, 200, 0) // a nil Metrics is a no-op
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`gateway_requests_total{code="2xx",route="proxy"} 1`,
		`gateway_requests_total{code="5xx",route="proxy"} 1`,
		`gateway_auth_total{method="token",result="success"} 1`,
		`gateway_policy_decisions_total{action="pairing",channel="whatsapp"} 1`,
		"gateway_lockouts_total 3", "gateway_upstream_errors_total 1", "gateway_websockets_open 1",
		`gateway_config_reloads_total{result="ok"} 1`,
		fmt.Sprintf(`gateway_build_info{commit=%q,goversion=%q,version=%q} 1`, buildinfo.Get().Commit, buildinfo.Get().GoVersion, buildinfo.Get().Version),
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if rec.Code != http.StatusOK {
		t.Fatal(rec.Code)
	}
}
