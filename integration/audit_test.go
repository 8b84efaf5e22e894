package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gateway/audit"
	"gateway/config"
)

func deepOpts(gw *gateway, trusted ...string) audit.DeepOptions {
	o := audit.DeepOptions{URL: "http://" + gw.addr, Token: token, BindLoopback: true, MaxAttempts: 10, AuthMode: "token", Timeout: 10 * time.Second}
	for _, s := range trusted {
		p, _ := config.ParsePrefix(s)
		o.TrustedProxies = append(o.TrustedProxies, p)
	}
	return o
}

func probeStatus(d *audit.DeepReport) map[string]string {
	out := map[string]string{}
	for _, p := range d.Probes {
		out[p.ID] = p.Status
	}
	return out
}

func findingIDs(fs []audit.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.CheckID)
	}
	return out
}

func TestDeepSecureGateway(t *testing.T) {
	gw := startGateway(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
	d, findings := audit.Deep(context.Background(), deepOpts(gw, "127.0.0.1"))
	if len(findings) != 0 {
		t.Fatalf("secure gateway has deep findings: %+v\n%+v", findings, d.Probes)
	}
	want := map[string]string{
		"gateway.probe_unauth_http": "pass", "gateway.probe_unauth_ws": "pass", "gateway.probe_xff_spoof": "pass",
		"gateway.probe_exposed": "pass", "gateway.probe_no_lockout": "pass",
	}
	got := probeStatus(d)
	for id, s := range want {
		if got[id] != s {
			t.Errorf("%s = %q, want %q (%+v)", id, got[id], s, d.Probes)
		}
	}
}

func TestDeepInsecureGateway(t *testing.T) {
	// An upstream that accepts any WebSocket, so an unauthenticated upgrade
	// would really be upgraded.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err == nil {
			c.CloseNow()
		}
	}))
	defer up.Close()
	gw := startGateway(t, func(c *config.Config) {
		c.Gateway.Auth.Mode = "none"
		off := false
		c.Gateway.Auth.RateLimit.Enabled = &off
		c.Gateway.Upstream = up.URL
	})
	o := deepOpts(gw)
	o.AuthMode, o.MaxAttempts = "token", 0 // what the probe is told; the gateway runs none
	_, findings := audit.Deep(context.Background(), o)
	ids := strings.Join(findingIDs(findings), " ")
	for _, want := range []string{"gateway.probe_unauth_http", "gateway.probe_unauth_ws", "gateway.probe_no_lockout"} {
		if !strings.Contains(ids, want) {
			t.Errorf("missing %s in %s", want, ids)
		}
	}
}

// A deliberately naive "gateway" that believes the leftmost X-Forwarded-For
// from anyone: the spoofing probe must catch it.
func TestDeepCatchesNaiveXFF(t *testing.T) {
	naive := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(401)
			return
		}
		client, _, _ := strings.Cut(r.Header.Get("X-Forwarded-For"), ",")
		_ = json.NewEncoder(w).Encode(map[string]any{"client": client, "local": client == "127.0.0.1"})
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = naive.Serve(ln) }()
	defer naive.Close()
	o := audit.DeepOptions{URL: "http://" + ln.Addr().String(), Token: token, MaxAttempts: 10, AuthMode: "token", Timeout: 5 * time.Second}
	_, findings := audit.Deep(context.Background(), o)
	if !strings.Contains(strings.Join(findingIDs(findings), " "), "gateway.probe_xff_spoof") {
		t.Fatalf("naive XFF handling not caught: %v", findingIDs(findings))
	}
}

func TestDeepExposedFromProcNet(t *testing.T) {
	gw := startGateway(t, nil)
	_, portS, _ := net.SplitHostPort(gw.addr)
	var port int
	_, _ = fmt.Sscan(portS, &port)
	dir := t.TempDir()
	// 0.0.0.0:port in LISTEN state, as /proc/net/tcp writes it.
	tcp := fmt.Sprintf("  sl  local_address rem_address   st\n   0: 00000000:%04X 00000000:0000 0A\n   1: 0100007F:%04X 00000000:0000 0A\n", port, port)
	_ = os.WriteFile(filepath.Join(dir, "tcp"), []byte(tcp), 0o600)
	o := deepOpts(gw)
	o.ProcNet = dir
	_, findings := audit.Deep(context.Background(), o)
	if !strings.Contains(strings.Join(findingIDs(findings), " "), "gateway.probe_exposed") {
		t.Fatalf("exposure not detected: %v", findingIDs(findings))
	}
}

func TestDeepUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, findings := audit.Deep(context.Background(), audit.DeepOptions{URL: "http://" + addr, Timeout: 2 * time.Second})
	if len(findings) != 1 || findings[0].CheckID != "gateway.probe_failed" {
		t.Fatalf("unreachable: %+v", findings)
	}
}

