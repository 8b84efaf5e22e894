package server

// The attacks of "Every path to admin needs a credential", each performed
// against a running gateway (a real loopback listener). Each test fails if
// its defence is removed. Items 6 and 12 (environment password rotation,
// rejected reloads) need the command's config loading and live in
// cmd/gateway; item 15's audit probe lives in cmd/gateway too.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gateway/auth/authtest"
	"gateway/config"
	gwcookie "gateway/cookie"
	"gateway/store"
	"gateway/store/redistest"
)

// call sends one request with the given Host and headers and decodes a JSON
// answer into a map.
func (f *fixture) call(t *testing.T, method, path string, h map[string]string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
		h = with(h, "Content-Type", "application/json")
	}
	resp, data := f.do(t, method, path, h, rd)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out
}

// connectDevice runs the challenge and connect steps for dev with the
// headers h (Host, forwarding headers) and returns the connect answer.
func (f *fixture) connectDevice(t *testing.T, dev authtest.Device, role string, h map[string]string) (int, map[string]any) {
	t.Helper()
	code, ch := f.call(t, "POST", "/auth/device/challenge", h, map[string]any{})
	if code != 200 {
		return code, ch
	}
	nonce, _ := ch["nonce"].(string)
	return f.call(t, "POST", "/auth/device/connect", h, dev.Connect(nonce, role, time.Now()))
}

func (f *fixture) pending(t *testing.T) []any {
	t.Helper()
	code, list := f.call(t, "GET", "/admin/devices", bearer, nil)
	if code != 200 {
		t.Fatalf("list devices: %d %v", code, list)
	}
	p, _ := list["pending"].([]any)
	return p
}

func (f *fixture) paired(t *testing.T) []any {
	t.Helper()
	_, list := f.call(t, "GET", "/admin/devices", bearer, nil)
	p, _ := list["paired"].([]any)
	return p
}

const rebindHost = "rebind.attacker.example"

// Item 1: a page on rebind.attacker.example, resolving to 127.0.0.1, is
// same-origin with the loopback listener. Whatever it sends, the Host it
// cannot choose stops it before any handler.
func TestAttackDNSRebinding(t *testing.T) {
	port := func(f *fixture) string { _, p, _ := net.SplitHostPort(f.gw.Listener.Addr().String()); return p }
	page := func(f *fixture) map[string]string {
		return map[string]string{"Host": rebindHost + ":" + port(f), "Origin": "http://" + rebindHost + ":" + port(f), "Sec-Fetch-Site": "same-origin"}
	}
	t.Run("device connect asking admin is never auto-approved", func(t *testing.T) {
		f := newFixture(t, nil)
		code, body := f.connectDevice(t, authtest.NewDevice(), "admin", page(f))
		if code != http.StatusMisdirectedRequest || body["code"] != "host_not_allowed" {
			t.Fatalf("connect from the rebinding page: %d %v", code, body)
		}
		if len(f.pending(t)) != 0 || len(f.paired(t)) != 0 {
			t.Fatal("the rebinding page left a pending or paired device")
		}
	})
	t.Run("mode none admin", func(t *testing.T) {
		f := newFixture(t, func(c *config.Config) { c.Gateway.Auth.Mode, c.Gateway.Auth.Token = "none", "" })
		code, body := f.call(t, "GET", "/admin/devices", page(f), nil)
		if code != http.StatusMisdirectedRequest {
			t.Fatalf("rebinding page read /admin in mode none: %d %v", code, body)
		}
	})
	t.Run("trusted-proxy mode with allowLoopback", func(t *testing.T) {
		f := newFixture(t, func(c *config.Config) {
			c.Gateway.Auth.Mode, c.Gateway.Auth.Token = "trusted-proxy", ""
			c.Gateway.TrustedProxies = []string{"127.0.0.1"}
			c.Gateway.Auth.TrustedProxy = config.TrustedProxy{UserHeader: "remote-user", AllowUsers: []string{"admin"}, AllowLoopback: true}
		})
		code, body := f.call(t, "GET", "/admin/devices", with(page(f), "Remote-User", "admin"), nil)
		if code != http.StatusMisdirectedRequest {
			t.Fatalf("rebinding page became admin with Remote-User: %d %v", code, body)
		}
	})
	t.Run("WebSocket with the page's Origin", func(t *testing.T) {
		f := newFixture(t, nil)
		u := "ws" + strings.TrimPrefix(f.gw.URL, "http") + "/ws"
		h := http.Header{"Origin": {page(f)["Origin"]}, "Authorization": {"Bearer " + testToken}}
		c, resp, err := websocket.Dial(context.Background(), u, &websocket.DialOptions{HTTPHeader: h, Host: page(f)["Host"]})
		if err == nil {
			c.CloseNow()
			t.Fatal("WebSocket from the rebinding page accepted")
		}
		if resp == nil || resp.StatusCode != http.StatusMisdirectedRequest {
			t.Fatalf("WebSocket from the rebinding page: %v %v", resp, err)
		}
	})
	t.Run("the refusal is logged with its cause", func(t *testing.T) {
		f := newFixture(t, nil)
		f.call(t, "GET", "/auth/whoami", with(bearer, "Host", rebindHost), nil)
		if logs := f.logs.String(); !strings.Contains(logs, `"code":"host_not_allowed"`) || !strings.Contains(logs, rebindHost) {
			t.Fatalf("access record lacks the refusal:\n%s", logs)
		}
	})
}

