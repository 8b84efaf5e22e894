package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"

	"gateway/trust"
)

func TestOriginAllowed(t *testing.T) {
	p := New(Options{Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, AllowedOrigins: map[string]bool{"https://ui.example.com": true}})
	tests := []struct {
		origin string
		want   bool
	}{
		{"", true},
		{"https://ui.example.com", true},
		{"https://UI.example.com:443", true},
		{"http://ui.example.com", false},
		{"https://gw.example.com", true}, // same origin as the client sees the gateway
		{"https://evil.example", false},
		{"null", false},
		{"::garbage", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "http://gw/", nil)
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		res := &trust.Result{Peer: netip.MustParseAddrPort("127.0.0.1:1"), Client: netip.MustParseAddr("127.0.0.1"), Proto: "https", Host: "gw.example.com"}
		r = r.WithContext(trust.WithResult(r.Context(), res))
		if got := p.originAllowed(r); got != tt.want {
			t.Errorf("originAllowed(%q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
	any := New(Options{Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, AllowAnyOrigin: true})
	r := httptest.NewRequest("GET", "http://gw/", nil)
	r.Header.Set("Origin", "https://evil.example")
	if !any.originAllowed(r) {
		t.Error("AllowAnyOrigin refused an origin")
	}
}

func TestStripProtocolToken(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"bearer.secret"}, ""},
		{[]string{"chat, bearer.secret"}, "chat"},
		{[]string{"bearer.secret", "chat", "v2.proto"}, "chat, v2.proto"},
	}
	for _, tt := range tests {
		h := http.Header{"Sec-Websocket-Protocol": tt.in}
		stripProtocolToken(h)
		if got := h.Get("Sec-WebSocket-Protocol"); got != tt.want {
			t.Errorf("strip(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStripCookie(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"gateway_session=secret"}, ""},
		{[]string{"a=1; gateway_session=secret; b=2"}, "a=1; b=2"},
		{[]string{"a=1", "gateway_session=secret"}, "a=1"},
		{[]string{"gateway_sessionx=keep"}, "gateway_sessionx=keep"},
	}
	for _, tt := range tests {
		h := http.Header{"Cookie": tt.in}
		stripCookie(h, "gateway_session")
		if got := h.Get("Cookie"); got != tt.want {
			t.Errorf("strip(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
