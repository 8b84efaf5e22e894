package integration

import (
	"context"
	"fmt"
	"io"
	"net"
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

// Forward auth with the real proxies, each loading its published snippet
// from docs/proxies: the proxy serves agent.example.com (the gateway) and
// app.example.com (another app of the host, behind /auth/verify) on one
// loopback port; clients reach both names at that port.

// appUpstream is the protected app: it answers with what it received.
type appUpstream struct {
	mu   sync.Mutex
	last http.Header
	n    int
}

func (a *appUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.last, a.n = r.Header.Clone(), a.n+1
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/html")
	fmt.Fprintf(w, "<!doctype html><title>app</title><p>app sees %s (%s)</p>", r.Header.Get("X-Gateway-User"), r.Header.Get("X-Gateway-Role"))
}

func (a *appUpstream) seen() (http.Header, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last, a.n
}

// protectKinds start a proxy from its protect-app snippet on port.
var protectKinds = []struct {
	name  string
	start func(t *testing.T, port int, gateway, app string)
}{
	{"nginx", func(t *testing.T, port int, gateway, app string) {
		startNginxFileAt(t, "nginx-protect-app.conf", fmt.Sprintf("127.0.0.1:%d", port), gateway, func(s string) string {
			return mustReplace(t, s, "127.0.0.1:3000", app)
		})
	}},
	{"caddy", func(t *testing.T, port int, gateway, app string) {
		bin := requireBinary(t, "caddy")
		dir := t.TempDir()
		s := snippetFile(t, "Caddyfile-protect-app", map[string]string{
			"example.com:8080": fmt.Sprintf("example.com:%d", port), "127.0.0.1:18780": gateway, "127.0.0.1:3000": app})
		cf := filepath.Join(dir, "Caddyfile")
		_ = os.WriteFile(cf, []byte(s), 0o600)
		cmd := exec.Command(bin, "run", "--config", cf, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir+"/data", "XDG_CONFIG_HOME="+dir+"/config")
		runProxy(t, "caddy", cmd, fmt.Sprintf("127.0.0.1:%d", port), "")
	}},
	{"traefik", func(t *testing.T, port int, gateway, app string) {
		bin := requireBinary(t, "traefik", filepath.Join(goPath(), "bin", "traefik"))
		dir := t.TempDir()
		dyn := filepath.Join(dir, "dynamic.yml")
		_ = os.WriteFile(dyn, []byte(snippetFile(t, "traefik-protect-app.yml", map[string]string{"127.0.0.1:18780": gateway, "127.0.0.1:3000": app})), 0o600)
		sf := filepath.Join(dir, "traefik.yml")
		_ = os.WriteFile(sf, []byte(snippetFile(t, "traefik.yml", map[string]string{"127.0.0.1:8080": fmt.Sprintf("127.0.0.1:%d", port), "filename: traefik-dynamic.yml": "filename: " + dyn})), 0o600)
		cmd := exec.Command(bin, "--configFile="+sf)
		cmd.Dir = dir
		runProxy(t, "traefik", cmd, fmt.Sprintf("127.0.0.1:%d", port), "")
		// The file provider loads the routers just after the listener.
		c := viaPort(nil, port)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if resp, err := c.Get(fmt.Sprintf("http://agent.example.com:%d/healthz", port)); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
		}
	}},
}

func mustReplace(t *testing.T, s, from, to string) string {
	t.Helper()
	if !strings.Contains(s, from) {
		t.Fatalf("snippet lacks %q", from)
	}
	return strings.ReplaceAll(s, from, to)
}

// viaPort is a client that reaches every host name at 127.0.0.1:port
// (the proxy), keeping cookies in jar, never following redirects.
func viaPort(jar http.CookieJar, port int) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
		}}}
}

// protectedApp starts the app, the agent's stand-in, the gateway and the
// proxy kind; it returns the proxy's port and the app.
func protectedApp(t *testing.T, start func(t *testing.T, port int, gateway, app string)) (int, *appUpstream) {
	t.Helper()
	port := freePort(t)
	app := &appUpstream{}
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<!doctype html><title>agent</title><p>agent sees %s</p>", r.Header.Get("X-Gateway-User"))
	}))
	t.Cleanup(agent.Close)
	gw := startGateway(t, func(c *config.Config) {
		c.Gateway.Upstream = agent.URL
		c.Gateway.Auth.Mode = config.ModePassword
		c.Gateway.Auth.Password = "a-long-enough-password"
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.AllowedHosts = []string{"agent.example.com"}
		c.Gateway.PublicURL = fmt.Sprintf("http://agent.example.com:%d", port)
		// The app is reached on the proxy's test port, so the entry names
		// it: a sign-in may send the browser back only to a listed port.
		c.Gateway.ForwardAuth = config.ForwardAuth{Hosts: []string{fmt.Sprintf("app.example.com:%d", port)}, CookieDomain: "example.com"}
		c.Gateway.Access = []config.AccessRule{
			{Hosts: []string{"app.example.com"}, Paths: []string{"/secret*"}, Action: "deny"},
			{Hosts: []string{"app.example.com"}, Paths: []string{"/ok*"}, Action: "allow"},
		}
	})
	start(t, port, gw.addr, strings.TrimPrefix(appSrv.URL, "http://"))
	return port, app
}

