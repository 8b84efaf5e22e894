package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gateway/config"
)

// The OpenID provider these tests sign in with is the example provider of
// github.com/zitadel/oidc/v3, built from integration/oidcprovider and run
// as a process of its own: discovery, authorize, token, userinfo, keys and
// its own HTML login page, with RS256 keys made fresh at every start.

var oidcBuild struct {
	once sync.Once
	bin  string
	err  error
}

// oidcProviderBinary builds the provider once per test process, into the
// test cache outside the repository (Go's build cache makes later builds a
// link step).
func oidcProviderBinary(t *testing.T) string {
	t.Helper()
	oidcBuild.once.Do(func() {
		dir := filepath.Join(testCache(), "oidcprovider")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			oidcBuild.err = err
			return
		}
		bin := filepath.Join(dir, "oidcprovider")
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Dir = "oidcprovider"
		if out, err := cmd.CombinedOutput(); err != nil {
			oidcBuild.err = fmt.Errorf("go build oidcprovider: %v\n%s", err, out)
			return
		}
		oidcBuild.bin = bin
	})
	if oidcBuild.err != nil {
		t.Fatal(oidcBuild.err)
	}
	return oidcBuild.bin
}

// oidcProvider is a running provider.
type oidcProvider struct {
	issuer string
	port   int
	env    []string
	cmd    *exec.Cmd
}

// providerUser is an entry of the example provider's USERS_FILE.
type providerUser struct {
	ID, Username, Password, FirstName, LastName, Email string
	EmailVerified                                      bool
	PreferredLanguage                                  string
	IsAdmin                                            bool
}

// startOIDCProvider runs the provider on port (0: a free one) with the
// client "web" (secret "secret") and the client "api" allowed to redirect to
// redirect, and these users.
func startOIDCProvider(t *testing.T, port int, redirect string, users []providerUser) *oidcProvider {
	t.Helper()
	bin := oidcProviderBinary(t)
	store := map[string]providerUser{}
	for _, u := range users {
		if u.PreferredLanguage == "" {
			u.PreferredLanguage = "en"
		}
		store[u.ID] = u
	}
	data, _ := json.Marshal(store)
	usersFile := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(usersFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &oidcProvider{env: append(os.Environ(), "REDIRECT_URI="+redirect, "USERS_FILE="+usersFile)}
	p.start(t, bin, port)
	t.Cleanup(p.stop)
	return p
}

func (p *oidcProvider) start(t *testing.T, bin string, port int) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(p.env, fmt.Sprintf("PORT=%d", port))
	if port == 0 {
		cmd.Env = append(p.env, "PORT=0")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case l, ok := <-line:
		if !ok || !strings.HasPrefix(l, "listening ") {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("oidc provider did not start: %q %s", l, errb.String())
		}
		_, _ = fmt.Sscanf(l, "listening %d", &p.port)
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("oidc provider did not start in 15 s")
	}
	p.cmd = cmd
	p.issuer = fmt.Sprintf("http://localhost:%d/", p.port)
}

