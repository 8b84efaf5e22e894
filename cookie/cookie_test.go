package cookie

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestIsGateway(t *testing.T) {
	for name, want := range map[string]bool{
		"gateway_session": true, "__Host-gateway_session": true, "__HOST-GATEWAY_SESSION": true, "__Secure-gateway_sso": true,
		"gateway_admin": true, " gateway_csrf": true, "gateway_kc": true, "gateway_oidc": true, "__Host-gateway_admin": true,
		"gateway_sessionx": false, "openclaw_session": false, "": false, "__Host-": false,
	} {
		if got := IsGateway(name); got != want {
			t.Errorf("IsGateway(%q) = %v", name, got)
		}
	}
}

func TestStrip(t *testing.T) {
	h := http.Header{"Cookie": {"a=1; gateway_session=s; __Host-GATEWAY_ADMIN=x", "gateway_kc=k;b=2"}}
	StripRequest(h)
	if got := h["Cookie"]; !reflect.DeepEqual(got, []string{"a=1; b=2"}) {
		t.Fatalf("request cookies %q", got)
	}
	h = http.Header{"Cookie": {"gateway_csrf=c"}}
	StripRequest(h)
	if _, ok := h["Cookie"]; ok {
		t.Fatal("an all-gateway Cookie header survived")
	}
	h = http.Header{"Cookie": {"a=1; b=2"}}
	StripRequest(h)
	if h.Get("Cookie") != "a=1; b=2" {
		t.Fatal("agent cookies changed")
	}
	r := http.Header{"Set-Cookie": {"app=1; Path=/", "__Host-gateway_session=planted; Path=/; Secure", "Gateway_Admin=x", "other=2"}}
	StripResponse(r)
	if got := r["Set-Cookie"]; !reflect.DeepEqual(got, []string{"app=1; Path=/", "other=2"}) {
		t.Fatalf("set-cookie %q", got)
	}
}

// TestOnly: one cookie of the name is read; none, or a planted second
// copy, reads as none.
func TestOnly(t *testing.T) {
	for _, tt := range []struct {
		header, want string
	}{
		{"gateway_sso=a", "a"},
		{"other=x; gateway_sso=a", "a"},
		{"gateway_sso=a; gateway_sso=b", ""},
		{"other=x", ""},
		{"__Secure-gateway_sso=a", ""}, // the https name, on http
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", tt.header)
		if got := Only(r, SSO, "http"); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.header, got, tt.want)
		}
	}
}
