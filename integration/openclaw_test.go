package integration

// The gateway in front of the real OpenClaw from npm (the version pinned in
// scripts/install-openclaw.sh), in OpenClaw's own trusted-proxy mode:
// TLS nginx -> gateway -> OpenClaw, all on loopback with random ports.
//
// OpenClaw refuses every proxied client whose address is loopback
// (proxy_attribution_required), and tests only have loopback. So the
// requests that must reach OpenClaw play a remote client the one way a
// loopback test can: they come from a trusted proxy (127.0.0.1) that names a
// documentation address as the client, directly or through nginx with
// X-Forwarded-For set to it.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"gateway/auth/authtest"
	"gateway/config"
)

// remoteClient is the documentation address requests play when they must
// reach OpenClaw as a non-loopback client.
const remoteClient = "203.0.113.20"

// requireOpenClaw returns Node 24 and OpenClaw's entry point from the test
// cache. Missing is a failure under CI and a skip elsewhere.
func requireOpenClaw(t *testing.T) (node, mjs string) {
	t.Helper()
	node = requireNode(t)
	mjs = filepath.Join(testCache(), "openclaw", "node_modules", "openclaw", "openclaw.mjs")
	if _, err := os.Stat(mjs); err != nil {
		missingComponent(t, "OpenClaw not found in "+testCache()+"; run sh scripts/install-openclaw.sh (make test does this)")
	}
	return node, mjs
}

// openClaw is a running OpenClaw gateway.
type openClaw struct {
	url     string
	home    string
	started time.Duration
}

// openClawEnv is a clean environment for OpenClaw processes: nothing of
// the test runner's OpenClaw or gateway settings leaks in.
func openClawEnv(home string, extra ...string) []string {
	// TMPDIR, XDG_RUNTIME_DIR and XDG_CACHE_HOME keep OpenClaw's temp files,
	// state locks and caches in the test's own directory, out of /tmp.
	tmp := filepath.Join(home, "tmp")
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "TMPDIR=" + tmp, "XDG_RUNTIME_DIR=" + tmp,
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "NO_COLOR=1"}
	return append(env, extra...)
}

