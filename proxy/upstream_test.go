package proxy

import (
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gateway/request"
)

func TestUpstreamAddr(t *testing.T) {
	for _, tt := range []struct{ url, addr string }{
		{"http://127.0.0.1", "127.0.0.1:80"},
		{"https://agent.internal", "agent.internal:443"},
		{"http://127.0.0.1:18789", "127.0.0.1:18789"},
		{"https://[::1]:8443/base", "[::1]:8443"},
		{"http://[::1]", "[::1]:80"},
	} {
		u, _ := url.Parse(tt.url)
		if got := NewUpstream(u).Addr; got != tt.addr {
			t.Errorf("%s: %s, want %s", tt.url, got, tt.addr)
		}
	}
}

// TestHTTPSUpstream: one Upstream value serves the HTTP transport, the
// WebSocket handshake and readiness for an https agent, with the agent's
// certificate verified against its name in every path.
func TestHTTPSUpstream(t *testing.T) {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
			if err != nil {
				return
			}
			defer c.CloseNow()
			typ, msg, err := c.Read(r.Context())
			if err == nil {
				_ = c.Write(r.Context(), typ, append([]byte("tls:"), msg...))
			}
			return
		}
		_, _ = io.WriteString(w, "over tls")
	}))
	s.StartTLS()
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	roots := x509.NewCertPool()
	roots.AddCert(s.Certificate())

	up := NewUpstream(u)
	up.tls.RootCAs = roots
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := up.Reachable(ctx); err != nil {
		t.Fatal(err)
	}
	p := New(Options{Upstream: up})
	gw := httptest.NewServer(withRecord(p, &request.Identity{User: "owner", Method: "token"}))
	defer gw.Close()

	resp, err := http.Get(gw.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "over tls" {
		t.Fatalf("HTTP: %d %q", resp.StatusCode, b)
	}
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(gw.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "tls:hi" {
		t.Fatalf("WebSocket: %q %v", msg, err)
	}

	// Without the agent's CA both paths refuse: no unverified TLS.
	strict := New(Options{Upstream: NewUpstream(u)})
	gw2 := httptest.NewServer(withRecord(strict, &request.Identity{User: "owner", Method: "token"}))
	defer gw2.Close()
	if resp, err := http.Get(gw2.URL + "/x"); err != nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("HTTP to an unverifiable agent: %v %v", resp, err)
	}
	if _, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(gw2.URL, "http")+"/ws", nil); err == nil || resp == nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("WebSocket to an unverifiable agent: %v %v", resp, err)
	}
}

// TestIdentityHeadersIndependent: the five values share one array, and
// adding a value to one header never changes another.
func TestIdentityHeadersIndependent(t *testing.T) {
	h := http.Header{}
	ih := IdentityHeaders{}.Canonical()
	ih.Write(h, &request.Identity{User: "alice", Method: "oidc", Role: "user", Groups: []string{"a", "b"}, Email: "a@example.com"})
	h.Add(ih.User, "mallory")
	h.Add(HeaderGroups, "admins")
	want := map[string][]string{ih.User: {"alice", "mallory"}, ih.Method: {"oidc"}, HeaderRole: {"user"}, HeaderGroups: {"a,b", "admins"}, HeaderEmail: {"a@example.com"}}
	for k, v := range want {
		if got := h.Values(k); strings.Join(got, "|") != strings.Join(v, "|") {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
}
