package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"gateway/request"
	"gateway/store"
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
			nonces := store.NewNonces(clk.Now)
			n, _, _ := nonces.Issue(context.Background(), testClient)
			r := dev.connect(n, "operator", clk.Now())
			tt.mutate(&r, n)
			_, err := VerifyConnect(context.Background(), r, nonces, clk.Now())
			if err != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("replayed nonce", func(t *testing.T) {
		nonces := store.NewNonces(clk.Now)
		n, _, _ := nonces.Issue(context.Background(), testClient)
		r := dev.connect(n, "operator", clk.Now())
		if _, err := VerifyConnect(context.Background(), r, nonces, clk.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyConnect(context.Background(), r, nonces, clk.Now()); err != ErrBadNonce {
			t.Fatalf("replay: %v", err)
		}
	})
	t.Run("expired nonce", func(t *testing.T) {
		c2 := newClock()
		nonces := store.NewNonces(c2.Now)
		n, _, _ := nonces.Issue(context.Background(), testClient)
		c2.Advance(61 * time.Second)
		if _, err := VerifyConnect(context.Background(), dev.connect(n, "operator", c2.Now()), nonces, c2.Now()); err != ErrBadNonce {
			t.Fatalf("expired: %v", err)
		}
	})
	t.Run("nonce burned by a failed attempt", func(t *testing.T) {
		nonces := store.NewNonces(clk.Now)
		n, _, _ := nonces.Issue(context.Background(), testClient)
		bad := dev.connect(n, "operator", clk.Now())
		bad.Signature = b64(make([]byte, 64))
		_, _ = VerifyConnect(context.Background(), bad, nonces, clk.Now())
		if _, err := VerifyConnect(context.Background(), dev.connect(n, "operator", clk.Now()), nonces, clk.Now()); err != ErrBadNonce {
			t.Fatalf("nonce reusable after failure: %v", err)
		}
	})
}

var testClient = netip.MustParseAddr("203.0.113.1")

