package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer counts the TCP connections an upstream accepts.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	s := httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &conns
}

func do(t *testing.T, lt http.RoundTripper, method, url string, body io.Reader) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	resp, err := lt.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), resp.Header
}

func TestLeanTransportReusesConnections(t *testing.T) {
	s, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		_, _ = io.WriteString(w, r.URL.Path+":"+string(b))
	}))
	lt := NewLeanTransport(0)
	defer lt.CloseIdleConnections()
	for i := range 20 {
		code, body, _ := do(t, lt, "GET", s.URL+"/a", nil)
		if code != 200 || body != "/a:" {
			t.Fatalf("req %d: %d %q", i, code, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("20 sequential requests used %d connections, want 1", n)
	}
	code, body, _ := do(t, lt, "POST", s.URL+"/p", strings.NewReader("hello"))
	if code != 200 || body != "/p:hello" {
		t.Fatalf("POST: %d %q", code, body)
	}
	// Unknown length: sent chunked.
	pr, pw := io.Pipe()
	go func() { _, _ = io.WriteString(pw, "streamed"); _ = pw.Close() }()
	req, _ := http.NewRequest("PUT", s.URL+"/c", pr)
	req.ContentLength = -1
	resp, err := lt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "/c:streamed" {
		t.Fatalf("chunked PUT: %q", b)
	}
	// HEAD and 204 have no body and keep the connection usable.
	if code, _, h := do(t, lt, "HEAD", s.URL+"/h", nil); code != 200 || h.Get("X-Method") != "HEAD" {
		t.Fatalf("HEAD: %d", code)
	}
	if code, body, _ := do(t, lt, "GET", s.URL+"/after-head", nil); code != 200 || body != "/after-head:" {
		t.Fatalf("after HEAD: %d %q", code, body)
	}
}

func TestLeanTransportRetriesStaleConnection(t *testing.T) {
	var mu sync.Mutex
	var last net.Conn
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateIdle {
			mu.Lock()
			last = c
			mu.Unlock()
		}
	}
	s.Start()
	defer s.Close()
	lt := NewLeanTransport(0)
	if code, _, _ := do(t, lt, "GET", s.URL, nil); code != 200 {
		t.Fatal(code)
	}
	// The upstream closes the idle connection behind our back. Its
	// state turns idle just after the client has the response: wait.
	var idle net.Conn
	for deadline := time.Now().Add(5 * time.Second); idle == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		idle = last
		mu.Unlock()
	}
	if idle == nil {
		t.Fatal("the upstream connection never went idle")
	}
	_ = idle.Close()
	time.Sleep(20 * time.Millisecond)
	if code, body, _ := do(t, lt, "GET", s.URL, nil); code != 200 || body != "ok" {
		t.Fatalf("after stale: %d %q", code, body)
	}
}

func TestLeanTransportConnectionClose(t *testing.T) {
	s, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	}))
	lt := NewLeanTransport(0)
	for range 3 {
		if code, body, _ := do(t, lt, "GET", s.URL, nil); code != 200 || body != "bye" {
			t.Fatal(code, body)
		}
	}
	if conns.Load() != 3 {
		t.Fatalf("Connection: close not honoured: %d connections", conns.Load())
	}
}

func TestLeanTransportCancel(t *testing.T) {
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer s.Close()
	defer close(release)
	lt := NewLeanTransport(0)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL, nil)
	start := time.Now()
	_, err := lt.RoundTrip(req)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("cancel: err %v after %s", err, time.Since(start))
	}
}

func TestLeanTransportEarlyCloseDropsConnection(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	s, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, big) }))
	lt := NewLeanTransport(0)
	req, _ := http.NewRequest("GET", s.URL, nil)
	resp, err := lt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = resp.Body.Read(make([]byte, 10))
	resp.Body.Close()
	if code, body, _ := do(t, lt, "GET", s.URL, nil); code != 200 || len(body) != len(big) {
		t.Fatalf("after early close: %d %d", code, len(body))
	}
	if conns.Load() != 2 {
		t.Fatalf("a half-read connection was reused: %d connections", conns.Load())
	}
}

func TestLeanTransportFallback(t *testing.T) {
	var got atomic.Int64
	fb := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got.Add(1)
		return &http.Response{StatusCode: 299, Body: http.NoBody, Header: http.Header{}}, nil
	})
	lt := &LeanTransport{Fallback: fb}
	for _, r := range []*http.Request{
		mustReq("GET", "https://example.invalid/"),
		withHeader(mustReq("GET", "http://127.0.0.1:1/"), "Upgrade", "websocket"),
	} {
		resp, err := lt.RoundTrip(r)
		if err != nil || resp.StatusCode != 299 {
			t.Fatalf("fallback not used for %s: %v", r.URL, err)
		}
	}
	if got.Load() != 2 {
		t.Fatal(got.Load())
	}
}

