package server

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawExchange writes raw bytes on a fresh connection and reads the first
// response; the reader is returned for any response that follows.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response (hang or reset): %v", err)
	}
	resp.Body.Close()
	return resp, br
}

// TestRequestSmugglingRefused sends ambiguous or malformed HTTP/1.1 framing
// straight down a socket. Client-facing parsing is net/http's; this pins
// down that every such request is refused with a 4xx before anything
// reaches the upstream, and that nothing hangs.
func TestRequestSmugglingRefused(t *testing.T) {
	f := newFixture(t, nil)
	addr := strings.TrimPrefix(f.gw.URL, "http://")
	auth := "Authorization: Bearer " + testToken + "\r\n"
	tests := []struct {
		name string
		raw  string
	}{
		{"two different CLs", "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + "Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"},
		{"TE not chunked", "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + "Transfer-Encoding: gzip\r\n\r\nabcd"},
		{"duplicate Host", "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil\r\n" + auth + "\r\n"},
		{"no Host", "GET /x HTTP/1.1\r\n" + auth + "\r\n"},
		{"space before colon", "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + "X-A : 1\r\n\r\n"},
		{"invalid CL", "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + "Content-Length: -1\r\n\r\n"},
		{"NUL in header", "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + "X-A: a\x00b\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.upstream.n
			resp, _ := rawExchange(t, addr, tt.raw)
			// net/http answers 501 for a transfer coding it does not
			// implement; everything else here is a 400.
			if resp.StatusCode < 400 || resp.StatusCode > 501 {
				t.Fatalf("status %d, want a refusal", resp.StatusCode)
			}
			if f.upstream.n != before {
				t.Fatal("a malformed request reached the upstream")
			}
		})
	}
	// Both Content-Length and Transfer-Encoding: RFC 9112 6.3 lets the
	// chunked coding win, and net/http does. The request is re-framed on
	// the way to the upstream, so the gateway and the agent cannot disagree
	// about where it ends; bytes after the chunked body are a new request
	// that must authenticate on its own. (The proxies in front refuse such
	// requests outright.)
	t.Run("CL and TE: chunked wins, no smuggled request", func(t *testing.T) {
		before := f.upstream.n
		smuggled := "GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
		_, br := rawExchange(t, addr, "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\n"+auth+"Content-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+smuggled)
		second, err := http.ReadResponse(br, nil)
		if err == nil {
			second.Body.Close()
			if second.StatusCode != http.StatusUnauthorized {
				t.Fatalf("smuggled request answered %d, want 401", second.StatusCode)
			}
		}
		if got := f.upstream.n - before; got > 1 {
			t.Fatalf("upstream saw %d requests, want at most the one authenticated", got)
		}
	})
	// obs-fold: net/http replaces the fold with a space, as RFC 9112 5.2
	// allows; the value arrives as one line.
	t.Run("obs-fold unfolded", func(t *testing.T) {
		resp, _ := rawExchange(t, addr, "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n"+auth+"X-A: 1\r\n  folded\r\n\r\n")
		if v := f.upstream.lastHeader().Get("X-A"); resp.StatusCode == 200 && strings.ContainsAny(v, "\r\n") {
			t.Fatalf("folded value kept a line break: %q", v)
		}
	})
	// Bare LF line endings are tolerated by net/http (RFC 9112 allows a
	// recipient to accept them); the request is still parsed as one.
	t.Run("bare LF is one request", func(t *testing.T) {
		resp, _ := rawExchange(t, addr, "GET /x HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer "+testToken+"\n\n")
		if resp.StatusCode != 200 && (resp.StatusCode < 400 || resp.StatusCode > 499) {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}