// TestDeepViaUnreachable: a --via URL that cannot be reached, or whose TLS
// fails, is a probe that could not run (gateway.probe_failed), never a
// verdict that the proxy is untrusted.
func TestDeepViaUnreachable(t *testing.T) {
	gw := startGateway(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler()) // a certificate nobody trusts
	defer tlsSrv.Close()
	for _, via := range []string{"http://" + closed, tlsSrv.URL} {
		o := deepOpts(gw, "127.0.0.1")
		o.Via = via
		_, findings := audit.Deep(context.Background(), o)
		ids := strings.Join(findingIDs(findings), " ")
		if !strings.Contains(ids, "gateway.probe_failed") || strings.Contains(ids, "gateway.probe_proxy_untrusted") {
			t.Errorf("--via %s: %v", via, ids)
		}
	}
}

// TestDeepViaNginx: the canary through a real nginx, trusted and not.
func TestDeepViaNginx(t *testing.T) {
	t.Run("not trusted", func(t *testing.T) {
		gw := startGateway(t, nil)
		ng := startNginx(t, gw.addr)
		o := deepOpts(gw)
		o.Via = "http://" + ng.addr
		_, findings := audit.Deep(context.Background(), o)
		if !strings.Contains(strings.Join(findingIDs(findings), " "), "gateway.probe_proxy_untrusted") {
			t.Fatalf("untrusted nginx not reported: %v", findingIDs(findings))
		}
	})
	t.Run("trusted, correct snippet", func(t *testing.T) {
		gw := startGateway(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
		ng := startNginx(t, gw.addr)
		o := deepOpts(gw, "127.0.0.1")
		o.Via = "http://" + ng.addr
		d, findings := audit.Deep(context.Background(), o)
		if len(findings) != 0 {
			t.Fatalf("findings through a correct nginx: %v %+v", findingIDs(findings), d.Probes)
		}
	})
	t.Run("trusted, passes client XFF through", func(t *testing.T) {
		gw := startGateway(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
		ng := startNginx(t, gw.addr, func(s string) string {
			return strings.Replace(s, "$proxy_add_x_forwarded_for", "$http_x_forwarded_for", 1)
		})
		o := deepOpts(gw, "127.0.0.1")
		o.Via = "http://" + ng.addr
		_, findings := audit.Deep(context.Background(), o)
		if !strings.Contains(strings.Join(findingIDs(findings), " "), "gateway.probe_proxy_appends_client_xff") {
			t.Fatalf("pass-through XFF not reported: %v", findingIDs(findings))
		}
	})
	t.Run("trusted, no forwarding header", func(t *testing.T) {
		gw := startGateway(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
		ng := startNginx(t, gw.addr, func(s string) string {
			var keep []string
			for _, l := range strings.Split(s, "\n") {
				if !strings.Contains(l, "X-Forwarded") {
					keep = append(keep, l)
				}
			}
			return strings.Join(keep, "\n")
		})
		o := deepOpts(gw, "127.0.0.1")
		o.Via = "http://" + ng.addr
		_, findings := audit.Deep(context.Background(), o)
		// nginx without proxy_set_header passes the client's own
		// X-Forwarded-For (the canary) untouched: believed.
		ids := strings.Join(findingIDs(findings), " ")
		if !strings.Contains(ids, "gateway.probe_proxy_appends_client_xff") && !strings.Contains(ids, "gateway.probe_proxy_header_missing") {
			t.Fatalf("missing forwarding config not reported: %v", ids)
		}
	})
}

// TestDeepViaUntrustedRemoteProxy: behind a remote proxy that is not in
// trustedProxies, the gateway ignores the proxy's forwarding headers and
// resolves the client to the proxy's own address. The probe used to call
// that "trusted". Tests cannot have a non-loopback peer, so the --via URL
// answers exactly what the gateway answers in that case (its whoami: client
// and peer the proxy's address, viaProxy true).
func TestDeepViaUntrustedRemoteProxy(t *testing.T) {
	gw := startGateway(t, nil)
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"user": "owner", "client": "192.0.2.5", "peer": "192.0.2.5", "viaProxy": true})
	}))
	defer remote.Close()
	o := deepOpts(gw)
	o.Via = remote.URL
	d, findings := audit.Deep(context.Background(), o)
	var f *audit.Finding
	for i := range findings {
		if findings[i].CheckID == "gateway.probe_proxy_untrusted" {
			f = &findings[i]
		}
	}
	if f == nil || !strings.Contains(f.Remediation, "192.0.2.5") {
		t.Fatalf("untrusted remote proxy not reported (or its address not named): %+v %+v", findings, d.Probes)
	}
}

var _ = netip.Addr{}
