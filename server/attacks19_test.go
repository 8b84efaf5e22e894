package server

// The attacks of "The agent cannot reach the gateway's admin powers", each
// performed against a running gateway (both listeners), each failing when
// its defence is removed.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gateway/auth/authtest"
	"gateway/config"
	gwcookie "gateway/cookie"
)

// signIn signs in with the password on f's listener and returns the
// session token.
func (f *fixture) signIn(t *testing.T, h map[string]string) string {
	t.Helper()
	code, body := f.call(t, "POST", "/auth/login", h, map[string]string{"password": "a-long-enough-password"})
	tok, _ := body["token"].(string)
	if code != 200 || tok == "" {
		t.Fatalf("sign-in: %d %v", code, body)
	}
	return tok
}

// Item 1: a page of the agent's, opened by the signed-in owner, carries the
// owner's cookies (of both origins: browsers send a host's cookies to
// every port) and whatever a proxy in front adds. None of it acts as the
// owner on the agent origin; only a bearer does.
func TestAttackAgentOriginCannotUseTheConsole(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		passwordMode(c)
		c.Gateway.Auth.Token = testToken
		c.Channels = map[string]config.Channel{"telegram": {DMPolicy: "pairing"}}
	})
	agentSession := f.signIn(t, nil)
	adminSession := f.onAdmin().signIn(t, nil)
	_, pend := f.connectDevice(t, authtest.NewDevice(), "admin", map[string]string{"Host": "127.0.0.1"})
	reqID, _ := pend["requestId"].(string)
	_, inb := f.call(t, "POST", "/channels/telegram/inbound", bearer, map[string]string{"from": "123456789", "text": "hi"})
	code, _ := inb["pairingCode"].(string)
	if reqID == "" || code == "" {
		t.Fatalf("setup: %v %v", pend, inb)
	}
	page := map[string]string{
		"Cookie":         gwcookie.Session + "=" + agentSession + "; " + gwcookie.Admin + "=" + adminSession,
		"Origin":         f.gw.URL,
		"Sec-Fetch-Site": "same-origin",
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/admin/"}, {"GET", "/admin/devices"}, {"GET", "/admin/audit"},
		{"POST", "/admin/devices/approve"}, {"POST", "/admin/pairing/telegram/approve"}, {"POST", "/admin/devices/invite"},
		{"POST", "/admin/sessions/revoke-all"},
	} {
		var body any
		if tc.method == "POST" {
			body = map[string]string{"requestId": reqID, "role": "admin", "code": code}
		}
		got, out := f.call(t, tc.method, tc.path, page, body)
		if got != http.StatusForbidden || out["code"] != "admin_elsewhere" || !strings.Contains(fmt.Sprint(out["error"]), f.gwAdminURL()) {
			t.Errorf("%s %s from the agent's page: %d %v", tc.method, tc.path, got, out)
		}
	}
	if p := f.pending(t); len(p) != 1 {
		t.Fatalf("the pending device changed: %v", p)
	}
	if _, l := f.call(t, "GET", "/admin/pairing/telegram", bearer, nil); len(l["pending"].([]any)) != 1 {
		t.Fatalf("the pairing code changed: %v", l)
	}
	// The admin session is no session on the agent origin, and the agent's
	// none on the admin origin.
	if got, _ := f.call(t, "GET", "/auth/whoami", map[string]string{"Cookie": gwcookie.Session + "=" + adminSession}, nil); got != 401 {
		t.Errorf("the admin session on the agent origin: %d", got)
	}
	for _, h := range []map[string]string{{"Cookie": gwcookie.Admin + "=" + agentSession}, {"Authorization": "Bearer " + agentSession}} {
		if got, _ := f.onAdmin().call(t, "GET", "/admin/devices", h, nil); got != 401 {
			t.Errorf("the agent session on the admin origin (%v): %d", h, got)
		}
	}
	// Controls: a bearer on the agent origin, the admin session on the
	// admin origin.
	if got, _ := f.call(t, "GET", "/admin/devices", map[string]string{"Authorization": "Bearer " + agentSession}, nil); got != 200 {
		t.Errorf("session bearer on the agent origin: %d", got)
	}
	admin := map[string]string{"Cookie": gwcookie.Admin + "=" + adminSession, "Origin": f.admin.URL, "Sec-Fetch-Site": "same-origin"}
	if got, out := f.onAdmin().call(t, "POST", "/admin/devices/approve", admin, map[string]string{"requestId": reqID, "role": "admin"}); got != 200 {
		t.Errorf("approve on the admin origin: %d %v", got, out)
	}
	// The admin origin's own Origin check: the agent's page posting to
	// the admin listener (same site, another port) is refused.
	forged := map[string]string{"Cookie": gwcookie.Admin + "=" + adminSession, "Origin": f.gw.URL, "Sec-Fetch-Site": "same-site"}
	if got, out := f.onAdmin().call(t, "POST", "/admin/pairing/telegram/approve", forged, map[string]string{"code": code}); got != http.StatusForbidden {
		t.Errorf("the agent's page posting to the admin origin: %d %v", got, out)
	}
}

