package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gateway/config"
)

// faFixture: password mode, the agent at agent.example.com behind a
// trusted proxy on this host, forward auth for app.example.com with the SSO
// cookie for example.com.
func faFixture(t *testing.T, mutate func(*config.Config)) *fixture {
	return newFixture(t, func(c *config.Config) {
		passwordMode(c)
		c.Gateway.Auth.RateLimit.MaxAttempts = 1 // any counted failure would lock the client out
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.PublicURL = "https://agent.example.com"
		c.Gateway.AllowedHosts = []string{"agent.example.com"}
		c.Gateway.ForwardAuth = config.ForwardAuth{Hosts: []string{"app.example.com"}, CookieDomain: "example.com", CompatHeaders: true, AllowPreflight: true}
		c.Gateway.Access = []config.AccessRule{
			{Paths: []string{"/health"}, Bypass: true},
			{Hosts: []string{"app.example.com"}, Paths: []string{"/admin/*"}, Action: "deny"},
			{Hosts: []string{"app.example.com"}, Action: "allow"},
		}
		if mutate != nil {
			mutate(c)
		}
	})
}

// verifyAs asks /auth/verify, as the proxy on this host would, about
// method uri on app.example.com.
func verifyAs(t *testing.T, f *fixture, method, uri, query string, h map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", f.gw.URL+"/auth/verify"+query, nil)
	req.Host = "app.example.com"
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Original-URI", uri)
	req.Header.Set("X-Original-Method", method)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// signInAgent signs in with the password on the agent's host name and
// returns the cookies set.
func signInAgent(t *testing.T, f *fixture) map[string]*http.Cookie {
	t.Helper()
	req, _ := http.NewRequest("POST", f.gw.URL+"/auth/login", strings.NewReader(`{"password":"a-long-enough-password"}`))
	req.Host = "agent.example.com"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	out := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		out[c.Name] = c
	}
	return out
}

