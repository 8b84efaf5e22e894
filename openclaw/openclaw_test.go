package openclaw

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gateway/config"
)

func gatewayConfig(t *testing.T, mutate func(*config.Config)) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Gateway.Upstream = "http://127.0.0.1:18789"
	cfg.Gateway.AllowedHosts = []string{"agent.example.com"}
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "openclaw.json")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func failing(items []Item) map[string]Severity {
	out := map[string]Severity{}
	for _, it := range items {
		if it.Severity != OK {
			out[it.ID] = it.Severity
		}
	}
	return out
}

// TestSnippetIsAccepted: the JSON `gateway openclaw check` prints makes
// every item pass (except the allowLoopback caveat it must still warn
// about on a shared host).
func TestSnippetIsAccepted(t *testing.T) {
	g := GatewayFrom(gatewayConfig(t, nil), func(string) string { return "" })
	oc, err := Load(write(t, Snippet(g, nil)))
	if err != nil {
		t.Fatal(err)
	}
	got := failing(Check(oc, g))
	if len(got) != 1 || got["openclaw.trusted_proxy_allow_loopback"] != Warn {
		t.Fatalf("the printed snippet still fails: %v\n%s", got, Snippet(g, nil))
	}
	for _, it := range Check(oc, g) {
		if it.Required() {
			t.Fatalf("the snippet leaves a required change: %+v", it)
		}
	}
}

// TestOriginsComparePorts: a Control UI served at https://agent.example.com:8443
// needs exactly that origin; the scheme and port count.
func TestOriginsComparePorts(t *testing.T) {
	cfg := gatewayConfig(t, func(c *config.Config) { c.Gateway.PublicURL = "https://agent.example.com:8443" })
	g := GatewayFrom(cfg, func(string) string { return "" })
	for origins, want := range map[string]bool{
		`["https://agent.example.com"]`:                            false,
		`["http://agent.example.com:8443"]`:                        false,
		`["https://AGENT.example.com:8443"]`:                       true,
		`["https://x.example", "https://agent.example.com:8443/"]`: true,
	} {
		oc, err := Load(write(t, `{gateway: {controlUi: {allowedOrigins: `+origins+`}}}`))
		if err != nil {
			t.Fatal(err)
		}
		_, failed := failing(Check(oc, g))["openclaw.control_ui.allowed_origins"]
		if failed == want {
			t.Errorf("allowedOrigins %s: accepted=%v, want %v", origins, !failed, want)
		}
	}
	// The merge keeps the origins OpenClaw already allows that are right.
	oc, _ := Load(write(t, `{gateway: {controlUi: {allowedOrigins: ["https://other.example"]}}}`))
	if snip := Snippet(g, oc); !strings.Contains(snip, `"https://other.example"`) || !strings.Contains(snip, `"https://agent.example.com:8443"`) {
		t.Fatalf("snippet origins:\n%s", snip)
	}
}

func TestCheck(t *testing.T) {
	good := `{gateway: {mode: "local", bind: "loopback", port: 18789, trustedProxies: ["127.0.0.1"],
		controlUi: {allowedOrigins: ["https://agent.example.com"]},
		auth: {mode: "trusted-proxy", identityScopes: {owner: ["operator.admin", "operator.read", "operator.write", "operator.sessions.read",
			"operator.sessions.write", "operator.approvals", "operator.questions", "operator.pairing", "operator.talk", "operator.talk.secrets"]},
			trustedProxy: {userHeader: "x-gateway-user", requiredHeaders: ["x-gateway-auth"], allowUsers: ["owner"], allowLoopback: true}}}}`
	tests := []struct {
		name string
		text string
		env  bool
		want map[string]Severity
	}{
		{"good", good, false, map[string]Severity{"openclaw.trusted_proxy_allow_loopback": Warn}},
		{"fresh onboard (token auth)", `{gateway: {mode: "local", auth: {mode: "token", token: {source: "env", id: "T"}}}}`, false, map[string]Severity{
			"openclaw.auth_mode": Warn, "openclaw.user_header": Warn, "openclaw.trusted_proxies": Warn,
			"openclaw.allow_loopback_required": Warn, "openclaw.control_ui.allowed_origins": Warn, "openclaw.token_set": Warn, "openclaw.identity_scopes": Warn}},
		{"no auth, exposed, wildcard origins, exec over HTTP", `{gateway: {bind: "lan", auth: {mode: "none"}, controlUi: {allowedOrigins: ["*"]}, tools: {allow: ["exec", "browser"]}}}`, false, map[string]Severity{
			"openclaw.auth_mode": Critical, "openclaw.user_header": Warn, "openclaw.trusted_proxies": Warn, "openclaw.allow_loopback_required": Warn,
			"openclaw.control_ui.allowed_origins_wildcard": Critical, "openclaw.bypass_exposed": Critical, "openclaw.tools_invoke_dangerous": Critical,
			"openclaw.identity_scopes": Warn}},
		{"token in the environment", good, true, map[string]Severity{"openclaw.trusted_proxy_allow_loopback": Warn, "openclaw.token_set": Warn}},
		{"another port, header and user list", `{gateway: {port: 19000, trustedProxies: ["127.0.0.0/8"],
			controlUi: {allowedOrigins: ["https://agent.example.com:8443"]},
			auth: {mode: "trusted-proxy", trustedProxy: {userHeader: "x-forwarded-user", requiredHeaders: ["x-pomerium-jwt-assertion"], allowUsers: ["alice"], allowLoopback: true}}}}`, false, map[string]Severity{
			"openclaw.user_header": Warn, "openclaw.required_headers": Warn, "openclaw.allow_users": Warn, "openclaw.port": Warn,
			"openclaw.trusted_proxy_allow_loopback": Warn, "openclaw.control_ui.allowed_origins": Warn, "openclaw.identity_scopes": Warn}},
	}
	g := GatewayFrom(gatewayConfig(t, nil), func(string) string { return "" })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oc, err := Load(write(t, tt.text))
			if err != nil {
				t.Fatal(err)
			}
			gg := g
			gg.EnvToken = tt.env
			got := failing(Check(oc, gg))
			if len(got) != len(tt.want) {
				t.Fatalf("failing items %v, want %v", got, tt.want)
			}
			for id, sev := range tt.want {
				if got[id] != sev {
					t.Errorf("%s = %q, want %q (all: %v)", id, got[id], sev, got)
				}
			}
		})
	}
}