func (p *oidcProvider) stop() {
	if p.cmd != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

// restart stops the provider and starts it again on the same port: a fresh
// signing key, as after a key rotation.
func (p *oidcProvider) restart(t *testing.T) {
	t.Helper()
	p.stop()
	p.start(t, oidcProviderBinary(t), p.port)
}

// noRedirect is a client that returns redirects instead of following them,
// with a cookie jar, as a browser's state would be.
func noRedirect(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// hop sends one request and returns the status and Location.
func hop(t *testing.T, c *http.Client, method, u string, form url.Values) (int, string, []byte) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	loc := resp.Header.Get("Location")
	if loc != "" {
		if lu, err := req.URL.Parse(loc); err == nil {
			loc = lu.String()
		}
	}
	return resp.StatusCode, loc, b
}

// providerLogin follows an authorize URL through the provider's login
// page with username and password and returns the URL the provider sends
// the browser back to (the callback, with code and state).
func providerLogin(t *testing.T, c *http.Client, authURL, user, pass string) string {
	t.Helper()
	status, loc, body := hop(t, c, "GET", authURL, nil)
	if status/100 != 3 || !strings.Contains(loc, "/login/username") {
		t.Fatalf("authorize: %d %s %s", status, loc, body)
	}
	id := mustParse(t, loc).Query().Get("authRequestID")
	status, loc, body = hop(t, c, "POST", strings.Split(loc, "?")[0], url.Values{"id": {id}, "username": {user}, "password": {pass}})
	if status/100 != 3 {
		t.Fatalf("provider login as %s: %d %s", user, status, body)
	}
	for i := 0; i < 5 && !strings.Contains(loc, "/auth/oidc/callback"); i++ {
		if status, loc, body = hop(t, c, "GET", loc, nil); status/100 != 3 {
			t.Fatalf("provider redirect: %d %s", status, body)
		}
	}
	return loc
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// tokenSwap replaces the id_token of the provider's token responses to the
// gateway (a hostile network between them), when set.
type tokenSwap struct {
	mu   sync.Mutex
	swap func(idToken string) string
}

func (s *tokenSwap) set(f func(string) string) {
	s.mu.Lock()
	s.swap = f
	s.mu.Unlock()
}

func (s *tokenSwap) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	s.mu.Lock()
	f := s.swap
	s.mu.Unlock()
	if err != nil || f == nil || req.URL.Path != "/oauth/token" || resp.StatusCode != 200 {
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		if tok, ok := m["id_token"].(string); ok {
			m["id_token"] = f(tok)
			body, _ = json.Marshal(m)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// forge re-signs a token's payload under another header: "none" (no
// signature) or HS256 with the client secret, which the gateway also
// holds.
func forge(tok, alg string) string {
	parts := strings.Split(tok, ".")
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + alg + `","typ":"JWT"}`))
	if alg == "none" {
		return hdr + "." + parts[1] + "."
	}
	m := hmac.New(sha256.New, []byte("secret"))
	m.Write([]byte(hdr + "." + parts[1]))
	return hdr + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// directToken runs the code flow against a provider as client, with the
// given nonce, and returns the ID token it issues: a genuine token meant
// for someone other than the gateway.
func directToken(t *testing.T, p *oidcProvider, client, redirect, nonce, user string) string {
	t.Helper()
	c := noRedirect(t)
	q := url.Values{"client_id": {client}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {"x"}, "nonce": {nonce}}
	cb := providerLogin(t, c, p.issuer+"auth?"+q.Encode(), user, "verysecure")
	code := mustParse(t, cb).Query().Get("code")
	req, _ := http.NewRequest("POST", p.issuer+"oauth/token", strings.NewReader(url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.IDToken == "" {
		t.Fatalf("direct token for %s: %v", client, err)
	}
	return out.IDToken
}

// await evaluates a JavaScript expression that yields a promise.
func await[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// upstreamEcho answers every request with the identity it was given.
func upstreamEcho(t *testing.T) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<!doctype html><title>agent</title><p id=who>agent sees %s via %s</p>", r.Header.Get("X-Gateway-User"), r.Header.Get("X-Gateway-Auth"))
	}))
	t.Cleanup(s.Close)
	return s.URL
}

var oidcUsers = []providerUser{
	{ID: "alice", Username: "alice", Password: "verysecure", FirstName: "Alice", Email: "Alice@Example.com", EmailVerified: true},
	{ID: "bob", Username: "bob", Password: "verysecure", FirstName: "Bob", Email: "bob@example.com", EmailVerified: true},
	{ID: "carol", Username: "carol", Password: "verysecure", FirstName: "Carol", Email: "carol@example.com"},
	{ID: "dana", Username: "dana", Password: "verysecure", FirstName: "Dana", Email: "dana@family.example", EmailVerified: true},
}

// oidcGateway starts a provider and a gateway signing people in with it.
func oidcGateway(t *testing.T, swap *tokenSwap) (*gateway, *oidcProvider, string) {
	t.Helper()
	gwAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	callback := "http://" + gwAddr + "/auth/oidc/callback"
	p := startOIDCProvider(t, 0, callback, oidcUsers)
	up := upstreamEcho(t)
	gw := startGatewayWith(t, gatewaySetup{addr: gwAddr, authClient: &http.Client{Transport: swap, Timeout: 5 * time.Second}}, func(c *config.Config) {
		c.Gateway.Upstream = up
		c.Gateway.Auth.RateLimit.MaxAttempts = 1 // a counted refusal would lock at once
		c.Gateway.Auth.OIDC = &config.OIDC{Issuer: p.issuer, ClientID: "web", ClientSecret: "secret", RedirectURL: callback, Name: "Example ID"}
		c.Gateway.Users = map[string]config.Person{
			"alice@example.com": {Groups: []string{"family"}},
			"carol@example.com": {},
		}
		c.Gateway.Groups = map[string]config.Group{"family": {Scopes: []string{"operator.read"}}}
		c.Gateway.Auth.OIDC.AllowedDomains = []string{"family.example"}
	})
	return gw, p, callback
}

// TestOIDCSignInInChromium: a person opens the agent, is sent to sign in,
// chooses the provider, signs in on the provider's own page and lands on
// the agent as themselves; someone the gateway does not admit, and an
// unverified email, are refused with a page; after the provider's key
// changes, signing in still works.
func TestOIDCSignInInChromium(t *testing.T) {
	start := time.Now()
	gw, p, _ := oidcGateway(t, &tokenSwap{})
	base := "http://" + gw.addr
	signIn := func(t *testing.T, user string) context.Context {
		t.Helper()
		ctx := newChromium(t)
		follow(t, ctx, chromedp.Navigate(base+"/notes/today?x=1"))
		if loc := location(t, ctx); !strings.HasPrefix(loc, "/auth/login?rd=") {
			t.Fatalf("not sent to sign in: %s", loc)
		}
		if !strings.Contains(text(t, ctx), "Sign in with Example ID") {
			t.Fatalf("sign-in page lacks the provider:\n%s", text(t, ctx))
		}
		screenshot(t, ctx, "signin-oidc.png")
		follow(t, ctx, chromedp.Click(css(`a.button`)))
		if u := eval[string](t, ctx, `location.href`); !strings.HasPrefix(u, p.issuer+"login/username") {
			t.Fatalf("not on the provider's login page: %s", u)
		}
		run(t, ctx, chromedp.SendKeys(css(`#username`), user), chromedp.SendKeys(css(`#password`), "verysecure"))
		follow(t, ctx, chromedp.Submit(css(`#password`)))
		// The provider's redirects end on the gateway.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.HasPrefix(eval[string](t, ctx, `location.href`), base) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		return ctx
	}
	t.Run("listed person lands on the agent as themselves", func(t *testing.T) {
		ctx := signIn(t, "alice")
		if loc := location(t, ctx); loc != "/notes/today?x=1" {
			t.Fatalf("landed on %s: %s", loc, text(t, ctx))
		}
		if got := text(t, ctx); !strings.Contains(got, "agent sees alice@example.com via session") {
			t.Fatalf("agent page: %s", got)
		}
		who := await[string](t, ctx, `fetch('/auth/whoami').then(r => r.text())`)
		var w struct {
			User, Method, Role, OpenedWith string
			Groups                         []string
		}
		_ = json.Unmarshal([]byte(who), &w)
		if w.User != "alice@example.com" || w.Role != "user" || w.OpenedWith != "oidc" || len(w.Groups) != 1 || w.Groups[0] != "family" {
			t.Fatalf("whoami: %s", who)
		}
		// A person is never the owner: the console refuses them.
		if st := await[float64](t, ctx, `fetch('/admin/audit').then(r => r.status)`); st != 403 {
			t.Fatalf("/admin/audit for a person: %v", st)
		}
		// Signing out offers the provider's own sign-out too.
		follow(t, ctx, chromedp.Navigate(base+"/auth/logout"))
		if href := eval[string](t, ctx, `document.querySelector('a[href*="end_session"]')?.href || ""`); !strings.HasPrefix(href, p.issuer+"end_session?client_id=web") {
			t.Fatalf("sign-out page: %q\n%s", href, text(t, ctx))
		}
		follow(t, ctx, chromedp.Submit(css(`form[action="/auth/logout"] button`)))
		if st := await[float64](t, ctx, `fetch('/auth/whoami').then(r => r.status)`); st != 401 {
			t.Fatalf("still signed in after signing out: %v", st)
		}
	})
	t.Run("allowed domain admits", func(t *testing.T) {
		ctx := signIn(t, "dana")
		if got := text(t, ctx); !strings.Contains(got, "agent sees dana@family.example") {
			t.Fatalf("agent page: %s", got)
		}
	})
	t.Run("unlisted person is not admitted", func(t *testing.T) {
		ctx := signIn(t, "bob")
		got := text(t, ctx)
		if !strings.Contains(got, "bob@example.com") || !strings.Contains(got, "not_admitted") {
			t.Fatalf("page for bob: %s", got)
		}
		if st := await[float64](t, ctx, `fetch('/auth/whoami').then(r => r.status)`); st != 401 {
			t.Fatalf("bob has a session: %v", st)
		}
	})
	t.Run("unverified email is refused", func(t *testing.T) {
		ctx := signIn(t, "carol")
		if got := text(t, ctx); !strings.Contains(got, "not verified") {
			t.Fatalf("page for carol: %s", got)
		}
	})
	t.Run("after the provider's key changes", func(t *testing.T) {
		p.restart(t)
		ctx := signIn(t, "alice")
		if got := text(t, ctx); !strings.Contains(got, "agent sees alice@example.com") {
			t.Fatalf("after rotation: %s", got)
		}
	})
	if !strings.Contains(gw.logs.String(), `"auth":"session","role":"user","openedWith":"oidc"`) {
		t.Errorf("access log lacks the person's method and role")
	}
	t.Logf("OIDC browser test: %v", time.Since(start).Round(100*time.Millisecond))
}

// TestOIDCRefusals: every callback that must not sign anyone in is 400
// with a page, changes nothing and is never counted toward the lockout
// (any page can make a browser load a callback URL).
func TestOIDCRefusals(t *testing.T) {
	swap := &tokenSwap{}
	gw, p, callback := oidcGateway(t, swap)
	base := "http://" + gw.addr
	// begin starts a sign-in and returns the client holding its state
	// cookie and the provider URL it was sent to.
	begin := func(t *testing.T) (*http.Client, *url.URL) {
		t.Helper()
		c := noRedirect(t)
		status, loc, body := hop(t, c, "GET", base+"/auth/oidc/start?rd=/after", nil)
		if status != http.StatusSeeOther || !strings.HasPrefix(loc, p.issuer) {
			t.Fatalf("start: %d %s %s", status, loc, body)
		}
		u := mustParse(t, loc)
		q := u.Query()
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
			t.Fatalf("authorize URL lacks PKCE S256, nonce or state: %s", loc)
		}
		return c, u
	}
	refused := func(t *testing.T, c *http.Client, cb, wantCode string) {
		t.Helper()
		status, _, body := hop(t, c, "GET", cb, nil)
		if status != http.StatusBadRequest || !strings.Contains(string(body), wantCode) {
			t.Fatalf("callback: %d %s, want 400 %s", status, body, wantCode)
		}
		for _, ck := range c.Jar.Cookies(mustParse(t, base)) {
			if ck.Name == "gateway_session" {
				t.Fatal("a refused callback left a session cookie")
			}
		}
	}

	t.Run("a good sign-in, then its callback replayed", func(t *testing.T) {
		c, u := begin(t)
		cb := providerLogin(t, c, u.String(), "alice", "verysecure")
		saved := c.Jar.Cookies(mustParse(t, base))
		if status, loc, body := hop(t, c, "GET", cb, nil); status != http.StatusSeeOther || !strings.HasSuffix(loc, "/after") {
			t.Fatalf("callback: %d %s %s", status, loc, body)
		}
		// The same URL again: the state cookie is gone.
		refused(t, noRedirect(t), cb, "oidc_state")
		// Again, with a copy of the old state cookie: the provider
		// refuses the used code.
		c2 := noRedirect(t)
		c2.Jar.SetCookies(mustParse(t, base), saved)
		refused(t, c2, cb, "oidc_state")
	})
	t.Run("a foreign state", func(t *testing.T) {
		c, u := begin(t)
		cb := providerLogin(t, c, u.String(), "alice", "verysecure")
		other, _ := begin(t) // another browser's own sign-in
		refused(t, other, cb, "oidc_state")
	})
	t.Run("a wrong nonce", func(t *testing.T) {
		c, u := begin(t)
		q := u.Query()
		q.Set("nonce", "attackers-nonce")
		u.RawQuery = q.Encode()
		refused(t, c, providerLogin(t, c, u.String(), "alice", "verysecure"), "oidc_token")
		if !strings.Contains(gw.logs.String(), "nonce mismatch") {
			t.Fatal("refused, but not for the nonce")
		}
	})
	forged := []struct {
		name  string
		cause string // why, as the access log says
		swap  func(t *testing.T, nonce string) func(string) string
	}{
		{"alg none", "unexpected signature algorithm", func(*testing.T, string) func(string) string {
			return func(tok string) string { return forge(tok, "none") }
		}},
		{"HMAC with the client secret", "unexpected signature algorithm", func(*testing.T, string) func(string) string {
			return func(tok string) string { return forge(tok, "HS256") }
		}},
		{"a genuine token for another audience", "expected audience", func(t *testing.T, nonce string) func(string) string {
			other := directToken(t, p, "api", callback, nonce, "alice")
			return func(string) string { return other }
		}},
		{"a genuine token from another issuer", "failed to verify signature", func(t *testing.T, nonce string) func(string) string {
			p2 := startOIDCProvider(t, 0, callback, oidcUsers)
			other := directToken(t, p2, "web", callback, nonce, "alice")
			return func(string) string { return other }
		}},
	}
	for _, f := range forged {
		t.Run(f.name, func(t *testing.T) {
			c, u := begin(t)
			swap.set(f.swap(t, u.Query().Get("nonce")))
			defer swap.set(nil)
			refused(t, c, providerLogin(t, c, u.String(), "alice", "verysecure"), "oidc_token")
			if !strings.Contains(gw.logs.String(), f.cause) {
				t.Fatalf("refused, but not for %q", f.cause)
			}
		})
	}
	t.Run("refusals were not counted", func(t *testing.T) {
		// maxAttempts is 1: one counted failure would have locked this
		// client out of every credential.
		c := &http.Client{Timeout: 5 * time.Second}
		req, _ := http.NewRequest("GET", base+"/auth/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("the owner's token after the refusals: %d", resp.StatusCode)
		}
		if !strings.Contains(gw.logs.String(), `"code":"oidc_token"`) {
			t.Fatal("refusals not in the access log")
		}
	})
	t.Run("API clients are never redirected", func(t *testing.T) {
		c := noRedirect(t)
		req, _ := http.NewRequest("GET", base+"/notes", nil)
		req.Header.Set("Accept", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("API client: %d %v", resp.StatusCode, resp.Header)
		}
	})
}