func TestForwardAuth(t *testing.T) {
	f := faFixture(t, nil)
	identity := []string{"X-Gateway-User", "X-Gateway-Auth", "X-Gateway-Role", "X-Gateway-Groups", "X-Gateway-Email",
		"X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Groups", "Remote-User", "Remote-Email", "Remote-Groups"}
	present := func(t *testing.T, resp *http.Response) {
		t.Helper()
		for _, h := range identity {
			if _, ok := resp.Header[h]; !ok {
				t.Errorf("answer lacks %s (every identity header is always present)", h)
			}
		}
	}

	t.Run("no credential: 401 naming the sign-in page", func(t *testing.T) {
		resp := verifyAs(t, f, "GET", "/dash?x=1", "", nil)
		want := "https://agent.example.com/auth/login?rd=" + url.QueryEscape("https://app.example.com/dash?x=1")
		if resp.StatusCode != 401 || resp.Header.Get("Location") != want {
			t.Fatalf("%d Location %q, want %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
		present(t, resp)
		if resp.Header.Get("X-Gateway-User") != "" {
			t.Fatal("an identity for nobody")
		}
		// ?redirect=1: a page load gets the 302 itself (Caddy, Traefik).
		if r := verifyAs(t, f, "GET", "/dash?x=1", "?redirect=1", map[string]string{"Accept": "text/html"}); r.StatusCode != 302 || r.Header.Get("Location") != want {
			t.Fatalf("redirect=1: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		// An API call still gets 401.
		if r := verifyAs(t, f, "POST", "/api", "?redirect=1", map[string]string{"Accept": "application/json"}); r.StatusCode != 401 {
			t.Fatalf("redirect=1 for an API call: %d", r.StatusCode)
		}
	})
	t.Run("bypass and preflight need no credential", func(t *testing.T) {
		if r := verifyAs(t, f, "GET", "/health", "", nil); r.StatusCode != 200 || r.Header.Get("X-Gateway-User") != "" {
			t.Fatalf("bypass: %d", r.StatusCode)
		}
		if r := verifyAs(t, f, "OPTIONS", "/api", "", map[string]string{"Access-Control-Request-Method": "POST"}); r.StatusCode != 200 {
			t.Fatalf("preflight: %d", r.StatusCode)
		}
	})
	t.Run("never the shared token or the password, never an app's token; none counted", func(t *testing.T) {
		for _, h := range []map[string]string{
			{"Proxy-Authorization": "Bearer " + testToken},
			{"Authorization": "Bearer " + testToken},
			{"Authorization": "Bearer the-apps-own-api-token"},
			{"Proxy-Authorization": "Basic YWRtaW46YS1sb25nLWVub3VnaC1wYXNzd29yZA=="},
		} {
			if r := verifyAs(t, f, "GET", "/", "", h); r.StatusCode != 401 {
				t.Fatalf("%v: %d", h, r.StatusCode)
			}
		}
		// maxAttempts is 1: a counted failure would have locked us out.
		signInAgent(t, f)
	})
	var sso *http.Cookie
	t.Run("a sign-in on the agent sets the SSO cookie, which verify takes", func(t *testing.T) {
		cookies := signInAgent(t, f)
		sso = cookies["__Secure-gateway_sso"]
		if sso == nil || sso.Domain != "example.com" || !sso.Secure || !sso.HttpOnly || cookies["__Host-gateway_session"] == nil {
			t.Fatalf("cookies: %+v", cookies)
		}
		if sso.Value == cookies["__Host-gateway_session"].Value {
			t.Fatal("the SSO cookie is the agent's session")
		}
		r := verifyAs(t, f, "GET", "/dash", "", map[string]string{"Cookie": "__Secure-gateway_sso=" + sso.Value})
		if r.StatusCode != 200 || r.Header.Get("X-Gateway-User") != "owner" || r.Header.Get("X-Gateway-Role") != "admin" ||
			r.Header.Get("Remote-User") != "owner" || r.Header.Get("X-Auth-Request-User") != "owner" {
			t.Fatalf("%d %v", r.StatusCode, r.Header)
		}
		present(t, r)
	})
	t.Run("the rules apply, and no rule means deny", func(t *testing.T) {
		c := map[string]string{"Cookie": "__Secure-gateway_sso=" + sso.Value}
		if r := verifyAs(t, f, "GET", "/admin/users", "", c); r.StatusCode != 403 {
			t.Fatalf("denied path: %d", r.StatusCode)
		}
		if r := verifyAs(t, f, "GET", "/%2e%2e/admin/users", "", c); r.StatusCode != 400 {
			t.Fatalf("ambiguous path: %d", r.StatusCode)
		}
		g := faFixture(t, func(c *config.Config) { c.Gateway.Access = nil })
		cookies := signInAgent(t, g)
		if r := verifyAs(t, g, "GET", "/", "", map[string]string{"Cookie": "__Secure-gateway_sso=" + cookies["__Secure-gateway_sso"].Value}); r.StatusCode != 403 {
			t.Fatalf("no rule, default deny: %d", r.StatusCode)
		}
	})
	t.Run("the SSO cookie is worth nothing to the agent or the console", func(t *testing.T) {
		for _, path := range []string{"/", "/auth/whoami", "/admin/audit"} {
			req, _ := http.NewRequest("GET", f.gw.URL+path, nil)
			req.Host = "agent.example.com"
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			req.Header.Set("Cookie", "__Secure-gateway_sso="+sso.Value)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Fatalf("%s answered 200 to the SSO cookie", path)
			}
		}
		// Nor does it reach the agent when sent beside a real session.
		cookies := signInAgent(t, f)
		req, _ := http.NewRequest("GET", f.gw.URL+"/page", nil)
		req.Host = "agent.example.com"
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		req.Header.Set("Cookie", "__Host-gateway_session="+cookies["__Host-gateway_session"].Value+"; __Secure-gateway_sso="+sso.Value+"; app=1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := f.upstream.lastHeader().Get("Cookie"); resp.StatusCode != 200 || got != "app=1" {
			t.Fatalf("%d, the agent got Cookie %q", resp.StatusCode, got)
		}
	})
	t.Run("an app host is never the agent", func(t *testing.T) {
		req, _ := http.NewRequest("GET", f.gw.URL+"/page", nil)
		req.Host = "app.example.com"
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("app host /page: %d", resp.StatusCode)
		}
	})
	t.Run("from an untrusted peer", func(t *testing.T) {
		g := faFixture(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"10.0.0.1"} })
		req, _ := http.NewRequest("GET", g.gw.URL+"/auth/verify", nil)
		req.Host = "app.example.com"
		req.Header.Set("X-Original-URI", "/")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("untrusted peer: %d", resp.StatusCode)
		}
	})
	t.Run("the sign-in page skips its form for an SSO cookie, and sign-out ends both", func(t *testing.T) {
		cookies := signInAgent(t, f)
		s := cookies["__Secure-gateway_sso"].Value
		req, _ := http.NewRequest("GET", f.gw.URL+"/auth/login?rd="+url.QueryEscape("https://app.example.com/dash"), nil)
		req.Host = "agent.example.com"
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		req.Header.Set("Cookie", "__Secure-gateway_sso="+s)
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var session string
		for _, c := range resp.Cookies() {
			if c.Name == "__Host-gateway_session" {
				session = c.Value
			}
		}
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "https://app.example.com/dash" || session == "" {
			t.Fatalf("%d %q session %q", resp.StatusCode, resp.Header.Get("Location"), session)
		}
		// Sign out with the agent session and the SSO cookie.
		req, _ = http.NewRequest("POST", f.gw.URL+"/auth/logout", nil)
		req.Host = "agent.example.com"
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		req.Header.Set("Origin", "https://agent.example.com")
		req.Header.Set("Cookie", "__Host-gateway_session="+session+"; __Secure-gateway_sso="+s)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("sign-out: %d", resp.StatusCode)
		}
		if r := verifyAs(t, f, "GET", "/dash", "", map[string]string{"Cookie": "__Secure-gateway_sso=" + s}); r.StatusCode != 401 {
			t.Fatalf("the SSO cookie outlived the sign-out: %d", r.StatusCode)
		}
	})
}