func (f *fixture) gwAdminURL() string { return defaultAdminURL(f.cfg) }

// Item 1: the agent never sees a gateway cookie, and cannot set one.
func TestAttackGatewayCookiesStayTheGateways(t *testing.T) {
	f := newFixture(t, nil)
	sent := "theme=dark; gateway_admin=a; __Host-gateway_session=s; gateway_csrf=c; gateway_kc=k; __Secure-gateway_sso=o; gateway_oidc=x; GATEWAY_SESSION=y"
	f.call(t, "GET", "/page", with(bearer, "Cookie", sent), nil)
	if got := f.upstream.lastHeader().Get("Cookie"); got != "theme=dark" {
		t.Fatalf("the agent received cookies %q", got)
	}
	f.upstream.setCookies([]string{"app=1; Path=/", "__Host-gateway_session=planted; Path=/; Secure", "gateway_admin=planted", "Gateway_KC=x"})
	resp, _ := f.do(t, "GET", "/page", bearer, nil)
	if got := resp.Header.Values("Set-Cookie"); len(got) != 1 || got[0] != "app=1; Path=/" {
		t.Fatalf("Set-Cookie through the proxy: %q", got)
	}
	u := "ws" + strings.TrimPrefix(f.gw.URL, "http") + "/ws"
	c, wresp, err := websocket.Dial(context.Background(), u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + testToken}}})
	if err != nil {
		t.Fatal(err)
	}
	c.CloseNow()
	if got := wresp.Header.Values("Set-Cookie"); len(got) != 1 || got[0] != "app=1; Path=/" {
		t.Fatalf("Set-Cookie on the 101: %q", got)
	}
}

// Item 1: the admin listener never honours a trusted proxy's user header
// (a local process could forge it), even with the proxy on loopback
// trusted and allowLoopback on; on the agent origin the same header works.
func TestAttackAdminListenerIgnoresProxyIdentity(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Gateway.Auth.Mode, c.Gateway.Auth.Token = "trusted-proxy", ""
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.Auth.TrustedProxy = config.TrustedProxy{UserHeader: "remote-user", AllowUsers: []string{"alice"}, AllowLoopback: true}
	})
	h := map[string]string{"Remote-User": "alice", "X-Forwarded-For": "198.51.100.3"}
	if got, out := f.call(t, "GET", "/auth/whoami", h, nil); got != 200 || out["role"] != "admin" {
		t.Fatalf("the proxy's user on the agent origin: %d %v", got, out)
	}
	if got, out := f.call(t, "GET", "/admin/devices", h, nil); got != http.StatusForbidden || out["code"] != "admin_elsewhere" {
		t.Fatalf("the proxy's user at /admin on the agent origin: %d %v", got, out)
	}
	for _, path := range []string{"/admin/devices", "/auth/whoami"} {
		if got, out := f.onAdmin().call(t, "GET", path, h, nil); got != 401 {
			t.Fatalf("the proxy's user on the admin listener %s: %d %v", path, got, out)
		}
	}
}

// Item 1: gateway.admin.host on the main listener is the admin origin:
// nothing there is proxied to the agent, cookies answer there, and a
// trusted-proxy identity is taken only from a proxy not on this host.
func TestAttackAdminHostIsNeverTheAgent(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		passwordMode(c)
		c.Gateway.Admin.Host = "admin.example.com"
		c.Gateway.AllowedHosts = []string{"agent.example.com"}
	})
	n := f.upstream.count()
	adminHost := map[string]string{"Host": "admin.example.com"}
	for _, p := range []string{"/", "/app", "/ws", "/admin/x"} {
		f.call(t, "GET", p, with(adminHost, "Authorization", "Bearer "+testToken), nil)
	}
	if f.upstream.count() != n {
		t.Fatal("a request for the admin host reached the agent")
	}
	tok := f.signIn(t, adminHost)
	if got, _ := f.call(t, "GET", "/admin/devices", with(adminHost, "Cookie", gwcookie.Admin+"="+tok), nil); got != 200 {
		t.Fatalf("the admin session on the admin host: %d", got)
	}
	if got, _ := f.call(t, "GET", "/admin/devices", map[string]string{"Host": "agent.example.com", "Cookie": gwcookie.Admin + "=" + tok}, nil); got != http.StatusForbidden {
		t.Fatalf("the admin session on the agent's host: %d", got)
	}
}

