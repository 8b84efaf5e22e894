package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"gateway/auth"
	"gateway/config"
)

// TestPeopleRecomputedOnEveryRequest: a session remembers who signed in
// and the groups their provider reported; admission, role and groups come
// from the configuration in force at each request, so a reload that
// demotes or removes someone takes effect at once, on sessions already
// open.
func TestPeopleRecomputedOnEveryRequest(t *testing.T) {
	f := newFixture(t, nil)
	tok, _, err := f.shared.Auth.Sessions.Create(context.Background(), auth.SessionPolicy{Idle: f.cfg.Typed.SessionIdle, Absolute: f.cfg.Typed.SessionAbsolute},
		auth.Opened{Origin: auth.OriginAgent, User: "x@example.com", Method: "oidc", Groups: []string{"ops", "idp-only"}, Email: "x@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// serve builds the handler a reload to this configuration would.
	serve := func(mutate func(*config.Config)) *httptest.Server {
		cfg := config.Default()
		cfg.Gateway.Upstream = f.cfg.Gateway.Upstream
		cfg.Gateway.Auth.Token = testToken
		mutate(cfg)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		h, err := NewHandler(f.shared.Options(cfg, testToken, slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return s
	}
	whoami := func(s *httptest.Server) (int, Whoami) {
		req, _ := http.NewRequest("GET", s.URL+"/auth/whoami", nil)
		req.AddCookie(&http.Cookie{Name: "gateway_session", Value: tok})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var w Whoami
		_ = json.NewDecoder(resp.Body).Decode(&w)
		return resp.StatusCode, w
	}
	tests := []struct {
		name       string
		mutate     func(*config.Config)
		status     int
		role       string
		groups     []string
		openedWith string
	}{
		{"listed admin", func(c *config.Config) { c.Gateway.Users = map[string]config.Person{"x@example.com": {Role: "admin"}} }, 200, "admin", nil, "oidc"},
		{"demoted", func(c *config.Config) { c.Gateway.Users = map[string]config.Person{"x@example.com": {}} }, 200, "user", nil, "oidc"},
		{"admitted by a provider group the config lists", func(c *config.Config) { c.Gateway.Groups = map[string]config.Group{"ops": {Role: "admin"}} }, 200, "admin", []string{"ops"}, "oidc"},
		{"removed", func(c *config.Config) { c.Gateway.Users = map[string]config.Person{"y@example.com": {}} }, 403, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, w := whoami(serve(tt.mutate))
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			if status != 200 {
				return
			}
			if w.User != "x@example.com" || w.Role != tt.role || w.OpenedWith != tt.openedWith || len(w.Groups) != len(tt.groups) {
				t.Fatalf("whoami %+v", w)
			}
		})
	}
}

// TestAPIClientsAreNeverRedirected: only a page load goes to the sign-in
// page; API calls and WebSocket handshakes (whatever their Accept says) get
// 401 with WWW-Authenticate.
func TestAPIClientsAreNeverRedirected(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name   string
		h      map[string]string
		status int
	}{
		{"page load", map[string]string{"Accept": "text/html"}, http.StatusSeeOther},
		{"navigate", map[string]string{"Sec-Fetch-Mode": "navigate"}, http.StatusSeeOther},
		{"API", map[string]string{"Accept": "application/json"}, http.StatusUnauthorized},
		{"fetch", map[string]string{"Accept": "*/*", "Sec-Fetch-Mode": "cors"}, http.StatusUnauthorized},
		{"WebSocket", map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "navigate", "Upgrade": "websocket", "Connection": "Upgrade",
			"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, http.StatusUnauthorized},
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.gw.URL+"/agent/page", nil)
			for k, v := range tt.h {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if tt.status == http.StatusSeeOther && resp.Header.Get("Location") != "/auth/login?rd=%2Fagent%2Fpage" {
				t.Fatalf("Location %q", resp.Header.Get("Location"))
			}
		})
	}
}
