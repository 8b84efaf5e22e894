package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gateway/config"
	"gateway/httperr"
	"gateway/request"
)

// accessIssuer plays an access proxy's key endpoint (Cloudflare Access's
// /cdn-cgi/access/certs) on loopback, signing Access-shaped tokens.
type accessIssuer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	public  []jose.JSONWebKey
	fetches atomic.Int32
}

const (
	accessIss = "https://team.cloudflareaccess.com"
	accessAud = "aud-tag-0123"
)

func newAccessIssuer(t *testing.T) *accessIssuer {
	a := &accessIssuer{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.fetches.Add(1)
		a.mu.Lock()
		defer a.mu.Unlock()
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: a.public})
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// publish makes the key set list exactly these keys.
func (a *accessIssuer) publish(keys ...jose.JSONWebKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.public = nil
	for _, k := range keys {
		a.public = append(a.public, k.Public())
	}
}

func rsaKey(t *testing.T, kid string) jose.JSONWebKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}
}

func ecKey(t *testing.T, kid string) jose.JSONWebKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}
}

// sign makes a token with key (alg from the key) and extra header fields.
func sign(t *testing.T, key jose.JSONWebKey, claims map[string]any, hdr map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", key.KeyID)
	for k, v := range hdr {
		opts = opts.WithHeader(k, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Algorithm), Key: key.Key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// accessClaims are what Cloudflare Access puts in an application token.
func accessClaims(now time.Time, email string) map[string]any {
	return map[string]any{"iss": accessIss, "aud": []string{accessAud}, "email": email, "type": "app",
		"sub": "0123-user", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "country": "CH"}
}

func assertionAuth(t *testing.T, iss *accessIssuer, clk *clock, mutate func(*config.AssertionTyped)) *Authenticator {
	c := config.AssertionTyped{Header: "Cf-Access-Jwt-Assertion", JWKSURL: iss.srv.URL, Issuer: accessIss, Audience: accessAud,
		UserClaim: "email", Proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	if mutate != nil {
		mutate(&c)
	}
	return newAuth(t, func(o *Options) {
		o.Assertion = &c
		o.Lockout.MaxAttempts = 3
		o.People = config.People{Users: map[string]config.Person{"alice@example.com": {Groups: []string{"family"}}, "service:ci-bot.access": {}},
			Groups: map[string]config.Group{"ops": {Role: "admin"}}}
	}, clk)
}

// fromAccess is a request through the access proxy (10.0.0.5).
var fromAccess = from{peer: "10.0.0.5:443", trusted: true, client: "203.0.113.9", via: true}

func assertionReq(tok string, f from) *http.Request {
	return req("GET", f, map[string]string{"Cf-Access-Jwt-Assertion": tok})
}

func code(err error) string {
	var he *httperr.Error
	if errors.As(err, &he) {
		return he.Code
	}
	return ""
}

// TestAssertion: what an access proxy's assertion is worth.
func TestAssertion(t *testing.T) {
	clk := newClock()
	iss := newAccessIssuer(t)
	k1, e1 := rsaKey(t, "k1"), ecKey(t, "e1")
	attacker := rsaKey(t, "evil")
	iss.publish(k1, e1)
	now := clk.Now()
	good := accessClaims(now, "Alice@Example.com")
	with := func(k string, v any) map[string]any {
		c := accessClaims(now, "alice@example.com")
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	hs := func() string {
		key := jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "k1", Algorithm: string(jose.HS256)}
		return sign(t, key, good, nil)
	}
	none := func() string {
		parts := strings.Split(sign(t, k1, good, nil), ".")
		return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"k1"}`)) + "." + parts[1] + "."
	}
	tests := []struct {
		name     string
		tok      string
		f        from
		wantUser string
		wantCode string
		wantRole string
	}{
		{"RS256 Access token", sign(t, k1, good, nil), fromAccess, "alice@example.com", "", "user"},
		{"ES256", sign(t, e1, good, nil), fromAccess, "alice@example.com", "", "user"},
		{"groups are read only with groupsClaim", sign(t, k1, with("groups", []string{"ops"}), nil), fromAccess, "alice@example.com", "", "user"},
		{"no user claim", sign(t, k1, with("email", nil), nil), fromAccess, "", "invalid_assertion", ""},
		{"a person's claim cannot take a service name", sign(t, k1, with("email", "service:ci-bot.access"), nil), fromAccess, "", "reserved_name", ""},
		{"expired beyond the leeway", sign(t, k1, with("exp", now.Add(-2*time.Minute).Unix()), nil), fromAccess, "", "invalid_assertion", ""},
		{"expired within the leeway", sign(t, k1, with("exp", now.Add(-30*time.Second).Unix()), nil), fromAccess, "alice@example.com", "", "user"},
		{"no exp", sign(t, k1, with("exp", nil), nil), fromAccess, "", "invalid_assertion", ""},
		{"not yet valid", sign(t, k1, with("nbf", now.Add(5*time.Minute).Unix()), nil), fromAccess, "", "invalid_assertion", ""},
		{"another issuer", sign(t, k1, with("iss", "https://evil.cloudflareaccess.com"), nil), fromAccess, "", "invalid_assertion", ""},
		{"another audience", sign(t, k1, with("aud", []string{"other-app"}), nil), fromAccess, "", "invalid_assertion", ""},
		{"HMAC", hs(), fromAccess, "", "invalid_assertion", ""},
		{"alg none", none(), fromAccess, "", "invalid_assertion", ""},
		{"the attacker's key named by jku and jwk", sign(t, attacker, good, map[jose.HeaderKey]any{"jku": "http://127.0.0.1:1/evil", "jwk": attacker.Public()}), fromAccess, "", "invalid_assertion", ""},
		{"an unlisted person", sign(t, k1, accessClaims(now, "mallory@example.com"), nil), fromAccess, "", "not_admitted", ""},
		{"garbage", "not-a-jwt", fromAccess, "", "invalid_assertion", ""},
		// Not from the access proxy: the header means nothing, and the
		// request is judged by the other methods (no token: 401).
		{"from another peer", sign(t, k1, good, nil), from{peer: "192.0.2.7:5000"}, "", "unauthorized", ""},
		{"from a loopback proxy not listed", sign(t, k1, good, nil), proxied("203.0.113.9"), "", "unauthorized", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := assertionAuth(t, iss, clk, nil)
			id, err := a.Authenticate(assertionReq(tt.tok, tt.f))
			if tt.wantCode != "" {
				if err == nil || code(err) != tt.wantCode {
					t.Fatalf("got %+v, %v; want %s", id, err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.User != tt.wantUser || id.Method != request.MethodAssertion || id.Role != tt.wantRole {
				t.Fatalf("got %+v", id)
			}
		})
	}
	t.Run("a listed service token and group", func(t *testing.T) {
		a := assertionAuth(t, iss, clk, nil)
		c := with("email", nil)
		c["common_name"] = "ci-bot.access"
		id, err := a.Authenticate(assertionReq(sign(t, k1, c, nil), fromAccess))
		if err != nil || id.User != "service:ci-bot.access" {
			t.Fatalf("service token: %+v %v", id, err)
		}
		a = assertionAuth(t, iss, clk, func(c *config.AssertionTyped) { c.GroupsClaim = "groups" })
		id, err = a.Authenticate(assertionReq(sign(t, k1, with("groups", []string{"ops", "nobody"}), nil), fromAccess))
		if err != nil || id.Role != request.RoleAdmin || len(id.Groups) != 2 {
			// alice is listed (family) and her token says ops: both.
			t.Fatalf("groups claim: %+v %v", id, err)
		}
	})
	t.Run("required", func(t *testing.T) {
		a := assertionAuth(t, iss, clk, func(c *config.AssertionTyped) { c.Required = true })
		r := req("GET", fromAccess, map[string]string{"Authorization": "Bearer " + tok})
		if _, err := a.Authenticate(r); code(err) != "assertion_required" {
			t.Fatalf("required, without the header: %v", err)
		}
		// From anyone else, the token still works.
		if _, err := a.Authenticate(req("GET", local, map[string]string{"Authorization": "Bearer " + tok})); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("two headers", func(t *testing.T) {
		a := assertionAuth(t, iss, clk, nil)
		r := assertionReq(sign(t, k1, good, nil), fromAccess)
		r.Header.Add("Cf-Access-Jwt-Assertion", sign(t, k1, accessClaims(now, "mallory@example.com"), nil))
		if _, err := a.Authenticate(r); code(err) != "invalid_assertion" {
			t.Fatalf("two assertions: %v", err)
		}
	})
	t.Run("never on the admin listener", func(t *testing.T) {
		a := assertionAuth(t, iss, clk, nil)
		r := assertionReq(sign(t, k1, good, nil), fromAccess)
		rec := request.FromContext(r.Context())
		rec.Admin, rec.AdminListener = true, true
		if id, err := a.Authenticate(r); err == nil || id != nil || code(err) != "unauthorized" {
			t.Fatalf("assertion honoured on the admin listener: %+v %v", id, err)
		}
	})
	t.Run("invalid assertions count toward the lockout", func(t *testing.T) {
		a := assertionAuth(t, iss, clk, nil)
		bad := sign(t, k1, with("aud", []string{"other-app"}), nil)
		for i := 0; i < 3; i++ {
			if _, err := a.Authenticate(assertionReq(bad, fromAccess)); code(err) != "invalid_assertion" {
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
		if _, err := a.Authenticate(assertionReq(sign(t, k1, good, nil), fromAccess)); code(err) != "rate_limited" {
			t.Fatalf("after 3 failures: %v", err)
		}
	})
}

// TestAssertionKeyRotation: a new key is fetched on its first use (at most
// once a minute, one fetch at a time); until then its tokens wait (503,
// not counted), and a key the fresh set does not list is wrong.
func TestAssertionKeyRotation(t *testing.T) {
	clk := newClock()
	iss := newAccessIssuer(t)
	k1, k2 := rsaKey(t, "k1"), rsaKey(t, "k2")
	iss.publish(k1)
	a := assertionAuth(t, iss, clk, nil)
	tokenBy := func(k jose.JSONWebKey) *http.Request {
		return assertionReq(sign(t, k, accessClaims(clk.Now(), "alice@example.com"), nil), fromAccess)
	}
	if _, err := a.Authenticate(tokenBy(k1)); err != nil {
		t.Fatal(err)
	}
	// The proxy rotates: the set lists k2 only, and tokens are signed
	// with it.
	iss.publish(k2)
	clk.Advance(10 * time.Second)
	var wg sync.WaitGroup
	codes := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Authenticate(tokenBy(k2))
			codes <- code(err)
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != "assertion_keys_unavailable" {
			t.Fatalf("k2 within the minute: %q, want assertion_keys_unavailable (503)", c)
		}
	}
	if n := iss.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (the first use)", n)
	}
	clk.Advance(time.Minute)
	var wg2 sync.WaitGroup
	ok := atomic.Int32{}
	for i := 0; i < 20; i++ {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			if _, err := a.Authenticate(tokenBy(k2)); err == nil {
				ok.Add(1)
			}
		}()
	}
	wg2.Wait()
	if ok.Load() != 20 || iss.fetches.Load() != 2 {
		t.Fatalf("after the minute: %d of 20 accepted, %d fetches (want 20, 2)", ok.Load(), iss.fetches.Load())
	}
	// k1 is gone from the fresh set: once the minute passes, its tokens
	// are wrong (401), not waiting.
	clk.Advance(2 * time.Minute)
	if _, err := a.Authenticate(tokenBy(k1)); code(err) != "invalid_assertion" {
		t.Fatalf("a retired key: %v", err)
	}
	// Within the minute the 503s were not counted: the lockout (3) was
	// never reached by the 20 waits.
	if _, err := a.Authenticate(tokenBy(k2)); err != nil {
		t.Fatalf("the client was locked out by waits: %v", err)
	}
}

// TestKeySetLimits: the key set's fetch is bounded and stays on its host.
func TestKeySetLimits(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[` + strings.Repeat(" ", jwksMaxBytes) + `]}`))
	}))
	defer big.Close()
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	defer elsewhere.Close()
	redirect := httptest.NewServer(http.RedirectHandler(strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1), http.StatusFound))
	defer redirect.Close()
	noKeys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]}`))
	}))
	defer noKeys.Close()
	for name, u := range map[string]string{"over 1 MiB": big.URL, "redirect to another host": redirect.URL, "only a symmetric key": noKeys.URL} {
		t.Run(name, func(t *testing.T) {
			ks := newKeySet(u, &http.Client{}, time.Now)
			if _, err := ks.fetch(t.Context()); err == nil {
				t.Fatal("fetched")
			}
		})
	}
}
