package request

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestUpgradeOf(t *testing.T) {
	tests := []struct {
		name   string
		method string
		h      map[string]string
		want   Upgrade
	}{
		{"websocket", "GET", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"}, UpgradeWebSocket},
		{"case and lists", "GET", map[string]string{"Upgrade": "WebSocket", "Connection": "keep-alive, upgrade"}, UpgradeWebSocket},
		{"no Connection: upgrade", "GET", map[string]string{"Upgrade": "websocket"}, UpgradeNone},
		{"made-up protocol", "POST", map[string]string{"Upgrade": "x", "Connection": "Upgrade"}, UpgradeNone},
		{"h2c", "GET", map[string]string{"Upgrade": "h2c", "Connection": "Upgrade, HTTP2-Settings"}, UpgradeNone},
		{"websocket on POST", "POST", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"}, UpgradeNone},
		{"nothing", "GET", nil, UpgradeNone},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/", nil)
		for k, v := range tt.h {
			r.Header.Set(k, v)
		}
		if got := UpgradeOf(r); got != tt.want {
			t.Errorf("%s: UpgradeOf = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestIsNavigation(t *testing.T) {
	tests := []struct {
		method, accept string
		extra          map[string]string
		want           bool
	}{
		{"GET", "text/html,application/xhtml+xml,*/*;q=0.8", nil, true},
		{"HEAD", "TEXT/HTML", nil, true},
		{"POST", "text/html,*/*", nil, true},
		{"GET", "application/json", nil, false},
		{"GET", "*/*", nil, false},
		{"GET", "", nil, false},
		{"GET", "*/*", map[string]string{"Sec-Fetch-Mode": "navigate"}, true},
		{"GET", "*/*", map[string]string{"Sec-Fetch-Mode": "cors"}, false},
		// A WebSocket handshake is never a page load.
		{"GET", "text/html", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-Fetch-Mode": "navigate"}, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/", nil)
		if tt.accept != "" {
			r.Header.Set("Accept", tt.accept)
		}
		for k, v := range tt.extra {
			r.Header.Set(k, v)
		}
		if got := IsNavigation(r); got != tt.want {
			t.Errorf("IsNavigation(%s, %q) = %v, want %v", tt.method, tt.accept, got, tt.want)
		}
	}
}

func TestOutgoingForwardedFor(t *testing.T) {
	tr := Trust{}
	tr.Peer = netip.MustParseAddrPort("127.0.0.1:9")
	if got := tr.OutgoingForwardedFor(); got != "127.0.0.1" {
		t.Errorf("direct: %q", got)
	}
	tr.ForwardedFor = "203.0.113.7, 10.0.0.1"
	if got := tr.OutgoingForwardedFor(); got != "203.0.113.7, 10.0.0.1, 127.0.0.1" {
		t.Errorf("proxied: %q", got)
	}
}
