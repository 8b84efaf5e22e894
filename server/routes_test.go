package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gateway/auth/authtest"
	"gateway/config"
	"gateway/request"
)

// TestMetricsAccess: local requests and the owner read metrics; anyone
// else, including a page of another site on loopback and a client behind a
// proxy on loopback, needs an admin credential.
func TestMetricsAccess(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
	_, dev := f.connectDevice(t, authtest.NewDevice(), "operator", nil)
	devTok, _ := dev["token"].(string)
	tests := []struct {
		name string
		h    map[string]string
		want int
	}{
		{"local", nil, 200},
		{"through a proxy", map[string]string{"X-Forwarded-For": "203.0.113.5"}, 401},
		{"through a proxy with the token", with(bearer, "X-Forwarded-For", "203.0.113.5"), 200},
		{"cross-site page on loopback", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 401},
		{"operator device through a proxy", map[string]string{"X-Forwarded-For": "203.0.113.5", "Authorization": "Bearer " + devTok}, 403},
	}
	for _, tt := range tests {
		resp, body := f.do(t, "GET", "/metrics", tt.h, nil)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d %s", tt.name, resp.StatusCode, body)
		}
		if tt.want == 200 && !strings.Contains(string(body), "gateway_requests_total") {
			t.Errorf("%s: not the metrics exposition", tt.name)
		}
	}
}

func TestPairingAdminRoutes(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Channels = map[string]config.Channel{"whatsapp": {DMPolicy: "pairing"}}
	})
	code, in := f.call(t, "POST", "/channels/whatsapp/inbound", bearer, map[string]string{"from": "+1 555 123 4567", "text": "hi"})
	pc, _ := in["pairingCode"].(string)
	if code != 200 || in["action"] != "pairing" || pc == "" {
		t.Fatalf("inbound from a stranger: %d %v", code, in)
	}
	if code, list := f.call(t, "GET", "/admin/pairing/whatsapp", bearer, nil); code != 200 || len(list["pending"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, list)
	}
	for name, tt := range map[string]struct {
		path string
		body any
		want int
		code string
	}{
		"bad channel name":  {"/admin/pairing/..%2Fetc/approve", map[string]string{"code": pc}, 400, ""},
		"unknown channel":   {"/admin/pairing/telegram/approve", map[string]string{"code": pc}, 404, "unknown_channel"},
		"unknown code":      {"/admin/pairing/whatsapp/approve", map[string]string{"code": "ZZZZZZZZ"}, 404, "unknown_code"},
		"no code":           {"/admin/pairing/whatsapp/approve", map[string]string{"code": " "}, 400, "bad_request"},
		"reject an unknown": {"/admin/pairing/whatsapp/reject", map[string]string{"code": "ZZZZZZZZ"}, 404, "unknown_code"},
	} {
		code, body := f.call(t, "POST", tt.path, bearer, tt.body)
		if code != tt.want || (tt.code != "" && body["code"] != tt.code) {
			t.Errorf("%s: %d %v", name, code, body)
		}
	}
	if code, body := f.call(t, "POST", "/admin/pairing/whatsapp/approve", bearer, map[string]string{"code": strings.ToLower(pc)}); code != 200 || body["from"] != "+15551234567" {
		t.Fatalf("approve: %d %v", code, body)
	}
	if code, body := f.call(t, "POST", "/channels/whatsapp/inbound", bearer, map[string]string{"from": "+15551234567", "text": "hi"}); code != 200 || body["action"] != "deliver" {
		t.Fatalf("approved sender: %d %v", code, body)
	}
	// A corrupt pairing file fails closed: 503, never overwritten.
	p := filepath.Join(f.shared.Dir, "credentials", "whatsapp-pairing.json")
	if err := os.WriteFile(p, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := f.call(t, "POST", "/channels/whatsapp/inbound", bearer, map[string]string{"from": "+15550000001"}); code != 503 || body["code"] != "state_corrupt" {
		t.Fatalf("corrupt store: %d %v", code, body)
	}
	if b, _ := os.ReadFile(p); string(b) != "{not json" {
		t.Fatal("corrupt file overwritten")
	}
}

func TestAdminAuditRoute(t *testing.T) {
	f := newFixture(t, nil)
	code, report := f.call(t, "GET", "/admin/audit", bearer, nil)
	if code != 200 || report["summary"] == nil || report["findings"] == nil {
		t.Fatalf("audit: %d %v", code, report)
	}
	if code, _ := f.call(t, "GET", "/admin/audit", nil, nil); code != 403 {
		t.Fatalf("audit without a credential on the agent origin: %d", code)
	}
	if code, _ := f.onAdmin().call(t, "GET", "/admin/audit", nil, nil); code != 401 {
		t.Fatalf("audit without a credential on the admin origin: %d", code)
	}
	if code, _ := f.onAdmin().call(t, "GET", "/admin/audit", bearer, nil); code != 200 {
		t.Fatalf("audit with the token on the admin origin: %d", code)
	}
}

// panicTransport stands for a bug below the router.
type panicTransport struct{}

func (panicTransport) RoundTrip(*http.Request) (*http.Response, error) { panic("boom") }

// TestPanicIs500WithItsCause: a bug is contained, answered 500 without
// internals, and logged once with its cause.
func TestPanicIs500WithItsCause(t *testing.T) {
	f := newFixture(t, nil, func(o *Options) { o.UpstreamTransport = panicTransport{} })
	resp, body := f.do(t, "GET", "/x", bearer, nil)
	if resp.StatusCode != 500 || strings.Contains(string(body), "boom") {
		t.Fatalf("panic answered %d %s", resp.StatusCode, body)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"cause":"panic: boom"`) || !strings.Contains(logs, `"status":500`) {
		t.Fatalf("panic not in the access record:\n%s", logs)
	}
	// The server keeps serving.
	if resp, _ := f.do(t, "GET", "/healthz", nil, nil); resp.StatusCode != 200 {
		t.Fatal("server down after a panic")
	}
}

func TestRouteClass(t *testing.T) {
	tests := []struct {
		path string
		ws   bool
		want string
	}{
		{"/healthz", false, "health"}, {"/readyz", false, "health"}, {"/metrics", false, "metrics"},
		{"/auth/whoami", false, "auth"}, {"/admin/audit", false, "admin"}, {"/admin", false, "admin"},
		{"/channels/whatsapp/inbound", false, "channels"}, {"/ws", true, "websocket"}, {"/anything", false, "proxy"},
		{"/administrator", false, "proxy"},
	}
	for _, tt := range tests {
		up := upgradeNone
		if tt.ws {
			up = upgradeWS
		}
		if got := routeClass(tt.path, up); got != tt.want {
			t.Errorf("routeClass(%s) = %s, want %s", tt.path, got, tt.want)
		}
	}
}

const (
	upgradeNone = request.UpgradeNone
	upgradeWS   = request.UpgradeWebSocket
)
