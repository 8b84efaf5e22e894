package integration

import (
	"net/http"
	"testing"

	"gateway/config"
)

// TestNginxTrusted: the client (127.0.0.2) forges X-Forwarded-For through a
// trusted nginx (127.0.0.1). The gateway must see the address nginx saw,
// never the forged one, and never call the request local.
func TestNginxTrusted(t *testing.T) {
	gw := startGateway(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
	ng := startNginx(t, gw.addr)
	stranger := clientFrom("127.0.0.2")

	tests := []struct {
		name string
		h    map[string]string
	}{
		{"plain", nil},
		{"forged remote XFF", map[string]string{"X-Forwarded-For": "6.6.6.6"}},
		{"forged loopback XFF", map[string]string{"X-Forwarded-For": "127.0.0.1"}},
		{"forged X-Real-IP", map[string]string{"X-Real-IP": "127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, stranger, "http://"+ng.addr+"/auth/whoami", tt.h)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			w := decode[whoami](t, body)
			if w.Client != "127.0.0.2" {
				t.Errorf("client = %q, want 127.0.0.2 (what nginx saw)", w.Client)
			}
			if w.Peer != "127.0.0.1" || !w.ViaProxy || w.Local {
				t.Errorf("peer=%q viaProxy=%v local=%v; want 127.0.0.1, true, false", w.Peer, w.ViaProxy, w.Local)
			}
			if w.User != "owner" || w.Method != "token" {
				t.Errorf("identity = %q/%q", w.User, w.Method)
			}
		})
	}

	// Without credentials, nginx in front changes nothing: 401.
	req, _ := http.NewRequest("GET", "http://"+ng.addr+"/auth/whoami", nil)
	resp, err := stranger.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token through nginx: %d, want 401", resp.StatusCode)
	}

	// Direct to the gateway, the same client is itself (and local: no proxy).
	status, body := get(t, clientFrom("127.0.0.1"), "http://"+gw.addr+"/auth/whoami", nil)
	if status != http.StatusOK {
		t.Fatalf("direct: %d %s", status, body)
	}
	if w := decode[whoami](t, body); w.Client != "127.0.0.1" || !w.Local || w.ViaProxy {
		t.Errorf("direct whoami = %+v", w)
	}
}

// TestNginxUntrusted: the same nginx, not in trustedProxies, is a same-host
// proxy nobody configured. The gateway refuses instead of guessing.
func TestNginxUntrusted(t *testing.T) {
	gw := startGateway(t, nil)
	ng := startNginx(t, gw.addr)
	status, body := get(t, clientFrom("127.0.0.2"), "http://"+ng.addr+"/auth/whoami", nil)
	if status != http.StatusForbidden {
		t.Fatalf("status %d, want 403: %s", status, body)
	}
	if e := decode[errorBody](t, body); e.Code != "untrusted_proxy" {
		t.Fatalf("code = %q, want untrusted_proxy", e.Code)
	}
}

// TestAdminHostBehindNginx: the published admin-host snippet routes
// admin.example.com to the gateway's main listener, where it is the admin
// origin: the console answers there (its own sign-in, the token), and
// nothing on it reaches the agent.
func TestAdminHostBehindNginx(t *testing.T) {
	rec, up := startRecorder(t)
	gw := startGateway(t, func(c *config.Config) {
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.Upstream = up
		c.Gateway.Admin.Host = "admin.example.com"
		c.Gateway.AllowedHosts = []string{"agent.example.com"}
	})
	ng := startNginxFile(t, "nginx-admin.conf", gw.addr)
	c := clientFrom("127.0.0.2")
	admin := map[string]string{"Host": "admin.example.com"}
	if status, body := get(t, c, "http://"+ng.addr+"/admin/devices", admin); status != 200 {
		t.Fatalf("the admin API on the admin host: %d %s", status, body)
	}
	req, _ := http.NewRequest("GET", "http://"+ng.addr+"/admin/", nil)
	req.Host = "admin.example.com"
	req.Header.Set("Accept", "text/html")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/auth/login?rd=%2Fadmin%2F" {
		t.Fatalf("a browser without a session on the admin host: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	before := rec.count()
	for _, p := range []string{"/", "/app", "/admin/nope"} {
		get(t, c, "http://"+ng.addr+p, admin)
	}
	if rec.count() != before {
		t.Fatal("a request for the admin host reached the agent")
	}
	// The agent's name is the agent's.
	if status, _ := get(t, c, "http://"+ng.addr+"/app", map[string]string{"Host": "agent.example.com"}); status != 200 || rec.count() != before+1 {
		t.Fatalf("the agent's host: %d", status)
	}
}