func TestLeanTransportConcurrent(t *testing.T) {
	s, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.URL.Query().Get("i")) }))
	lt := NewLeanTransport(0)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				want := strings.Repeat("z", i) + "-" + string(rune('a'+j))
				req, _ := http.NewRequest("GET", s.URL+"/?i="+want, nil)
				resp, err := lt.RoundTrip(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != want {
					t.Errorf("response mixed up: got %q want %q", b, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func mustReq(method, url string) *http.Request {
	r, _ := http.NewRequest(method, url, nil)
	return r
}

func withHeader(r *http.Request, k, v string) *http.Request {
	r.Header.Set(k, v)
	return r
}

func TestLeanTransportSkipsInformational(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		_, _ = io.WriteString(w, "final")
	}))
	defer s.Close()
	lt := NewLeanTransport(0)
	code, body, _ := do(t, lt, "GET", s.URL, nil)
	if code != 200 || body != "final" {
		t.Fatalf("got %d %q, want the final 200", code, body)
	}
	if code, body, _ := do(t, lt, "GET", s.URL, nil); code != 200 || body != "final" {
		t.Fatalf("connection unusable after a 103: %d %q", code, body)
	}
}

func TestLeanTransportDropsIdleConnections(t *testing.T) {
	s, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	lt := NewLeanTransport(50 * time.Millisecond)
	do(t, lt, "GET", s.URL, nil)
	do(t, lt, "GET", s.URL, nil)
	if n := conns.Load(); n != 1 {
		t.Fatalf("back-to-back requests used %d connections", n)
	}
	time.Sleep(80 * time.Millisecond)
	do(t, lt, "GET", s.URL, nil)
	if n := conns.Load(); n != 2 {
		t.Fatalf("a connection idle past the timeout was reused (%d connections)", n)
	}
}

// rawServer answers each connection's requests with respond, which reads
// the request and decides; it counts the requests that arrived.
func rawServer(t *testing.T, respond func(n int64, c net.Conn, r *http.Request)) (string, *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, r.Body)
					respond(n.Add(1), c, r)
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String(), &n
}

// TestLeanTransportUpstreamClosesAfterEveryResponse: an upstream that
// closes each connection after answering, whether it says so (Connection:
// close, as HTTP/1.1 asks) or not, answers every GET (a dead pooled
// connection is retried on a new one) and every POST (never on a reused
// connection), and sees nothing twice.
func TestLeanTransportUpstreamClosesAfterEveryResponse(t *testing.T) {
	for _, announce := range []bool{true, false} {
		url, n := rawServer(t, func(_ int64, c net.Conn, _ *http.Request) {
			hdr := ""
			if announce {
				hdr = "Connection: close\r\n"
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n"+hdr+"Content-Length: 2\r\n\r\nok")
			_ = c.Close()
		})
		lt := NewLeanTransport(0)
		posts := 0
		for i := range 20 {
			if code, got, _ := do(t, lt, "GET", url, nil); code != 200 || got != "ok" {
				t.Fatalf("announce=%v GET %d: %d %q", announce, i, code, got)
			}
			req, _ := http.NewRequest("POST", url, strings.NewReader("payload"))
			posts++
			resp, err := lt.RoundTrip(req)
			if err != nil {
				t.Fatalf("announce=%v POST %d: %v", announce, i, err)
			}
			resp.Body.Close()
		}
		if got, max := n.Load(), int64(20+posts); got != max {
			t.Fatalf("announce=%v: upstream saw %d requests for 20 GETs and %d POSTs: something was sent twice", announce, got, posts)
		}
	}
}

// TestLeanTransportNeverSendsAPostTwice: a request that reached the
// upstream on a reused connection and got no answer is retried on a new
// connection only when sending it twice is harmless; a POST never rides a
// reused connection, so it is sent exactly once and answered.
func TestLeanTransportNeverSendsAPostTwice(t *testing.T) {
	// The first request on each connection is answered; every later one
	// is read and then the connection dies without an answer.
	var perConn sync.Map
	url, n := rawServer(t, func(_ int64, c net.Conn, _ *http.Request) {
		v, _ := perConn.LoadOrStore(c, new(atomic.Int64))
		if v.(*atomic.Int64).Add(1) == 1 {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return
		}
		_ = c.Close()
	})
	lt := NewLeanTransport(0)
	tests := []struct {
		method string
		body   io.Reader
		sent   int64 // requests the upstream sees for the second call
		ok     bool
	}{
		{"GET", nil, 2, true},                               // idempotent: retried on a new connection
		{"POST", strings.NewReader("charge card"), 1, true}, // a new connection of its own: answered once
		{"POST", nil, 1, true},                              // the same without a body
	}
	for _, tt := range tests {
		do(t, lt, "GET", url, nil) // a pooled connection that answered once
		before := n.Load()
		req, _ := http.NewRequest(tt.method, url, tt.body)
		resp, err := lt.RoundTrip(req)
		if resp != nil {
			resp.Body.Close()
		}
		if got := n.Load() - before; got != tt.sent || (err == nil) != tt.ok {
			t.Errorf("%s: upstream saw %d, err %v; want %d sent, ok %v", tt.method, got, err, tt.sent, tt.ok)
		}
	}
}
