package integration

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gateway/config"
)

// recorder is the agent upstream: it records the headers it receives and
// echoes WebSocket messages.
type recorder struct {
	mu   sync.Mutex
	last http.Header
	n    int
}

// count is how many requests reached the recorder.
func (u *recorder) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

func (u *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.last = r.Header.Clone()
	u.n++
	u.mu.Unlock()
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			_ = c.Write(r.Context(), typ, append([]byte("echo:"), msg...))
		}
	}
	_, _ = io.WriteString(w, "agent")
}

func (u *recorder) header() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

func startRecorder(t *testing.T) (*recorder, string) {
	rec := &recorder{}
	s := httptest.NewServer(rec)
	t.Cleanup(s.Close)
	return rec, s.URL
}

// TestBehindProxies runs the same scenarios behind each real proxy, each
// configured from the snippet the docs publish.
func TestBehindProxies(t *testing.T) {
	for _, pk := range proxyKinds {
		t.Run(pk.name, func(t *testing.T) {
			t.Parallel()
			rec, upURL := startRecorder(t)
			gw := startGateway(t, func(c *config.Config) {
				c.Gateway.TrustedProxies = []string{"127.0.0.1"}
				c.Gateway.Upstream = upURL
				c.Gateway.SameHostClientAddress = "198.51.100.9"
			})
			px := pk.start(t, gw.addr)
			stranger := clientFrom("127.0.0.2")
			base := "http://" + px.addr

			t.Run("client resolved, forgery ignored", func(t *testing.T) {
				for _, forged := range []map[string]string{nil, {"X-Forwarded-For": "6.6.6.6"}, {"X-Forwarded-For": "127.0.0.1, 10.0.0.1"}, {"Forwarded": "for=127.0.0.1"}} {
					status, body := get(t, stranger, base+"/auth/whoami", forged)
					if status != 200 {
						t.Fatalf("%v: %d %s", forged, status, body)
					}
					w := decode[whoami](t, body)
					if w.Client != "127.0.0.2" || !w.ViaProxy || w.Local || w.Peer != "127.0.0.1" {
						t.Errorf("%s with %v: whoami %+v, want client 127.0.0.2 via proxy, not local", pk.name, forged, w)
					}
				}
			})
			t.Run("upstream headers", func(t *testing.T) {
				status, _ := get(t, stranger, base+"/agent", map[string]string{"X-Forwarded-For": "6.6.6.6", "X-Gateway-User": "root"})
				if status != 200 {
					t.Fatalf("proxied: %d", status)
				}
				h := rec.header()
				// The client resolved to 127.0.0.2, a person on this host:
				// the upstream is told sameHostClientAddress, never the
				// forged entry.
				want := map[string]string{
					"X-Forwarded-For": "198.51.100.9", "X-Real-Ip": "198.51.100.9",
					"X-Gateway-User": "owner", "X-Gateway-Auth": "token", "Authorization": "", "Forwarded": "",
					"X-Forwarded-Proto": "http",
				}
				for k, v := range want {
					if got := strings.Join(h.Values(k), ","); got != v {
						t.Errorf("%s: upstream %s = %q, want %q", pk.name, k, got, v)
					}
				}
			})
			t.Run("websocket", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
				hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
				c, _, err := websocket.Dial(ctx, "ws://"+px.addr+"/ws", &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"bearer." + token}})
				if err != nil {
					t.Fatalf("%s: dial: %v", pk.name, err)
				}
				defer c.CloseNow()
				if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
					t.Fatal(err)
				}
				if _, msg, err := c.Read(ctx); err != nil || string(msg) != "echo:hi" {
					t.Fatalf("%s: read %q %v", pk.name, msg, err)
				}
				_, resp, err := websocket.Dial(ctx, "ws://"+px.addr+"/ws", &websocket.DialOptions{HTTPClient: hc})
				if err == nil || resp == nil || resp.StatusCode != 401 {
					t.Fatalf("%s: unauthenticated upgrade through proxy: %v %v", pk.name, resp, err)
				}
				// A browser page served through the proxy on its
				// (non-default) port sends that origin; the proxy must
				// pass the Host with its port for the gateway to see it
				// as its own origin.
				bc, _, err := websocket.Dial(ctx, "ws://"+px.addr+"/ws", &websocket.DialOptions{HTTPClient: hc,
					Subprotocols: []string{"bearer." + token}, HTTPHeader: http.Header{"Origin": {"http://" + px.addr}}})
				if err != nil {
					t.Fatalf("%s: browser WebSocket with the proxy's own origin: %v", pk.name, err)
				}
				if bc.Subprotocol() != "bearer."+token {
					t.Errorf("%s: 101 names subprotocol %q, want the offered one", pk.name, bc.Subprotocol())
				}
				bc.CloseNow()
			})
		})
	}
}

// TestProxyNotTrusted: each proxy, not in trustedProxies, is refused.
func TestProxyNotTrusted(t *testing.T) {
	for _, pk := range proxyKinds {
		t.Run(pk.name, func(t *testing.T) {
			t.Parallel()
			gw := startGateway(t, nil)
			px := pk.start(t, gw.addr)
			status, body := get(t, clientFrom("127.0.0.2"), "http://"+px.addr+"/auth/whoami", nil)
			if status != 403 || decode[errorBody](t, body).Code != "untrusted_proxy" {
				t.Fatalf("%s: %d %s, want 403 untrusted_proxy", pk.name, status, body)
			}
		})
	}
}

// TestChainedProxies: client -> Caddy -> nginx -> gateway, both trusted.
// Caddy (outermost) overwrites the client's XFF; nginx appends Caddy.
func TestChainedProxies(t *testing.T) {
	gw := startGateway(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
	ng := startNginxProxy(t, gw.addr)
	cd := startCaddy(t, ng.addr)
	status, body := get(t, clientFrom("127.0.0.3"), "http://"+cd.addr+"/auth/whoami", map[string]string{"X-Forwarded-For": "6.6.6.6"})
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if w := decode[whoami](t, body); w.Client != "127.0.0.3" || w.Local {
		t.Fatalf("chained whoami = %+v, want client 127.0.0.3", w)
	}
	// And nginx -> HAProxy -> gateway: HAProxy adds a second XFF line
	// after nginx's comma list.
	hp := startHAProxy(t, gw.addr)
	ng2 := startNginxProxy(t, hp.addr)
	status, body = get(t, clientFrom("127.0.0.4"), "http://"+ng2.addr+"/auth/whoami", map[string]string{"X-Forwarded-For": "6.6.6.6"})
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if w := decode[whoami](t, body); w.Client != "127.0.0.4" || w.Local {
		t.Fatalf("nginx->haproxy whoami = %+v, want client 127.0.0.4", w)
	}
}