func TestDeviceTokens(t *testing.T) {
	clk := newClock()
	a := newAuth(t, nil, clk)
	dev := newDevice(t)
	ctx := context.Background()
	st := a.st
	paired, err := st.Devices.Pair(ctx, PairedDevice{DeviceID: dev.id, PublicKey: b64(dev.pub), Role: request.RoleOperator, ApprovedAtMs: clk.Now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	good, _, err := st.Tokens.Issue(paired, request.RoleOperator, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	check := func(tok string) error {
		_, err := a.Authenticate(req("GET", remote("203.0.113.1:1"), map[string]string{"Authorization": "Bearer " + tok}))
		return err
	}
	if err := check(good); err != nil {
		t.Fatalf("good token: %v", err)
	}
	id, _ := a.Authenticate(req("GET", remote("203.0.113.1:1"), map[string]string{"Authorization": "Bearer " + good}))
	if id.Method != "device" || id.IsAdmin() {
		t.Fatalf("device identity = %+v (operator must not be admin)", id)
	}

	parts := strings.Split(good, ".")
	otherIssuer, _ := LoadOrCreateKeys(fileDocs(t), clk.Now)
	foreign, _, _ := otherIssuer.Issue(paired, request.RoleOperator, time.Hour)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	hsTok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": dev.id, "role": "admin", "iss": "gateway", "aud": "gateway", "exp": clk.Now().Add(time.Hour).Unix(), "iat": clk.Now().Unix(), "jti": "x", "pid": paired.PairingID})
	hsTok.Header["kid"] = st.Tokens.signer.KID
	hs, _ := hsTok.SignedString([]byte(st.Tokens.keys[st.Tokens.signer.KID].priv.Public().(ed25519.PublicKey)))
	expired, _, _ := st.Tokens.Issue(paired, request.RoleOperator, time.Minute)
	adminClaim, _, _ := st.Tokens.Issue(paired, request.RoleAdmin, time.Hour)
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
	c, _ := st.Tokens.Parse(good)
	if err := st.Devices.RevokeToken(ctx, c.ID, c.ExpiresAt.Time); err != nil {
		t.Fatal(err)
	}
	if err := check(good); err == nil {
		t.Error("revoked jti accepted")
	}
	fresh, _, _ := st.Tokens.Issue(paired, request.RoleOperator, time.Hour)
	if err := check(fresh); err != nil {
		t.Fatalf("fresh token after jti revoke: %v", err)
	}
	// Revoking the device kills every token, and pairing it again at
	// once (the same millisecond: the clock does not move) does not
	// revive them.
	if err := st.Devices.Revoke(ctx, dev.id); err != nil {
		t.Fatal(err)
	}
	if err := check(fresh); err == nil {
		t.Fatal("token of a revoked device accepted")
	}
	again, err := st.Devices.Pair(ctx, PairedDevice{DeviceID: dev.id, PublicKey: b64(dev.pub), Role: request.RoleOperator, ApprovedAtMs: clk.Now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	if err := check(fresh); err == nil {
		t.Fatal("token from before re-pairing (same millisecond) accepted")
	}
	newTok, _, _ := st.Tokens.Issue(again, request.RoleOperator, time.Hour)
	if err := check(newTok); err != nil {
		t.Fatalf("token of the new pairing: %v", err)
	}
}

func TestApprovedRole(t *testing.T) {
	tests := []struct {
		requested, confirmed, want string
		err                        error
	}{
		{"operator", "", "operator", nil},
		{"node", "", "node", nil},
		{"admin", "", "", ErrAdminNotConfirmed},
		{"admin", "admin", "admin", nil},
		{"admin", "operator", "operator", nil},
		{"operator", "admin", "admin", nil},
		{"operator", "root", "", ErrBadRole},
	}
	for _, tt := range tests {
		got, err := ApprovedRole(tt.requested, tt.confirmed)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("ApprovedRole(%q, %q) = %q, %v; want %q, %v", tt.requested, tt.confirmed, got, err, tt.want, tt.err)
		}
	}
}

func TestConnectFlow(t *testing.T) {
	clk := newClock()
	a := newAuth(t, func(o *Options) { o.Lockout.MaxAttempts = 3 }, clk)
	dev := newDevice(t)
	ctx := context.Background()
	connect := func(f from, d testDevice, role string) (ConnectResult, error) {
		t.Helper()
		n, _, err := a.Challenge(req("POST", f, nil))
		if err != nil {
			t.Fatal(err)
		}
		return a.Connect(ctx, req("POST", f, nil), d.connect(n, role, clk.Now()))
	}
	stranger := remote("203.0.113.1:1")
	first, err := connect(stranger, dev, request.RoleOperator)
	if err != nil || first.Status != "pending" || first.RequestID == "" || first.Token != "" {
		t.Fatalf("unknown device: %+v %v", first, err)
	}
	// Same device again replaces its request.
	second, _ := connect(stranger, dev, request.RoleOperator)
	p, _ := a.st.Devices.Pending()
	if len(p) != 1 || p[0].RequestID != second.RequestID || p[0].Client != "203.0.113.1" {
		t.Fatalf("pending = %+v", p)
	}
	if _, err := a.st.Devices.Approve(ctx, second.RequestID, "", "test"); err != nil {
		t.Fatal(err)
	}
	if third, err := connect(stranger, dev, request.RoleOperator); err != nil || third.Status != "paired" || third.Token == "" {
		t.Fatalf("approved device: %+v %v", third, err)
	}
	// Auto-approval: a clean local request for a non-admin role only;
	// never through a proxy, never from another site's page, never for
	// admin.
	for _, tc := range []struct {
		name string
		f    from
		role string
		want string
	}{
		{"local operator", local, request.RoleOperator, "paired"},
		{"local node", local, request.RoleNode, "paired"},
		{"local asking for admin", local, request.RoleAdmin, "pending"},
		{"through a proxy on loopback", proxied("198.51.100.2"), request.RoleOperator, "pending"},
		{"cross-site page on loopback", from{peer: "127.0.0.1:1", cross: true}, request.RoleOperator, "pending"},
		{"rebinding host", from{peer: "127.0.0.1:1", host: "agent.example.com"}, request.RoleOperator, "pending"},
	} {
		res, err := connect(tc.f, newDevice(t), tc.role)
		if err != nil || res.Status != tc.want {
			t.Errorf("%s: connect = %+v, %v; want %s", tc.name, res, err, tc.want)
		}
		if res.Status == "paired" && res.Role == request.RoleAdmin {
			t.Errorf("%s: auto-approved as admin", tc.name)
		}
	}
	// Bad proofs count toward the lockout (the 3rd still 401).
	for i := range 4 {
		f := remote("198.51.100.9:1")
		n, _, _ := a.Challenge(req("POST", f, nil))
		bad := dev.connect(n, request.RoleOperator, clk.Now())
		bad.Signature = b64(make([]byte, 64))
		_, err := a.Connect(ctx, req("POST", f, nil), bad)
		if s, _ := status(err); (i < 3 && s != 401) || (i == 3 && s != 429) {
			t.Fatalf("bad proof %d: %d", i, s)
		}
	}
}

// TestPendingBounded: a flood of pairing requests from one client never
// evicts another client's request, and "approve the only one" refuses
// when several wait.
func TestPendingBounded(t *testing.T) {
	clk := newClock()
	a := newAuth(t, func(o *Options) { o.Device.AutoApproveLocal = false }, clk)
	ctx := context.Background()
	connect := func(f from) (ConnectResult, error) {
		n, _, err := a.Challenge(req("POST", f, nil))
		if err != nil {
			return ConnectResult{}, err
		}
		return a.Connect(ctx, req("POST", f, nil), newDevice(t).connect(n, request.RoleAdmin, clk.Now()))
	}
	owner, err := connect(local)
	if err != nil || owner.Status != "pending" {
		t.Fatalf("owner: %+v %v", owner, err)
	}
	if dev, err := a.st.Devices.ApproveOnly(ctx, "", "cli"); !errors.Is(err, ErrAdminNotConfirmed) {
		t.Fatalf("admin approved without confirmation: %+v %v", dev, err)
	}
	refused := 0
	for range 101 {
		if _, err := connect(remote("203.0.113.66:1")); err != nil {
			if s, code := status(err); s != 429 || code != "too_many_pending" {
				t.Fatalf("flood refusal %d %s", s, code)
			}
			refused++
		}
	}
	if refused < 101-maxPendingPerClient {
		t.Fatalf("one client placed %d requests", 101-refused)
	}
	pending, _ := a.st.Devices.Pending()
	found := false
	for _, p := range pending {
		found = found || p.RequestID == owner.RequestID
	}
	if !found {
		t.Fatal("the flood evicted the owner's request")
	}
	var amb *AmbiguousError
	if _, err := a.st.Devices.ApproveOnly(ctx, request.RoleAdmin, "cli"); !errors.As(err, &amb) || len(amb.Pending) != len(pending) {
		t.Fatalf("approve-only with %d pending: %v", len(pending), err)
	}
	if dev, err := a.st.Devices.Approve(ctx, owner.RequestID, request.RoleAdmin, "cli"); err != nil || dev.Role != request.RoleAdmin {
		t.Fatalf("owner approved by id: %+v %v", dev, err)
	}
}

// FuzzVerifyConnect feeds arbitrary connect requests: never a panic, and
// nothing but a correctly signed, fresh proof verifies.
func FuzzVerifyConnect(f *testing.F) {
	dev := newDevice(f)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	good := dev.connect("nonce-1", request.RoleOperator, now)
	f.Add(good.DeviceID, good.PublicKey, good.Nonce, good.SignedAtMs, good.Role, good.Signature)
	f.Add("", "", "", int64(0), "", "")
	f.Add(dev.id, "AAAA", "nonce-1", now.UnixMilli(), "admin", "====")
	f.Fuzz(func(t *testing.T, id, pub, nonce string, at int64, role, sig string) {
		n := &oneNonce{"nonce-1"}
		r := ConnectRequest{DeviceID: id, PublicKey: pub, Nonce: nonce, SignedAtMs: at, Role: role, Signature: sig}
		k, err := VerifyConnect(context.Background(), r, n, now)
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
	iss, err := LoadOrCreateKeys(fileDocs(f), nil)
	if err != nil {
		f.Fatal(err)
	}
	good, _, _ := iss.Issue(PairedDevice{DeviceID: "dev", PairingID: "p"}, request.RoleOperator, time.Hour)
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

// oneNonce is a challenge store holding one issued nonce.
type oneNonce struct{ k string }

func (o *oneNonce) Issue(context.Context, netip.Addr) (string, time.Time, error) {
	return o.k, time.Time{}, nil
}

func (o *oneNonce) Consume(_ context.Context, k string) (bool, error) {
	ok := k == o.k && k != ""
	o.k = ""
	return ok, nil
}