// Item 3: a flood of pending requests from twenty networks fills the
// queue; the owner's invitation pairs a device at once anyway. A code is
// single-use under a concurrent burst, binds its role, and wrong codes are
// counted in their own scope.
func TestAttackInvitationSkipsTheFloodedQueue(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.Auth.RateLimit.MaxAttempts = 3
	})
	for n := range 21 {
		for host := range 5 {
			f.connectDevice(t, authtest.NewDevice(), "operator", map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.%d.%d", n, host+1)})
		}
	}
	if code, body := f.connectDevice(t, authtest.NewDevice(), "operator", map[string]string{"X-Forwarded-For": "198.51.100.5"}); code != http.StatusTooManyRequests {
		t.Fatalf("the queue is not full: %d %v", code, body)
	}
	// An admin invitation is issued only on the admin origin (or the CLI).
	if code, out := f.call(t, "POST", "/admin/devices/invite", bearer, map[string]string{"role": "admin"}); code != http.StatusForbidden {
		t.Fatalf("admin invitation on the agent origin: %d %v", code, out)
	}
	if code, out := f.onAdmin().call(t, "POST", "/admin/devices/invite", bearer, map[string]string{"role": "admin", "ttl": "1h"}); code != 400 {
		t.Fatalf("admin invitation for an hour: %d %v", code, out)
	}
	code, inv := f.call(t, "POST", "/admin/devices/invite", bearer, map[string]string{"role": "operator", "ttl": "10m"})
	invite, _ := inv["code"].(string)
	if code != 200 || len(invite) != 26 || !strings.Contains(fmt.Sprint(inv["url"]), "#code="+invite) {
		t.Fatalf("invite: %d %v", code, inv)
	}
	owner := map[string]string{"X-Forwarded-For": "198.51.100.6"}
	dev := authtest.NewDevice()
	// The wrong role does not use the code up.
	if code, out := f.connectWithInvite(t, dev, "node", invite, owner); code != 400 || out["code"] != "role_mismatch" {
		t.Fatalf("another role: %d %v", code, out)
	}
	// Twenty devices race for the code: exactly one pairs.
	var mu sync.Mutex
	paired := 0
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			code, out := f.connectWithInvite(t, authtest.NewDevice(), "operator", invite, map[string]string{"X-Forwarded-For": fmt.Sprintf("10.%d.0.1", i)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case code == 200 && out["status"] == "paired":
				paired++
			case code == 401 && out["code"] == "invalid_invitation":
			default:
				t.Errorf("racer: %d %v", code, out)
			}
		})
	}
	wg.Wait()
	if paired != 1 {
		t.Fatalf("%d devices paired with one code", paired)
	}
	// Wrong codes lock their sender out of invitations, not out of the rest.
	guesser := map[string]string{"X-Forwarded-For": "192.0.2.9"}
	for range 3 {
		f.connectWithInvite(t, authtest.NewDevice(), "operator", "AAAAAAAAAAAAAAAAAAAAAAAAAA", guesser)
	}
	if code, out := f.connectWithInvite(t, authtest.NewDevice(), "operator", "AAAAAAAAAAAAAAAAAAAAAAAAAA", guesser); code != http.StatusTooManyRequests {
		t.Fatalf("fourth wrong code: %d %v", code, out)
	}
	if code, _ := f.call(t, "GET", "/auth/whoami", with(guesser, "Authorization", "Bearer "+testToken), nil); code != 200 {
		t.Fatalf("the token after wrong codes: %d", code)
	}
}

// connectWithInvite connects dev with an invitation code.
func (f *fixture) connectWithInvite(t *testing.T, dev authtest.Device, role, invite string, h map[string]string) (int, map[string]any) {
	t.Helper()
	code, ch := f.call(t, "POST", "/auth/device/challenge", h, map[string]any{})
	if code != 200 {
		return code, ch
	}
	req := dev.Connect(ch["nonce"].(string), role, time.Now())
	req.Invite = invite
	return f.call(t, "POST", "/auth/device/connect", h, req)
}

