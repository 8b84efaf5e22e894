package config

import (
	"strings"
	"testing"
)

// TestPeopleConfig: gateway.users, gateway.groups, oidc and assertion are
// checked at load time, each problem naming its key.
func TestPeopleConfig(t *testing.T) {
	const tok = `token: "0123456789abcdef0123456789abcdef"`
	tests := []struct {
		name, text string
		want       []string // substrings of the error; none: loads
	}{
		{"people", `{gateway: {auth: {` + tok + `}, users: {"Alice@Example.com": {role: "admin"}, bob: {groups: ["family"], scopes: ["operator.read"]}, "service:ci": {}}, groups: {family: {scopes: ["operator.write"]}}}}`, nil},
		{"reserved names", `{gateway: {auth: {` + tok + `}, users: {Owner: {}, "device:1": {}}}}`, []string{`gateway.users["Owner"]: is the owner's name`, `gateway.users["device:1"]: contains ':'`}},
		{"same name twice in two cases", `{gateway: {auth: {` + tok + `}, users: {"a@x.com": {}, "A@X.com": {}}}}`, []string{"is listed twice"}},
		{"bad role and scope", `{gateway: {auth: {` + tok + `}, users: {a: {role: "root", scopes: ["admin"]}}, groups: {g: {role: "operator"}}}}`, []string{`gateway.users["a"].role: must be admin or user`, `gateway.users["a"].scopes[0]`, `gateway.groups["g"].role`}},
		{"oidc loads", `{gateway: {publicUrl: "https://agent.example.com", auth: {` + tok + `, oidc: {issuer: "https://id.example.com", clientId: "gw", clientSecret: "s"}}}}`, nil},
		{"oidc loopback http", `{gateway: {auth: {` + tok + `, oidc: {issuer: "http://localhost:9998/", clientId: "gw", redirectUrl: "http://127.0.0.1:18780/auth/oidc/callback"}}}}`, nil},
		{"oidc http elsewhere", `{gateway: {publicUrl: "https://a.example.com", auth: {` + tok + `, oidc: {issuer: "http://id.example.com", clientId: "gw"}}}}`, []string{"gateway.auth.oidc.issuer: must be https (http only on a loopback host"}},
		{"oidc without a callback", `{gateway: {auth: {` + tok + `, oidc: {issuer: "https://id.example.com", clientId: "gw"}}}}`, []string{"gateway.auth.oidc.redirectUrl: is required when gateway.publicUrl is unset"}},
		{"oidc wrong callback path", `{gateway: {auth: {` + tok + `, oidc: {issuer: "https://id.example.com", clientId: "gw", redirectUrl: "https://a.example.com/cb"}}}}`, []string{"must end in /auth/oidc/callback"}},
		{"oidc without openid", `{gateway: {publicUrl: "https://a.example.com", auth: {` + tok + `, oidc: {issuer: "https://id.example.com", clientId: "gw", scopes: ["email"]}}}}`, []string{"gateway.auth.oidc.scopes: must include openid"}},
		{"oidc in trusted-proxy mode", `{gateway: {publicUrl: "https://a.example.com", trustedProxies: ["10.0.0.1"], auth: {mode: "trusted-proxy", trustedProxy: {userHeader: "remote-user"}, oidc: {issuer: "https://id.example.com", clientId: "gw"}}}}`, []string{"OIDC sign-in works beside mode token or password"}},
		{"oidc no client", `{gateway: {publicUrl: "https://a.example.com", auth: {` + tok + `, oidc: {issuer: "https://id.example.com"}}}}`, []string{"gateway.auth.oidc.clientId: is required"}},
		{"bad domain", `{gateway: {publicUrl: "https://a.example.com", auth: {` + tok + `, oidc: {issuer: "https://id.example.com", clientId: "gw", allowedDomains: ["*"]}}}}`, []string{"allowedDomains[0]"}},
		{"assertion loads", `{gateway: {trustedProxies: ["127.0.0.1", "10.0.0.0/8"], auth: {` + tok + `, assertion: {jwksUrl: "https://t.cloudflareaccess.com/cdn-cgi/access/certs", issuer: "https://t.cloudflareaccess.com", audience: "aud"}}}}`, nil},
		{"assertion only loopback proxies", `{gateway: {trustedProxies: ["127.0.0.1"], auth: {` + tok + `, assertion: {jwksUrl: "https://t.example/certs", issuer: "https://t.example", audience: "aud"}}}}`, []string{"gateway.auth.assertion.proxies: no proxy to take assertions from"}},
		{"assertion incomplete", `{gateway: {auth: {` + tok + `, assertion: {jwksUrl: "http://t.example/certs", proxies: ["10.0.0.1"]}}}}`, []string{"gateway.auth.assertion.jwksUrl: must be https", "gateway.auth.assertion.issuer: is required", "gateway.auth.assertion.audience: is required"}},
		{"bad groups header", `{gateway: {auth: {` + tok + `, trustedProxy: {groupsHeader: "Remote Groups"}}}}`, []string{"gateway.auth.trustedProxy.groupsHeader"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Options{Path: writeConfig(t, "c.json5", tt.text), Explicit: true})
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded: %+v", cfg.Typed.People)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	cfg, err := Load(Options{Path: writeConfig(t, "c.json5", `{gateway: {trustedProxies: ["127.0.0.1", "10.0.0.0/8"], auth: {`+tok+`, assertion: {jwksUrl: "https://t.example/certs", issuer: "https://t.example", audience: "aud"}}, users: {"Alice@Example.com": {}}}}`), Explicit: true})
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Typed.Assertion; a == nil || a.Header != "Cf-Access-Jwt-Assertion" || a.UserClaim != "email" || len(a.Proxies) != 1 || a.Proxies[0].String() != "10.0.0.0/8" {
		t.Fatalf("assertion defaults: %+v", a)
	}
	if _, ok := cfg.Typed.People.Users["alice@example.com"]; !ok {
		t.Fatalf("users not normalised: %v", cfg.Typed.People.Users)
	}
}

// TestAccessConfig: gateway.access is checked at load, each problem naming
// its rule.
func TestAccessConfig(t *testing.T) {
	const tok = `token: "0123456789abcdef0123456789abcdef"`
	tests := []struct {
		name, rules string
		want        []string
	}{
		{"good", `[{groups: ["family"], paths: ["/tools/invoke"], tools: ["exec"], action: "deny"}, {users: ["device:*"], methods: ["post"], paths: ["/api/*"], action: "deny"}, {action: "allow"}]`, nil},
		{"empty matcher", `[{groups: [], action: "deny"}]`, []string{"gateway.access[0].groups: is empty: leave it out to match any"}},
		{"unknown key", `[{group: ["x"], action: "deny"}]`, []string{"gateway.access[0].group: unknown key (did you mean gateway.access[0].groups?)"}},
		{"no action", `[{paths: ["/x"]}]`, []string{"gateway.access[0].action: is required"}},
		{"bad action", `[{paths: ["/x"], action: "block"}]`, []string{"gateway.access[0].action: must be allow or deny"}},
		{"bad glob", `[{paths: ["/a*b"], action: "deny"}]`, []string{`gateway.access[0].paths[0]: "/a*b": "*" may only end an entry`}},
		{"relative path", `[{paths: ["tools/invoke"], action: "deny"}]`, []string{"must start with /"}},
		{"bad method", `[{methods: ["FETCH"], action: "deny"}]`, []string{"gateway.access[0].methods[0]: must be an HTTP method"}},
		{"bad auth", `[{auth: ["jwt"], action: "deny"}]`, []string{"gateway.access[0].auth[0]: must be one of"}},
		{"bad host", `[{hosts: ["*"], action: "deny"}]`, []string{"gateway.access[0].hosts[0]"}},
		{"empty entry", `[{tools: [""], action: "deny"}]`, []string{"gateway.access[0].tools[0]: is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Options{Path: writeConfig(t, "c.json5", `{gateway: {auth: {`+tok+`}, access: `+tt.rules+`}}`), Explicit: true})
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if len(cfg.Typed.Access) != 3 || cfg.Typed.Access[1].Methods[0] != "POST" || !cfg.Typed.Access[1].Users[0].Prefix {
					t.Fatalf("typed: %+v", cfg.Typed.Access)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestForwardAuthConfig: gateway.forwardAuth is checked at load against
// the agent's names, the sign-in URL and the cookie's domain.
func TestForwardAuthConfig(t *testing.T) {
	const base = `auth: {token: "0123456789abcdef0123456789abcdef"}, allowedHosts: ["agent.example.com"], publicUrl: "https://agent.example.com"`
	tests := []struct {
		name, gateway string
		want          []string
	}{
		{"good", `forwardAuth: {hosts: ["app.example.com", "files.example.com:8443"], cookieDomain: ".example.com", defaultAction: "allow"},
			access: [{hosts: ["app.example.com"], paths: ["/health"], bypass: true}]`, nil},
		{"agent's own name", `forwardAuth: {hosts: ["agent.example.com"]}`, []string{"gateway.forwardAuth.hosts[0]", "needs a name of its own"}},
		{"wildcard", `forwardAuth: {hosts: ["*"]}`, []string{"gateway.forwardAuth.hosts[0]: must be a host name"}},
		{"bad port", `forwardAuth: {hosts: ["app.example.com:99999"]}`, []string{"gateway.forwardAuth.hosts[0]: has a bad port"}},
		{"bad default", `forwardAuth: {hosts: ["app.example.com"], defaultAction: "open"}`, []string{"gateway.forwardAuth.defaultAction: must be deny or allow"}},
		{"bare suffix domain", `forwardAuth: {hosts: ["app.example.com"], cookieDomain: "com"}`, []string{"gateway.forwardAuth.cookieDomain: must be a domain"}},
		{"domain misses an app", `forwardAuth: {hosts: ["app.example.org"], cookieDomain: "example.com"}`,
			[]string{`gateway.forwardAuth.hosts[0]: "app.example.org" is not under gateway.forwardAuth.cookieDomain`}},
		{"domain misses the sign-in host", `forwardAuth: {hosts: ["app.apps.example.com"], cookieDomain: "apps.example.com"}`,
			[]string{`does not cover gateway.publicUrl's host "agent.example.com"`}},
		{"domain without apps", `forwardAuth: {cookieDomain: "example.com"}`, []string{"the SSO cookie would protect nothing"}},
		{"bypass on the agent", `forwardAuth: {hosts: ["app.example.com"]}, access: [{hosts: ["agent.example.com"], bypass: true}]`,
			[]string{`gateway.access[0].hosts: "agent.example.com" is not in gateway.forwardAuth.hosts`}},
		{"bypass without apps", `access: [{paths: ["/health"], bypass: true}]`, []string{"gateway.access[0].bypass: applies only to gateway.forwardAuth.hosts"}},
		{"bypass naming people", `forwardAuth: {hosts: ["app.example.com"]}, access: [{users: ["alice"], bypass: true}]`, []string{"cannot name users"}},
		{"bypass with an action", `forwardAuth: {hosts: ["app.example.com"]}, access: [{paths: ["/x"], bypass: true, action: "allow"}]`, []string{"a bypass rule takes no action"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Options{Path: writeConfig(t, "c.json5", `{gateway: {`+base+`, `+tt.gateway+`}}`), Explicit: true})
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if names := cfg.Typed.ForwardNames; len(names) != 2 || names[1] != "files.example.com" {
					t.Fatalf("names: %v", names)
				}
				if got := cfg.Typed.ForwardHosts; len(got) != 2 || got[1] != "files.example.com:8443" || cfg.Typed.CookieDomain != "example.com" || !cfg.Typed.ForwardAllow {
					t.Fatalf("typed: hosts %v, domain %q, allow %v", got, cfg.Typed.CookieDomain, cfg.Typed.ForwardAllow)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	t.Run("no publicUrl", func(t *testing.T) {
		_, err := Load(Options{Path: writeConfig(t, "c.json5", `{gateway: {auth: {token: "0123456789abcdef0123456789abcdef"}, forwardAuth: {hosts: ["app.example.com"]}}}`), Explicit: true})
		if err == nil || !strings.Contains(err.Error(), "need gateway.publicUrl") {
			t.Fatalf("err = %v", err)
		}
	})
}
