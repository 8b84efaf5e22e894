package access

import (
	"fmt"
	"strings"
	"testing"

	"gateway/config"
	"gateway/request"
)

// rulesOf loads rules the way the configuration does.
func rulesOf(t testing.TB, rules ...config.AccessRule) *Engine {
	t.Helper()
	cfg := config.Default()
	cfg.Gateway.Auth.Token = "0123456789abcdef0123456789abcdef"
	cfg.Gateway.Access = rules
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return New(cfg.Typed.Access)
}

var (
	owner  = &request.Identity{User: "owner", Method: "token", Role: "admin"}
	alice  = &request.Identity{User: "alice@example.com", Method: "session", OpenedWith: "oidc", Role: "user", Groups: []string{"family"}}
	bob    = &request.Identity{User: "bob@example.com", Method: "trusted-proxy", Role: "user"}
	device = &request.Identity{User: "device:0123456789abcdef", Method: "device", Role: "operator"}
)

// familyRules are the README's example.
var familyRules = []config.AccessRule{
	{Groups: []string{"family"}, Paths: []string{"/tools/invoke"}, Tools: []string{"exec", "spawn", "shell", "fs_write", "fs_delete", "fs_move", "apply_patch",
		"terminal", "portal", "sessions_spawn", "sessions_send", "conversations_list", "conversations_send", "conversations_turn", "automations",
		"gateway", "plugins", "nodes", "computer", "mobile_ui", "openclaw"}, Action: "deny"},
	{Groups: []string{"family"}, Paths: []string{"/v1/*"}, Action: "deny"},
	{Users: []string{"device:*"}, Methods: []string{"POST", "PUT", "PATCH", "DELETE"}, Paths: []string{"/api/*"}, Action: "deny"},
	{Auth: []string{"assertion"}, Hosts: []string{"agent.example.com"}, Paths: []string{"/admin-ish/*"}, Action: "deny"},
	{Auth: []string{"oidc"}, Paths: []string{"/private"}, Action: "allow"},
	{Auth: []string{"session"}, Paths: []string{"/private"}, Action: "deny"},
}

func TestDecide(t *testing.T) {
	e := rulesOf(t, familyRules...)
	tests := []struct {
		name string
		id   *request.Identity
		q    Request
		rule int
		deny bool
	}{
		{"family exec denied", alice, Request{Method: "POST", Path: "/tools/invoke", Tool: "exec"}, 0, true},
		{"family alias of exec", alice, Request{Method: "POST", Path: "/tools/invoke", Tool: NormalizeTool(" BASH ")}, 0, true},
		{"family harmless tool", alice, Request{Method: "POST", Path: "/tools/invoke", Tool: "sessions_list"}, -1, false},
		{"a tools rule never matches a request naming none", alice, Request{Method: "POST", Path: "/tools/invoke"}, -1, false},
		{"family OpenAI API", alice, Request{Method: "POST", Path: "/v1/chat/completions"}, 1, true},
		{"the owner is not family", owner, Request{Method: "POST", Path: "/tools/invoke", Tool: "exec"}, -1, false},
		{"device write denied", device, Request{Method: "POST", Path: "/api/x"}, 2, true},
		{"device read allowed", device, Request{Method: "GET", Path: "/api/x"}, -1, false},
		{"prefix is a prefix", device, Request{Method: "POST", Path: "/apix"}, -1, false},
		{"host matters", &request.Identity{User: "a", Method: "assertion"}, Request{Method: "GET", Path: "/admin-ish/1", Host: "other.example.com"}, -1, false},
		{"host matches", &request.Identity{User: "a", Method: "assertion"}, Request{Method: "GET", Path: "/admin-ish/1", Host: "agent.example.com"}, 3, true},
		{"a session opened with oidc matches oidc first", alice, Request{Method: "GET", Path: "/private"}, 4, false},
		{"session matches any session", &request.Identity{User: "owner", Method: "session", OpenedWith: "password"}, Request{Method: "GET", Path: "/private"}, 5, true},
		{"trusted-proxy matches neither", bob, Request{Method: "GET", Path: "/private"}, -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Decide(tt.id, &tt.q)
			if d.Rule != tt.rule || d.Deny != tt.deny {
				t.Fatalf("got %+v, want rule %d deny %v", d, tt.rule, tt.deny)
			}
		})
	}
	if !e.NamesTools(alice) || e.NamesTools(owner) || e.NamesTools(device) {
		t.Fatal("NamesTools")
	}
	var none *Engine
	if d := none.Decide(owner, &Request{}); d.Rule != -1 || !none.Empty() {
		t.Fatal("a nil engine allows")
	}
}

func TestCatchAll(t *testing.T) {
	e := rulesOf(t, config.AccessRule{Users: []string{"owner"}, Action: "allow"}, config.AccessRule{Action: "deny"})
	if d := e.Decide(owner, &Request{Method: "GET", Path: "/"}); d.Deny {
		t.Fatal("owner denied")
	}
	if d := e.Decide(bob, &Request{Method: "GET", Path: "/"}); !d.Deny || d.Rule != 1 {
		t.Fatalf("catch-all: %+v", d)
	}
}

