package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"gateway/cookie"
	"gateway/request"
)

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
	a := newAuth(t, func(o *Options) {
		o.Mode, o.Token, o.Password = request.MethodPassword, "", "hunter2-but-longer"
		o.Lockout.MaxAttempts = 3
		o.Sessions = SessionPolicy{Idle: time.Hour, Absolute: 3 * time.Hour}
	}, clk)
	stranger := remote("203.0.113.1:1")
	r := req("POST", stranger, nil)
	ctx := context.Background()
	if _, err := a.Login(ctx, r, "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	res, err := a.Login(ctx, r, "hunter2-but-longer")
	tokn, exp := res.Token, res.Expires
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(clk.Now().Add(3 * time.Hour)) {
		t.Errorf("expires %v", exp)
	}
	bearerH := map[string]string{"Authorization": "Bearer " + tokn}
	cookieH := map[string]string{"Cookie": cookie.Session + "=" + tokn}
	for _, h := range []map[string]string{bearerH, cookieH} {
		id, err := a.Authenticate(req("GET", stranger, h))
		if err != nil || id.Method != request.MethodSession || !id.IsAdmin() || id.SessionID != SessionID(tokn) {
			t.Fatalf("session auth = %+v, %v", id, err)
		}
	}
	// A valid cookie authenticates; an Authorization beside it is the
	// upstream's and is left alone.
	id, err := a.Authenticate(req("GET", stranger, map[string]string{"Cookie": cookie.Session + "=" + tokn, "Authorization": "Bearer for-the-upstream"}))
	if err != nil || id.Credential != request.CredentialCookie {
		t.Fatalf("cookie beside Authorization = %+v, %v", id, err)
	}
	// The session survives a restart: a new store over the same file.
	s2, err := NewSessionStore(a.st.Sessions.docs, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Check(context.Background(), tokn, a.sessions, OriginAgent); err != nil {
		t.Fatalf("session lost across restart: %v", err)
	}
	// Idle expiry.
	clk.Advance(61 * time.Minute)
	if _, err := a.Authenticate(req("GET", stranger, bearerH)); err == nil {
		t.Fatal("idle session accepted")
	}
	// Revocation.
	res2, err := a.Login(ctx, r, "hunter2-but-longer")
	tok2 := res2.Token
	if err != nil {
		t.Fatal(err)
	}
	if err := a.st.Sessions.Revoke(context.Background(), tok2, a.sessions); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(req("GET", stranger, map[string]string{"Authorization": "Bearer " + tok2})); err == nil {
		t.Fatal("revoked session accepted")
	}
	// Absolute expiry even when active.
	res3, _ := a.Login(ctx, r, "hunter2-but-longer")
	tok3 := res3.Token
	for range 4 {
		clk.Advance(50 * time.Minute)
		_, _ = a.Authenticate(req("GET", stranger, map[string]string{"Authorization": "Bearer " + tok3}))
	}
	if _, err := a.Authenticate(req("GET", stranger, map[string]string{"Authorization": "Bearer " + tok3})); err == nil {
		t.Fatal("session past absolute expiry accepted")
	}
	// Lockout on login: the 3rd failure is 401, then 429.
	locked := remote("198.51.100.3:1")
	for i := range 3 {
		if _, err := a.Login(ctx, req("POST", locked, nil), "nope"); err == nil {
			t.Fatal("wrong password accepted")
		} else if s, _ := status(err); s != 401 {
			t.Fatalf("failure %d: %d", i+1, s)
		}
	}
	if _, err := a.Login(ctx, req("POST", locked, nil), "hunter2-but-longer"); err == nil {
		t.Fatal("locked-out client logged in")
	} else if s, code := status(err); s != 429 || code != "rate_limited" {
		t.Fatalf("locked login = %d %s", s, code)
	}
	// The file holds hashes, not tokens.
	data := readFile(t, a.st.Sessions.docs.Where(SessionsFile))
	if strings.Contains(data, tok3) {
		t.Fatal("session token stored in clear")
	}
}

// TestStaleCookieIsNoFailure: a browser keeps sending an expired session
// cookie. However often, that is no credential and no failure: the owner
// can still sign in from the same address.
func TestStaleCookieIsNoFailure(t *testing.T) {
	clk := newClock()
	a := newAuth(t, func(o *Options) {
		o.Mode, o.Token, o.Password = request.MethodPassword, "", "hunter2-but-longer"
		o.Sessions = SessionPolicy{Idle: time.Minute, Absolute: time.Hour}
	}, clk)
	owner := remote("203.0.113.1:1")
	res, err := a.Login(context.Background(), req("POST", owner, nil), "hunter2-but-longer")
	tokn := res.Token
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	for i := range 12 {
		_, err := a.Authenticate(req("GET", owner, map[string]string{"Cookie": cookie.Session + "=" + tokn}))
		if s, code := status(err); s != 401 || code != "unauthorized" {
			t.Fatalf("stale cookie %d: %d %s", i, s, code)
		}
	}
	if _, err := a.Login(context.Background(), req("POST", owner, nil), "hunter2-but-longer"); err != nil {
		t.Fatalf("owner cannot sign in after stale cookies: %v", err)
	}
}
