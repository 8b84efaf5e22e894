package proxy

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
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
	p := New(Options{Upstream: up})
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
