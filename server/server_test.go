package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gateway/config"
	"gateway/store"
)

const testToken = "server-test-token-0123456789abcdef"

// recordingUpstream records the headers of the requests it receives and
// echoes WebSocket messages.
type recordingUpstream struct {
	mu   sync.Mutex
	last http.Header
	host string
	uri  string // the last request-target, as received
	body []byte // the last body (up to 64 KiB)
	n    int
	// cookies are Set-Cookie lines every answer carries.
	cookies []string
	// bigBytes and bigComplete: what the last /big request delivered,
	// and whether its body ended as a complete message.
	bigBytes    int64
	bigComplete bool
}

func (u *recordingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.URL.Path != "/big" && r.Header.Get("Upgrade") == "" {
		body, _ = io.ReadAll(io.LimitReader(r.Body, 64<<10))
	}
	u.mu.Lock()
	u.last, u.host, u.uri, u.body = r.Header.Clone(), r.Host, r.RequestURI, body
	u.n++
	u.mu.Unlock()
	if r.Header.Get("Upgrade") != "" {
		u.mu.Lock()
		for _, c := range u.cookies {
			w.Header().Add("Set-Cookie", c)
		}
		u.mu.Unlock()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true}) // origin is the gateway's job here
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			c.SetReadLimit(4 << 20)
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo:"), msg...)); err != nil {
				return
			}
		}
	}
	if r.URL.Path == "/big" {
		n, err := io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.bigBytes, u.bigComplete = n, err == nil
		u.mu.Unlock()
	}
	u.mu.Lock()
	for _, c := range u.cookies {
		w.Header().Add("Set-Cookie", c)
	}
	u.mu.Unlock()
	w.Header().Set("X-Upstream", "yes")
	_, _ = io.WriteString(w, "upstream "+r.URL.Path)
}

func (u *recordingUpstream) setCookies(c []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.cookies = c
}

func (u *recordingUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

func (u *recordingUpstream) lastHeader() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

type fixture struct {
	gw *httptest.Server
	// admin is the admin listener.
	admin    *httptest.Server
	upstream *recordingUpstream
	logs     *syncWriter
	shared   *Shared
	cfg      *config.Config
}

func newFixture(t *testing.T, mutate func(*config.Config), opts ...func(*Options)) *fixture {
	t.Helper()
	return newFixtureOn(t, store.Options{Backend: store.BackendFile, Dir: t.TempDir()}, mutate, opts...)
}

// newFixtureOn is newFixture over the store so (files, or a Redis).
func newFixtureOn(t *testing.T, so store.Options, mutate func(*config.Config), opts ...func(*Options)) *fixture {
	t.Helper()
	up := &recordingUpstream{}
	us := httptest.NewServer(up)
	t.Cleanup(us.Close)
	cfg := config.Default()
	cfg.Gateway.Upstream = us.URL
	cfg.Gateway.Auth.Token = testToken
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &syncWriter{w: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	st, err := OpenSharedStore(so, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	o := st.Options(cfg, cfg.Gateway.Auth.Token, log)
	for _, f := range opts {
		f(&o)
	}
	hs, err := NewHandlers(o)
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewUnstartedServer(hs.Main)
	gw.Config = NewHTTPServer(hs.Main, log)
	gw.Start()
	t.Cleanup(gw.Close)
	adm := httptest.NewUnstartedServer(hs.Admin)
	adm.Config = NewHTTPServer(hs.Admin, log)
	adm.Config.ConnContext = AdminConnContext
	adm.Start()
	t.Cleanup(adm.Close)
	return &fixture{gw: gw, admin: adm, upstream: up, logs: logs, shared: st, cfg: cfg}
}

// onAdmin returns a copy of f whose requests go to the admin listener.
func (f *fixture) onAdmin() *fixture {
	g := *f
	g.gw = f.admin
	return &g
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.(fmt.Stringer).String()
}

func (f *fixture) do(t *testing.T, method, path string, h map[string]string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.gw.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

var bearer = map[string]string{"Authorization": "Bearer " + testToken}

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name       string
		method     string
		path       string
		h          map[string]string
		wantStatus int
		wantCode   string
	}{
		{"healthz public", "GET", "/healthz", nil, 200, ""},
		{"readyz public", "GET", "/readyz", nil, 200, ""},
		{"whoami needs auth", "GET", "/auth/whoami", nil, 401, "unauthorized"},
		{"wrong token", "GET", "/auth/whoami", map[string]string{"Authorization": "Bearer wrong"}, 401, "invalid_credentials"},
		{"token in query refused", "GET", "/auth/whoami?token=" + testToken, nil, 401, "unauthorized"},
		{"proxy needs auth", "GET", "/anything", nil, 401, "unauthorized"},
		{"whoami ok", "GET", "/auth/whoami", bearer, 200, ""},
		{"proxied", "GET", "/anything", bearer, 200, ""},
		{"healthz wrong method", "POST", "/healthz", nil, 405, "method_not_allowed"},
		{"unknown admin path not proxied", "GET", "/admin/nope", bearer, 404, "not_found"},
		{"forged XFF from loopback untrusted", "GET", "/auth/whoami", with(bearer, "X-Forwarded-For", "1.2.3.4"), 403, "untrusted_proxy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, tt.method, tt.path, tt.h, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantCode != "" {
				var e struct{ Error, Code string }
				if err := json.Unmarshal(body, &e); err != nil || e.Code != tt.wantCode {
					t.Fatalf("body = %s, want JSON code %q", body, tt.wantCode)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("content-type = %q", ct)
				}
			}
		})
	}
}

