package integration

// The same check id means the same thing: equivalent configurations are
// audited by the real OpenClaw (`openclaw security audit --json`) and by
// ours, and every id both catalogues share (docs/audit.md, origin
// "OpenClaw") must be reported by both or neither, with the same severity.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gateway/audit"
	"gateway/config"
)

// sharedIDs are the ids whose condition carries over between the two
// configurations unchanged (gateway-level; channel findings depend on
// OpenClaw's channel plugins being configured with real credentials).
var sharedIDs = map[string]bool{
	"gateway.bind_no_auth": true, "gateway.loopback_no_auth": true, "gateway.http.no_auth": true,
	"gateway.real_ip_fallback_enabled": true, "gateway.token_too_short": true, "gateway.password_too_short": true,
	"gateway.trusted_proxy_auth": true, "gateway.trusted_proxy_no_allowlist": true, "gateway.trusted_proxy_allow_loopback": true,
	"gateway.control_ui.allowed_origins_required": true, "gateway.control_ui.allowed_origins_wildcard": true,
	"gateway.trusted_proxies_missing": true,
}

func TestAuditParityWithOpenClaw(t *testing.T) {
	node, mjs := requireOpenClaw(t)
	cases := []struct {
		name string
		// ours and theirs are the same intent in each one's config.
		ours, theirs string
		env          map[string]string
	}{
		{
			name:   "trusted-proxy with a remote proxy and the X-Real-IP fallback, on loopback",
			ours:   `{gateway: {allowRealIpFallback: true, trustedProxies: ["10.0.0.5"], auth: {mode: "trusted-proxy", trustedProxy: {userHeader: "x-forwarded-user"}}}}`,
			theirs: `{gateway: {mode: "local", bind: "loopback", allowRealIpFallback: true, trustedProxies: ["10.0.0.5"], auth: {mode: "trusted-proxy", trustedProxy: {userHeader: "x-forwarded-user"}}}}`,
		},
		{
			name:   "no auth on loopback",
			ours:   `{gateway: {trustedProxies: ["127.0.0.1"], auth: {mode: "none"}}}`,
			theirs: `{gateway: {mode: "local", bind: "loopback", trustedProxies: ["127.0.0.1"], auth: {mode: "none"}}}`,
		},
		{
			// OpenClaw also reports gateway.auth_no_rate_limit here (its
			// lockout is off by default; ours is on): a deliberate
			// difference, not in sharedIDs.
			name:   "exposed with a short token and no allowed origins",
			ours:   `{gateway: {bind: "lan", auth: {mode: "token", token: "${SHORT}"}}}`,
			theirs: `{gateway: {mode: "local", bind: "lan", auth: {mode: "token", token: "short-token-123"}}}`,
			env:    map[string]string{"SHORT": "short-token-123"},
		},
		{
			name:   "password mode with a short password and an origin wildcard",
			ours:   `{gateway: {trustedProxies: ["127.0.0.1"], allowedOrigins: ["*"], auth: {mode: "password", password: "${PW}"}}}`,
			theirs: `{gateway: {mode: "local", bind: "loopback", trustedProxies: ["127.0.0.1"], controlUi: {allowedOrigins: ["*"]}, auth: {mode: "password", password: "shortpassword12"}}}`,
			env:    map[string]string{"PW": "shortpassword12"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			theirs := openClawAudit(t, node, mjs, c.theirs)
			ours := ourAudit(t, c.ours, c.env)
			var diffs []string
			for id := range sharedIDs {
				if ours[id] != theirs[id] {
					diffs = append(diffs, id+": ours "+orNone(ours[id])+", OpenClaw "+orNone(theirs[id]))
				}
			}
			sort.Strings(diffs)
			if len(diffs) > 0 {
				t.Fatalf("the shared ids disagree:\n  %s\nours: %v\nOpenClaw: %v", strings.Join(diffs, "\n  "), ours, theirs)
			}
			t.Logf("agree; ours %v, OpenClaw %v", ours, theirs)
		})
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// openClawAudit runs OpenClaw's own audit on its configuration in a
// private HOME and returns check id -> severity.
func openClawAudit(t *testing.T, node, mjs, cfg string) map[string]string {
	t.Helper()
	home := t.TempDir()
	for _, d := range []string{".openclaw", "tmp", ".cache"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(home, ".openclaw", "openclaw.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cleanStateLocks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, mjs, "security", "audit", "--json")
	cmd.Dir = home
	cmd.Env = openClawEnv(home, "XDG_CONFIG_HOME="+filepath.Join(home, "tmp"), "XDG_STATE_HOME="+filepath.Join(home, "tmp"))
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("openclaw security audit: %v", err)
	}
	var rep struct {
		Findings []struct{ CheckID, Severity string }
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("openclaw security audit --json: %v\n%.1000s", err, out)
	}
	m := map[string]string{}
	for _, f := range rep.Findings {
		m[f.CheckID] = f.Severity
	}
	return m
}

// ourAudit runs ours on a config file in a fresh, tight state dir.
func ourAudit(t *testing.T, cfg string, env map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(state, "credentials"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(state, "gateway.json5")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := audit.Run(audit.Take(config.Options{Path: p, Explicit: true, Env: env}, state), time.Now())
	m := map[string]string{}
	for _, f := range r.Findings {
		m[f.CheckID] = string(f.Severity)
	}
	return m
}
