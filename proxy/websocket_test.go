package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gateway/request"
)

// rawUpstream answers every connection with the given raw response.
func rawUpstream(t *testing.T, response string) *url.URL {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				_, _ = c.Write([]byte(response))
			}()
		}
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}
}

func upgradeThrough(t *testing.T, up *url.URL) *http.Response {
	p := New(Options{Upstream: NewUpstream(up)})
	gw := httptest.NewServer(withRecord(p, nil))
	defer gw.Close()
	req, _ := http.NewRequest("GET", gw.URL+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestUpgradeRefusedByUpstreamIsRelayed(t *testing.T) {
	up := rawUpstream(t, "HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\nX-Agent: no\r\n\r\nnope")
	resp := upgradeThrough(t, up)
	if resp.StatusCode != 403 || resp.Header.Get("X-Agent") != "no" {
		t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
	}
}

func TestUpgradeToAnotherProtocolIsRefused(t *testing.T) {
	up := rawUpstream(t, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
	resp := upgradeThrough(t, up)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("switch to h2c: got %d, want 502", resp.StatusCode)
	}
	up = rawUpstream(t, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n")
	if resp := upgradeThrough(t, up); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("101 without Upgrade: got %d, want 502", resp.StatusCode)
	}
}

func TestRemoveHopHeaders(t *testing.T) {
	h := http.Header{"Connection": {"keep-alive, X-Secret"}, "X-Secret": {"1"}, "Keep-Alive": {"5"}, "Upgrade": {"websocket"}, "Te": {"trailers"}, "X-Keep": {"yes"}}
	removeHopHeaders(h)
	for _, k := range []string{"Connection", "X-Secret", "Keep-Alive", "Upgrade", "Te"} {
		if _, ok := h[k]; ok {
			t.Errorf("%s survived", k)
		}
	}
	if h.Get("X-Keep") != "yes" {
		t.Error("end-to-end header removed")
	}
}

// echoUpstream accepts WebSockets (choosing "chat" when offered) and echoes
// messages; it records the handshake's headers.
func echoUpstream(t *testing.T) (*url.URL, func() http.Header) {
	var mu sync.Mutex
	var seen http.Header
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, Subprotocols: []string{"chat"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo:"), msg...)); err != nil {
				return
			}
		}
	}))
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	return u, func() http.Header { mu.Lock(); defer mu.Unlock(); return seen }
}

func TestWebSocketTunnel(t *testing.T) {
	up, seen := echoUpstream(t)
	opened := make(chan int, 4)
	p := New(Options{Upstream: NewUpstream(up), OnTunnel: func(d int) { opened <- d }})
	gw := httptest.NewServer(withRecord(p, &request.Identity{User: "owner", Method: "token", Credential: request.CredentialWebSocketProtocol}))
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tests := []struct {
		name    string
		offered []string
		want    string
	}{
		// The upstream chooses among what it is shown; the bearer entry
		// is never shown to it.
		{"upstream's choice", []string{"bearer.secret", "chat"}, "chat"},
		// Nothing left for the upstream to choose: the 101 names the
		// bearer entry the client offered, or browsers fail the handshake.
		{"only the bearer entry", []string{"bearer.secret"}, "bearer.secret"},
		{"nothing offered", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(gw.URL, "http")+"/ws", &websocket.DialOptions{Subprotocols: tt.offered})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if c.Subprotocol() != tt.want {
				t.Errorf("101 names %q, want %q", c.Subprotocol(), tt.want)
			}
			if p := seen().Get("Sec-WebSocket-Protocol"); strings.Contains(p, "bearer.") {
				t.Errorf("the upstream saw the token: %q", p)
			}
			if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if _, msg, err := c.Read(ctx); err != nil || string(msg) != "echo:hi" {
				t.Fatalf("read %q %v", msg, err)
			}
			if d := <-opened; d != 1 {
				t.Fatalf("tunnel gauge %d", d)
			}
			c.Close(websocket.StatusNormalClosure, "")
			select {
			case d := <-opened:
				if d != -1 {
					t.Fatalf("tunnel gauge on close %d", d)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("tunnel not closed")
			}
		})
	}
}

func TestUpstreamDownIs502(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	_ = ln.Close()
	p := New(Options{Upstream: NewUpstream(&url.URL{Scheme: "http", Host: addr}), MaxBodyBytes: 8})
	gw := httptest.NewServer(withRecord(p, nil))
	defer gw.Close()
	for name, req := range map[string]func() (*http.Response, error){
		"http":      func() (*http.Response, error) { return http.Get(gw.URL + "/x") },
		"websocket": func() (*http.Response, error) { return upgradeRequest(gw.URL) },
	} {
		resp, err := req()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || strings.Contains(string(body), addr) {
			t.Errorf("%s: %d %s (want 502 naming no internals)", name, resp.StatusCode, body)
		}
	}
	resp, err := http.Post(gw.URL+"/x", "text/plain", strings.NewReader("more than eight bytes"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", resp.StatusCode)
	}
}

func upgradeRequest(base string) (*http.Response, error) {
	req, _ := http.NewRequest("GET", base+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	return http.DefaultClient.Do(req)
}

func TestCleanQuery(t *testing.T) {
	tests := map[string]string{
		"a=1&b=2":     "a=1&b=2",
		"":            "",
		"a=1;b=2":     "",
		"a=%zz&b=2":   "b=2",
		"q=%41%42":    "q=%41%42",
		"x=1&y=%4":    "x=1",
		"semi=a%3Bb":  "semi=a%3Bb",
		"a=1&b=2;c=3": "a=1",
	}
	for in, want := range tests {
		if got := cleanQuery(in); got != want {
			t.Errorf("cleanQuery(%q) = %q, want %q", in, got, want)
		}
	}
}