// Item 2: any local process asking for role admin got an admin device
// token without a credential. Auto-approval never grants admin; approving
// it needs the role confirmed.
func TestAttackAutoApprovalChoosesItsRole(t *testing.T) {
	f := newFixture(t, nil)
	code, body := f.connectDevice(t, authtest.NewDevice(), "admin", nil)
	if code != http.StatusAccepted || body["status"] != "pending" || body["token"] != nil {
		t.Fatalf("local connect asking admin: %d %v", code, body)
	}
	reqID, _ := body["requestId"].(string)
	p := f.pending(t)
	if len(p) != 1 || p[0].(map[string]any)["role"] != "admin" {
		t.Fatalf("pending = %v (the requested role must be shown)", p)
	}
	if code, body := f.call(t, "POST", "/admin/devices/approve", bearer, map[string]any{"requestId": reqID}); code != http.StatusConflict || body["code"] != "role_confirmation_required" {
		t.Fatalf("approve without confirming admin: %d %v", code, body)
	}
	if code, body := f.call(t, "POST", "/admin/devices/approve", bearer, map[string]any{"requestId": reqID, "role": "admin"}); code != 200 || body["role"] != "admin" {
		t.Fatalf("approve with the role confirmed: %d %v", code, body)
	}
	// A non-admin role is still paired silently for a clean local request.
	if code, body := f.connectDevice(t, authtest.NewDevice(), "operator", nil); code != 200 || body["status"] != "paired" {
		t.Fatalf("local operator: %d %v", code, body)
	}
}

// Item 3: with loopback trusted, a request with X-Forwarded-For through
// the proxy got role admin in mode none. None authenticates only local
// requests.
func TestAttackModeNoneThroughProxy(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Gateway.Auth.Mode, c.Gateway.Auth.Token = "none", ""
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
	})
	if code, body := f.call(t, "GET", "/auth/whoami", map[string]string{"X-Forwarded-For": "198.51.100.9"}, nil); code != http.StatusUnauthorized {
		t.Fatalf("mode none through a proxy: %d %v", code, body)
	}
	code, body := f.call(t, "GET", "/auth/whoami", nil, nil)
	if code != 200 || body["role"] == "admin" {
		t.Fatalf("mode none local: %d %v (local is never admin)", code, body)
	}
	if code, _ := f.call(t, "GET", "/admin/devices", nil, nil); code != http.StatusForbidden {
		t.Fatalf("mode none local reached /admin: %d", code)
	}
}

// Item 4 (ClawJacked): a cross-site page in the owner's browser on
// 127.0.0.1 brute-forcing the token was exempt from the lockout.
func TestAttackCrossSitePageBruteForce(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Gateway.Auth.RateLimit.MaxAttempts = 5 })
	page := map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
	for i := range 5 {
		if code, _ := f.call(t, "GET", "/auth/whoami", with(page, "Authorization", "Bearer guess-"+fmt.Sprint(i)), nil); code != 401 {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	if code, body := f.call(t, "GET", "/auth/whoami", with(page, "Authorization", "Bearer "+testToken), nil); code != http.StatusTooManyRequests {
		t.Fatalf("the page can still tell a right guess: %d %v", code, body)
	}
	// The owner's own clean requests are unaffected.
	if code, _ := f.call(t, "GET", "/auth/whoami", bearer, nil); code != 200 {
		t.Fatalf("owner locked out: %d", code)
	}
}

// Item 5: 101 device requests for admin from one client evicted the
// owner's request, and approve --latest then approved the attacker.
func TestAttackPendingFlood(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
	_, owner := f.connectDevice(t, authtest.NewDevice(), "operator", map[string]string{"X-Forwarded-For": "198.51.100.20"})
	ownerID, _ := owner["requestId"].(string)
	if ownerID == "" {
		t.Fatalf("owner's request: %v", owner)
	}
	attacker := map[string]string{"X-Forwarded-For": "203.0.113.66"}
	refused := 0
	for range 101 {
		code, body := f.connectDevice(t, authtest.NewDevice(), "admin", attacker)
		switch {
		case code == http.StatusTooManyRequests && (body["code"] == "too_many_pending" || body["code"] == "busy"):
			refused++
		case code != http.StatusAccepted:
			t.Fatalf("flood request: %d %v", code, body)
		}
	}
	if refused < 95 {
		t.Fatalf("one client placed %d pending requests", 101-refused)
	}
	found := false
	for _, p := range f.pending(t) {
		found = found || p.(map[string]any)["requestId"] == ownerID
	}
	if !found {
		t.Fatal("the flood evicted the owner's request")
	}
	code, body := f.call(t, "POST", "/admin/devices/approve", bearer, map[string]any{"latest": true, "role": "admin"})
	if code != http.StatusConflict || body["code"] != "ambiguous_latest" || len(body["pending"].([]any)) < 2 {
		t.Fatalf("approve latest with several pending: %d %v", code, body)
	}
	if len(f.paired(t)) != 0 {
		t.Fatal("approve latest paired someone")
	}
}

// Item 7: one wrong attempt from each of ~10k IPv6 /64s of a single /48
// filled the limiter and then the owner got 429 from a fresh address.
func TestAttackLockoutSaturation(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	deadline := time.Now().Add(90 * time.Second)
	lockedAt := -1
	for i := 0; i < 10_000 && time.Now().Before(deadline); i++ {
		req, _ := http.NewRequest("GET", f.gw.URL+"/auth/whoami", nil)
		req.Header.Set("Authorization", "Bearer wrong")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("2001:db8:bad:%x::1", i))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			lockedAt = i
			break
		}
	}
	if lockedAt < 0 {
		t.Fatal("a /48 rotating through its /64s was never locked out")
	}
	for _, owner := range []string{"2001:db8:600d::1", "198.51.100.30"} {
		if code, body := f.call(t, "GET", "/auth/whoami", with(bearer, "X-Forwarded-For", owner), nil); code != 200 {
			t.Fatalf("owner from %s after the flood: %d %v", owner, code, body)
		}
	}
	t.Logf("the /48 was locked after %d attempts", lockedAt)
}

