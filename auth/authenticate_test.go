package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"gateway/cookie"
	"gateway/httperr"
	"gateway/request"
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
	a := newAuth(t, nil, nil)
	tests := []struct {
		name     string
		h        map[string]string
		want     int
		wantCode string
		wantCred request.Credential
	}{
		{"ok", map[string]string{"Authorization": "Bearer " + tok}, 200, "", request.CredentialAuthorization},
		{"Proxy-Authorization, Authorization left for the upstream", map[string]string{"Proxy-Authorization": "Bearer " + tok, "Authorization": "Bearer upstream-secret"}, 200, "", request.CredentialProxyAuthorization},
		{"wrong Proxy-Authorization is not rescued by Authorization", map[string]string{"Proxy-Authorization": "Bearer nope", "Authorization": "Bearer " + tok}, 401, "invalid_credentials", 0},
		{"missing", nil, 401, "unauthorized", 0},
		{"wrong", map[string]string{"Authorization": "Bearer nope"}, 401, "invalid_credentials", 0},
		{"basic", map[string]string{"Authorization": "Basic " + tok}, 401, "unauthorized", 0},
		{"forged jwt", map[string]string{"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}, 401, "invalid_credentials", 0},
		{"ws protocol", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Protocol": "chat, bearer." + tok}, 200, "", request.CredentialWebSocketProtocol},
		{"ws protocol without a handshake", map[string]string{"Sec-WebSocket-Protocol": "bearer." + tok}, 401, "unauthorized", 0},
		{"unknown session cookie is no credential", map[string]string{"Cookie": cookie.Session + "=stale"}, 401, "unauthorized", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := a.Authenticate(req("GET", remote("203.0.113.1:1"), tt.h))
			got, code := status(err)
			if got != tt.want || code != tt.wantCode {
				t.Fatalf("got %d %q, want %d %q (%v)", got, code, tt.want, tt.wantCode, err)
			}
			if tt.want == 200 && (!id.IsAdmin() || id.Method != "token" || id.Credential != tt.wantCred) {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
}

func TestModesRefusedAtStartup(t *testing.T) {
	st, err := OpenStores(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]Options{
		"token mode without a token":    {Mode: request.MethodToken, Stores: st},
		"password mode with a bad hash": {Mode: request.MethodPassword, PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA", Stores: st},
		"password mode without one":     {Mode: request.MethodPassword, Stores: st},
		"trusted-proxy without header":  {Mode: request.MethodTrustedProxy, Stores: st},
		"unknown mode":                  {Mode: "anyone", Stores: st},
		"no stores":                     {Mode: request.MethodToken, Token: tok},
	} {
		if _, err := NewAuthenticator(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestLockoutSemantics: OpenClaw's rule. The maxAttempts-th failure is still
// answered 401 and engages the lockout; every later attempt, even with the
// right credential, is 429 with Retry-After until it ends. Failures slide
// out of the window one by one (a fixed window would let 2x(N-1) guesses
// through across its boundary).
func TestLockoutSemantics(t *testing.T) {
	clk := newClock()
	a := newAuth(t, func(o *Options) {
		o.Lockout = LockoutPolicy{MaxAttempts: 3, Window: time.Minute, Lockout: 5 * time.Minute}
	}, clk)
	bad := map[string]string{"Authorization": "Bearer wrong"}
	good := map[string]string{"Authorization": "Bearer " + tok}
	try := func(f from, h map[string]string) (int, error) {
		_, err := a.Authenticate(req("GET", f, h))
		s, _ := status(err)
		return s, err
	}
	attacker := remote("203.0.113.9:1")
	for i := range 3 {
		if s, err := try(attacker, bad); s != 401 {
			t.Fatalf("failure %d: %d (%v); the %d-th is still a 401", i+1, s, err, 3)
		}
	}
	s, err := try(attacker, bad)
	if s != 429 || RetryAfter(err) != 300*time.Second {
		t.Fatalf("after the lockout engaged: %d, Retry-After %v", s, RetryAfter(err))
	}
	if s, _ := try(attacker, good); s != 429 {
		t.Fatalf("locked client with the right token: %d", s)
	}
	if s, _ := try(remote("203.0.113.10:1"), nil); s != 401 {
		t.Fatalf("missing creds: %d", s)
	}
	if s, _ := try(remote("203.0.113.11:1"), good); s != 200 {
		t.Fatalf("other client refused: %d", s)
	}
	// Clean local requests are exempt; through a proxy is not local.
	for range 5 {
		_, _ = try(local, bad)
	}
	if s, _ := try(local, good); s != 200 {
		t.Fatalf("local owner locked out: %d", s)
	}
	for range 3 {
		_, _ = try(proxied("198.51.100.7"), bad)
	}
	if s, _ := try(proxied("198.51.100.7"), good); s != 429 {
		t.Fatalf("proxied client not locked out: %d", s)
	}
	// A browser page of another site on loopback (ClawJacked) is not
	// local either: it is counted and locked like anyone.
	page := from{peer: "127.0.0.1:2", cross: true}
	for range 3 {
		_, _ = try(page, bad)
	}
	if s, _ := try(page, good); s != 429 {
		t.Fatalf("cross-site page on loopback could still guess: %d", s)
	}
	clk.Advance(301 * time.Second)
	if s, _ := try(attacker, good); s != 200 {
		t.Fatalf("after lockout: %d", s)
	}

	// Sliding window: two failures, 40 s, two more. A fixed window that
	// restarted at 60 s would allow them; the sliding one sees 3 in the
	// last minute at t=40 s.
	slider := remote("203.0.113.20:1")
	_, _ = try(slider, bad)
	_, _ = try(slider, bad)
	clk.Advance(40 * time.Second)
	_, _ = try(slider, bad)
	if s, _ := try(slider, bad); s != 429 {
		t.Fatalf("sliding window let a 4th guess in: %d", s)
	}
	// Failures age out one by one.
	clk.Advance(301 * time.Second)
	_, _ = try(slider, bad)
	_, _ = try(slider, bad)
	clk.Advance(61 * time.Second)
	_, _ = try(slider, bad)
	_, _ = try(slider, bad)
	if s, _ := try(slider, good); s != 200 {
		t.Fatalf("old failures did not slide out: %d", s)
	}
}

// TestConcurrentGuessesReserved: a burst of concurrent wrong passwords
// never verifies more than maxAttempts, and the right password is refused
// once the lockout is engaged.
func TestConcurrentGuessesReserved(t *testing.T) {
	a := newAuth(t, func(o *Options) {
		o.Mode, o.Token, o.Password = request.MethodPassword, "", "correct horse battery staple"
		o.Lockout = LockoutPolicy{MaxAttempts: 10, Window: time.Minute, Lockout: 5 * time.Minute}
		// Long enough for every login to get its turn on a loaded
		// machine: none may be answered busy, so all 40 are judged.
		o.HashWait = 5 * time.Minute
	}, nil)
	var mu sync.Mutex
	verified, limited := 0, 0
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			_, err := a.Login(context.Background(), req("POST", remote("203.0.113.9:1"), nil), "wrong")
			s, _ := status(err)
			mu.Lock()
			defer mu.Unlock()
			switch s {
			case 401:
				verified++
			case 429:
				limited++
			default:
				t.Errorf("unexpected %d: %v", s, err)
			}
		})
	}
	wg.Wait()
	if verified != 10 || limited != 30 {
		t.Fatalf("%d passwords verified (want exactly the limit, 10), %d refused (want 30)", verified, limited)
	}
	if _, err := a.Login(context.Background(), req("POST", remote("203.0.113.9:1"), nil), "correct horse battery staple"); err == nil {
		t.Fatal("right password accepted while locked")
	}
}

func TestModeNoneServesOnlyLocal(t *testing.T) {
	a := newAuth(t, func(o *Options) { o.Mode, o.Token = request.MethodNone, "" }, nil)
	id, err := a.Authenticate(req("GET", local, nil))
	if err != nil || id.Method != request.MethodNone || id.IsAdmin() {
		t.Fatalf("local request = %+v, %v (local is never admin)", id, err)
	}
	for name, f := range map[string]from{
		"through a proxy on loopback": proxied("198.51.100.9"),
		"remote":                      remote("192.0.2.1:1"),
		"cross-site page":             {peer: "127.0.0.1:1", cross: true},
		"public host name":            {peer: "127.0.0.1:1", host: "agent.example.com"},
	} {
		if _, err := a.Authenticate(req("GET", f, nil)); err == nil {
			t.Errorf("%s: authenticated in mode none", name)
		} else if s, _ := status(err); s != 401 {
			t.Errorf("%s: %d, want 401", name, s)
		}
	}
}

func TestTrustedProxyMode(t *testing.T) {
	mk := func(mutate func(*Options)) *Authenticator {
		return newAuth(t, func(o *Options) {
			o.Mode, o.Token = request.MethodTrustedProxy, ""
			o.HaveTrustedProxies = true
			o.TrustedProxy = TrustedProxyOptions{UserHeader: "x-forwarded-user", RequiredHeaders: []string{"X-Auth-Request-Email"}, AllowUsers: []string{"alice"}}
			if mutate != nil {
				mutate(o)
			}
		}, nil)
	}
	a := mk(nil)
	ok := map[string]string{"X-Forwarded-User": "alice", "X-Auth-Request-Email": "a@x"}
	viaProxy := from{peer: "10.1.1.1:1", trusted: true, client: "198.51.100.1", via: true}
	tests := []struct {
		name string
		a    *Authenticator
		f    from
		h    map[string]string
		want int
	}{
		{"ok", a, viaProxy, ok, 200},
		{"untrusted peer", a, from{peer: "203.0.113.5:1", via: true}, ok, 401},
		{"loopback refused by default", a, proxied("198.51.100.1"), ok, 401},
		{"loopback allowed when configured", mk(func(o *Options) { o.TrustedProxy.AllowLoopback = true }), proxied("198.51.100.1"), ok, 200},
		{"required header missing", a, viaProxy, map[string]string{"X-Forwarded-User": "alice"}, 401},
		{"empty user", a, viaProxy, map[string]string{"X-Forwarded-User": " ", "X-Auth-Request-Email": "a@x"}, 401},
		{"user not allowed", a, viaProxy, map[string]string{"X-Forwarded-User": "mallory", "X-Auth-Request-Email": "m@x"}, 403},
		{"token does not rescue", a, remote("203.0.113.5:1"), map[string]string{"Authorization": "Bearer " + tok}, 401},
		{"no trusted proxies at all", mk(func(o *Options) { o.HaveTrustedProxies = false }), viaProxy, ok, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := tt.a.Authenticate(req("GET", tt.f, tt.h))
			if s, _ := status(err); s != tt.want {
				t.Fatalf("status %d, want %d (%v)", s, tt.want, err)
			}
			if tt.want == 200 && (id.User != "alice" || id.Method != "trusted-proxy" || !id.IsAdmin()) {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
}

func TestRequireAdmin(t *testing.T) {
	h := RequireAdmin(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	for _, tt := range []struct {
		id   *request.Identity
		want int
	}{
		{&request.Identity{Role: request.RoleAdmin}, 204},
		{&request.Identity{Role: request.RoleOperator}, 403},
		{&request.Identity{Role: request.RoleUser}, 403},
		{nil, 403},
	} {
		r := req("GET", remote("203.0.113.1:1"), nil)
		request.FromContext(r.Context()).Identity = tt.id
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tt.want {
			t.Errorf("RequireAdmin(%+v) = %d, want %d", tt.id, rec.Code, tt.want)
		}
	}
}