func TestForwardAuthBehindProxies(t *testing.T) {
	for _, k := range protectKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			port, app := protectedApp(t, k.start)
			agentURL := fmt.Sprintf("http://agent.example.com:%d", port)
			appURL := fmt.Sprintf("http://app.example.com:%d", port)
			jar, _ := cookiejar.New(nil)
			c := viaPort(jar, port)
			do := func(method, u string, h map[string]string, body string) *http.Response {
				t.Helper()
				req, _ := http.NewRequest(method, u, strings.NewReader(body))
				for k, v := range h {
					req.Header.Set(k, v)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp
			}
			forged := map[string]string{"Accept": "text/html", "X-Gateway-User": "mallory", "X-Gateway-Role": "superuser",
				"X-Gateway-Groups": "admins", "X-Gateway-Email": "mallory@evil.example", "X-Gateway-Auth": "token"}
			signIn := agentURL + "/auth/login?rd=" + url.QueryEscape(appURL+"/ok")

			// Signed out: a page load is sent to the gateway's sign-in
			// page (nginx through error_page, Caddy and Traefik through
			// ?redirect=1), forged identity or not, and the app sees
			// nothing.
			if r := do("GET", appURL+"/ok", forged, ""); r.StatusCode != http.StatusFound || r.Header.Get("Location") != signIn {
				t.Fatalf("signed out: %d Location %q, want %q", r.StatusCode, r.Header.Get("Location"), signIn)
			}
			if _, n := app.seen(); n != 0 {
				t.Fatal("the app was reached without a session")
			}
			// Sign in on the agent's name.
			if r := do("POST", agentURL+"/auth/login", map[string]string{"Content-Type": "application/json"}, `{"password":"a-long-enough-password"}`); r.StatusCode != 200 {
				t.Fatalf("sign-in: %d", r.StatusCode)
			}
			// Signed in: the app gets the identity, never the client's
			// own copies (the owner has no groups and no email: those
			// are the headers an empty answer must still clear), never
			// the gateway's SSO cookie or credential.
			forged["Cookie"] = "app=1"
			forged["Proxy-Authorization"] = "Bearer not-for-the-app"
			req, _ := http.NewRequest("GET", appURL+"/ok", nil)
			for k, v := range forged {
				req.Header.Set(k, v)
			}
			for _, ck := range jar.Cookies(mustParse(t, appURL)) {
				req.AddCookie(ck)
			}
			c2 := viaPort(nil, port)
			resp, err := c2.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("signed in: %d", resp.StatusCode)
			}
			h, _ := app.seen()
			if h.Get("X-Gateway-User") != "owner" || h.Get("X-Gateway-Role") != "admin" || h.Get("X-Gateway-Auth") != "session" ||
				h.Get("X-Gateway-Groups") != "" || h.Get("X-Gateway-Email") != "" {
				t.Fatalf("the app's identity headers: %v", h)
			}
			if strings.Contains(h.Get("Cookie"), "gateway_sso=") || strings.Contains(h.Get("Cookie"), "gateway_session") || h.Get("Proxy-Authorization") != "" {
				t.Fatalf("the app got the gateway's cookie or credential: Cookie %q Proxy-Authorization %q", h.Get("Cookie"), h.Get("Proxy-Authorization"))
			}
			if k.name != "traefik" && !strings.Contains(h.Get("Cookie"), "app=1") {
				t.Fatalf("the app lost its own cookie: %q", h.Get("Cookie"))
			}
			// The rules: an unlisted path is denied by default, a denied
			// path is 403.
			for _, p := range []string{"/other", "/secret/x"} {
				if r := do("GET", appURL+p, nil, ""); r.StatusCode != http.StatusForbidden {
					t.Fatalf("%s: %d, want 403", p, r.StatusCode)
				}
			}
			// Signing out on the agent signs out of the app too.
			if r := do("POST", agentURL+"/auth/logout", map[string]string{"Origin": agentURL}, ""); r.StatusCode != 200 {
				t.Fatalf("sign-out: %d", r.StatusCode)
			}
			for _, ck := range jar.Cookies(mustParse(t, appURL)) {
				if strings.Contains(ck.Name, "gateway_sso") {
					t.Fatal("the SSO cookie outlived the sign-out")
				}
			}
		})
	}
}

// TestForwardAuthOneSignInInChromium: one sign-in, on the gateway's page,
// opens both the app and the agent.
func TestForwardAuthOneSignInInChromium(t *testing.T) {
	port, _ := protectedApp(t, protectKinds[0].start)
	ctx := newChromium(t, chromedp.Flag("host-resolver-rules", "MAP agent.example.com 127.0.0.1, MAP app.example.com 127.0.0.1"))
	appURL := fmt.Sprintf("http://app.example.com:%d/ok", port)
	follow(t, ctx, chromedp.Navigate(appURL))
	if u := eval[string](t, ctx, `location.href`); !strings.HasPrefix(u, fmt.Sprintf("http://agent.example.com:%d/auth/login?rd=", port)) {
		t.Fatalf("not sent to sign in: %s", u)
	}
	sel := css(`input[name=password]`)
	run(t, ctx, chromedp.WaitVisible(sel), chromedp.SendKeys(sel, "a-long-enough-password"), chromedp.Submit(sel))
	// The answer is a redirect to another site (the app): the page is
	// swapped, so wait for it rather than for the form's response.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if u, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`)); err == nil && u == appURL {
			break
		}
	}
	if u, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " " + document.body.innerText`)); !strings.HasPrefix(u, appURL) {
		t.Fatalf("after signing in the browser is at %s", u)
	}
	if u, got := eval[string](t, ctx, `location.href`), text(t, ctx); u != appURL || !strings.Contains(got, "app sees owner (admin)") {
		t.Fatalf("after signing in: %s %s", u, got)
	}
	follow(t, ctx, chromedp.Navigate(fmt.Sprintf("http://agent.example.com:%d/", port)))
	if got := text(t, ctx); !strings.Contains(got, "agent sees owner") {
		t.Fatalf("the agent: %s", got)
	}
}
