package server

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gateway/auth/authtest"
	"gateway/config"
	"gateway/request"
)

// browserClient is a cookie-keeping client that does not follow redirects
// and asks for pages like a browser.
type browserClient struct {
	t    *testing.T
	base string
	c    *http.Client
	h    map[string]string
}

func newBrowser(t *testing.T, f *fixture) *browserClient {
	jar, _ := cookiejar.New(nil)
	return &browserClient{t: t, base: f.gw.URL, h: map[string]string{}, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// newAdminBrowser is a browser on the admin origin (the console's).
func newAdminBrowser(t *testing.T, f *fixture) *browserClient {
	b := newBrowser(t, f)
	b.base = f.admin.URL
	return b
}

func (b *browserClient) send(method, path string, form url.Values, h map[string]string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base+path, body)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range b.h {
		req.Header.Set(k, v)
	}
	for k, v := range h {
		switch {
		case k == "Host":
			req.Host = v
		case v == "":
			req.Header.Del(k)
		default:
			req.Header.Set(k, v)
		}
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf loads a page and returns its form token.
func (b *browserClient) csrf(path string) string {
	b.t.Helper()
	_, page := b.send("GET", path, nil, nil)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no csrf token on %s:\n%.500s", path, page)
	}
	return m[1]
}

func (b *browserClient) signIn(field, secret, rd string) (*http.Response, string) {
	b.t.Helper()
	return b.send("POST", "/auth/login", url.Values{"csrf": {b.csrf("/auth/login")}, field: {secret}, "rd": {rd}}, nil)
}

func passwordMode(c *config.Config) {
	c.Gateway.Auth.Mode, c.Gateway.Auth.Password = "password", "a-long-enough-password"
}

func TestSignInRedirectAndPage(t *testing.T) {
	f := newFixture(t, passwordMode)
	b := newBrowser(t, f)
	resp, _ := b.send("GET", "/some/page?x=1", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/auth/login?rd=%2Fsome%2Fpage%3Fx%3D1" {
		t.Fatalf("unauthenticated navigation: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// An API client keeps its JSON 401.
	if code, body := f.call(t, "GET", "/some/page", nil, nil); code != 401 || body["code"] != "unauthorized" {
		t.Fatalf("API client: %d %v", code, body)
	}
	resp, page := b.send("GET", "/auth/login?rd=/some/page", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, `type="password" name="password"`) || !strings.Contains(page, `name="rd" value="/some/page"`) {
		t.Fatalf("sign-in page: %d\n%s", resp.StatusCode, page)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || strings.Contains(page, "<script") || strings.Contains(page, "style=") {
		t.Fatalf("CSP %q or inline script/style on the page", csp)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatal("sign-in page can be framed")
	}
	if r, css := b.send("GET", "/auth/assets/gateway.css", nil, nil); r.StatusCode != 200 || !strings.Contains(css, "font") {
		t.Fatalf("stylesheet: %d", r.StatusCode)
	}
}

func TestSignInModes(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*config.Config)
		want   string
	}{
		{"token", nil, `type="password" name="token"`},
		{"password", passwordMode, `type="password" name="password"`},
		{"trusted-proxy", func(c *config.Config) {
			c.Gateway.Auth.Mode, c.Gateway.Auth.Token = "trusted-proxy", ""
			c.Gateway.TrustedProxies = []string{"10.0.0.1"}
			c.Gateway.Auth.TrustedProxy.UserHeader = "x-forwarded-user"
		}, "identity from the sign-in proxy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.mutate)
			_, page := newBrowser(t, f).send("GET", "/auth/login", nil, nil)
			if !strings.Contains(page, tt.want) {
				t.Fatalf("page lacks %q:\n%s", tt.want, page)
			}
		})
	}
}

func TestSignInForm(t *testing.T) {
	f := newFixture(t, passwordMode)
	b := newBrowser(t, f)
	resp, page := b.signIn("password", "wrong", "/x")
	if resp.StatusCode != 401 || !strings.Contains(page, "Wrong password") || len(resp.Cookies()) != 0 {
		t.Fatalf("wrong password: %d %v\n%.300s", resp.StatusCode, resp.Cookies(), page)
	}
	resp, _ = b.signIn("password", "a-long-enough-password", "/x?y=1")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/x?y=1" {
		t.Fatalf("sign in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "gateway_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v", session)
	}
	// Signed in, the upstream page is reached and never sees our cookie.
	if resp, body := b.send("GET", "/page", nil, nil); resp.StatusCode != 200 || body != "upstream /page" {
		t.Fatalf("signed in: %d %q", resp.StatusCode, body)
	}
	if strings.Contains(f.upstream.lastHeader().Get("Cookie"), "gateway_session") {
		t.Fatal("the upstream received the session cookie")
	}
	// Sign out ends the session and returns to the sign-in page.
	resp, _ = b.send("POST", "/auth/logout", url.Values{"csrf": {b.csrf("/auth/login")}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/auth/login" {
		t.Fatalf("sign out: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := b.send("GET", "/page", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after sign out: %d", resp.StatusCode)
	}
}

func TestSafeRedirect(t *testing.T) {
	cfg := config.Default()
	cfg.Gateway.Auth.Token = testToken
	cfg.Gateway.PublicURL = "https://agent.example.com"
	cfg.Gateway.AllowedHosts = []string{"agent.example.com", "*"}
	cfg.Gateway.ForwardAuth.Hosts = []string{"app.example.com", "grafana.example.com:8443"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rr := redirectsOf(cfg)
	for in, want := range map[string]string{
		"/":                                     "/",
		"/admin/?x=1#y":                         "/admin/?x=1#y",
		"":                                      "/",
		"//evil.example":                        "/",
		"https://evil.example":                  "/",
		"/\\evil.example":                       "/",
		"javascript:alert(1)":                   "/",
		"/ok\r\nSet-Cookie: x":                  "/",
		"evil.example/path":                     "/",
		"/path/with//slashes":                   "/path/with//slashes",
		"\\\\evil.example/path":                 "/",
		"https://app.example.com/x?y=1":         "https://app.example.com/x?y=1",
		"https://APP.example.com/x":             "https://APP.example.com/x",
		"https://agent.example.com/":            "https://agent.example.com/",
		"http://app.example.com/x":              "/", // another scheme than the request's
		"https://app.example.com:444/x":         "/", // a port the entry does not name
		"https://grafana.example.com:8443/d":    "https://grafana.example.com:8443/d",
		"https://grafana.example.com/d":         "/",
		"https://user@app.example.com/":         "/",
		"https://app.example.com.evil.example/": "/",
		"https://app.example.com\\@evil/":       "/",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		ctx, rec := request.NewContext(r.Context())
		rec.Proto = "https"
		if got := rr.safe(r.WithContext(ctx), in); got != want {
			t.Errorf("safe(%q) = %q, want %q", in, got, want)
		}
	}
	// End to end: a hostile rd never leaves the origin.
	f := newFixture(t, passwordMode)
	for _, rd := range []string{"//evil.example", "https://evil.example", "/\\evil.example"} {
		resp, _ := newBrowser(t, f).signIn("password", "a-long-enough-password", rd)
		if loc := resp.Header.Get("Location"); loc != "/" {
			t.Errorf("rd=%q redirected to %q", rd, loc)
		}
	}
}

// TestFormRefusals: no token, a wrong token, a token of another cookie, a
// cross-site Origin or Sec-Fetch-Site: refused, and nothing is counted or
// changed (the right password still signs in afterwards).
func TestFormRefusals(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		passwordMode(c)
		c.Gateway.Auth.RateLimit.MaxAttempts = 3
	})
	b := newBrowser(t, f)
	tok := b.csrf("/auth/login")
	other := newBrowser(t, f).csrf("/auth/login")
	pw := "a-long-enough-password"
	for name, tt := range map[string]struct {
		form url.Values
		h    map[string]string
	}{
		"no token":              {url.Values{"password": {pw}}, nil},
		"wrong token":           {url.Values{"password": {pw}, "csrf": {"x" + tok}}, nil},
		"another cookie's":      {url.Values{"password": {pw}, "csrf": {other}}, nil},
		"cross-site Origin":     {url.Values{"password": {pw}, "csrf": {tok}}, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": ""}},
		"cross-site fetch site": {url.Values{"password": {pw}, "csrf": {tok}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	} {
		resp, page := b.send("POST", "/auth/login", tt.form, tt.h)
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 || !strings.Contains(page, "<html") {
			t.Errorf("%s: %d cookies %v", name, resp.StatusCode, resp.Cookies())
		}
	}
	if resp, _ := b.signIn("password", pw, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("refusals were counted: %d", resp.StatusCode)
	}
}

// TestStaleCookieTwelveTimes: a browser whose session ended keeps sending
// its cookie; every page load goes to the sign-in page (the cookie
// cleared), nothing is counted, and the owner can sign in.
func TestStaleCookieTwelveTimes(t *testing.T) {
	f := newFixture(t, passwordMode)
	b := newBrowser(t, f)
	b.signIn("password", "a-long-enough-password", "/")
	_, _ = b.send("POST", "/auth/logout", url.Values{"csrf": {b.csrf("/auth/login")}}, nil)
	u, _ := url.Parse(f.gw.URL)
	stale := ""
	for range 12 {
		// Replay the stale cookie by hand, as a browser that missed the
		// clearing would.
		if stale == "" {
			for _, c := range b.c.Jar.Cookies(u) {
				if c.Name == "gateway_csrf" {
					stale = "gateway_session=" + strings.Repeat("A", 43)
				}
			}
		}
		resp, _ := b.send("GET", "/page", nil, map[string]string{"Cookie": stale})
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/auth/login") {
			t.Fatalf("stale cookie: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		cleared := false
		for _, c := range resp.Cookies() {
			cleared = cleared || (c.Name == "gateway_session" && c.MaxAge < 0)
		}
		if !cleared {
			t.Fatal("the stale cookie was not cleared")
		}
	}
	if resp, _ := b.signIn("password", "a-long-enough-password", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner cannot sign in after 12 stale cookies: %d", resp.StatusCode)
	}
}

func TestSignInLockedOutPage(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		passwordMode(c)
		c.Gateway.Auth.RateLimit.MaxAttempts = 2
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
	})
	b := newBrowser(t, f)
	b.h["X-Forwarded-For"] = "203.0.113.4"
	b.signIn("password", "wrong", "/")
	b.signIn("password", "wrong", "/")
	resp, page := b.signIn("password", "a-long-enough-password", "/")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, "Try again in 5 minutes") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("locked: %d %q\n%.400s", resp.StatusCode, resp.Header.Get("Retry-After"), page)
	}
}

func TestErrorPagesForBrowsers(t *testing.T) {
	f := newFixture(t, nil)
	b := newBrowser(t, f)
	resp, page := b.send("GET", "/", nil, map[string]string{"Host": "rebind.attacker.example"})
	if resp.StatusCode != 421 || !strings.Contains(page, "This name is not served here") || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("host_not_allowed page: %d\n%.400s", resp.StatusCode, page)
	}
	// The same refusal to an API client stays JSON.
	if code, body := f.call(t, "GET", "/", map[string]string{"Host": "rebind.attacker.example"}, nil); code != 421 || body["code"] != "host_not_allowed" {
		t.Fatalf("API client: %d %v", code, body)
	}
	resp, page = b.send("GET", "/x", nil, map[string]string{"X-Forwarded-For": "1.2.3.4"})
	if resp.StatusCode != 403 || !strings.Contains(page, "gateway.trustedProxies") {
		t.Fatalf("untrusted_proxy page: %d\n%.400s", resp.StatusCode, page)
	}
}

// TestConsole: the owner's console shows how the gateway sees them and the
// pending work; its forms act, admin grants need the confirmation ticked,
// and a non-owner never gets it.
func TestConsole(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		passwordMode(c)
		c.Gateway.Auth.Token = testToken
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Channels = map[string]config.Channel{"whatsapp": {DMPolicy: "pairing"}}
	})
	_, adminReq := f.connectDevice(t, authtest.NewDevice(), "admin", map[string]string{"X-Forwarded-For": "198.51.100.7"})
	_, opReq := f.connectDevice(t, authtest.NewDevice(), "operator", map[string]string{"X-Forwarded-For": "198.51.100.8"})
	f.call(t, "POST", "/channels/whatsapp/inbound", bearer, map[string]string{"from": "+15551234567", "text": "hi"})

	b := newAdminBrowser(t, f)
	b.signIn("password", "a-long-enough-password", "/admin/")
	resp, page := b.send("GET", "/admin/", nil, nil)
	for _, want := range []string{"Gateway console", "You, as the gateway sees you", "Security audit",
		adminReq["requestId"].(string), "198.51.100.7", "Approve as admin", "1555***4567", "this browser"} {
		if !strings.Contains(page, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("%s", page)
	}
	if resp.StatusCode != 200 || strings.Contains(page, "<script") {
		t.Fatalf("console: %d", resp.StatusCode)
	}
	tok := b.csrf("/admin/")
	act := func(path string, form url.Values) string {
		form.Set("csrf", tok)
		resp, _ := b.send("POST", path, form, nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		return resp.Header.Get("Location")
	}
	if loc := act("/admin/devices/approve", url.Values{"requestId": {adminReq["requestId"].(string)}, "role": {"admin"}}); !strings.Contains(loc, "error=role_confirmation_required") {
		t.Fatalf("admin without confirmation: %q", loc)
	}
	if loc := act("/admin/devices/approve", url.Values{"requestId": {adminReq["requestId"].(string)}, "role": {"admin"}, "confirm_admin": {"yes"}}); !strings.Contains(loc, "done=approved") {
		t.Fatalf("admin with confirmation: %q", loc)
	}
	if loc := act("/admin/devices/reject", url.Values{"requestId": {opReq["requestId"].(string)}}); !strings.Contains(loc, "done=rejected") {
		t.Fatalf("reject: %q", loc)
	}
	if p := f.paired(t); len(p) != 1 || p[0].(map[string]any)["role"] != "admin" {
		t.Fatalf("paired = %v", p)
	}
	_, list := f.call(t, "GET", "/admin/pairing/whatsapp", bearer, nil)
	code := list["pending"].([]any)[0].(map[string]any)["code"].(string)
	if loc := act("/admin/pairing/whatsapp/approve", url.Values{"code": {code}}); !strings.Contains(loc, "done=pairing-approved") {
		t.Fatalf("pairing approve: %q", loc)
	}
	if _, page := b.send("GET", "/admin/?done=pairing-approved", nil, nil); !strings.Contains(page, "Sender approved") {
		t.Fatal("no confirmation shown")
	}
	// A form without the token changes nothing.
	resp, _ = b.send("POST", "/admin/devices/revoke", url.Values{"deviceId": {"x"}}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tokenless form: %d", resp.StatusCode)
	}
	// Sign out every session: this browser is signed out too.
	act("/admin/sessions/revoke-all", url.Values{})
	if resp, _ := b.send("GET", "/admin/", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after signing out everywhere: %d", resp.StatusCode)
	}
}

// TestConsoleShowsUnreadableState: a store that cannot be read is shown as
// unreadable, never as an empty list (which would tell the owner nobody
// waits), and the cause is in the request's access record.
func TestConsoleShowsUnreadableState(t *testing.T) {
	f := newFixture(t, passwordMode)
	path := filepath.Join(f.shared.Dir, "devices", "pending.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newAdminBrowser(t, f)
	b.signIn("password", "a-long-enough-password", "/admin/")
	resp, page := b.send("GET", "/admin/", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "Could not be read: pending devices") {
		t.Fatalf("console with a corrupt pending file: %d\n%s", resp.StatusCode, page)
	}
	if !strings.Contains(f.logs.String(), `"code":"store_unavailable","cause":"store_unavailable: the gateway's state cannot be read: console: pending devices`) {
		t.Fatalf("no cause in the access record:\n%s", f.logs.String())
	}
}