// startOpenClaw writes OpenClaw's config (the OpenClaw side of the pairing
// from docs/openclaw.md) into a private HOME and runs `openclaw gateway run`
// until /ready says ready.
func startOpenClaw(t *testing.T, port int, allowedOrigin string) *openClaw {
	t.Helper()
	node, mjs := requireOpenClaw(t)
	home := t.TempDir()
	for _, d := range []string{".openclaw", "tmp", "logs"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`{
  logging: { file: %q },
  gateway: { mode: "local", bind: "loopback", port: %d, trustedProxies: ["127.0.0.1"],
    controlUi: { allowedOrigins: [%q] },
    auth: { mode: "trusted-proxy", identityScopes: { owner: ["operator.admin", "operator.read", "operator.write", "operator.sessions.read", "operator.sessions.write", "operator.approvals", "operator.questions", "operator.pairing", "operator.talk", "operator.talk.secrets"],
        "kid@example.com": ["operator.read"] },
      trustedProxy: { userHeader: "x-gateway-user", requiredHeaders: ["x-gateway-auth"], allowUsers: ["owner", "kid@example.com"],
        allowLoopback: true, deviceAutoApprove: { enabled: true } } } } }`,
		filepath.Join(home, "logs", "openclaw.log"), port, allowedOrigin)
	if err := os.WriteFile(filepath.Join(home, ".openclaw", "openclaw.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cleanStateLocks(t)
	logs := &strings.Builder{}
	cmd := exec.Command(node, mjs, "gateway", "run")
	cmd.Dir = home
	cmd.Env = openClawEnv(home)
	cmd.Stdout, cmd.Stderr = logs, logs
	// OpenClaw starts helper processes; the group goes down together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(cmd, syscall.SIGTERM, true, 15*time.Second) })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/ready")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), `"ready":true`) {
				return &openClaw{url: url, home: home, started: time.Since(start)}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("OpenClaw did not become ready in 90 s; its output:\n%s", logs)
	return nil
}

// cleanStateLocks removes, when the test ends, the lock files OpenClaw
// creates in /tmp/openclaw-state-locks-<uid>: OpenClaw 2026.9 hardcodes
// /tmp there (TMPDIR and XDG_RUNTIME_DIR do not move it). Files that were
// there before the test are left alone.
func cleanStateLocks(t *testing.T) {
	dir := fmt.Sprintf("/tmp/openclaw-state-locks-%d", os.Getuid())
	before := map[string]bool{}
	entries, err := os.ReadDir(dir)
	existed := err == nil
	for _, e := range entries {
		before[e.Name()] = true
	}
	t.Cleanup(func() {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !before[e.Name()] {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
		if !existed {
			_ = os.Remove(dir) // only if empty
		}
	})
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certPath, keyPath
}

// startTLSNginx runs docs/proxies/nginx-tls.conf on addr in front of the
// gateway, with a test certificate, exactly as published: the browser and
// the CLI behind it are the person on the gateway's own host.
func startTLSNginx(t *testing.T, addr, gatewayAddr, certPath, keyPath string) {
	t.Helper()
	startNginxFileAt(t, "nginx-tls.conf", addr, gatewayAddr, func(s string) string {
		s = strings.Replace(s, "/etc/ssl/agent.example.com/fullchain.pem", certPath, 1)
		return strings.Replace(s, "/etc/ssl/agent.example.com/privkey.pem", keyPath, 1)
	})
}

// asRemote are the headers of a request that comes to the gateway from
// its trusted proxy (127.0.0.1) on behalf of a remote client.
func asRemote(h map[string]string) map[string]string {
	out := map[string]string{"X-Forwarded-For": remoteClient}
	for k, v := range h {
		out[k] = v
	}
	return out
}

func request(t *testing.T, method, url string, h map[string]string, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		if strings.Contains(k, "_") {
			req.Header[k] = []string{v} // as sent, not canonicalised
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// connectOverWebSocket answers OpenClaw's challenge with a minimal,
// CLI-shaped operator connect and returns the hello payload.
func connectOverWebSocket(t *testing.T, ctx context.Context, c *websocket.Conn) map[string]any {
	t.Helper()
	if _, msg, err := c.Read(ctx); err != nil || !strings.Contains(string(msg), "connect.challenge") {
		t.Fatalf("first frame %s, %v", msg, err)
	}
	req, _ := json.Marshal(map[string]any{"type": "req", "id": "1", "method": "connect", "params": map[string]any{
		"minProtocol": 4, "maxProtocol": 4,
		"client": map[string]any{"id": "cli", "version": "1.0.0", "platform": "linux", "mode": "cli"},
		"role":   "operator", "scopes": []string{"operator.read", "operator.write"},
	}})
	if err := c.Write(ctx, websocket.MessageText, req); err != nil {
		t.Fatal(err)
	}
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("no answer to connect: %v", err)
		}
		var frame struct {
			Type    string         `json:"type"`
			ID      string         `json:"id"`
			OK      bool           `json:"ok"`
			Payload map[string]any `json:"payload"`
			Error   any            `json:"error"`
		}
		_ = json.Unmarshal(msg, &frame)
		if frame.Type == "res" && frame.ID == "1" {
			if !frame.OK {
				t.Fatalf("connect refused: %s", msg)
			}
			return frame.Payload
		}
	}
}

// familyRules are the README's Capabilities example.
var familyRules = []config.AccessRule{
	{Groups: []string{"family"}, Paths: []string{"/tools/invoke"}, Tools: []string{"exec", "spawn", "shell", "fs_write", "fs_delete", "fs_move", "apply_patch",
		"terminal", "portal", "sessions_spawn", "sessions_send", "conversations_list", "conversations_send", "conversations_turn", "automations",
		"gateway", "plugins", "nodes", "computer", "mobile_ui", "openclaw"}, Action: "deny"},
	{Groups: []string{"family"}, Paths: []string{"/v1/*"}, Action: "deny"},
}

// dialAs opens a WebSocket to url from the loopback address src.
func dialAs(t *testing.T, ctx context.Context, url, src string, h http.Header) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h, HTTPClient: clientFrom(src)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadLimit(16 << 20)
	return c
}

// rpcResult is an OpenClaw response frame.
type rpcResult struct {
	OK      bool
	Payload any
	Error   any
}

var rpcID int

// rpc sends one OpenClaw RPC request and waits for its response.
func rpc(t *testing.T, ctx context.Context, c *websocket.Conn, method, params string) rpcResult {
	t.Helper()
	rpcID++
	id := fmt.Sprintf("t%d", rpcID)
	msg := fmt.Sprintf(`{"type":"req","id":%q,"method":%q,"params":%s}`, id, method, params)
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("no answer to %s: %v", method, err)
		}
		var f struct {
			Type, ID string
			OK       bool
			Payload  any
			Error    any
		}
		_ = json.Unmarshal(b, &f)
		if f.Type == "res" && f.ID == id {
			return rpcResult{OK: f.OK, Payload: f.Payload, Error: f.Error}
		}
	}
}