// Item 8: 40 parallel wrong passwords verified 25 against a limit of 10,
// and the right password then succeeded while locked.
func TestAttackConcurrentLoginBurst(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.Auth.Mode, c.Gateway.Auth.Password = "password", "a-long-enough-password"
	}, func(o *Options) { o.HashWait = 5 * time.Minute }) // every login gets its turn: none is answered busy
	attacker := map[string]string{"X-Forwarded-For": "203.0.113.80"}
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			code, _ := f.call(t, "POST", "/auth/login", attacker, map[string]string{"password": "wrong"})
			mu.Lock()
			counts[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[401] != 10 || counts[429] != 30 {
		t.Fatalf("outcomes %v: want exactly 10 passwords verified and 30 refused", counts)
	}
	if code, _ := f.call(t, "POST", "/auth/login", attacker, map[string]string{"password": "a-long-enough-password"}); code != http.StatusTooManyRequests {
		t.Fatalf("right password while locked: %d", code)
	}
}

// Item 9: the 10th failure answers 401 (it was 429), later attempts 429
// with Retry-After.
func TestAttackLockoutSemantics(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
	attacker := map[string]string{"X-Forwarded-For": "203.0.113.90", "Authorization": "Bearer wrong"}
	for i := range 10 {
		if code, body := f.call(t, "GET", "/auth/whoami", attacker, nil); code != 401 {
			t.Fatalf("failure %d: %d %v", i+1, code, body)
		}
	}
	resp, _ := f.do(t, "GET", "/auth/whoami", attacker, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("11th attempt: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// Item 10: after the idle timeout a browser kept sending its cookie; 11
// page loads gave 9x401 then 429, and even a fresh login was refused.
func TestAttackStaleCookieLocksOwnerOut(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.Auth.Mode, c.Gateway.Auth.Password = "password", "a-long-enough-password"
	})
	owner := map[string]string{"X-Forwarded-For": "198.51.100.40"}
	code, body := f.call(t, "POST", "/auth/login", owner, map[string]string{"password": "a-long-enough-password"})
	tok, _ := body["token"].(string)
	if code != 200 || tok == "" {
		t.Fatalf("login: %d %v", code, body)
	}
	cookie := with(owner, "Cookie", gwcookie.Session+"="+tok)
	if code, _ := f.call(t, "POST", "/auth/logout", with(cookie, "Origin", f.gw.URL), nil); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	for i := range 12 {
		if code, body := f.call(t, "GET", "/auth/whoami", cookie, nil); code != 401 || body["code"] != "unauthorized" {
			t.Fatalf("stale cookie %d: %d %v", i, code, body)
		}
	}
	if code, body := f.call(t, "POST", "/auth/login", owner, map[string]string{"password": "a-long-enough-password"}); code != 200 {
		t.Fatalf("fresh login after stale cookies: %d %v", code, body)
	}
}

// Item 11: a revoked device token came back when the device paired again
// within a second.
func TestAttackRevokedTokenRevived(t *testing.T) {
	f := newFixture(t, nil)
	dev := authtest.NewDevice()
	code, body := f.connectDevice(t, dev, "operator", nil)
	old, _ := body["token"].(string)
	if code != 200 || old == "" {
		t.Fatalf("pair: %d %v", code, body)
	}
	asDevice := func(tok string) int {
		code, _ := f.call(t, "GET", "/auth/whoami", map[string]string{"Authorization": "Bearer " + tok}, nil)
		return code
	}
	if asDevice(old) != 200 {
		t.Fatal("fresh device token refused")
	}
	if code, body := f.call(t, "POST", "/admin/devices/revoke", bearer, map[string]any{"deviceId": dev.ID}); code != 200 {
		t.Fatalf("revoke: %d %v", code, body)
	}
	if code, body := f.connectDevice(t, dev, "operator", nil); code != 200 || body["token"] == nil {
		t.Fatalf("re-pair: %d %v", code, body)
	}
	if asDevice(old) != 401 {
		t.Fatal("the token from before the revocation works again")
	}
}

// Item 13: with "Upgrade: x" and a slow body, a request escaped the body
// deadline while being proxied as an ordinary request. One predicate
// decides: it is an ordinary request, and it gets the deadline.
func TestAttackFakeUpgradeEscapesBodyDeadline(t *testing.T) {
	f := newFixture(t, nil, func(o *Options) { o.BodyReadTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", f.gw.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "POST /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+testToken+
		"\r\nUpgrade: x\r\nConnection: Upgrade\r\nContent-Length: 100\r\n\r\nonly a little")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		resp.Body.Close()
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the slow body held the connection past the deadline")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("answered after %v", took)
	}
	if h := f.upstream.lastHeader(); h != nil && (h.Get("Upgrade") != "" || h.Get("Connection") != "") {
		t.Fatalf("the upstream saw an upgrade request: %v", h)
	}
}

// Item 14: through a trusted hop in token mode, a client's X-Forwarded-User
// reached the upstream (OpenClaw's trusted-proxy default user header), and
// underscore spellings passed for a WSGI upstream. Every path (HTTP,
// WebSocket, channel delivery) sends the same, clean headers.
func TestAttackForgedIdentityHeaders(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Channels = map[string]config.Channel{"test": {DMPolicy: "open", AllowFrom: []string{"*"}}}
	})
	forged := map[string]string{
		"X-Forwarded-User": "alice", "X-Gateway-User": "alice", "Remote-User": "alice", "X-Auth-Request-User": "alice",
		"X-Forwarded-For": "203.0.113.7",
	}
	raw := "X_Gateway_User: alice\r\nX_Forwarded_For: 6.6.6.6\r\nRemote_User: alice\r\n"
	check := func(path string, h http.Header) {
		t.Helper()
		if h == nil {
			t.Fatalf("%s: nothing reached the upstream", path)
		}
		for k := range h {
			if strings.Contains(k, "_") {
				t.Errorf("%s: %s reached the upstream", path, k)
			}
		}
		for _, k := range []string{"X-Forwarded-User", "Remote-User", "X-Auth-Request-User"} {
			if v := h.Get(k); v != "" {
				t.Errorf("%s: %s = %q reached the upstream", path, k, v)
			}
		}
		if h.Get("X-Gateway-User") != "owner" || h.Get("X-Forwarded-For") != "203.0.113.7, 127.0.0.1" {
			t.Errorf("%s: identity %q, chain %q", path, h.Get("X-Gateway-User"), h.Get("X-Forwarded-For"))
		}
	}
	// HTTP, with underscore headers sent raw.
	send := func(req string) {
		c, err := net.Dial("tcp", f.gw.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	hdrs := ""
	for k, v := range forged {
		hdrs += k + ": " + v + "\r\n"
	}
	send("GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + testToken + "\r\n" + hdrs + raw + "Connection: close\r\n\r\n")
	httpHeaders := f.upstream.lastHeader()
	check("http", httpHeaders)
	// WebSocket.
	u := "ws" + strings.TrimPrefix(f.gw.URL, "http") + "/ws"
	wh := http.Header{"Authorization": {"Bearer " + testToken}}
	for k, v := range forged {
		wh.Set(k, v)
	}
	wh["X_Gateway_User"] = []string{"alice"}
	c, _, err := websocket.Dial(context.Background(), u, &websocket.DialOptions{HTTPHeader: wh})
	if err != nil {
		t.Fatal(err)
	}
	c.CloseNow()
	check("websocket", f.upstream.lastHeader())
	// Channel delivery.
	body := `{"from":"+15551234567","text":"hi"}`
	send("POST /channels/test/inbound HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + testToken + "\r\n" + hdrs + raw +
		"Content-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\nConnection: close\r\n\r\n" + body)
	delivery := f.upstream.lastHeader()
	check("delivery", delivery)
	// The three paths agree on every identity and forwarding header.
	for _, k := range []string{"X-Gateway-User", "X-Gateway-Auth", "X-Forwarded-For", "X-Real-Ip", "X-Forwarded-Proto", "X-Forwarded-Host"} {
		if httpHeaders.Get(k) != delivery.Get(k) {
			t.Errorf("%s: http %q, delivery %q", k, httpHeaders.Get(k), delivery.Get(k))
		}
	}
}

// Item 15 (part): the origin refusal names the Origin it refused.
func TestOriginRefusalNamesTheOrigin(t *testing.T) {
	f := newFixture(t, nil)
	u := "ws" + strings.TrimPrefix(f.gw.URL, "http") + "/ws"
	h := http.Header{"Origin": {"https://evil.example"}, "Authorization": {"Bearer " + testToken}}
	_, resp, err := websocket.Dial(context.Background(), u, &websocket.DialOptions{HTTPHeader: h})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v %v", resp, err)
	}
	var e struct{ Error, Code string }
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &e)
	if e.Code != "origin_not_allowed" || !strings.Contains(e.Error, "https://evil.example") {
		t.Fatalf("refusal %s does not name the origin", b)
	}
}