func TestLoadIsReadOnlyAndStrictAboutMissing(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.json")); err == nil {
		t.Fatal("a missing file loaded")
	}
	p := write(t, "{gateway: {port: 1}}")
	before, _ := os.Stat(p)
	if _, err := Load(p); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(p)
	if !after.ModTime().Equal(before.ModTime()) || after.Mode() != before.Mode() {
		t.Fatal("Load touched OpenClaw's file")
	}
	if _, err := Load(write(t, "{not json5")); err == nil {
		t.Fatal("garbage loaded")
	}
}

// TestPeopleInTheSnippet: OpenClaw admits only its allowUsers and grants a
// WebSocket only its identityScopes, so both come from gateway.users: the
// owner and admins with every scope, the others with theirs; people
// admitted only through a group are reported (info, not a required
// change).
func TestPeopleInTheSnippet(t *testing.T) {
	cfg := gatewayConfig(t, func(c *config.Config) {
		c.Gateway.Users = map[string]config.Person{
			"alice@example.com": {Role: "admin"},
			"bob@example.com":   {Scopes: []string{"operator.read"}},
			"carol@example.com": {Groups: []string{"family"}},
			"dan@example.com":   {Groups: []string{"ops"}},
			"erin@example.com":  {},
		}
		c.Gateway.Groups = map[string]config.Group{"family": {Scopes: []string{"operator.write", "operator.read"}}, "ops": {Role: "admin"}}
	})
	g := GatewayFrom(cfg, func(string) string { return "" })
	want := map[string][]string{
		"owner": OperatorScopes, "alice@example.com": OperatorScopes, "dan@example.com": OperatorScopes,
		"bob@example.com": {"operator.read"}, "carol@example.com": {"operator.read", "operator.write"}, "erin@example.com": DefaultScopes,
	}
	for u, w := range want {
		if strings.Join(g.People[u], ",") != strings.Join(w, ",") {
			t.Errorf("%s: %v, want %v", u, g.People[u], w)
		}
	}
	snippet := Snippet(g, nil)
	oc, err := Load(write(t, snippet))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(oc.AllowUsers, ",") != "alice@example.com,bob@example.com,carol@example.com,dan@example.com,erin@example.com,owner" {
		t.Fatalf("allowUsers: %v", oc.AllowUsers)
	}
	got := failing(Check(oc, g))
	if len(got) != 2 || got["openclaw.identity_scopes_missing"] != Info || got["openclaw.trusted_proxy_allow_loopback"] != Warn {
		t.Fatalf("checks: %v\n%s", got, snippet)
	}
	for _, it := range Check(oc, g) {
		if it.Required() {
			t.Fatalf("required: %+v", it)
		}
	}
	// An OpenClaw that gives bob more than the gateway does is fine;
	// one that gives carol less is not.
	oc.IdentityScopes["carol@example.com"] = []string{"operator.read"}
	if got := failing(Check(oc, g)); got["openclaw.identity_scopes"] != Warn {
		t.Fatalf("carol's missing scope not reported: %v", got)
	}
	// Legacy trusted-proxy: allowUsers are admins while no people exist.
	legacy := GatewayFrom(gatewayConfig(t, func(c *config.Config) {
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.Auth.Mode = config.ModeTrustedProxy
		c.Gateway.Auth.TrustedProxy = config.TrustedProxy{UserHeader: "remote-user", AllowUsers: []string{"zed"}}
	}), func(string) string { return "" })
	if len(legacy.People) != 1 || len(legacy.People["zed"]) != len(OperatorScopes) {
		t.Fatalf("legacy people: %v", legacy.People)
	}
}