func TestWhoamiDirect(t *testing.T) {
	f := newFixture(t, nil)
	_, body := f.do(t, "GET", "/auth/whoami", bearer, nil)
	var got Whoami
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := Whoami{User: "owner", Method: "token", Role: "admin", Groups: []string{}, Client: "127.0.0.1", Peer: "127.0.0.1", Local: true, Proto: "http", Host: strings.TrimPrefix(f.gw.URL, "http://")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("whoami = %+v\nwant %+v", got, want)
	}
	var raw map[string]any
	_ = json.Unmarshal(body, &raw)
	for _, k := range []string{"user", "method", "role", "groups", "client", "peer", "viaProxy", "local", "proto", "host"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("whoami lacks %q", k)
		}
	}
}

func TestWhoamiTrustedProxy(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.AllowedHosts = []string{"agent.example.com"}
	})
	_, body := f.do(t, "GET", "/auth/whoami", with(bearer, "X-Forwarded-For", "6.6.6.6, 203.0.113.7", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "agent.example.com"), nil)
	var got Whoami
	_ = json.Unmarshal(body, &got)
	if got.Client != "203.0.113.7" || !got.ViaProxy || got.Local || got.Proto != "https" || got.Host != "agent.example.com" {
		t.Fatalf("whoami = %+v", got)
	}
	resp, _ := f.do(t, "GET", "/auth/whoami", with(bearer, "X-Forwarded-For", "203.0.113.7, bogus"), nil)
	if resp.StatusCode != 400 {
		t.Fatalf("garbage at decision position: status %d, want 400", resp.StatusCode)
	}
}

func TestOutgoingHeaders(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
	h := with(bearer,
		"X-Forwarded-For", "6.6.6.6, 203.0.113.7",
		"X-Forwarded-Proto", "https",
		"X-Gateway-User", "root",
		"X-Gateway-Auth", "forged",
		"X-Gateway-Anything", "x",
		"X-Real-IP", "6.6.6.6",
		"Forwarded", "for=6.6.6.6",
		"Cookie", "a=b",
	)
	resp, body := f.do(t, "GET", "/path?q=1", h, nil)
	if resp.StatusCode != 200 || string(body) != "upstream /path" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	got := f.upstream.lastHeader()
	want := map[string]string{
		"X-Forwarded-For":    "203.0.113.7, 127.0.0.1",
		"X-Real-Ip":          "203.0.113.7",
		"X-Forwarded-Proto":  "https",
		"X-Forwarded-Host":   strings.TrimPrefix(f.gw.URL, "http://"),
		"X-Gateway-User":     "owner",
		"X-Gateway-Auth":     "token",
		"Forwarded":          "",
		"X-Gateway-Anything": "",
		"Authorization":      "",
		"Cookie":             "a=b",
	}
	for k, v := range want {
		if g := strings.Join(got.Values(k), "|"); g != v {
			t.Errorf("upstream %s = %q, want %q", k, g, v)
		}
	}
}

func TestOutgoingHeadersUntrustedPeer(t *testing.T) {
	// The gateway trusts nobody; a remote-looking client can't be simulated
	// over loopback, so a headerless request from this host shows the fresh
	// set, with the same-host client address.
	f := newFixture(t, func(c *config.Config) { c.Gateway.SameHostClientAddress = "198.51.100.9" })
	f.do(t, "GET", "/x", bearer, nil)
	got := f.upstream.lastHeader()
	if got.Get("X-Forwarded-For") != "198.51.100.9" || got.Get("X-Real-Ip") != "198.51.100.9" || got.Get("X-Forwarded-Proto") != "http" {
		t.Fatalf("upstream headers = %v", got)
	}
}

func TestBodyLimit(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Gateway.MaxBodyBytes = 1024 })
	resp, body := f.do(t, "POST", "/big", bearer, bytes.NewReader(make([]byte, 4096)))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "body_too_large") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	// Chunked (no Content-Length) is cut at the limit too.
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write(make([]byte, 4096)); _ = pw.Close() }()
	resp, body = f.do(t, "POST", "/big", bearer, pr)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: status %d body %s", resp.StatusCode, body)
	}
}

func TestUpstreamDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	_ = ln.Close()
	f := newFixture(t, func(c *config.Config) { c.Gateway.Upstream = dead })
	resp, body := f.do(t, "GET", "/x", bearer, nil)
	if resp.StatusCode != 502 || !strings.Contains(string(body), `"bad_gateway"`) || strings.Contains(string(body), "127.0.0.1") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	resp, _ = f.do(t, "GET", "/readyz", nil, nil)
	if resp.StatusCode != 503 {
		t.Fatalf("readyz with dead upstream = %d, want 503", resp.StatusCode)
	}
}