// Issue 15, item 8: the Host-header origin fallback (an Origin equal to the
// request's own scheme and Host is accepted on WebSocket upgrades) holds
// only for Hosts the allowlist serves; a page whose Host is not served
// (a DNS-rebinding name) is refused before its Origin is looked at.
func TestHostHeaderOriginFallbackOnlyForServedHosts(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Gateway.AllowedHosts = []string{"agent.example.com"} })
	u := "ws" + strings.TrimPrefix(f.gw.URL, "http") + "/ws"
	dial := func(host string) (*http.Response, error) {
		h := http.Header{"Origin": {"http://" + host}, "Authorization": {"Bearer " + testToken}}
		c, resp, err := websocket.Dial(context.Background(), u, &websocket.DialOptions{HTTPHeader: h, Host: host})
		if err == nil {
			c.CloseNow()
		}
		return resp, err
	}
	if resp, err := dial("agent.example.com"); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("own origin on a served Host: %v %v", resp, err)
	}
	for _, host := range []string{"rebind.evil.example", "agent.example.com.evil.example"} {
		resp, err := dial(host)
		if err == nil || resp == nil || resp.StatusCode != http.StatusMisdirectedRequest {
			t.Fatalf("own origin on %s (not served): %v %v", host, resp, err)
		}
	}
}

