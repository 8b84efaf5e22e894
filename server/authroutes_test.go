package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"gateway/config"
)

func TestPasswordLoginEndpoint(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Gateway.Auth.Mode = "password"
		c.Gateway.Auth.Password = "a-long-enough-password"
		c.Gateway.Auth.Token = ""
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
	})
	jsonH := map[string]string{"Content-Type": "application/json"}
	bad := []struct {
		name string
		h    map[string]string
		body string
		want int
		code string
	}{
		{"not json content type", map[string]string{"Content-Type": "text/plain"}, `{"password":"x"}`, 415, "unsupported_media_type"},
		{"malformed json", jsonH, `{"password":`, 400, "bad_request"},
		{"password not a string", jsonH, `{"password": 12345}`, 400, "bad_request"},
		{"password missing", jsonH, `{}`, 400, "bad_request"},
		{"unknown field", jsonH, `{"password":"x","admin":true}`, 400, "bad_request"},
		{"trailing data", jsonH, `{"password":"x"} {}`, 400, "bad_request"},
		{"oversized", jsonH, `{"password":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "body_too_large"},
		{"wrong password", jsonH, `{"password":"nope"}`, 401, "invalid_credentials"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "POST", "/auth/login", tt.h, strings.NewReader(tt.body))
			var e struct{ Code string }
			_ = json.Unmarshal(body, &e)
			if resp.StatusCode != tt.want || e.Code != tt.code {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, tt.want, tt.code)
			}
			if len(resp.Cookies()) != 0 {
				t.Fatal("a refused login set a cookie")
			}
		})
	}

	resp, body := f.do(t, "POST", "/auth/login", with(jsonH, "X-Forwarded-Proto", "https"), strings.NewReader(`{"password":"a-long-enough-password"}`))
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	var lr struct{ Token string }
	_ = json.Unmarshal(body, &lr)
	var cookies []*http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name != "__Host-gateway_kc" {
			cookies = append(cookies, c)
		}
	}
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v", cookies)
	}
	c := cookies[0]
	if c.Name != "__Host-gateway_session" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || !c.Secure || c.Path != "/" || c.Value != lr.Token {
		t.Fatalf("cookie = %+v", c)
	}
	// Plain http login: no Secure flag.
	resp, _ = f.do(t, "POST", "/auth/login", jsonH, strings.NewReader(`{"password":"a-long-enough-password"}`))
	if resp.Cookies()[0].Secure {
		t.Fatal("Secure cookie over http")
	}
	// The session works as cookie and as bearer, then logout kills it.
	resp, _ = f.do(t, "GET", "/auth/whoami", map[string]string{"Cookie": "gateway_session=" + lr.Token}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("cookie session: %d", resp.StatusCode)
	}
	resp, _ = f.do(t, "POST", "/auth/logout", map[string]string{"Authorization": "Bearer " + lr.Token}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	resp, _ = f.do(t, "GET", "/auth/whoami", map[string]string{"Authorization": "Bearer " + lr.Token}, nil)
	if resp.StatusCode != 401 {
		t.Fatalf("after logout: %d", resp.StatusCode)
	}
	// The upstream never sees the session token, as bearer or cookie.
	_, body = f.do(t, "POST", "/auth/login", jsonH, strings.NewReader(`{"password":"a-long-enough-password"}`))
	_ = json.Unmarshal(body, &lr)
	f.do(t, "GET", "/x", map[string]string{"Authorization": "Bearer " + lr.Token}, nil)
	if got := f.upstream.lastHeader(); got.Get("Authorization") != "" || got.Get("X-Gateway-Auth") != "session" {
		t.Fatalf("upstream headers: %v", got)
	}
	f.do(t, "GET", "/x", map[string]string{"Cookie": "theme=dark; gateway_session=" + lr.Token}, nil)
	if got := f.upstream.lastHeader(); got.Get("Cookie") != "theme=dark" || got.Get("X-Gateway-Auth") != "session" {
		t.Fatalf("upstream cookie: %q", got.Get("Cookie"))
	}
}

func TestAdminEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	resp, body := f.do(t, "GET", "/admin/devices", bearer, nil)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"pending"`)) {
		t.Fatalf("owner list: %d %s", resp.StatusCode, body)
	}
	resp, _ = f.do(t, "GET", "/admin/devices", nil, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("anonymous admin on the agent origin: %d", resp.StatusCode)
	}
	resp, _ = f.onAdmin().do(t, "GET", "/admin/devices", nil, nil)
	if resp.StatusCode != 401 {
		t.Fatalf("anonymous admin on the admin origin: %d", resp.StatusCode)
	}
	jsonH := with(bearer, "Content-Type", "application/json")
	for _, tt := range []struct {
		path, body string
		want       int
	}{
		{"/admin/devices/approve", `{"requestId":"nope"}`, 404},
		{"/admin/devices/approve", `{}`, 400},
		{"/admin/devices/reject", `{"requestId":"nope"}`, 404},
		{"/admin/devices/revoke", `{"deviceId":"nope"}`, 404},
		{"/admin/devices/revoke", `not json`, 400},
	} {
		resp, body := f.do(t, "POST", tt.path, jsonH, strings.NewReader(tt.body))
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s: %d %s, want %d", tt.path, tt.body, resp.StatusCode, body, tt.want)
		}
	}
}

func TestTrustedProxyModeHTTP(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Gateway.Auth.Mode = "trusted-proxy"
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.Auth.TrustedProxy.UserHeader = "x-forwarded-user"
		c.Gateway.Auth.TrustedProxy.AllowLoopback = true
		c.Gateway.Auth.TrustedProxy.AllowUsers = []string{"alice@example.com"}
	})
	resp, body := f.do(t, "GET", "/auth/whoami", map[string]string{"X-Forwarded-User": "alice@example.com", "X-Forwarded-For": "198.51.100.4"}, nil)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"method":"trusted-proxy"`)) || !bytes.Contains(body, []byte(`"role":"admin"`)) {
		t.Fatalf("trusted proxy user: %d %s", resp.StatusCode, body)
	}
	resp, _ = f.do(t, "GET", "/auth/whoami", map[string]string{"X-Forwarded-User": "eve@example.com", "X-Forwarded-For": "198.51.100.4"}, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("user outside allowUsers: %d", resp.StatusCode)
	}
	resp, _ = f.do(t, "GET", "/auth/whoami", map[string]string{"Authorization": "Bearer " + testToken}, nil)
	if resp.StatusCode != 401 {
		t.Fatalf("token in trusted-proxy mode: %d, want 401 (no second way in)", resp.StatusCode)
	}
	resp, _ = f.do(t, "POST", "/auth/login", map[string]string{"Content-Type": "application/json"}, strings.NewReader(`{"password":"x"}`))
	if resp.StatusCode != 404 {
		t.Fatalf("password login in trusted-proxy mode: %d", resp.StatusCode)
	}
}
