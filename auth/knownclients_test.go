package auth

import (
	"context"
	"testing"
	"time"

	"gateway/request"
)

func TestKnownClients(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	k := NewKnownClients(fileDocs(t), clk.Now, func() []byte { return []byte("key") })
	v, err := k.Issue(ctx, ScopePassword, "fp1", "")
	if err != nil {
		t.Fatal(err)
	}
	id, err := k.Check(ctx, v, ScopePassword, "fp1")
	if err != nil {
		t.Fatalf("fresh cookie: %v", err)
	}
	for name, c := range map[string]struct{ value, scope, fp string }{
		"another credential": {v, ScopePassword, "fp2"},
		"another scope":      {v, ScopeToken, "fp1"},
		"forged signature":   {v[:len(v)-2] + "xx", ScopePassword, "fp1"},
		"garbage":            {"password.x", ScopePassword, "fp1"},
	} {
		if _, err := k.Check(ctx, c.value, c.scope, c.fp); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	// Rotation: the old cookie is gone once the new one is issued.
	v2, err := k.Issue(ctx, ScopePassword, "fp1", id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Check(ctx, v, ScopePassword, "fp1"); err == nil {
		t.Error("the rotated cookie still works")
	}
	if _, err := k.Check(ctx, v2, ScopePassword, "fp1"); err != nil {
		t.Errorf("the new cookie: %v", err)
	}
	// Unused for 90 days: gone.
	clk.Advance(KnownClientTTL + time.Hour)
	if _, err := k.Check(ctx, v2, ScopePassword, "fp1"); err == nil {
		t.Error("an expired cookie works")
	}
	v3, _ := k.Issue(ctx, ScopeToken, "fp", "")
	if err := k.RevokeAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Check(ctx, v3, ScopeToken, "fp"); err == nil {
		t.Error("sign out everywhere left a known client")
	}
}

// TestKnownClientDiesWithTheCredential: a cookie issued under one password
// is no known client once the password changed.
func TestKnownClientDiesWithTheCredential(t *testing.T) {
	a := newAuth(t, func(o *Options) { o.Mode, o.Token, o.Password = request.MethodPassword, "", "first-password-long" }, nil)
	b, err := NewAuthenticator(Options{Mode: request.MethodPassword, Password: "second-password-long", Stores: a.st, Lockout: a.lockout, Sessions: a.sessions})
	if err != nil {
		t.Fatal(err)
	}
	same, err := NewAuthenticator(Options{Mode: request.MethodPassword, Password: "first-password-long", Stores: a.st, Lockout: a.lockout, Sessions: a.sessions})
	if err != nil {
		t.Fatal(err)
	}
	if a.limiter.fingerprint[request.MethodPassword] == b.limiter.fingerprint[request.MethodPassword] {
		t.Fatal("two passwords, one fingerprint")
	}
	if a.limiter.fingerprint[request.MethodPassword] != same.limiter.fingerprint[request.MethodPassword] {
		t.Fatal("the same password hashed again (a restart) changed the fingerprint")
	}
}
