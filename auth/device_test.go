package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"gateway/config"
)

type testDevice struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	id   string
}

func newDevice(t testing.TB) testDevice {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testDevice{pub: pub, priv: priv, id: DeviceID(pub)}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (d testDevice) connect(nonce, role string, at time.Time) ConnectRequest {
	ms := at.UnixMilli()
	sig := ed25519.Sign(d.priv, SignedPayload(d.id, role, ms, nonce))
	return ConnectRequest{DeviceID: d.id, PublicKey: b64(d.pub), Nonce: nonce, SignedAtMs: ms, Role: role, Signature: b64(sig)}
}

func TestVerifyConnectRefusals(t *testing.T) {
	clk := newClock()
	dev, other := newDevice(t), newDevice(t)
	tests := []struct {
		name   string
		mutate func(r *ConnectRequest, nonce string)
		want   error
	}{
		{"valid", func(*ConnectRequest, string) {}, nil},
		{"wrong signature", func(r *ConnectRequest, n string) {
			r.Signature = b64(ed25519.Sign(other.priv, SignedPayload(dev.id, "operator", r.SignedAtMs, n)))
		}, ErrBadSignature},
		{"truncated signature", func(r *ConnectRequest, _ string) { r.Signature = r.Signature[:40] }, ErrBadSignature},
		{"malformed base64 signature", func(r *ConnectRequest, _ string) { r.Signature = "!!!" + r.Signature[3:] }, ErrBadSignature},
		{"signature over another role", func(r *ConnectRequest, _ string) { r.Role = "admin" }, ErrBadSignature},
		{"public key wrong length", func(r *ConnectRequest, _ string) { r.PublicKey = b64(dev.pub[:31]) }, ErrBadDeviceRequest},
		{"malformed base64 key", func(r *ConnectRequest, _ string) { r.PublicKey = "%%%%" }, ErrBadDeviceRequest},
		{"id of another key", func(r *ConnectRequest, _ string) { r.DeviceID = other.id }, ErrIDMismatch},
		{"key of another device", func(r *ConnectRequest, _ string) { r.PublicKey = b64(other.pub) }, ErrIDMismatch},
		{"never-issued nonce", func(r *ConnectRequest, _ string) { r.Nonce = "made-up" }, ErrBadNonce},
		{"clock skew past", func(r *ConnectRequest, n string) {
			*r = dev.connect(n, "operator", clk.Now().Add(-121*time.Second))
		}, ErrClockSkew},
		{"clock skew future", func(r *ConnectRequest, n string) {
			*r = dev.connect(n, "operator", clk.Now().Add(121*time.Second))
		}, ErrClockSkew},
		{"unknown role", func(r *ConnectRequest, n string) { *r = dev.connect(n, "root", clk.Now()) }, ErrBadDeviceRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nonces := NewNonces(clk.Now)
			n, _, _ := nonces.Issue()
			r := dev.connect(n, "operator", clk.Now())
			tt.mutate(&r, n)
			_, err := VerifyConnect(r, nonces, clk.Now())
			if err != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("replayed nonce", func(t *testing.T) {
		nonces := NewNonces(clk.Now)
		n, _, _ := nonces.Issue()
		r := dev.connect(n, "operator", clk.Now())
		if _, err := VerifyConnect(r, nonces, clk.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyConnect(r, nonces, clk.Now()); err != ErrBadNonce {
			t.Fatalf("replay: %v", err)
		}
	})
	t.Run("expired nonce", func(t *testing.T) {
		nonces := NewNonces(clk.Now)
		n, _, _ := nonces.Issue()
		c2 := &clock{t: clk.Now().Add(61 * time.Second)}
		if _, err := VerifyConnect(dev.connect(n, "operator", c2.Now()), &Nonces{now: c2.Now, m: nonces.m}, c2.Now()); err != ErrBadNonce {
			t.Fatalf("expired: %v", err)
		}
	})
	t.Run("nonce burned by a failed attempt", func(t *testing.T) {
		nonces := NewNonces(clk.Now)
		n, _, _ := nonces.Issue()
		bad := dev.connect(n, "operator", clk.Now())
		bad.Signature = b64(make([]byte, 64))
		_, _ = VerifyConnect(bad, nonces, clk.Now())
		if _, err := VerifyConnect(dev.connect(n, "operator", clk.Now()), nonces, clk.Now()); err != ErrBadNonce {
			t.Fatalf("nonce reusable after failure: %v", err)
		}
	})
}

func TestNoncesBounded(t *testing.T) {
	clk := newClock()
	n := NewNonces(clk.Now)
	for range maxNonces {
		if _, _, err := n.Issue(); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := n.Issue(); err != ErrTooManyChallenges {
		t.Fatalf("past the cap: %v", err)
	}
	clk.Advance(NonceTTL + time.Second)
	if _, _, err := n.Issue(); err != nil || n.Len() != 1 {
		t.Fatalf("expired not pruned: %v len=%d", err, n.Len())
	}
}

func TestDeviceTokens(t *testing.T) {
	clk := newClock()
	a, _ := newAuth(t, nil, clk)
	dev := newDevice(t)
	ctx := context.Background()
	d := a.deps
	if err := d.Devices.Pair(ctx, PairedDevice{DeviceID: dev.id, PublicKey: b64(dev.pub), Role: RoleOperator, ApprovedAtMs: clk.Now().UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	good, _, err := d.Tokens.Issue(dev.id, RoleOperator, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	check := func(tok string) error {
		_, err := a.Authenticate(req("GET", "203.0.113.1:1", false, false, "", map[string]string{"Authorization": "Bearer " + tok}))
		return err
	}
	if err := check(good); err != nil {
		t.Fatalf("good token: %v", err)
	}
	id, _ := a.Authenticate(req("GET", "203.0.113.1:1", false, false, "", map[string]string{"Authorization": "Bearer " + good}))
	if id.Method != "device" || id.IsAdmin() {
		t.Fatalf("device identity = %+v (operator must not be admin)", id)
	}

	parts := strings.Split(good, ".")
	otherIssuer, _ := LoadOrCreateKeys(t.TempDir(), clk.Now)
	foreign, _, _ := otherIssuer.Issue(dev.id, RoleOperator, time.Hour)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	hsTok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": dev.id, "role": "admin", "iss": "gateway", "aud": "gateway", "exp": clk.Now().Add(time.Hour).Unix(), "iat": clk.Now().Unix(), "jti": "x"})
	hsTok.Header["kid"] = d.Tokens.signer.KID
	hs, _ := hsTok.SignedString([]byte(d.Tokens.keys[d.Tokens.signer.KID].Public().(ed25519.PublicKey)))
	expired, _, _ := d.Tokens.Issue(dev.id, RoleOperator, time.Minute)
	adminClaim, _, _ := d.Tokens.Issue(dev.id, RoleAdmin, time.Hour)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"role":"admin","sub":"`+dev.id+`"}`)) + "." + parts[2]

	attacks := map[string]string{
		"alg none":              none,
		"HS256 with public key": hs,
		"another signing key":   foreign,
		"tampered claims":       tampered,
		"role not approved":     adminClaim,
		"garbage":               "eyJ.eyJ.sig",
	}
	for name, tok := range attacks {
		if err := check(tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	clk.Advance(2 * time.Minute)
	if err := check(expired); err == nil {
		t.Error("expired token accepted")
	}
	// Revoking the jti kills that token only.
	c, _ := d.Tokens.Parse(good)
	if err := d.Devices.RevokeToken(ctx, c.ID, c.ExpiresAt.Time); err != nil {
		t.Fatal(err)
	}
	if err := check(good); err == nil {
		t.Error("revoked jti accepted")
	}
	fresh, _, _ := d.Tokens.Issue(dev.id, RoleOperator, time.Hour)
	if err := check(fresh); err != nil {
		t.Fatalf("fresh token after jti revoke: %v", err)
	}
	// Revoking the device kills every token; re-pairing does not revive them.
	if err := d.Devices.Revoke(ctx, dev.id); err != nil {
		t.Fatal(err)
	}
	if err := check(fresh); err == nil {
		t.Fatal("token of a revoked device accepted")
	}
	clk.Advance(2 * time.Second)
	_ = d.Devices.Pair(ctx, PairedDevice{DeviceID: dev.id, PublicKey: b64(dev.pub), Role: RoleOperator, ApprovedAtMs: clk.Now().UnixMilli()})
	if err := check(fresh); err == nil {
		t.Fatal("token from before re-pairing accepted")
	}
}

func TestConnectFlow(t *testing.T) {
	clk := newClock()
	a, _ := newAuth(t, func(c *config.Config) { c.Gateway.Auth.RateLimit.MaxAttempts = 3 }, clk)
	dev := newDevice(t)
	ctx := context.Background()
	remote := func() ConnectResult {
		t.Helper()
		n, _, err := a.Challenge(req("POST", "203.0.113.1:1", false, false, "", nil))
		if err != nil {
			t.Fatal(err)
		}
		res, err := a.Connect(ctx, req("POST", "203.0.113.1:1", false, false, "", nil), dev.connect(n, RoleOperator, clk.Now()))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := remote()
	if first.Status != "pending" || first.RequestID == "" || first.Token != "" {
		t.Fatalf("unknown device: %+v", first)
	}
	// Same device again replaces its request.
	second := remote()
	p, _ := a.deps.Devices.Pending()
	if len(p) != 1 || p[0].RequestID != second.RequestID {
		t.Fatalf("pending = %+v", p)
	}
	if _, err := a.deps.Devices.Approve(ctx, second.RequestID, false, "test"); err != nil {
		t.Fatal(err)
	}
	third := remote()
	if third.Status != "paired" || third.Token == "" {
		t.Fatalf("approved device: %+v", third)
	}
	// Local auto-approval, but never through a proxy.
	local, proxied := newDevice(t), newDevice(t)
	for _, tc := range []struct {
		d    testDevice
		r    func() *reqT
		want string
	}{
		{local, func() *reqT { return req("POST", "127.0.0.1:1", false, false, "", nil) }, "paired"},
		{proxied, func() *reqT { return req("POST", "127.0.0.1:1", true, true, "198.51.100.2", nil) }, "pending"},
	} {
		n, _, _ := a.Challenge(tc.r())
		res, err := a.Connect(ctx, tc.r(), tc.d.connect(n, RoleOperator, clk.Now()))
		if err != nil || res.Status != tc.want {
			t.Fatalf("connect = %+v, %v; want %s", res, err, tc.want)
		}
	}
	// Bad proofs count toward the lockout.
	for i := range 3 {
		n, _, _ := a.Challenge(req("POST", "198.51.100.9:1", false, false, "", nil))
		bad := dev.connect(n, RoleOperator, clk.Now())
		bad.Signature = b64(make([]byte, 64))
		_, err := a.Connect(ctx, req("POST", "198.51.100.9:1", false, false, "", nil), bad)
		if s, _ := status(err); (i < 2 && s != 401) || (i == 2 && s != 429) {
			t.Fatalf("bad proof %d: %d", i, s)
		}
	}
}

// FuzzVerifyConnect feeds arbitrary connect requests: never a panic, and
// nothing but a correctly signed, fresh proof verifies.
func FuzzVerifyConnect(f *testing.F) {
	dev := newDevice(f)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	good := dev.connect("nonce-1", RoleOperator, now)
	f.Add(good.DeviceID, good.PublicKey, good.Nonce, good.SignedAtMs, good.Role, good.Signature)
	f.Add("", "", "", int64(0), "", "")
	f.Add(dev.id, "AAAA", "nonce-1", now.UnixMilli(), "admin", "====")
	f.Fuzz(func(t *testing.T, id, pub, nonce string, at int64, role, sig string) {
		n := &Nonces{now: func() time.Time { return now }, m: map[string]time.Time{"nonce-1": now.Add(time.Minute)}}
		r := ConnectRequest{DeviceID: id, PublicKey: pub, Nonce: nonce, SignedAtMs: at, Role: role, Signature: sig}
		k, err := VerifyConnect(r, n, now)
		if err != nil {
			return
		}
		if nonce != "nonce-1" || DeviceID(k) != strings.ToLower(id) {
			t.Fatalf("accepted %+v", r)
		}
	})
}

// FuzzParseDeviceToken: arbitrary strings never verify and never panic.
func FuzzParseDeviceToken(f *testing.F) {
	iss, err := LoadOrCreateKeys(f.TempDir(), nil)
	if err != nil {
		f.Fatal(err)
	}
	good, _, _ := iss.Issue("dev", RoleOperator, time.Hour)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := iss.Parse(s)
		if err == nil && s != good {
			// Only tokens we signed verify; a different string that
			// verifies must at least carry our claims.
			if c.Issuer != tokenIssuer || c.Subject == "" {
				t.Fatalf("foreign token accepted: %q", s)
			}
		}
	})
}
