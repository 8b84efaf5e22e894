package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gateway/config"
)

// capsFixture is a gateway in trusted-proxy mode (the test client plays
// the proxy on this host) with people and the README's family rules.
func capsFixture(t *testing.T) *fixture {
	return newFixture(t, func(c *config.Config) {
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.Auth.Mode = config.ModeTrustedProxy
		c.Gateway.Auth.TrustedProxy = config.TrustedProxy{UserHeader: "x-forwarded-user", GroupsHeader: "x-forwarded-groups", AllowLoopback: true}
		c.Gateway.Users = map[string]config.Person{
			"mum":   {Role: "admin"},
			"kid":   {Groups: []string{"family"}},
			"aunt":  {Scopes: []string{}},
			"uncle": {},
		}
		c.Gateway.Groups = map[string]config.Group{"family": {Scopes: []string{"operator.read"}}}
		c.Gateway.Access = []config.AccessRule{
			{Groups: []string{"family"}, Paths: []string{"/tools/invoke"}, Tools: []string{"exec", "spawn", "shell", "fs_write", "fs_delete", "fs_move", "apply_patch",
				"terminal", "portal", "sessions_spawn", "sessions_send", "conversations_list", "conversations_send", "conversations_turn",
				"automations", "gateway", "plugins", "nodes", "computer", "mobile_ui", "openclaw"}, Action: "deny"},
			{Groups: []string{"family"}, Paths: []string{"/v1/*"}, Action: "deny"},
		}
	})
}

// asUser sends a request through the "proxy" as user.
func asUser(t *testing.T, f *fixture, user, method, target, body string, h map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.gw.URL+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-User", user)
	req.Header.Set("X-Forwarded-For", "203.0.113.5")
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rawAsUser sends a request-target byte for byte (a Go client would
// escape it), as user.
func rawAsUser(t *testing.T, f *fixture, user, target, body string) (int, string) {
	t.Helper()
	return f.rawExchange(t, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nX-Forwarded-User: %s\r\nX-Forwarded-For: 203.0.113.5\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		target, strings.TrimPrefix(f.gw.URL, "http://"), user, len(body), body))
}

// TestAttackNoWayAroundARule: the five ways a review found to run a denied
// tool past a front door (OpenClaw's capability prefix, "\" read as "/",
// "#..." dropped, tool aliases and case, repeated or case-variant keys),
// and the path spellings besides; none reaches the upstream.
func TestAttackNoWayAroundARule(t *testing.T) {
	f := capsFixture(t)
	exec := `{"tool":"exec","args":{"command":"id"}}`
	tests := []struct {
		name, target, body string
		raw                bool
		status             int
		code               string
	}{
		{"plain", "/tools/invoke", exec, false, 403, "access_denied"},
		{"capability prefix", "/__openclaw__/cap/abc/tools/invoke", exec, false, 403, "access_denied"},
		{"capability prefix and an escape", "/__openclaw__/cap/abc/tools/%69nvoke", exec, false, 403, "access_denied"},
		{"backslash", "/tools\\invoke", exec, true, 403, "access_denied"},
		{"fragment", "/tools/invoke#x", exec, true, 400, "ambiguous_path"},
		{"dot segments", "/x/../tools/invoke", exec, true, 403, "access_denied"},
		{"double slash", "//tools//invoke", exec, true, 403, "access_denied"},
		{"encoded slash", "/tools%2finvoke", exec, true, 400, "ambiguous_path"},
		{"encoded dots", "/%2e%2e/tools/invoke", exec, true, 400, "ambiguous_path"},
		{"alias", "/tools/invoke", `{"tool":"bash"}`, false, 403, "access_denied"},
		{"case and spaces", "/tools/invoke", `{"tool":" EXEC "}`, false, 403, "access_denied"},
		{"cron is automations", "/tools/invoke", `{"tool":"cron"}`, false, 403, "access_denied"},
		{"name wins over tool", "/tools/invoke", `{"name":"exec","tool":"sessions_list"}`, false, 403, "access_denied"},
		{"null name, tool decides", "/tools/invoke", `{"name":null,"tool":"exec"}`, false, 403, "access_denied"},
		{"key in another case", "/tools/invoke", `{"tool":"sessions_list","TOOL":"exec"}`, false, 400, "ambiguous_tool"},
		{"key twice", "/tools/invoke", `{"tool":"exec","tool":"sessions_list"}`, false, 400, "ambiguous_tool"},
		{"escaped key", "/tools/invoke", `{"t\u006fol":"exec"}`, false, 403, "access_denied"},
		{"not JSON", "/tools/invoke", `tool=exec`, false, 400, "ambiguous_tool"},
		{"the OpenAI API", "/v1/chat/completions", `{}`, false, 403, "access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.upstream.count()
			var status int
			var body string
			if tt.raw {
				status, body = rawAsUser(t, f, "kid", tt.target, tt.body)
			} else {
				status, body = asUser(t, f, "kid", "POST", tt.target, tt.body, nil)
			}
			if status != tt.status || !strings.Contains(body, tt.code) {
				t.Fatalf("%d %s, want %d %s", status, body, tt.status, tt.code)
			}
			if f.upstream.count() != before {
				t.Fatal("the request reached the upstream")
			}
		})
	}
	if !strings.Contains(f.logs.String(), `gateway.access[0] denies POST /tools/invoke (tool exec) for kid`) {
		t.Fatal("the refusal's rule is not the access record's cause")
	}
}