// rawRequest sends a request-target byte for byte from the loopback
// address src.
func rawRequest(t *testing.T, addr, src, method, target string, h map[string]string, body string) (int, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n", method, target, addr, len(body))
	for k, v := range h {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func TestOpenClaw(t *testing.T) {
	// Mostly waiting on OpenClaw (start-up, the CLI, an idle pause):
	// alongside the other parallel tests it costs the run far less.
	t.Parallel()
	nginxAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	oc := startOpenClaw(t, freePort(t), "https://"+nginxAddr)
	t.Logf("OpenClaw ready after %v", oc.started.Round(100*time.Millisecond))
	jwksURL, access := accessIssuer(t)
	gw := startGateway(t, func(c *config.Config) {
		c.Gateway.Upstream = oc.url
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		// A person besides the owner: a family member signed in at an
		// access proxy (played from 127.0.0.2), with the README's
		// family rules.
		c.Gateway.Auth.Assertion = &config.Assertion{JWKSURL: jwksURL, Issuer: "https://team.cloudflareaccess.com", Audience: "app-aud", Proxies: []string{"127.0.0.2"}}
		c.Gateway.Users = map[string]config.Person{"kid@example.com": {Groups: []string{"family"}}}
		c.Gateway.Groups = map[string]config.Group{"family": {Scopes: []string{"operator.read"}}}
		c.Gateway.Access = familyRules
	})
	base := "http://" + gw.addr
	owner := map[string]string{"Authorization": "Bearer " + token}
	kid := access(map[string]any{"email": "kid@example.com"})

	t.Run("no credential is refused by the gateway", func(t *testing.T) {
		if code, body := request(t, "GET", base+"/", asRemote(nil), ""); code != 401 {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("Control UI", func(t *testing.T) {
		code, body := request(t, "GET", base+"/", asRemote(owner), "")
		if code != 200 || !strings.Contains(body, "<title>OpenClaw Control</title>") {
			t.Fatalf("%d %.200s", code, body)
		}
	})
	t.Run("tools/invoke with both credentials side by side", func(t *testing.T) {
		h := asRemote(map[string]string{"Proxy-Authorization": "Bearer " + token, "Authorization": "Bearer not-for-the-gateway"})
		code, body := request(t, "POST", base+"/tools/invoke", h, `{"tool":"sessions_list","args":{}}`)
		if code != 200 || !strings.Contains(body, `"ok":true`) {
			t.Fatalf("%d %s", code, body)
		}
	})
	wsURL := "ws://" + gw.addr + "/"
	t.Run("WebSocket connect as the owner", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{
			"Authorization": {"Bearer " + token}, "X-Forwarded-For": {remoteClient}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		c.SetReadLimit(16 << 20)
		hello := connectOverWebSocket(t, ctx, c)
		a, _ := hello["auth"].(map[string]any)
		scopes := fmt.Sprint(a["scopes"])
		if hello["type"] != "hello-ok" || a["method"] != "trusted-proxy" || !strings.Contains(scopes, "operator.read") || !strings.Contains(scopes, "operator.write") {
			t.Fatalf("hello = %v / auth %v", hello["type"], a)
		}
	})
	t.Run("bearer subprotocol handshake", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"bearer." + token},
			HTTPHeader: http.Header{"X-Forwarded-For": {remoteClient}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		c.SetReadLimit(16 << 20)
		if c.Subprotocol() != "bearer."+token {
			t.Fatalf("101 names %q", c.Subprotocol())
		}
		if hello := connectOverWebSocket(t, ctx, c); hello["type"] != "hello-ok" {
			t.Fatalf("hello = %v", hello["type"])
		}
	})
	t.Run("forged identity headers never reach OpenClaw as a user", func(t *testing.T) {
		// A device approved as operator is not OpenClaw's owner; with a
		// forged owner identity in every spelling, OpenClaw must still
		// see the device's user and refuse it.
		dev := authtest.NewDevice()
		tok := pairDevice(t, base, dev)
		forged := asRemote(map[string]string{"Authorization": "Bearer " + tok,
			"X-Gateway-User": "owner", "X-Forwarded-User": "owner", "X_Gateway_User": "owner", "X-Gateway-Auth": "token"})
		code, body := request(t, "POST", base+"/tools/invoke", forged, `{"tool":"sessions_list","args":{}}`)
		// OpenClaw's own refusal ({"error":{"type":...}}), not the
		// gateway's: the request did reach OpenClaw, as the device.
		if code == 200 || !strings.Contains(body, `"type":"`) {
			t.Fatalf("OpenClaw took a forged identity, or never saw the request: %d %s", code, body)
		}
		t.Logf("OpenClaw's answer to the device with forged owner headers: %d %s", code, body)
	})
	t.Run("the person on the gateway's host reaches OpenClaw as the owner", func(t *testing.T) {
		// No X-Forwarded-For trick: the client is this host. OpenClaw
		// refuses a forwarded loopback client and ignores the user of
		// a request without forwarding headers; the gateway names the
		// host's own address instead (gateway.sameHostClientAddress).
		code, body := request(t, "POST", base+"/tools/invoke", owner, `{"tool":"sessions_list","args":{}}`)
		if code != 200 || !strings.Contains(body, `"ok":true`) {
			t.Fatalf("/tools/invoke from this host: %d %s", code, body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		c.SetReadLimit(16 << 20)
		hello := connectOverWebSocket(t, ctx, c)
		if a, _ := hello["auth"].(map[string]any); hello["type"] != "hello-ok" || a["method"] != "trusted-proxy" {
			t.Fatalf("WebSocket connect from this host: %v", hello)
		}
		if !strings.Contains(gw.logs.String(), `"sameHost":true`) {
			t.Fatal("the access log does not say sameHost")
		}
	})
	t.Run("GET and POST after 6 s idle", func(t *testing.T) {
		time.Sleep(6 * time.Second)
		if code, body := request(t, "POST", base+"/tools/invoke", asRemote(owner), `{"tool":"sessions_list","args":{}}`); code != 200 {
			t.Fatalf("POST after idle: %d %s", code, body)
		}
		time.Sleep(6 * time.Second)
		if code, body := request(t, "GET", base+"/", asRemote(owner), ""); code != 200 {
			t.Fatalf("GET after idle: %d %.200s", code, body)
		}
	})
	// The TLS nginx of docs/proxies/nginx-tls.conf, on this host, for the
	// browser and the CLI of the person on this host.
	cert, key := selfSigned(t, t.TempDir())
	startTLSNginx(t, nginxAddr, gw.addr, cert, key)
	t.Run("Control UI in Chromium after signing in", func(t *testing.T) {
		ctx := newChromium(t, chromedp.Flag("ignore-certificate-errors", true))
		origin := "https://" + nginxAddr
		run(t, ctx, chromedp.Navigate(origin+"/"), chromedp.WaitVisible(css(`input[name=token]`)))
		signInWith(t, ctx, "token", token)
		// Behind https the session cookie is __Host- prefixed and Secure.
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{origin}})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range res.Cookies {
			names = append(names, c.Name)
			if c.Name == "__Host-gateway_session" && (!c.Secure || !c.HTTPOnly || c.Path != "/") {
				t.Fatalf("session cookie behind https: %+v", c)
			}
		}
		if !slices.Contains(names, "__Host-gateway_session") || slices.Contains(names, "gateway_session") {
			t.Fatalf("cookies behind https: %v", names)
		}
		// The UI is connected: its status line says so on the chat, or,
		// with the owner's admin scope and no model configured yet, it
		// opens OpenClaw's model setup, whose providers it loads over the
		// WebSocket.
		deadline := time.Now().Add(45 * time.Second)
		for !strings.Contains(text(t, ctx), "Connected") && !strings.Contains(text(t, ctx), "Connect provider") {
			if time.Now().After(deadline) {
				t.Fatalf("the Control UI never connected: %q at %s", text(t, ctx), location(t, ctx))
			}
			time.Sleep(250 * time.Millisecond)
		}
		if title := eval[string](t, ctx, `document.title`); !strings.Contains(title, "OpenClaw") {
			t.Fatalf("title %q, page %q", title, text(t, ctx))
		}
		// Its WebSocket went through the gateway as the owner's session.
		if !regexp.MustCompile(`"status":101,[^}]*"route":"websocket"[^}]*"user":"owner","auth":"session"`).MatchString(gw.logs.String()) {
			t.Fatalf("no WebSocket upgrade by the owner's session in the gateway's log")
		}
	})
	t.Run("a family member gets exactly their scopes, and OpenClaw enforces them", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c := dialAs(t, ctx, "ws://"+gw.addr+"/", "127.0.0.2", http.Header{"Cf-Access-Jwt-Assertion": {kid}})
		hello := connectOverWebSocket(t, ctx, c)
		a, _ := hello["auth"].(map[string]any)
		if fmt.Sprint(a["scopes"]) != "[operator.read]" {
			t.Fatalf("kid's scopes in hello-ok: %v (auth %v)", a["scopes"], a)
		}
		// Methods beyond operator.read are refused by OpenClaw itself.
		for _, m := range []struct{ method, params string }{
			{"exec.approvals.get", `{}`},                           // operator.admin
			{"tools.invoke", `{"name":"sessions_list","args":{}}`}, // operator.write; a tool no rule denies
		} {
			res := rpc(t, ctx, c, m.method, m.params)
			if res.OK || !strings.Contains(fmt.Sprint(res.Error), "scope") {
				t.Fatalf("%s as kid: %+v", m.method, res)
			}
		}
		// A denied tool over the WebSocket is refused by the gateway,
		// before OpenClaw could answer anything.
		res := rpc(t, ctx, c, "tools.invoke", `{"name":"exec","args":{"command":"id"}}`)
		if res.OK || !strings.Contains(fmt.Sprint(res.Error), "access_denied: gateway.access[0]") {
			t.Fatalf("exec over the WebSocket as kid: %+v", res)
		}
	})
	t.Run("the gateway refuses a family member's exec in every spelling", func(t *testing.T) {
		exec := `{"tool":"exec","args":{"command":"id"}}`
		for _, tc := range []struct{ target, body, code string }{
			{"/tools/invoke", exec, "access_denied"},
			{"/__openclaw__/cap/abc/tools/invoke", exec, "access_denied"},
			{"/tools\\invoke", exec, "access_denied"},
			{"/tools/invoke#x", exec, "ambiguous_path"},
			{"/tools/invoke", `{"tool":"bash"}`, "access_denied"},
			{"/tools/invoke", `{"tool":"sessions_list","TOOL":"exec"}`, "ambiguous_tool"},
		} {
			status, body := rawRequest(t, gw.addr, "127.0.0.2", "POST", tc.target, map[string]string{"Cf-Access-Jwt-Assertion": kid}, tc.body)
			// The gateway's own refusal ({"error","code"}), never
			// OpenClaw's ({"ok":false,"error":{...}}).
			if status/100 != 4 || !strings.Contains(body, `"code":"`+tc.code+`"`) {
				t.Fatalf("%s %s: %d %s", tc.target, tc.body, status, body)
			}
		}
	})
	t.Run("the owner's exec passes the gateway (OpenClaw answers)", func(t *testing.T) {
		_, body := request(t, "POST", base+"/tools/invoke", asRemote(owner), `{"tool":"exec","args":{"command":"id"}}`)
		if strings.Contains(body, `"code":"access_denied"`) || !strings.Contains(body, `"ok":`) {
			t.Fatalf("the owner's exec: %s", body)
		}
		t.Logf("OpenClaw's own answer to the owner's exec over HTTP: %.200s", body)
	})
	t.Run("OpenClaw CLI on this host through the front URL", func(t *testing.T) {
		node, mjs := requireOpenClaw(t)
		home := t.TempDir()
		_ = os.MkdirAll(filepath.Join(home, ".openclaw"), 0o700)
		_ = os.MkdirAll(filepath.Join(home, "tmp"), 0o700)
		// The client side of docs/openclaw.md. auth.mode trusted-proxy
		// tells the CLI it needs no shared credential of OpenClaw's own;
		// without it the CLI refuses to open the WebSocket.
		cli := fmt.Sprintf(`{ secrets: { providers: { default: { source: "env" } } },
  gateway: { mode: "remote", auth: { mode: "trusted-proxy", trustedProxy: { userHeader: "x-gateway-user" } },
    remote: { transport: "direct", url: "wss://%s",
      edgeAuth: { "Proxy-Authorization": { source: "env", provider: "default", id: "GATEWAY_EDGE_AUTH" } } } } }`, nginxAddr)
		cliConfig := filepath.Join(home, ".openclaw", "openclaw.json")
		_ = os.WriteFile(cliConfig, []byte(cli), 0o600)
		openclaw := func(edge string, extra []string, args ...string) (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, append([]string{mjs}, args...)...)
			cmd.Dir = home
			cmd.Env = append(openClawEnv(home, "GATEWAY_EDGE_AUTH="+edge, "NODE_EXTRA_CA_CERTS="+cert), extra...)
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		if out, err := openclaw("Bearer "+token, nil, "gateway", "call", "health", "--json"); err != nil || !strings.Contains(out, `"ok": true`) {
			t.Fatalf("openclaw gateway call health: %v\n%.2000s", err, out)
		}
		// Before the CLI has a device identity of its own, its calls
		// carry the owner's identity scopes and work.
		if out, err := openclaw("Bearer "+token, nil, "devices", "list"); err != nil || !strings.Contains(out, "openclaw-control-ui") {
			t.Fatalf("openclaw devices list: %v\n%.2000s", err, out)
		}
		// `openclaw status` creates the CLI's device identity, which
		// OpenClaw pairs only with the owner's approval (its trusted-proxy
		// auto-approval covers browser and app UIs, not the CLI). As
		// docs/openclaw.md says: a call without a device identity (an
		// empty state dir) approves it with the owner's operator.pairing
		// scope, once.
		pending := regexp.MustCompile(`(?:device pairing required|scope upgrade pending approval) \(requestId: ([0-9a-f-]+)\)`)
		approvals := 0
		for _, args := range [][]string{{"status"}, {"health"}, {"devices", "list"}} {
			var out string
			var err error
			for range 3 {
				out, err = openclaw("Bearer "+token, nil, args...)
				m := pending.FindStringSubmatch(out)
				if m == nil {
					break
				}
				approvals++
				if aout, aerr := openclaw("Bearer "+token, []string{"OPENCLAW_STATE_DIR=" + t.TempDir(), "OPENCLAW_CONFIG_PATH=" + cliConfig},
					"gateway", "call", "device.pair.approve", "--params", `{"requestId":"`+m[1]+`"}`, "--json"); aerr != nil {
					t.Fatalf("approving the CLI's device: %v\n%.2000s", aerr, aout)
				}
			}
			if err != nil || pending.MatchString(out) || strings.Contains(out, "connect failed") {
				t.Errorf("openclaw %v: %v\n%.2000s", args, err, out)
			}
		}
		t.Logf("the CLI's device needed %d approval(s)", approvals)
		// And without the gateway's credential the proxy path is closed.
		if out, err := openclaw("Bearer wrong", nil, "gateway", "call", "health", "--json"); err == nil {
			t.Fatalf("the CLI got through with a wrong credential:\n%.1000s", out)
		}
	})
}

// pairDevice pairs dev through the gateway as a clean local request (auto
// approval for a non-admin role) and returns its device token.
func pairDevice(t *testing.T, base string, dev authtest.Device) string {
	t.Helper()
	code, body := request(t, "POST", base+"/auth/device/challenge", nil, `{}`)
	var ch struct{ Nonce string }
	_ = json.Unmarshal([]byte(body), &ch)
	if code != 200 || ch.Nonce == "" {
		t.Fatalf("challenge: %d %s", code, body)
	}
	b, _ := json.Marshal(dev.Connect(ch.Nonce, "operator", time.Now()))
	code, body = request(t, "POST", base+"/auth/device/connect", nil, string(b))
	var res struct{ Token string }
	_ = json.Unmarshal([]byte(body), &res)
	if code != 200 || res.Token == "" {
		t.Fatalf("connect: %d %s", code, body)
	}
	return res.Token
}