// Item 4: 120 threads posting wrong passwords from rotating networks, each
// under the limit, saturate the password-hashing slots; the owner, whose
// browser signed in before (the known-client cookie), still signs in every
// time, in its own slot and its own bucket. A stolen or planted copy of the
// cookie locks only itself and never the owner.
func TestAttackOwnerSignsInDuringAFlood(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		passwordMode(c)
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.Auth.RateLimit.MaxAttempts = 3
	}, func(o *Options) { o.HashWait = 300 * time.Millisecond })
	owner := map[string]string{"X-Forwarded-For": "198.51.100.1"}
	kc := f.knownClientSignIn(t, owner, "")
	if kc == "" {
		t.Fatal("no known-client cookie after signing in")
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[int]int{}
	for i := range 120 {
		wg.Go(func() {
			for n := 0; n < 40; n++ {
				select {
				case <-stop:
					return
				default:
				}
				h := map[string]string{"X-Forwarded-For": fmt.Sprintf("2001:db8:%x:%x::1", i, n)}
				code, _ := f.call(t, "POST", "/auth/login", h, map[string]string{"password": "wrong"})
				mu.Lock()
				outcomes[code]++
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	for i := range 5 {
		next := f.knownClientSignIn(t, with(owner, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", 10+i)), kc)
		if next == "" || next == kc {
			t.Errorf("sign-in %d of the known client during the flood failed or kept its cookie", i)
		} else {
			kc = next
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("flood outcomes: %v", outcomes)
	if outcomes[503] == 0 {
		t.Fatalf("the flood never saturated the hashing slots (%v): the control failed", outcomes)
	}

	// A stolen copy, guessed with: its own bucket locks and the cookie is
	// forgotten; the owner's address is untouched, and the owner signs in
	// (counted by address now, and given a fresh cookie).
	thief := map[string]string{"X-Forwarded-For": "203.0.113.99", "Cookie": gwcookie.KnownClient + "=" + kc}
	for range 3 {
		f.call(t, "POST", "/auth/login", thief, map[string]string{"password": "wrong"})
	}
	if next := f.knownClientSignIn(t, owner, kc); next == "" {
		t.Fatal("the owner was locked out by a stolen cookie")
	}
	// Two cookies are none: counted by address.
	two := map[string]string{"X-Forwarded-For": "203.0.113.100", "Cookie": gwcookie.KnownClient + "=" + kc + "; " + gwcookie.KnownClient + "=" + kc}
	for range 3 {
		f.call(t, "POST", "/auth/login", two, map[string]string{"password": "wrong"})
	}
	if code, _ := f.call(t, "POST", "/auth/login", two, map[string]string{"password": "a-long-enough-password"}); code != http.StatusTooManyRequests {
		t.Fatalf("several cookies escaped the address bucket: %d", code)
	}
}

// knownClientSignIn signs in with the password, sending the known-client
// cookie kc when set, and returns the new one ("" when refused).
func (f *fixture) knownClientSignIn(t *testing.T, h map[string]string, kc string) string {
	t.Helper()
	if kc != "" {
		h = with(h, "Cookie", gwcookie.KnownClient+"="+kc)
	}
	resp, body := f.do(t, "POST", "/auth/login", with(h, "Content-Type", "application/json"), strings.NewReader(`{"password":"a-long-enough-password"}`))
	if resp.StatusCode != 200 {
		t.Logf("known-client sign-in: %d %s", resp.StatusCode, body)
		return ""
	}
	for _, c := range resp.Cookies() {
		if c.Name == gwcookie.KnownClient {
			return c.Value
		}
	}
	return ""
}

// Item 3, the console's form: an invitation is shown once on the page the
// post returns, never put in a URL.
func TestConsoleInvitesADevice(t *testing.T) {
	f := newFixture(t, passwordMode)
	b := newAdminBrowser(t, f)
	b.signIn("password", "a-long-enough-password", "/admin/")
	resp, page := b.send("POST", "/admin/devices/invite", url.Values{"csrf": {b.csrf("/admin/")}, "role": {"admin"}, "ttl": {"10m"}}, nil)
	m := regexp.MustCompile(`Code: <code>([A-Z2-7]{26})</code>`).FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil || !strings.Contains(page, "/auth/device/pair#code="+m[1]) || strings.Contains(resp.Header.Get("Location"), m[1]) {
		t.Fatalf("invite form: %d\n%.2000s", resp.StatusCode, page)
	}
	if code, out := f.connectWithInvite(t, authtest.NewDevice(), "admin", m[1], nil); code != 200 || out["status"] != "paired" || out["role"] != "admin" {
		t.Fatalf("connect with the console's invitation: %d %v", code, out)
	}
	if strings.Contains(f.logs.String(), m[1]) {
		t.Fatal("the invitation code is in the log")
	}
}