// Second round, item 1: with maxAttempts 1, one wrong token from each of
// 10,050 /64s of one /48 locked every /64 but never the /48, then evicted
// the first /64's lock, which got 200 with the right token again. Every
// lock now counts against its /48 and no lock in force is evicted.
func TestAttackLockoutFloodNeverUnlocks(t *testing.T) {
	run := func(t *testing.T, f *fixture, addr string, tok string) int {
		t.Helper()
		code, _ := f.call(t, "GET", "/auth/whoami", map[string]string{"X-Forwarded-For": addr, "Authorization": "Bearer " + tok}, nil)
		return code
	}
	t.Run("maxAttempts 1", func(t *testing.T) {
		f := newFixture(t, func(c *config.Config) {
			c.Gateway.TrustedProxies = []string{"127.0.0.1"}
			c.Gateway.Auth.RateLimit.MaxAttempts = 1
		})
		first := "2001:db8:bad:0::1"
		if code := run(t, f, first, "wrong"); code != 401 {
			t.Fatalf("first guess: %d", code)
		}
		verified := 0
		deadline := time.Now().Add(60 * time.Second)
		for i := 1; i <= 10_050 && time.Now().Before(deadline); i++ {
			switch code := run(t, f, fmt.Sprintf("2001:db8:bad:%x::1", i), "wrong"); code {
			case 401:
				verified++
			case 429:
			default:
				t.Fatalf("guess from /64 %d: %d", i, code)
			}
		}
		if verified != 0 {
			t.Errorf("%d more guesses were verified after the /48's first lock", verified)
		}
		if code := run(t, f, first, testToken); code != http.StatusTooManyRequests {
			t.Fatalf("the first /64 with the right token after the flood: %d (its lock was undone)", code)
		}
		if code := run(t, f, "2001:db8:600d::1", testToken); code != 200 {
			t.Fatalf("the owner in another /48: %d", code)
		}
	})
	t.Run("default limits: one /48 gets a bounded number of guesses", func(t *testing.T) {
		f := newFixture(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
		// The attacker's best use of a /48 inside one window: nine
		// guesses from each /64 (never locking it), then more /64s.
		verified := 0
		for i := 0; i < 1000; i++ {
			addr := fmt.Sprintf("2001:db8:bad:%x::1", i)
			locked := false
			for range 9 {
				switch code := run(t, f, addr, "wrong"); code {
				case 401:
					verified++
				case 429:
					locked = true
				default:
					t.Fatalf("guess: %d", code)
				}
				if locked {
					break
				}
			}
			if locked && run(t, f, fmt.Sprintf("2001:db8:bad:%x::2", i+5000), testToken) == http.StatusTooManyRequests {
				break
			}
		}
		// maxAttempts^2 per window: ten /64s with nine each, then ten on
		// the /48's own bucket (the tenth engages its lock).
		if verified > 100 {
			t.Fatalf("%d guesses verified from one /48 in one window", verified)
		}
		if code := run(t, f, "2001:db8:bad:ffff::1", testToken); code != http.StatusTooManyRequests {
			t.Fatalf("a fresh /64 of the attacking /48 with the right token: %d", code)
		}
		if code := run(t, f, "2001:db8:600d::1", testToken); code != 200 {
			t.Fatalf("the owner in another /48: %d", code)
		}
		t.Logf("one /48 got %d guesses verified before it was locked", verified)
	})
}

// Second round, item 2: forwarding and identity-proxy headers outside the
// old fixed list reached the upstream from any authenticated client. They
// are removed by family, from trusted peers too, on every path.
func TestAttackForwardingFamiliesNeverReachUpstream(t *testing.T) {
	forged := []string{
		"X-Forwarded-Client-Cert", "X-Forwarded-Access-Token", "X-Forwarded-Uri", "X-Forwarded-Method",
		"X-Forwarded-Scheme", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded", "X-Forwarded-User",
		"X-Forwarded-Email", "X-Forwarded-Groups", "X-Forwarded-Preferred-Username", "Forwarded",
		"X-Original-URL", "X-Original-URI", "X-Original-Method", "X-Rewrite-URL", "X-Client-IP", "True-Client-IP",
		"CF-Connecting-IP", "Fastly-Client-IP", "Front-End-Https", "X-Pomerium-Jwt-Assertion", "X-Pomerium-Claim-Email",
		"Cf-Access-Jwt-Assertion", "Cf-Access-Authenticated-User-Email", "Tailscale-User-Login", "Tailscale-User-Name",
		"X-Goog-Iap-Jwt-Assertion", "X-Goog-Authenticated-User-Email", "X-Amzn-Oidc-Identity", "X-Amzn-Oidc-Data",
		"X-Auth-Request-User", "X-Auth-Request-Email", "Remote-User", "Remote-Email", "Remote-Groups", "Remote-Name",
		"X-Remote-User", "X-Gateway-Role", "X-Gateway-Groups", "X-OpenClaw-Scopes", "X-Openclaw-Anything",
	}
	for _, via := range []string{"direct", "trusted proxy"} {
		t.Run(via, func(t *testing.T) {
			f := newFixture(t, nil)
			h := map[string]string{"Authorization": "Bearer " + testToken, "X-Kept": "yes"}
			for _, k := range forged {
				h[k] = "forged"
			}
			// Forwarded is one of the headers that decide: an untrusted
			// loopback peer sending it is refused outright, and a
			// trusted one must send a valid one.
			delete(h, "Forwarded")
			if via == "trusted proxy" {
				f = newFixture(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
				h["X-Forwarded-For"] = "203.0.113.7"
				h["Forwarded"] = "for=198.51.100.1"
			}
			// X-Goog-Authenticated-User-Email is not in a removed family
			// (only Google IAP's signed header is); drop it from the
			// expectation below but keep sending it.
			if code, body := f.call(t, "GET", "/app", h, nil); code != 200 {
				t.Fatalf("proxied request: %d %v", code, body)
			}
			got := f.upstream.lastHeader()
			if v := got.Get("Forwarded"); v != "" {
				t.Errorf("Forwarded %q reached the upstream", v)
			}
			for _, k := range forged {
				if k == "X-Goog-Authenticated-User-Email" {
					continue
				}
				for _, v := range got.Values(k) {
					if v == "forged" {
						t.Errorf("%s: forged value reached the upstream", k)
					}
				}
			}
			if got.Get("X-Kept") != "yes" {
				t.Error("an ordinary header was removed")
			}
		})
	}
}

// Second round, item 4: sign-out skipped the same-origin check unless the
// body was url-encoded: text/plain or multipart with Origin: null or
// Sec-Fetch-Site: cross-site revoked the session. Every change
// authenticated by a cookie now passes one check, whatever its type.
func TestAttackCookieChangesNeedSameOrigin(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Gateway.Auth.Mode, c.Gateway.Auth.Password = "password", "a-long-enough-password"
	})
	code, body := f.call(t, "POST", "/auth/login", nil, map[string]string{"password": "a-long-enough-password"})
	tok, _ := body["token"].(string)
	if code != 200 || tok == "" {
		t.Fatalf("login: %d %v", code, body)
	}
	cookie := map[string]string{"Cookie": gwcookie.Session + "=" + tok}
	alive := func() bool {
		code, _ := f.call(t, "GET", "/auth/whoami", cookie, nil)
		return code == 200
	}
	bodies := map[string]string{
		"text/plain":                        "x",
		"multipart/form-data; boundary=b":   "--b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nx\r\n--b--\r\n",
		"application/x-www-form-urlencoded": "csrf=x",
		"application/json":                  "{}",
	}
	pages := []map[string]string{
		{"Origin": "null"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site", "Origin": "http://sibling.example"},
		{"Origin": "https://evil.example"},
		{}, // says nothing
	}
	for ct, b := range bodies {
		for _, page := range pages {
			for _, path := range []string{"/auth/logout", "/admin/sessions/revoke-all", "/admin/devices/approve"} {
				h := with(with(cookie, "Content-Type", ct), "Accept", "application/json")
				for k, v := range page {
					h[k] = v
				}
				resp, data := f.do(t, "POST", path, h, strings.NewReader(b))
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s %s from %v: %d %s", path, ct, page, resp.StatusCode, data)
				}
			}
		}
	}
	if !alive() {
		t.Fatal("a cross-origin post ended the session")
	}
	// Control: the page of this origin signs out.
	if code, body := f.call(t, "POST", "/auth/logout", with(with(cookie, "Origin", f.gw.URL), "Sec-Fetch-Site", "same-origin"), nil); code != 200 {
		t.Fatalf("same-origin sign-out: %d %v", code, body)
	}
	if alive() {
		t.Fatal("sign-out did not end the session")
	}
}

