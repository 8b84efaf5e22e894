package auth

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gateway/config"
)

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func TestPasswordHashRoundTrip(t *testing.T) {
	s, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("hash = %q", s)
	}
	h, err := ParsePasswordHash(s)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Verify("correct horse") || h.Verify("correct horse ") || h.Verify("") {
		t.Fatal("verify wrong")
	}
	if h.String() != s {
		t.Fatalf("round trip %q != %q", h.String(), s)
	}
}

var badHashes = []string{
	"",
	"plaintext",
	"$2a$10$abcdefghijklmnopqrstuu", // bcrypt is not accepted here
	"$argon2i$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // wrong variant
	"$argon2id$v=16$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
	"$argon2id$v=19$m=99999999,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // absurd memory
	"$argon2id$v=19$m=65536,t=0,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
	"$argon2id$v=19$m=65536,t=3,p=2$!!!$aGFzaGhhc2hoYXNoaGFzaA",
	"$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$",
	"$argon2id$v=19$t=3,m=65536,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
}

func TestParsePasswordHashRefuses(t *testing.T) {
	for _, s := range badHashes {
		if _, err := ParsePasswordHash(s); err == nil {
			t.Errorf("ParsePasswordHash(%q) accepted", s)
		}
	}
}

func FuzzParsePasswordHash(f *testing.F) {
	for _, s := range badHashes {
		f.Add(s)
	}
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParsePasswordHash(s)
		if err != nil {
			return
		}
		if h.Memory > maxArgonMemory || h.Time > maxArgonTime || h.Threads > maxArgonPar || len(h.Key) < 16 {
			t.Fatalf("out-of-bounds hash accepted: %+v", h)
		}
		if _, err := ParsePasswordHash(h.String()); err != nil {
			t.Fatalf("re-parse of %q failed: %v", h.String(), err)
		}
	})
}

func TestPasswordLoginAndSessions(t *testing.T) {
	clk := newClock()
	a, _ := newAuth(t, func(c *config.Config) {
		c.Gateway.Auth.Mode = "password"
		c.Gateway.Auth.Password = "hunter2-but-longer"
		c.Gateway.Auth.Token = ""
		c.Gateway.Auth.RateLimit.MaxAttempts = 3
		c.Gateway.Auth.Session = config.Session{IdleTimeout: "1h", AbsoluteTimeout: "3h"}
	}, clk)
	r := req("POST", "203.0.113.1:1", false, false, "", nil)
	ctx := context.Background()
	if _, _, err := a.Login(ctx, r, "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	tokn, exp, err := a.Login(ctx, r, "hunter2-but-longer")
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(clk.Now().Add(3 * time.Hour)) {
		t.Errorf("expires %v", exp)
	}
	bearer := map[string]string{"Authorization": "Bearer " + tokn}
	cookie := map[string]string{"Cookie": SessionCookie + "=" + tokn}
	for _, h := range []map[string]string{bearer, cookie} {
		id, err := a.Authenticate(req("GET", "203.0.113.1:1", false, false, "", h))
		if err != nil || id.Method != "password" || !id.IsAdmin() {
			t.Fatalf("session auth = %+v, %v", id, err)
		}
	}
	// The session survives a restart: a new store over the same file.
	s2, err := NewSessionStore(a.deps.Sessions.path[:len(a.deps.Sessions.path)-len(SessionsFile)-1], time.Hour, 3*time.Hour, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Check(tokn); err != nil {
		t.Fatalf("session lost across restart: %v", err)
	}
	// Idle expiry.
	clk.Advance(61 * time.Minute)
	if _, err := a.Authenticate(req("GET", "203.0.113.1:1", false, false, "", bearer)); err == nil {
		t.Fatal("idle session accepted")
	}
	// Revocation.
	tok2, _, err := a.Login(ctx, r, "hunter2-but-longer")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.deps.Sessions.Revoke(tok2); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(req("GET", "203.0.113.1:1", false, false, "", map[string]string{"Authorization": "Bearer " + tok2})); err == nil {
		t.Fatal("revoked session accepted")
	}
	// Absolute expiry even when active.
	tok3, _, _ := a.Login(ctx, r, "hunter2-but-longer")
	for range 4 {
		clk.Advance(50 * time.Minute)
		_, _ = a.Authenticate(req("GET", "203.0.113.1:1", false, false, "", map[string]string{"Authorization": "Bearer " + tok3}))
	}
	if _, err := a.Authenticate(req("GET", "203.0.113.1:1", false, false, "", map[string]string{"Authorization": "Bearer " + tok3})); err == nil {
		t.Fatal("session past absolute expiry accepted")
	}
	// Lockout on login.
	for range 3 {
		_, _, _ = a.Login(ctx, req("POST", "198.51.100.3:1", false, false, "", nil), "nope")
	}
	if _, _, err := a.Login(ctx, req("POST", "198.51.100.3:1", false, false, "", nil), "hunter2-but-longer"); err == nil {
		t.Fatal("locked-out client logged in")
	} else if s, code := status(err); s != 429 || code != "rate_limited" {
		t.Fatalf("locked login = %d %s", s, code)
	}
	// The file holds hashes, not tokens.
	data := readFile(t, a.deps.Sessions.path)
	if strings.Contains(data, tok3) {
		t.Fatal("session token stored in clear")
	}
}