// TestCapabilitiesLetThroughWhatTheyShould: the same person's harmless
// tool, and anyone else's, reach the upstream, on the path as matched and
// with the body byte for byte; each non-admin carries their scopes.
func TestCapabilitiesLetThroughWhatTheyShould(t *testing.T) {
	f := capsFixture(t)
	body := `{"tool":"sessions_list" , "args":{}}`
	if status, b := rawAsUser(t, f, "kid", "/__openclaw__/cap/abc\\tools/invoke", body); status != 200 {
		t.Fatalf("kid's harmless tool: %d %s", status, b)
	}
	f.upstream.mu.Lock()
	uri, got, h := f.upstream.uri, string(f.upstream.body), f.upstream.last.Clone()
	f.upstream.mu.Unlock()
	if uri != "/__openclaw__/cap/abc/tools/invoke" || got != body {
		t.Fatalf("upstream got %s %q", uri, got)
	}
	if v := h.Values("X-Openclaw-Scopes"); len(v) != 1 || v[0] != "operator.read" {
		t.Fatalf("kid's scopes: %q", v)
	}
	tests := []struct {
		user   string
		scopes []string // nil: no header
		extra  map[string]string
	}{
		{"mum", nil, nil}, // an admin: no cap
		{"uncle", []string{"operator.read,operator.write"}, nil},                                     // nobody said: the default
		{"aunt", []string{""}, nil},                                                                  // scopes: [] is an empty header, never none
		{"kid", []string{"operator.read"}, map[string]string{"X-OpenClaw-Scopes": "operator.admin"}}, // a client's own copy goes
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			if status, b := asUser(t, f, tt.user, "POST", "/tools/invoke", `{"tool":"exec"}`, tt.extra); (tt.user == "kid") != (status == 403) {
				t.Fatalf("%s exec: %d %s", tt.user, status, b)
			}
			if tt.user == "kid" {
				asUser(t, f, tt.user, "GET", "/status", "", tt.extra)
			}
			f.upstream.mu.Lock()
			v := f.upstream.last.Values("X-Openclaw-Scopes")
			f.upstream.mu.Unlock()
			if strings.Join(v, "|") != strings.Join(tt.scopes, "|") || (tt.scopes == nil) != (v == nil) {
				t.Fatalf("%s: X-OpenClaw-Scopes %q, want %q", tt.user, v, tt.scopes)
			}
		})
	}
}

// TestAttackToolsOverTheWebSocket: OpenClaw's WebSocket RPC tools.invoke
// is judged like the HTTP endpoint; compression is refused so frames stay
// readable.
func TestAttackToolsOverTheWebSocket(t *testing.T) {
	f := capsFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(user string) *websocket.Conn {
		h := http.Header{"X-Forwarded-User": {user}, "X-Forwarded-For": {"203.0.113.5"}}
		c, _, err := websocket.Dial(ctx, strings.Replace(f.gw.URL, "http", "ws", 1)+"/ws", &websocket.DialOptions{HTTPHeader: h, CompressionMode: websocket.CompressionContextTakeover})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	c := dial("kid")
	f.upstream.mu.Lock()
	ext := f.upstream.last.Get("Sec-Websocket-Extensions")
	f.upstream.mu.Unlock()
	if ext != "" {
		t.Fatalf("compression reached the upstream: %q", ext)
	}
	call := func(c *websocket.Conn, typ websocket.MessageType, msg string) string {
		if err := c.Write(ctx, typ, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return string(got)
	}
	for _, msg := range []string{
		`{"type":"req","id":"1","method":"tools.invoke","params":{"name":"exec","args":{}}}`,
		`{"type":"req","id":"2","method":"tools.invoke","params":{"name":"BASH"}}`,
		`{"type":"req","id":"3","method":"tools.invoke","params":{"name":"exec","name":"sessions_list"}}`,
		`{"type":"req","id":"4","method":"chat.send","method":"tools.invoke","params":{"name":"exec"}}`,
	} {
		for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
			got := call(c, typ, msg)
			if !strings.Contains(got, `"ok":false`) || strings.HasPrefix(got, "echo:") {
				t.Fatalf("%s: %s", msg, got)
			}
		}
	}
	if got := call(c, websocket.MessageText, `{"type":"req","id":"5","method":"tools.invoke","params":{"name":"sessions_list"}}`); !strings.HasPrefix(got, "echo:") {
		t.Fatalf("a harmless call did not reach the upstream: %s", got)
	}
	// Someone no tools rule names keeps a plain tunnel.
	m := dial("mum")
	if got := call(m, websocket.MessageText, `{"type":"req","id":"6","method":"tools.invoke","params":{"name":"exec"}}`); !strings.HasPrefix(got, "echo:") {
		t.Fatalf("mum's call: %s", got)
	}
	if !strings.Contains(f.logs.String(), `"msg":"websocket call refused"`) {
		t.Fatal("refused calls are not logged")
	}
}

// TestConsoleShowsPeople: the console lists each person and group with
// their role, their OpenClaw scopes and the rules that apply to them.
func TestConsoleShowsPeople(t *testing.T) {
	f := capsFixture(t)
	req, _ := http.NewRequest("GET", f.admin.URL+"/admin/", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	for _, want := range []string{"People and what they may do", "<td>kid<br><small>groups: family</small></td><td>user</td><td>operator.read</td><td>#0 (deny), #1 (deny)</td>",
		"<td>mum</td><td>admin</td><td>every scope (no cap)</td>", "<td>aunt</td><td>user</td><td>none</td>",
		"<td>uncle</td><td>user</td><td>operator.read, operator.write (default)</td>", "group family", "groups [family] · paths [/v1/*] → deny"} {
		if !strings.Contains(page, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("%s", page)
	}
}
