package integration

// The gateway's pages in a real headless Chromium (Debian's chromium,
// driven with chromedp), on loopback only: sign in, reach the upstream, use
// the console, sign out, and the refusals.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"gateway/auth/authtest"
	"gateway/config"
)

// newChromium starts a headless Chromium with a fresh profile and returns
// a context to drive it. Extra flags are added to the usual ones.
func newChromium(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	bin := requireBinary(t, "chromium", "/usr/bin/chromium-browser")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // as root in CI
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		// The machine's network is closed: no background fetches.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
	)
	opts = append(opts, extra...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first run starts the browser; it must not carry a timeout, or
	// the timeout stops the whole browser.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("chromium did not start: %v", err)
	}
	return ctx
}

// run performs browser steps, each batch bounded in time.
func run(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// follow performs steps that load a new page (a form submit, a click on a
// form button) and waits until it has loaded.
func follow(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(tctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// location returns the page's URL path and query.
func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, `location.pathname + location.search`)
}

func text(t *testing.T, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, `document.body.innerText`)
}

func css(s string) chromedp.CSS { return chromedp.CSS(s) }

// screenshot saves the page as a PNG when GATEWAY_SCREENSHOTS names a
// directory (make screenshots sets docs/screenshots), so ordinary test runs
// change nothing in the repository.
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("GATEWAY_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signInWith fills the sign-in form's one field and submits it.
func signInWith(t *testing.T, ctx context.Context, field, secret string) {
	t.Helper()
	sel := css(`input[name=` + field + `]`)
	run(t, ctx, chromedp.WaitVisible(sel), chromedp.SendKeys(sel, secret))
	follow(t, ctx, chromedp.Submit(sel))
}

func TestBrowserPasswordMode(t *testing.T) {
	rec, up := startRecorder(t)
	gw := startGateway(t, func(c *config.Config) {
		c.Gateway.Upstream = up
		c.Gateway.Auth.Mode, c.Gateway.Auth.Password = "password", "correct horse battery staple"
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
	})
	base := "http://" + gw.addr
	ctx := newChromium(t)

	t.Run("redirect with rd, wrong then right password", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(base+"/agent/home?tab=1"), chromedp.WaitVisible(css(`input[name=password]`)))
		if loc := location(t, ctx); loc != "/auth/login?rd=%2Fagent%2Fhome%3Ftab%3D1" {
			t.Fatalf("redirected to %q", loc)
		}
		screenshot(t, ctx, "sign-in.png")
		signInWith(t, ctx, "password", "wrong password")
		if !strings.Contains(text(t, ctx), "Wrong password") {
			t.Fatalf("wrong password page: %s", text(t, ctx))
		}
		signInWith(t, ctx, "password", "correct horse battery staple")
		if loc := location(t, ctx); loc != "/agent/home?tab=1" {
			t.Fatalf("after sign-in at %q", loc)
		}
		if body := text(t, ctx); !strings.Contains(body, "agent") {
			t.Fatalf("upstream page not reached: %q", body)
		}
	})
	t.Run("the cookie is HttpOnly and never reaches the upstream", func(t *testing.T) {
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base}})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, c := range res.Cookies {
			if c.Name == "gateway_session" {
				found = true
				if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
					t.Fatalf("session cookie %+v", c)
				}
			}
		}
		jsCookies := eval[string](t, ctx, `document.cookie`)
		if !found || strings.Contains(jsCookies, "gateway_session") {
			t.Fatalf("cookie found %v; document.cookie %q", found, jsCookies)
		}
		if h := rec.header(); strings.Contains(h.Get("Cookie"), "gateway_session") || h.Get("X-Gateway-User") != "owner" {
			t.Fatalf("upstream saw %v", h)
		}
	})
	adminBase := "http://" + gw.adminAddr
	t.Run("the agent origin never serves the console to a browser", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(css(`main`)))
		if body := text(t, ctx); !strings.Contains(body, "The console has its own address") || !strings.Contains(body, adminBase+"/admin/") {
			t.Fatalf("console on the agent origin: %s", body)
		}
	})
	t.Run("the console on its own origin, after its own sign-in", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(adminBase+"/admin/"), chromedp.WaitVisible(css(`input[name=password]`)))
		signInWith(t, ctx, "password", "correct horse battery staple")
		run(t, ctx, chromedp.WaitVisible(css(`#devices`)))
	})
	t.Run("console approves and revokes a device", func(t *testing.T) {
		dev := authtest.NewDevice()
		requestID := pendingDevice(t, base, dev, "operator")
		run(t, ctx, chromedp.Navigate(adminBase+"/admin/"), chromedp.WaitVisible(css(`#devices`)))
		screenshot(t, ctx, "console.png")
		sel := fmt.Sprintf(`form[action="/admin/devices/approve"] input[value="%s"] ~ button`, requestID)
		follow(t, ctx, chromedp.Click(sel))
		if !strings.Contains(text(t, ctx), "Device approved") {
			t.Fatalf("approve: %s", text(t, ctx))
		}
		sel = fmt.Sprintf(`form[action="/admin/devices/revoke"] input[value="%s"] ~ button`, dev.ID)
		follow(t, ctx, chromedp.Click(sel))
		if !strings.Contains(text(t, ctx), "Device revoked") {
			t.Fatalf("revoke: %s", text(t, ctx))
		}
	})
	t.Run("a form without its CSRF token is refused", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(adminBase+"/admin/"), chromedp.WaitVisible(css(`#sessions`)))
		eval[bool](t, ctx, `(document.querySelector('form[action="/admin/sessions/revoke-all"] input[name=csrf]').remove(), true)`)
		follow(t, ctx, chromedp.Submit(css(`form[action="/admin/sessions/revoke-all"] button`)))
		if body := text(t, ctx); !strings.Contains(body, "csrf") {
			t.Fatalf("tokenless form: %s", body)
		}
		// Still signed in: nothing was changed.
		run(t, ctx, chromedp.Navigate(adminBase+"/admin/"), chromedp.WaitVisible(css(`#sessions`)))
	})
	t.Run("sign out", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(base+"/auth/logout"), chromedp.WaitVisible(css(`main form button`)))
		follow(t, ctx, chromedp.Submit(css(`main form button`)))
		run(t, ctx, chromedp.Navigate(base+"/agent/home"), chromedp.WaitVisible(css(`input[name=password]`)))
		if loc := location(t, ctx); !strings.HasPrefix(loc, "/auth/login") {
			t.Fatalf("after sign-out at %q", loc)
		}
	})
	t.Run("a cross-site page cannot post the sign-in form", func(t *testing.T) {
		// A page on another site (localhost is another site than
		// 127.0.0.1) that submits the sign-in form with the right
		// password: the browser says cross-site, the gateway refuses.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, `<!doctype html><form id=f method=post action="%s/auth/login">
<input name=password value="correct horse battery staple"><input name=csrf value="guess"></form>
<script>document.getElementById('f').submit()</script>`, base)
		}))
		defer evil.Close()
		evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
		run(t, ctx, chromedp.Navigate(evilURL), chromedp.WaitReady(css("body")), chromedp.Sleep(500*time.Millisecond))
		body := text(t, ctx)
		if !strings.Contains(body, "another site") && !strings.Contains(body, "cross_site") {
			t.Fatalf("cross-site post: %q at %q", body, location(t, ctx))
		}
		if strings.Contains(gw.logs.String(), `"path":"/auth/login","status":303`) && strings.Contains(body, "agent") {
			t.Fatal("the cross-site post signed in")
		}
	})
	t.Run("rd never leaves the origin", func(t *testing.T) {
		for _, rd := range []string{"//evil.example", "https://evil.example"} {
			run(t, ctx, chromedp.Navigate(base+"/auth/login?rd="+rd))
			signInWith(t, ctx, "password", "correct horse battery staple")
			host := eval[string](t, ctx, `location.host`)
			if host != gw.addr || location(t, ctx) != "/" {
				t.Fatalf("rd=%s led to %s%s", rd, host, location(t, ctx))
			}
		}
	})
	t.Run("a stale cookie 12 times, then the owner signs in", func(t *testing.T) {
		if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
			t.Fatal(err)
		}
		for range 12 {
			if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: "gateway_session", Value: strings.Repeat("S", 43), URL: base}); err != nil {
				t.Fatal(err)
			}
			run(t, ctx, chromedp.Navigate(base+"/agent/home"), chromedp.WaitVisible(css(`input[name=password]`)))
		}
		signInWith(t, ctx, "password", "correct horse battery staple")
		if loc := location(t, ctx); loc != "/agent/home" {
			t.Fatalf("after 12 stale cookies the owner is at %q", loc)
		}
	})
}

func TestBrowserTokenMode(t *testing.T) {
	_, up := startRecorder(t)
	gw := startGateway(t, func(c *config.Config) { c.Gateway.Upstream = up })
	base := "http://" + gw.addr
	ctx := newChromium(t)
	run(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(css(`input[name=token]`)))
	signInWith(t, ctx, "token", token)
	html := eval[string](t, ctx, `document.documentElement.outerHTML`)
	cookies := eval[string](t, ctx, `document.cookie`)
	storage := eval[string](t, ctx, `JSON.stringify(Object.assign({}, localStorage, sessionStorage))`)
	if location(t, ctx) != "/" || !strings.Contains(html, "agent") {
		t.Fatalf("token sign-in did not reach the upstream: %q", location(t, ctx))
	}
	for name, s := range map[string]string{"document.cookie": cookies, "storage": storage, "HTML": html} {
		if strings.Contains(s, token) {
			t.Fatalf("the token is in %s", name)
		}
	}
	// The agent origin's session never opens the console; the admin
	// origin has a sign-in of its own, with the same token.
	run(t, ctx, chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(css(`main`)))
	if !strings.Contains(text(t, ctx), "The console has its own address") {
		t.Fatalf("console on the agent origin: %s", text(t, ctx))
	}
	run(t, ctx, chromedp.Navigate("http://"+gw.adminAddr+"/admin/"), chromedp.WaitVisible(css(`input[name=token]`)))
	signInWith(t, ctx, "token", token)
	run(t, ctx, chromedp.WaitVisible(css(`#you`)))
	if !strings.Contains(text(t, ctx), "session") {
		t.Fatalf("console: %s", text(t, ctx))
	}
}

// TestBrowserTrustedProxyMode: behind nginx auth_request (the published
// snippet) the identity provider's session is the sign-in for the agent;
// the agent origin never serves the console to it (a page of the agent's
// carries the proxy identity as implicitly as a cookie); the console works
// on the admin listener with the token, its forms carry CSRF tokens like in
// every mode.
func TestBrowserTrustedProxyMode(t *testing.T) {
	idp := fakeIdP(t)
	gw := startGateway(t, func(c *config.Config) {
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.Auth.Mode = "trusted-proxy" // the token answers on the admin origin only
		c.Gateway.Auth.TrustedProxy = config.TrustedProxy{UserHeader: "x-forwarded-user", AllowUsers: []string{"alice"}, AllowLoopback: true}
		c.Channels = map[string]config.Channel{"telegram": {DMPolicy: "pairing"}}
	})
	n := startNginxFile(t, "nginx-auth-request.conf", gw.addr, func(s string) string {
		return strings.ReplaceAll(s, "127.0.0.1:9091", idp)
	})
	base := "http://" + n.addr
	// A pairing code waits: an unknown Telegram sender wrote in.
	req, _ := http.NewRequest("POST", base+"/channels/telegram/inbound", strings.NewReader(`{"from":"123456789","text":"hi"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", "sso=alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	ctx := newChromium(t)
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: "sso", Value: "alice", URL: base}); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(css(`main`)))
	if page := text(t, ctx); !strings.Contains(page, "The console has its own address") {
		t.Fatalf("console through the proxy on the agent origin: %s", page)
	}
	adminBase := "http://" + gw.adminAddr
	run(t, ctx, chromedp.Navigate(adminBase+"/admin/"), chromedp.WaitVisible(css(`input[name=token]`)))
	signInWith(t, ctx, "token", token)
	run(t, ctx, chromedp.WaitVisible(css(`#pairing`)))
	page := text(t, ctx)
	for _, want := range []string{"owner", "Device pairing is off"} {
		if !strings.Contains(page, want) {
			t.Fatalf("console lacks %q:\n%s", want, page)
		}
	}
	follow(t, ctx, chromedp.Click(css(`form[action="/admin/pairing/telegram/approve"] button`)))
	if !strings.Contains(text(t, ctx), "Sender approved") {
		t.Fatalf("pairing approve: %s", text(t, ctx))
	}
	// The sign-in page explains where signing in happens.
	run(t, ctx, chromedp.Navigate(base+"/auth/login"), chromedp.WaitVisible(css(`main`)))
	if !strings.Contains(text(t, ctx), "sign-in proxy") {
		t.Fatalf("sign-in page: %s", text(t, ctx))
	}
}

// pendingDevice makes dev ask to pair through the gateway's trusted proxy
// (so it is not local and waits for the owner) and returns the request id.
func pendingDevice(t *testing.T, base string, dev authtest.Device, role string) string {
	t.Helper()
	post := func(path string, body any) map[string]any {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", "198.51.100.44")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(data, &out)
		return out
	}
	ch := post("/auth/device/challenge", map[string]any{})
	nonce, _ := ch["nonce"].(string)
	res := post("/auth/device/connect", dev.Connect(nonce, role, time.Now()))
	id, _ := res["requestId"].(string)
	if id == "" {
		t.Fatalf("pairing request: %v", res)
	}
	return id
}

// TestBrowserAgentPageCannotDriveConsole is issue 19's item 1 in a real
// browser: a prompt-injected agent writes a page (its canvas) that the
// signed-in owner opens on the agent's origin. The page runs with the
// owner's cookies of both origins (browsers send a host's cookies to every
// port) and tries to read the console and to approve an attacker's
// pending admin device and chat pairing code, with fetch and with forms,
// against both origins. Nothing works and nothing changes; the console
// still works on its own origin.
func TestBrowserAgentPageCannotDriveConsole(t *testing.T) {
	var mu sync.Mutex
	var reqID, code, adminBase string
	agentPages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		req, pcode, adm := reqID, code, adminBase
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/canvas":
			fmt.Fprintf(w, `<!doctype html><title>canvas</title><script>
(async () => {
  const r = {}, A = %q, REQ = %q, CODE = %q;
  async function tryf(name, url, opts) {
    try { const res = await fetch(url, opts); r[name] = res.type === 'opaque' ? 'opaque' : res.status + ' ' + (await res.text()).slice(0, 300); }
    catch (e) { r[name] = 'error ' + e; }
  }
  const json = (b) => ({method: 'POST', credentials: 'include', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(b)});
  await tryf('readConsole', '/admin/', {credentials: 'include'});
  await tryf('approveDevice', '/admin/devices/approve', json({requestId: REQ, role: 'admin'}));
  await tryf('approvePairing', '/admin/pairing/telegram/approve', json({code: CODE}));
  await tryf('invite', '/admin/devices/invite', json({role: 'operator'}));
  await tryf('readAdminOrigin', A + '/admin/', {credentials: 'include'});
  await tryf('approveOnAdminOrigin', A + '/admin/devices/approve', {method: 'POST', mode: 'no-cors', credentials: 'include',
    headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'requestId=' + REQ + '&role=admin&confirm_admin=yes&csrf=x'});
  await tryf('pairingOnAdminOrigin', A + '/admin/pairing/telegram/approve', {method: 'POST', mode: 'no-cors', credentials: 'include',
    headers: {'Content-Type': 'text/plain'}, body: 'code=' + CODE});
  window.results = JSON.stringify(r);
})();
</script>`, adm, req, pcode)
		case "/canvas-form", "/canvas-form-admin":
			target := "/admin/devices/approve"
			if r.URL.Path == "/canvas-form-admin" {
				target = adm + "/admin/devices/approve"
			}
			fmt.Fprintf(w, `<!doctype html><form id=f method=post action=%q><input name=requestId value=%q>
<input name=role value=admin><input name=confirm_admin value=yes><input name=csrf value=x></form>
<script>document.getElementById('f').submit()</script>`, target, req)
		default:
			fmt.Fprint(w, "agent")
		}
	})
	up := httptest.NewServer(agentPages)
	t.Cleanup(up.Close)
	gw := startGateway(t, func(c *config.Config) {
		c.Gateway.Upstream = up.URL
		c.Gateway.Auth.Mode, c.Gateway.Auth.Password = "password", "correct horse battery staple"
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Channels = map[string]config.Channel{"telegram": {DMPolicy: "pairing"}}
	})
	base := "http://" + gw.addr
	mu.Lock()
	adminBase = "http://" + gw.adminAddr
	mu.Unlock()
	attacker := authtest.NewDevice()
	id := pendingDevice(t, base, attacker, "admin")
	status, body := post(t, base+"/channels/telegram/inbound", `{"from":"123456789","text":"hi"}`)
	var inb struct{ PairingCode string }
	_ = json.Unmarshal(body, &inb)
	if status != 200 || inb.PairingCode == "" {
		t.Fatalf("inbound: %d %s", status, body)
	}
	mu.Lock()
	reqID, code = id, inb.PairingCode
	mu.Unlock()

	ctx := newChromium(t)
	// The owner is signed in on both origins.
	run(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(css(`input[name=password]`)))
	signInWith(t, ctx, "password", "correct horse battery staple")
	run(t, ctx, chromedp.Navigate(adminBase+"/admin/"), chromedp.WaitVisible(css(`input[name=password]`)))
	signInWith(t, ctx, "password", "correct horse battery staple")
	run(t, ctx, chromedp.WaitVisible(css(`#devices`)))

	// The agent's page runs its script.
	run(t, ctx, chromedp.Navigate(base+"/canvas"), chromedp.Poll[chromedp.Void](`window.results !== undefined`, chromedp.WithPollingTimeout(20*time.Second)))
	var results map[string]string
	if err := json.Unmarshal([]byte(eval[string](t, ctx, `window.results`)), &results); err != nil {
		t.Fatal(err)
	}
	t.Logf("the agent page's attempts: %v", results)
	for _, k := range []string{"readConsole", "approveDevice", "approvePairing", "invite"} {
		if !strings.HasPrefix(results[k], "403 ") || !strings.Contains(results[k], "admin_elsewhere") {
			t.Errorf("%s on the agent origin: %s", k, results[k])
		}
	}
	if strings.Contains(results["readAdminOrigin"], "Gateway console") {
		t.Errorf("the agent page read the console on the admin origin: %s", results["readAdminOrigin"])
	}
	// Forms, on the agent origin and at the admin origin.
	for _, p := range []string{"/canvas-form", "/canvas-form-admin"} {
		run(t, ctx, chromedp.Navigate(base+p), chromedp.Sleep(time.Second))
		if body := text(t, ctx); strings.Contains(body, "Device approved") {
			t.Errorf("%s approved the device: %s", p, body)
		}
	}
	// Nothing changed.
	admin := map[string]string{"Authorization": "Bearer " + token}
	_, body = get(t, http.DefaultClient, base+"/admin/devices", admin)
	devs := decode[struct {
		Pending, Paired []struct{ RequestID, DeviceID string }
	}](t, body)
	if len(devs.Pending) != 1 || devs.Pending[0].RequestID != id || len(devs.Paired) != 0 {
		t.Fatalf("devices after the attack: %s", body)
	}
	_, body = get(t, http.DefaultClient, base+"/admin/pairing/telegram", admin)
	pairing := decode[struct {
		Pending   []struct{ Code string }
		AllowFrom []string
	}](t, body)
	if len(pairing.Pending) != 1 || pairing.Pending[0].Code != inb.PairingCode || len(pairing.AllowFrom) != 0 {
		t.Fatalf("pairing after the attack: %s", body)
	}
	// Control: the console on its own origin approves.
	run(t, ctx, chromedp.Navigate(adminBase+"/admin/"), chromedp.WaitVisible(css(`#devices`)))
	follow(t, ctx, chromedp.Click(css(fmt.Sprintf(`form[action="/admin/devices/approve"] input[value="%s"] ~ input[name=role][value=operator] ~ button`, id))))
	if !strings.Contains(text(t, ctx), "Device approved") {
		t.Fatalf("the console on its own origin: %s", text(t, ctx))
	}
}

// post sends a JSON body with the bearer token.
func post(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
