package integration

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gateway/config"
)

// accessIssuer plays an access proxy's key endpoint on loopback and signs
// Access-shaped tokens for issuer https://team.cloudflareaccess.com and
// audience app-aud.
func accessIssuer(t *testing.T) (jwksURL string, access func(claims map[string]any) string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: key, KeyID: "2026-12", Algorithm: string(jose.RS256), Use: "sig"}
	certs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}})
	}))
	t.Cleanup(certs.Close)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", jwk.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	return certs.URL, func(claims map[string]any) string {
		now := time.Now()
		c := map[string]any{"iss": "https://team.cloudflareaccess.com", "aud": []string{"app-aud"}, "type": "app",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range claims {
			c[k] = v
		}
		tok, err := jwt.Signed(signer).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

// TestAssertionFromAccessProxy: a person signed in at an access proxy in
// front (Cloudflare Access, whose cloudflared connects from this host)
// reaches the agent as themselves, with their role and groups; the
// assertion and the cookie carrying the same token never reach the agent;
// the same header from anyone else means nothing.
func TestAssertionFromAccessProxy(t *testing.T) {
	jwksURL, access := accessIssuer(t)
	rec, upURL := startRecorder(t)
	gw := startGateway(t, func(c *config.Config) {
		c.Gateway.Upstream = upURL
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.Auth.Assertion = &config.Assertion{JWKSURL: jwksURL, Issuer: "https://team.cloudflareaccess.com",
			Audience: "app-aud", GroupsClaim: "groups", Proxies: []string{"127.0.0.1"}}
		c.Gateway.Users = map[string]config.Person{"alice@example.com": {Groups: []string{"family"}}}
		c.Gateway.Groups = map[string]config.Group{"ops": {Role: "admin"}}
	})
	base := "http://" + gw.addr
	cloudflared, stranger := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	call := func(c *http.Client, path, tok string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Cf-Access-Jwt-Assertion", tok)
		req.Header.Set("Cookie", "CF_Authorization="+tok+"; app=1")
		req.Header.Set("Accept", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}

	t.Run("a listed person reaches the agent as themselves", func(t *testing.T) {
		status, _ := call(cloudflared, "/notes", access(map[string]any{"email": "Alice@Example.com"}))
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		h := rec.header()
		if h.Get("X-Gateway-User") != "alice@example.com" || h.Get("X-Gateway-Auth") != "assertion" {
			t.Fatalf("upstream identity: %v", h)
		}
		if h.Get("Cf-Access-Jwt-Assertion") != "" || strings.Contains(h.Get("Cookie"), "CF_Authorization") || h.Get("Cookie") != "app=1" {
			t.Fatalf("the assertion reached the agent: %v", h)
		}
		_, who := call(cloudflared, "/auth/whoami", access(map[string]any{"email": "alice@example.com"}))
		if who["user"] != "alice@example.com" || who["role"] != "user" || who["method"] != "assertion" {
			t.Fatalf("whoami: %v", who)
		}
	})
	t.Run("an admin by the groups claim", func(t *testing.T) {
		_, who := call(cloudflared, "/auth/whoami", access(map[string]any{"email": "ops-lead@example.com", "groups": []string{"ops"}}))
		if who["user"] != "ops-lead@example.com" || who["role"] != "admin" {
			t.Fatalf("whoami: %v", who)
		}
		// An admin by assertion is still no admin on the agent origin's
		// /admin/* (a browser carries the assertion implicitly).
		if status, body := call(cloudflared, "/admin/audit", access(map[string]any{"email": "ops-lead@example.com", "groups": []string{"ops"}})); status != 403 || body["code"] != "admin_elsewhere" {
			t.Fatalf("/admin/audit: %d %v", status, body)
		}
	})
	t.Run("an unlisted person is not admitted", func(t *testing.T) {
		if status, body := call(cloudflared, "/notes", access(map[string]any{"email": "mallory@example.com"})); status != 403 || body["code"] != "not_admitted" {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("a stranger's copy of the header means nothing", func(t *testing.T) {
		if status, body := call(stranger, "/notes", access(map[string]any{"email": "alice@example.com"})); status != 401 || body["code"] != "unauthorized" {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("a forged assertion is refused", func(t *testing.T) {
		tok := access(map[string]any{"email": "alice@example.com"})
		parts := strings.Split(tok, ".")
		forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
		if status, body := call(cloudflared, "/notes", forged); status != 401 || body["code"] != "invalid_assertion" {
			t.Fatalf("%d %v", status, body)
		}
	})
}