func TestStatusPageWithoutUpstream(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Gateway.Upstream = "" })
	resp, body := f.do(t, "GET", "/", bearer, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "gateway is running") || !strings.Contains(string(body), "127.0.0.1") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	resp, _ = f.do(t, "GET", "/", nil, nil)
	if resp.StatusCode != 401 {
		t.Fatalf("status page without auth = %d, want 401", resp.StatusCode)
	}
	resp, _ = f.do(t, "GET", "/other", bearer, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("unknown path without upstream = %d, want 404", resp.StatusCode)
	}
}

func wsURL(f *fixture) string { return "ws" + strings.TrimPrefix(f.gw.URL, "http") + "/ws" }

func TestWebSocket(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Gateway.AllowedOrigins = []string{"https://ui.example.com"} })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("bearer header", func(t *testing.T) {
		c, _, err := websocket.Dial(ctx, wsURL(f), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + testToken}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		_, msg, err := c.Read(ctx)
		if err != nil || string(msg) != "echo:hi" {
			t.Fatalf("read = %q, %v", msg, err)
		}
		if got := f.upstream.lastHeader().Get("Authorization"); got != "" {
			t.Errorf("upstream saw Authorization %q", got)
		}
	})
	t.Run("subprotocol token", func(t *testing.T) {
		c, _, err := websocket.Dial(ctx, wsURL(f), &websocket.DialOptions{Subprotocols: []string{"bearer." + testToken}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if err := c.Write(ctx, websocket.MessageText, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "echo:x" {
			t.Fatalf("read = %q, %v", msg, err)
		}
		if got := f.upstream.lastHeader().Get("Sec-WebSocket-Protocol"); strings.Contains(got, testToken) {
			t.Errorf("upstream saw the token in Sec-WebSocket-Protocol: %q", got)
		}
	})
	refusals := []struct {
		name   string
		opts   *websocket.DialOptions
		status int
	}{
		{"no credentials", &websocket.DialOptions{}, 401},
		{"wrong token", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer nope"}}}, 401},
		{"foreign origin", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + testToken}, "Origin": {"https://evil.example"}}}, 403},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			before := f.upstream.n
			_, resp, err := websocket.Dial(ctx, wsURL(f), tt.opts)
			if err == nil || resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("dial err=%v resp=%v, want refusal %d", err, resp, tt.status)
			}
			if f.upstream.n != before {
				t.Fatal("refused upgrade reached the upstream")
			}
		})
	}
	t.Run("large messages both ways", func(t *testing.T) {
		c, _, err := websocket.Dial(ctx, wsURL(f), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + testToken}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		c.SetReadLimit(4 << 20)
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		for i := range 3 {
			if err := c.Write(ctx, websocket.MessageBinary, big); err != nil {
				t.Fatal(err)
			}
			_, msg, err := c.Read(ctx)
			if err != nil || !bytes.Equal(msg, append([]byte("echo:"), big...)) {
				t.Fatalf("round %d: %d bytes, %v", i, len(msg), err)
			}
		}
	})
	t.Run("allowed origin", func(t *testing.T) {
		c, _, err := websocket.Dial(ctx, wsURL(f), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + testToken}, "Origin": {"https://ui.example.com"}}})
		if err != nil {
			t.Fatal(err)
		}
		c.CloseNow()
	})
	t.Run("same origin", func(t *testing.T) {
		c, _, err := websocket.Dial(ctx, wsURL(f), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + testToken}, "Origin": {f.gw.URL}}})
		if err != nil {
			t.Fatal(err)
		}
		c.CloseNow()
	})
}

func TestAccessLogRedacts(t *testing.T) {
	f := newFixture(t, nil)
	f.do(t, "GET", "/x?token=secret-in-query", with(bearer, "Cookie", "session=topsecret"), nil)
	f.do(t, "GET", "/x", map[string]string{"Authorization": "Bearer wrong-secret-value"}, nil)
	time.Sleep(50 * time.Millisecond)
	logs := f.logs.String()
	for _, secret := range []string{testToken, "secret-in-query", "topsecret", "wrong-secret-value"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
	for _, k := range []string{`"peer"`, `"client"`, `"method"`, `"path"`, `"status"`, `"dur"`, `"user"`, `"auth"`} {
		if !strings.Contains(logs, k) {
			t.Errorf("access log lacks %s", k)
		}
	}
}

func TestSwappable(t *testing.T) {
	s := NewSwappable(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(201) }))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	s.Store(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(202) }))
	rec2 := httptest.NewRecorder()
	s.ServeHTTP(rec2, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 201 || rec2.Code != 202 {
		t.Fatalf("codes %d %d", rec.Code, rec2.Code)
	}
}

func TestGracefulShutdownDrains(t *testing.T) {
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		time.Sleep(200 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, ln, 5*time.Second) }()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	if body := <-got; body != "done" {
		t.Fatalf("in-flight request got %q, want done", body)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
}

var _ = url.Parse
