package auth

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"gateway/config"
	"gateway/httperr"
)

func status(err error) (int, string) {
	var he *httperr.Error
	if errors.As(err, &he) {
		return he.Status, he.Code
	}
	if err != nil {
		return 500, err.Error()
	}
	return 200, ""
}

func TestTokenMode(t *testing.T) {
	a, _ := newAuth(t, nil, nil)
	tests := []struct {
		name     string
		h        map[string]string
		want     int
		wantCode string
	}{
		{"ok", map[string]string{"Authorization": "Bearer " + tok}, 200, ""},
		{"missing", nil, 401, "unauthorized"},
		{"wrong", map[string]string{"Authorization": "Bearer nope"}, 401, "invalid_credentials"},
		{"basic", map[string]string{"Authorization": "Basic " + tok}, 401, "unauthorized"},
		{"forged jwt", map[string]string{"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}, 401, "invalid_credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := a.Authenticate(req("GET", "203.0.113.1:1", false, false, "", tt.h))
			got, code := status(err)
			if got != tt.want || code != tt.wantCode {
				t.Fatalf("got %d %q, want %d %q (%v)", got, code, tt.want, tt.wantCode, err)
			}
			if tt.want == 200 && (!id.IsAdmin() || id.Method != "token") {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
}

func TestModesRefusedAtStartup(t *testing.T) {
	deps := func(t *testing.T, cfg *config.Config) *Deps {
		d, err := NewDeps(t.TempDir(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cfg := config.Default()
	_ = cfg.Validate()
	if _, err := NewAuthenticator(Options{Config: cfg, Token: "", Deps: deps(t, cfg)}); err == nil {
		t.Error("token mode without a token accepted")
	}
	cfg = config.Default()
	cfg.Gateway.Auth.Mode = "password"
	cfg.Gateway.Auth.PasswordHash = "$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA"
	_ = cfg.Validate()
	if _, err := NewAuthenticator(Options{Config: cfg, Deps: deps(t, cfg)}); err == nil {
		t.Error("password mode with a bad hash accepted")
	}
	if _, err := NewAuthenticator(Options{Config: cfg}); err == nil {
		t.Error("no deps accepted")
	}
}

func TestLockoutThroughAuthenticate(t *testing.T) {
	clk := newClock()
	a, _ := newAuth(t, func(c *config.Config) {
		c.Gateway.Auth.RateLimit = config.RateLimit{MaxAttempts: 3, WindowMs: 60000, LockoutMs: 300000}
	}, clk)
	bad := map[string]string{"Authorization": "Bearer wrong"}
	good := map[string]string{"Authorization": "Bearer " + tok}
	attacker := "203.0.113.9:1"
	for i := range 2 {
		if s, _ := status(func() error { _, err := a.Authenticate(req("GET", attacker, false, false, "", bad)); return err }()); s != 401 {
			t.Fatalf("attempt %d: %d", i, s)
		}
	}
	_, err := a.Authenticate(req("GET", attacker, false, false, "", bad))
	if s, code := status(err); s != 429 || code != "rate_limited" {
		t.Fatalf("third failure: %d %s, want 429 rate_limited", s, code)
	}
	var he *httperr.Error
	errors.As(err, &he)
	if he.Header.Get("Retry-After") != "300" {
		t.Errorf("Retry-After = %q", he.Header.Get("Retry-After"))
	}
	// Locked: even the right token is refused.
	if _, err := a.Authenticate(req("GET", attacker, false, false, "", good)); err == nil {
		t.Fatal("locked client got in with the right token")
	}
	// Missing credentials do not count and are not locked out further.
	if s, _ := status(func() error {
		_, err := a.Authenticate(req("GET", "203.0.113.10:1", false, false, "", nil))
		return err
	}()); s != 401 {
		t.Fatalf("missing creds: %d", s)
	}
	// Other clients unaffected; clean local requests exempt.
	if _, err := a.Authenticate(req("GET", "203.0.113.11:1", false, false, "", good)); err != nil {
		t.Fatalf("other client refused: %v", err)
	}
	for range 5 {
		_, _ = a.Authenticate(req("GET", "127.0.0.1:1", false, false, "", bad))
	}
	if _, err := a.Authenticate(req("GET", "127.0.0.1:1", false, false, "", good)); err != nil {
		t.Fatalf("local owner locked out: %v", err)
	}
	// Through a proxy, loopback is not local: it counts.
	for range 3 {
		_, _ = a.Authenticate(req("GET", "127.0.0.1:1", true, true, "198.51.100.7", bad))
	}
	if _, err := a.Authenticate(req("GET", "127.0.0.1:1", true, true, "198.51.100.7", good)); err == nil {
		t.Fatal("proxied client not locked out")
	}
	// The lockout ends.
	clk.Advance(301 * time.Second)
	if _, err := a.Authenticate(req("GET", attacker, false, false, "", good)); err != nil {
		t.Fatalf("after lockout: %v", err)
	}
}

func TestTrustedProxyMode(t *testing.T) {
	mk := func(mutate func(*config.Config)) *Authenticator {
		a, _ := newAuth(t, func(c *config.Config) {
			c.Gateway.Auth.Mode = "trusted-proxy"
			c.Gateway.TrustedProxies = []string{"10.0.0.0/8", "127.0.0.1"}
			c.Gateway.Auth.TrustedProxy.RequiredHeaders = []string{"X-Auth-Request-Email"}
			c.Gateway.Auth.TrustedProxy.AllowUsers = []string{"alice"}
			if mutate != nil {
				mutate(c)
			}
		}, nil)
		return a
	}
	a := mk(nil)
	ok := map[string]string{"X-Forwarded-User": "alice", "X-Auth-Request-Email": "a@x"}
	tests := []struct {
		name    string
		a       *Authenticator
		peer    string
		trusted bool
		h       map[string]string
		want    int
	}{
		{"ok", a, "10.1.1.1:1", true, ok, 200},
		{"untrusted peer", a, "203.0.113.5:1", false, ok, 401},
		{"loopback refused by default", a, "127.0.0.1:1", true, ok, 401},
		{"loopback allowed when configured", mk(func(c *config.Config) { c.Gateway.Auth.TrustedProxy.AllowLoopback = true }), "127.0.0.1:1", true, ok, 200},
		{"required header missing", a, "10.1.1.1:1", true, map[string]string{"X-Forwarded-User": "alice"}, 401},
		{"empty user", a, "10.1.1.1:1", true, map[string]string{"X-Forwarded-User": " ", "X-Auth-Request-Email": "a@x"}, 401},
		{"user not allowed", a, "10.1.1.1:1", true, map[string]string{"X-Forwarded-User": "mallory", "X-Auth-Request-Email": "m@x"}, 403},
		{"token does not rescue", a, "203.0.113.5:1", false, map[string]string{"Authorization": "Bearer " + tok}, 401},
		{"no trusted proxies at all", mk(func(c *config.Config) { c.Gateway.TrustedProxies = nil }), "10.1.1.1:1", false, ok, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := tt.a.Authenticate(req("GET", tt.peer, tt.trusted, true, "198.51.100.1", tt.h))
			if s, _ := status(err); s != tt.want {
				t.Fatalf("status %d, want %d (%v)", s, tt.want, err)
			}
			if tt.want == 200 && (id.User != "alice" || id.Method != "trusted-proxy" || !id.IsAdmin()) {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
	// The user header from an untrusted peer is stripped in any mode.
	tokA, _ := newAuth(t, nil, nil)
	r := req("GET", "203.0.113.5:1", false, false, "", map[string]string{"X-Forwarded-User": "alice"})
	tokA.StripUserHeader(r)
	if r.Header.Get("X-Forwarded-User") != "" {
		t.Fatal("user header from an untrusted peer survived")
	}
}

func TestRequireAdmin(t *testing.T) {
	h := RequireAdmin(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	for _, tt := range []struct {
		id   *Identity
		want int
	}{
		{&Identity{Role: RoleAdmin}, 204},
		{&Identity{Role: RoleOperator}, 403},
		{&Identity{Role: "user"}, 403},
		{nil, 403},
	} {
		r := req("GET", "203.0.113.1:1", false, false, "", nil)
		if tt.id != nil {
			r = r.WithContext(WithIdentity(r.Context(), tt.id))
		}
		rec := newRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tt.want {
			t.Errorf("RequireAdmin(%+v) = %d, want %d", tt.id, rec.Code, tt.want)
		}
	}
}