func TestRoutePath(t *testing.T) {
	tests := []struct {
		raw, path, match string
		bad              bool
	}{
		{raw: "/tools/invoke", path: "/tools/invoke", match: "/tools/invoke"},
		{raw: "/tools/invoke?x=1", path: "/tools/invoke", match: "/tools/invoke"},
		{raw: "/tools\\invoke", path: "/tools/invoke", match: "/tools/invoke"},
		{raw: "/tools/%69nvoke", path: "/tools/invoke", match: "/tools/invoke"},
		{raw: "/x/../tools/invoke", path: "/tools/invoke", match: "/tools/invoke"},
		{raw: "//tools///invoke", path: "/tools/invoke", match: "/tools/invoke"},
		{raw: "/__openclaw__/cap/abc/tools/invoke", path: "/__openclaw__/cap/abc/tools/invoke", match: "/tools/invoke"},
		{raw: "/__openclaw__/cap/abc\\tools/invoke", path: "/__openclaw__/cap/abc/tools/invoke", match: "/tools/invoke"},
		{raw: "/__openclaw__/cap/abc", path: "/__openclaw__/cap/abc", match: "/__openclaw__/cap/abc"},
		{raw: "/dir/", path: "/dir/", match: "/dir/"},
		{raw: "/", path: "/", match: "/"},
		{raw: "/caf%C3%A9", path: "/café", match: "/café"},
		{raw: "/tools/invoke#x", bad: true},
		{raw: "/tools%2finvoke", bad: true},
		{raw: "/tools%5Cinvoke", bad: true},
		{raw: "/%2e%2e/tools/invoke", bad: true},
		{raw: "/tools/invoke%23", bad: true},
		{raw: "/tools/%00invoke", bad: true},
		{raw: "/tools/\x01invoke", bad: true},
		{raw: "/tools/%zz", bad: true},
		{raw: "http://h/tools/invoke", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			r, err := RoutePath(tt.raw)
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted as %+v", r)
				}
				return
			}
			if err != nil || r.Path != tt.path || r.Match != tt.match {
				t.Fatalf("got %+v %v, want %s %s", r, err, tt.path, tt.match)
			}
		})
	}
}

func TestToolOf(t *testing.T) {
	tests := []struct {
		body, want string
		bad        bool
	}{
		{body: `{"tool":"exec"}`, want: "exec"},
		{body: `{"name":"exec"}`, want: "exec"},
		{body: `{"name":"sessions_list","tool":"exec"}`, want: "sessions_list"}, // OpenClaw reads name ?? tool
		{body: `{"name":null,"tool":"exec"}`, want: "exec"},
		{body: `{"name":123,"tool":"exec"}`, want: ""}, // OpenClaw then names no tool and refuses
		{body: `{"tool":"  BASH "}`, want: "exec"},
		{body: `{"tool":"cron"}`, want: "automations"},
		{body: `{"tool":"apply-patch"}`, want: "apply_patch"},
		{body: `{"tool":"exec","args":{"tool":"x"}}`, want: "exec"},
		{body: `{"n\u0061me":"exec"}`, want: "exec"},
		{body: `{}`, want: ""},
		{body: `{"tool":"exec","tool":"sessions_list"}`, bad: true},
		{body: `{"tool":"sessions_list","TOOL":"exec"}`, bad: true},
		{body: `{"Name":"exec"}`, bad: true},
		{body: `["exec"]`, bad: true},
		{body: `{"tool":"exec"`, bad: true},
		{body: ``, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			got, err := ToolOfBody([]byte(tt.body))
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted: %q", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q %v, want %q", got, err, tt.want)
			}
		})
	}
}

func FuzzRoutePath(f *testing.F) {
	for _, s := range []string{"/tools/invoke", "/tools\\invoke", "/__openclaw__/cap/a/tools/invoke", "/%2e%2e/", "/a/../b", "/x#y", "/caf%C3%A9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := RoutePath(raw)
		if err != nil {
			return
		}
		// What is sent upstream, read again, is itself: nothing left
		// for the upstream to resolve differently.
		again, err := RoutePath(escape(r.Path))
		if err != nil || again != r {
			t.Fatalf("%q -> %+v -> %+v %v", raw, r, again, err)
		}
		if strings.Contains(r.Path, "\\") || strings.Contains(r.Path, "//") || strings.Contains(r.Path, "/../") || strings.Contains(r.Path, "#") {
			t.Fatalf("%q routed as %q", raw, r.Path)
		}
	})
}

// escape is what the proxy sends: url.URL{Path: p}.EscapedPath().
func escape(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' || c == '-' || c == '_' || c == '~' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func FuzzToolOfBody(f *testing.F) {
	for _, s := range []string{`{"tool":"exec"}`, `{"name":null,"tool":"exec"}`, `{"tool":"a","TOOL":"b"}`, `{"name":"x","tool":"y"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tool, err := ToolOfBody(body)
		if err == nil && tool != NormalizeTool(tool) {
			t.Fatalf("not folded: %q", tool)
		}
	})
}

// BenchmarkDecide50 is 50 rules, none naming the identity but the last
// (the SPEC's budget: allocation-free, under 200 ns).
func BenchmarkDecide50(b *testing.B) {
	var rules []config.AccessRule
	for i := range 49 {
		rules = append(rules, config.AccessRule{Groups: []string{fmt.Sprintf("group%d", i)}, Paths: []string{"/p/*"}, Action: "deny"})
	}
	rules = append(rules, config.AccessRule{Users: []string{"device:*"}, Methods: []string{"POST"}, Paths: []string{"/api/*"}, Action: "deny"})
	e := rulesOf(b, rules...)
	q := &Request{Method: "POST", Path: "/api/v1/thing", Host: "agent.example.com"}
	b.ReportAllocs()
	for b.Loop() {
		if d := e.Decide(device, q); !d.Deny {
			b.Fatal("not denied")
		}
	}
}