// Second round, item 5: during a Redis outage, seven requests with a valid
// session bearer got 503 x5 then 429, and the shared token from the same
// client got 429. A credential the store could not check is answered 503
// and never counted.
func TestAttackOutageNeverLocksOutAValidSession(t *testing.T) {
	srv := redistest.Start(t, "")
	f := newFixtureOn(t, store.Options{Backend: store.BackendRedis, URL: srv.URL()}, func(c *config.Config) {
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.Auth.RateLimit.MaxAttempts = 3
	})
	client := map[string]string{"X-Forwarded-For": "198.51.100.50"}
	code, body := f.call(t, "POST", "/auth/login", client, map[string]string{"token": testToken})
	session, _ := body["token"].(string)
	if code != 200 || session == "" {
		t.Fatalf("sign-in: %d %v", code, body)
	}
	srv.Pause()
	defer srv.Resume()
	for i := range 10 {
		if code, body := f.call(t, "GET", "/auth/whoami", with(client, "Authorization", "Bearer "+session), nil); code != http.StatusServiceUnavailable {
			t.Fatalf("session %d during the outage: %d %v", i, code, body)
		}
	}
	if code, body := f.call(t, "GET", "/auth/whoami", with(client, "Authorization", "Bearer "+testToken), nil); code != 200 {
		t.Fatalf("shared token after the session checks: %d %v", code, body)
	}
	// A guess at the shared token is still a guess during the outage:
	// counted, never an oracle.
	for i := range 3 {
		if code, _ := f.call(t, "GET", "/auth/whoami", with(client, "Authorization", fmt.Sprintf("Bearer guess-%d", i)), nil); code != 401 {
			t.Fatalf("guess %d during the outage: %d", i, code)
		}
	}
	if code, _ := f.call(t, "GET", "/auth/whoami", with(client, "Authorization", "Bearer "+testToken), nil); code != http.StatusTooManyRequests {
		t.Fatalf("shared token after three guesses: %d", code)
	}
}

// Second round, item 6: 400 wrong passwords on /auth/login left
// gateway_auth_total unchanged. Every way in counts its outcomes by method.
func TestAttackFailedSignInsAreCounted(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.Auth.Mode, c.Gateway.Auth.Password = "password", "a-long-enough-password"
	})
	for i := range 12 {
		h := map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)}
		if code, _ := f.call(t, "POST", "/auth/login", h, map[string]string{"password": "wrong"}); code != 401 {
			t.Fatalf("wrong password %d: %d", i, code)
		}
	}
	for range 11 { // ten failures, then locked
		f.call(t, "POST", "/auth/login", map[string]string{"X-Forwarded-For": "198.51.100.77"}, map[string]string{"password": "wrong"})
	}
	code, body := f.call(t, "POST", "/auth/login", nil, map[string]string{"password": "a-long-enough-password"})
	session, _ := body["token"].(string)
	if code != 200 {
		t.Fatalf("sign-in: %d", code)
	}
	// A device proof with a bad signature.
	dev := authtest.NewDevice()
	_, ch := f.call(t, "POST", "/auth/device/challenge", nil, map[string]any{})
	req := dev.Connect(ch["nonce"].(string), "operator", time.Now())
	req.Signature = strings.Repeat("A", len(req.Signature))
	if code, _ := f.call(t, "POST", "/auth/device/connect", nil, req); code != 401 && code != 400 {
		t.Fatalf("forged device proof: %d", code)
	}
	if code, _ := f.call(t, "GET", "/auth/whoami", map[string]string{"Authorization": "Bearer " + session}, nil); code != 200 {
		t.Fatalf("whoami with the session: %d", code)
	}
	resp, data := f.do(t, "GET", "/metrics", map[string]string{"Authorization": "Bearer " + session}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`gateway_auth_total{method="password",result="failure"} 22`,
		`gateway_auth_total{method="password",result="locked"} 1`,
		`gateway_auth_total{method="password",result="success"} 1`,
		`gateway_auth_total{method="device",result="failure"} 1`,
		`gateway_auth_total{method="session",result="success"} 1`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(string(data), "gateway_auth_total"))
		}
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// rawExchange sends one raw HTTP/1.1 request and returns the status line's
// code and the body.
func (f *fixture) rawExchange(t *testing.T, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", f.gw.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Second round, item 7: two Origin lines on a WebSocket upgrade were
// accepted and both reached the upstream.
func TestAttackTwoOriginsRefused(t *testing.T) {
	f := newFixture(t, nil)
	n := f.upstream.count()
	for _, req := range []string{
		"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + testToken + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://127.0.0.1\r\nOrigin: https://evil.example\r\n\r\n",
		"GET /app HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + testToken + "\r\nOrigin: http://127.0.0.1\r\nOrigin: http://127.0.0.1\r\nConnection: close\r\n\r\n",
		"GET /app HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nAuthorization: Bearer " + testToken + "\r\nConnection: close\r\n\r\n",
	} {
		if code, body := f.rawExchange(t, req); code != http.StatusBadRequest {
			t.Errorf("%q: %d %s", strings.SplitN(req, "\r\n", 2)[0], code, body)
		}
	}
	if f.upstream.count() != n {
		t.Fatal("a request with two Origins or two Hosts reached the upstream")
	}
	// Control: one Origin, its own, upgrades.
	if code, _ := f.rawExchange(t, "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+testToken+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://127.0.0.1\r\n\r\n"); code != http.StatusSwitchingProtocols {
		t.Fatalf("one Origin: %d", code)
	}
}

// Second round, item 8: /ADMIN/audit, /%61dmin/audit, /admin%2Faudit and
// /admin;/audit were proxied to the agent with the caller's identity.
func TestAttackDisguisedOwnRoutesRefused(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{"/ADMIN/audit", "/%61dmin/audit", "/admin%2Faudit", "/admin;/audit", "/auth%2Flogin",
		"/auth/whoami;x", "//admin/audit", "/x/../admin/audit", "/%2561dmin/audit", "/Metrics"} {
		n := f.upstream.count()
		code, body := f.rawExchange(t, "GET "+p+" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+testToken+"\r\nConnection: close\r\n\r\n")
		if code != http.StatusBadRequest || !strings.Contains(body, "ambiguous_path") {
			t.Errorf("%s: %d %s", p, code, body)
		}
		if f.upstream.count() != n {
			t.Errorf("%s reached the upstream", p)
		}
	}
	if !strings.Contains(f.logs.String(), `"code":"ambiguous_path"`) {
		t.Error("the refusals are not in the access log")
	}
	// Controls: the plain spellings are the gateway's, other paths the agent's.
	for p, want := range map[string]int{"/admin/audit": 200, "/auth/whoami": 200, "/administrator": 200, "/app/ADMIN": 200} {
		if code, body := f.rawExchange(t, "GET "+p+" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+testToken+"\r\nConnection: close\r\n\r\n"); code != want {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
}

// Second round, item 9: 9 MB of an 11 MB chunked upload reached the
// upstream before the 413. Streaming means some of it arrives; the
// upstream must never see a complete message (no terminating chunk), so it
// cannot act on a truncated body as if it were whole.
func TestAttackOversizedChunkedBodyNeverComplete(t *testing.T) {
	f := newFixture(t, nil)
	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for range 11 << 20 / len(chunk) {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		_ = pw.Close()
	}()
	resp, body := f.do(t, "POST", "/big", bearer, pr)
	_ = pr.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("11 MB chunked: %d %s", resp.StatusCode, body)
	}
	waitUntil(t, func() bool {
		f.upstream.mu.Lock()
		defer f.upstream.mu.Unlock()
		return f.upstream.bigBytes > 0
	})
	f.upstream.mu.Lock()
	defer f.upstream.mu.Unlock()
	if f.upstream.bigComplete {
		t.Fatalf("the upstream received a complete message of %d bytes", f.upstream.bigBytes)
	}
	if f.upstream.bigBytes > 10<<20 {
		t.Fatalf("the upstream received %d bytes, past the 10 MiB cap", f.upstream.bigBytes)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}

// Second round, item 10: 110 requests from eleven /24s took the 100 global
// pending slots, and a legitimate device then got 429 too_many_pending for
// five minutes. A network holds at most five.
func TestAttackPendingQueueNeedsTwentyNetworks(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
	placed := 0
	for n := 0; n <= 10; n++ {
		for host := 1; host <= 10; host++ {
			code, body := f.connectDevice(t, authtest.NewDevice(), "operator", map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.%d.%d", n, host)})
			switch {
			case code == http.StatusAccepted:
				placed++
			case code == http.StatusTooManyRequests && body["code"] == "too_many_pending":
			default:
				t.Fatalf("flood request: %d %v", code, body)
			}
		}
	}
	if placed > 55 {
		t.Fatalf("eleven /24s placed %d pending requests", placed)
	}
	if code, body := f.connectDevice(t, authtest.NewDevice(), "operator", map[string]string{"X-Forwarded-For": "198.51.100.5"}); code != http.StatusAccepted {
		t.Fatalf("a legitimate device after the flood: %d %v", code, body)
	}
}
