package audit

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gateway/config"
)

// layout builds a state dir: files maps relative paths to modes (a trailing
// "/" makes a directory); "->target" makes a symlink.
type layout map[string]os.FileMode

func build(t *testing.T, cfgName, cfgText string, cfgMode os.FileMode, files layout, stateMode os.FileMode) (config.Options, string) {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, rel := range keys {
		mode := files[rel]
		if target, ok := strings.CutPrefix(rel, "->"); ok {
			_ = target
			continue
		}
		p := filepath.Join(dir, strings.TrimSuffix(rel, "/"))
		if strings.HasSuffix(rel, "/") {
			if err := os.MkdirAll(p, 0o700); err != nil {
				t.Fatal(err)
			}
		} else {
			_ = os.MkdirAll(filepath.Dir(p), 0o700)
			if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, stateMode); err != nil {
		t.Fatal(err)
	}
	opts := config.Options{Env: map[string]string{"GATEWAY_PASSWORD_X": "x"}}
	if cfgName != "" {
		p := filepath.Join(dir, cfgName)
		if err := os.WriteFile(p, []byte(cfgText), cfgMode); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(p, cfgMode)
		opts.Path, opts.Explicit = p, true
	}
	return opts, dir
}

const secureYAML = `gateway:
  bind: loopback
  trustedProxies: ["127.0.0.1"]
  auth:
    mode: token
    token: ${TOKEN}
channels:
  whatsapp:
    dmPolicy: pairing
    groupPolicy: allowlist
`

func ids(r *Report) map[string]Severity {
	out := map[string]Severity{}
	for _, f := range r.Findings {
		out[f.CheckID] = f.Severity
	}
	return out
}

func TestSecureConfigHasNoFindings(t *testing.T) {
	opts, dir := build(t, "openclaw.yaml", secureYAML, 0o600, layout{
		"credentials/": 0o700, "credentials/whatsapp-allowFrom.json": 0o600, "credentials/whatsapp/": 0o700, "credentials/whatsapp/creds.json": 0o600,
		"agents/main/agent/auth-profiles.json": 0o600, "devices/": 0o700, "identity/": 0o700,
	}, 0o700)
	opts.Env = map[string]string{"TOKEN": strings.Repeat("k", 40)}
	r := Run(Take(opts, dir), time.Now())
	if len(r.Findings) != 0 || len(r.Errors) != 0 {
		t.Fatalf("secure config has findings: %+v errors %v", r.Findings, r.Errors)
	}
}

func TestEveryCheck(t *testing.T) {
	good := layout{"credentials/": 0o700}
	tests := []struct {
		id    string
		sev   Severity
		name  string // config file name
		text  string
		cmode os.FileMode
		files layout
		smode os.FileMode
	}{
		{"gateway.bind_no_auth", Critical, "c.json5", `{gateway: {bind: "lan", auth: {mode: "none"}}}`, 0o600, good, 0o700},
		{"gateway.loopback_no_auth", Critical, "c.json5", `{gateway: {auth: {mode: "none"}}}`, 0o600, good, 0o700},
		{"config.invalid", Critical, "c.json5", `{gateway: {bind: "lan", auth: {mode: "none"}}}`, 0o600, good, 0o700},
		{"gateway.trusted_proxies_missing", Warn, "c.json5", `{}`, 0o600, good, 0o700},
		{"gateway.trusted_proxies_too_broad", Critical, "c.json5", `{gateway: {trustedProxies: ["0.0.0.0/0"]}}`, 0o600, good, 0o700},
		{"gateway.trusted_proxies_too_broad", Critical, "c.json5", `{gateway: {trustedProxies: ["::/0"]}}`, 0o600, good, 0o700},
		{"gateway.trusted_proxies_too_broad", Critical, "c.json5", `{gateway: {trustedProxies: ["8.0.0.0/8"]}}`, 0o600, good, 0o700},
		{"gateway.real_ip_fallback_enabled", Warn, "c.json5", `{gateway: {allowRealIpFallback: true}}`, 0o600, good, 0o700},
		{"gateway.real_ip_fallback_enabled", Critical, "c.json5", `{gateway: {bind: "lan", allowRealIpFallback: true}}`, 0o600, good, 0o700},
		{"gateway.token_too_short", Warn, "c.json5", `{gateway: {auth: {token: "abc"}}}`, 0o600, good, 0o700},
		{"gateway.password_too_short", Warn, "c.json5", `{gateway: {auth: {mode: "password", password: "hunter2-hunter2"}}}`, 0o600, good, 0o700},
		{"gateway.password_weak", Warn, "c.json5", `{gateway: {auth: {mode: "password", password: "changeme"}}}`, 0o600, good, 0o700},
		{"gateway.http.no_auth", Warn, "c.json5", `{gateway: {auth: {mode: "none"}}}`, 0o600, good, 0o700},
		{"gateway.http.no_auth", Critical, "c.json5", `{gateway: {bind: "lan", auth: {mode: "none"}}}`, 0o600, good, 0o700},
		{"gateway.control_ui.allowed_origins_required", Critical, "c.json5", `{gateway: {bind: "lan"}}`, 0o600, good, 0o700},
		{"gateway.real_ip_fallback_enabled", Critical, "c.json5", `{gateway: {allowRealIpFallback: true, trustedProxies: ["10.0.0.5"], auth: {mode: "trusted-proxy", trustedProxy: {userHeader: "x-forwarded-user"}}}}`, 0o600, good, 0o700},
		{"channels.whatsapp.dm.open", Critical, "c.json5", `{channels: {whatsapp: {dmPolicy: "open", allowFrom: ["+15551234567"]}}}`, 0o600, good, 0o700},
		{"channels.telegram.groups.allowFrom.missing", Critical, "c.json5", `{channels: {telegram: {groupPolicy: "open"}}}`, 0o600, good, 0o700},
		{"channels.telegram.groups.allowFrom.missing", Critical, "c.json5", `{channels: {telegram: {groupAllowFrom: ["*"]}}}`, 0o600, good, 0o700},
		{"gateway.auth_no_rate_limit", Warn, "c.json5", `{gateway: {bind: "lan", auth: {rateLimit: {enabled: false}}}}`, 0o600, good, 0o700},
		{"access.rule_shadowed", Warn, "c.json5", `{gateway: {access: [{paths: ["/v1/*"], action: "deny"}, {groups: ["family"], paths: ["/v1/chat"], action: "allow"}]}}`, 0o600, good, 0o700},
		{"access.admin_group_broad", Warn, "c.json5", `{gateway: {publicUrl: "https://a.example.com", groups: {ops: {role: "admin"}}, auth: {oidc: {issuer: "https://id.example.com", clientId: "gw"}}}}`, 0o600, good, 0o700},
		{"access.tools_unrestricted", Info, "c.json5", `{gateway: {users: {bob: {}}}}`, 0o600, good, 0o700},
		{"access.trusted_proxy_implicit_admin", Warn, "c.json5", `{gateway: {trustedProxies: ["10.0.0.5"], auth: {mode: "trusted-proxy", trustedProxy: {userHeader: "remote-user", allowUsers: ["alice"]}}}}`, 0o600, good, 0o700},
		{"config.invalid", Critical, "c.json5", `{gateway: {auth: {rateLimit: {maxAttempts: 0}}}}`, 0o600, good, 0o700},
		{"gateway.trusted_proxy_auth", Critical, "c.json5", `{gateway: {trustedProxies: ["10.0.0.1"], auth: {mode: "trusted-proxy", trustedProxy: {allowUsers: ["a"]}}}}`, 0o600, good, 0o700},
		{"gateway.trusted_proxy_no_proxies", Critical, "c.json5", `{gateway: {auth: {mode: "trusted-proxy"}}}`, 0o600, good, 0o700},
		{"gateway.trusted_proxy_no_user_header", Critical, "c.json5", `{gateway: {trustedProxies: ["10.0.0.1"], auth: {mode: "trusted-proxy", trustedProxy: {userHeader: ""}}}}`, 0o600, good, 0o700},
		{"gateway.trusted_proxy_no_allowlist", Warn, "c.json5", `{gateway: {trustedProxies: ["10.0.0.1"], auth: {mode: "trusted-proxy"}}}`, 0o600, good, 0o700},
		{"gateway.trusted_proxy_allow_loopback", Warn, "c.json5", `{gateway: {trustedProxies: ["10.0.0.1"], auth: {mode: "trusted-proxy", trustedProxy: {allowLoopback: true}}}}`, 0o600, good, 0o700},
		{"gateway.control_ui.allowed_origins_wildcard", Warn, "c.json5", `{gateway: {allowedOrigins: ["*"]}}`, 0o600, good, 0o700},
		{"gateway.control_ui.allowed_origins_wildcard", Critical, "c.json5", `{gateway: {bind: "lan", allowedOrigins: ["*"]}}`, 0o600, good, 0o700},
		{"gateway.allowed_hosts_wildcard", Warn, "c.json5", `{gateway: {allowedHosts: ["*"]}}`, 0o600, good, 0o700},
		{"gateway.device_auto_approve_exposed", Warn, "c.json5", `{gateway: {bind: "lan"}}`, 0o600, good, 0o700},
		{"config.secrets.gateway_password_in_config", Warn, "c.yaml", "gateway:\n  auth:\n    mode: password\n    password: literal-password-in-file\n", 0o600, good, 0o700},
		{"logging.redact_off", Warn, "c.json5", `{logging: {redactSensitive: "off"}}`, 0o600, good, 0o700},
		{"channels.whatsapp.dm.open", Critical, "c.json5", `{channels: {whatsapp: {dmPolicy: "open", allowFrom: ["*"]}}}`, 0o600, good, 0o700},
		{"channels.whatsapp.dm.open_invalid", Warn, "c.json5", `{channels: {whatsapp: {dmPolicy: "open"}}}`, 0o600, good, 0o700},
		{"channels.telegram.dm.disabled", Info, "c.json5", `{channels: {telegram: {dmPolicy: "disabled"}}}`, 0o600, good, 0o700},
		{"channels.whatsapp.groups.open", Warn, "c.json5", `{channels: {whatsapp: {groupPolicy: "open"}}}`, 0o600, good, 0o700},
		{"fs.state_dir.perms_world_writable", Critical, "", "", 0, good, 0o777},
		{"fs.state_dir.perms_group_writable", Warn, "", "", 0, good, 0o770},
		{"fs.state_dir.perms_readable", Warn, "", "", 0, good, 0o755},
		{"fs.config.perms_writable", Critical, "c.json5", `{}`, 0o620, good, 0o700},
		{"fs.config.perms_world_readable", Critical, "c.json5", `{}`, 0o604, good, 0o700},
		{"fs.config.perms_group_readable", Warn, "c.json5", `{}`, 0o640, good, 0o700},
		{"fs.credentials_dir.perms_writable", Critical, "", "", 0, layout{"credentials/": 0o700, "credentials/whatsapp/creds.json": 0o666}, 0o700},
		{"fs.credentials_dir.perms_readable", Warn, "", "", 0, layout{"credentials/": 0o755}, 0o700},
		{"fs.auth_profiles.perms_writable", Critical, "", "", 0, layout{"agents/main/agent/auth-profiles.json": 0o662}, 0o700},
		{"fs.auth_profiles.perms_readable", Warn, "", "", 0, layout{"agents/main/agent/auth-profiles.json": 0o644}, 0o700},
		{"store.redis_no_auth", Warn, "c.json5", `{gateway: {store: {backend: "redis", url: "redis://127.0.0.1:6379/0"}}}`, 0o600, good, 0o700},
		{"store.redis_plaintext_remote", Critical, "c.json5", `{gateway: {store: {backend: "redis", url: "redis://:${GATEWAY_PASSWORD_X}@10.0.0.7:6379/0"}}}`, 0o600, good, 0o700},
		{"admin.listen_exposed", Critical, "c.json5", `{gateway: {admin: {listen: "0.0.0.0:18781"}}}`, 0o600, good, 0o700},
		{"store.redis_tls_unverified", Critical, "c.json5", `{gateway: {store: {backend: "redis", allowInsecureTls: true, url: "rediss://:${GATEWAY_PASSWORD_X}@redis.internal:6380/0?skip_verify=true"}}}`, 0o600, good, 0o700},
		{"config.secrets.gateway_password_in_config", Warn, "c.json5", `{gateway: {store: {backend: "redis", url: "rediss://:literal-password-in-file@redis.internal:6380/0"}}}`, 0o600, good, 0o700},
		{"audit.suppressions_active", Info, "c.json5", `{gateway: {allowedOrigins: ["*"]}, audit: {suppress: ["gateway.control_ui.allowed_origins_wildcard"]}}`, 0o600, good, 0o700},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			opts, dir := build(t, tt.name, tt.text, tt.cmode, tt.files, tt.smode)
			r := Run(Take(opts, dir), time.Now())
			got, ok := ids(r)[tt.id]
			if !ok || got != tt.sev {
				t.Fatalf("finding %s: got %v (present %v), want %v; all: %v", tt.id, got, ok, tt.sev, ids(r))
			}
			for _, f := range r.Findings {
				if strings.Contains(f.Detail, "literal-password-in-file") {
					t.Fatal("a secret appears in the report")
				}
			}
		})
	}
}

func TestSuppressionKeepsFindingOutOfSummary(t *testing.T) {
	opts, dir := build(t, "c.json5", `{gateway: {trustedProxies: ["127.0.0.1"], allowedOrigins: ["*"], bind: "lan"}, audit: {suppress: ["gateway.control_ui.allowed_origins_wildcard"]}}`, 0o600, layout{}, 0o700)
	r := Run(Take(opts, dir), time.Now())
	if r.HasCritical() {
		t.Fatalf("suppressed critical counted: %+v", r.Summary)
	}
	found := false
	for _, f := range r.Findings {
		if f.CheckID == "gateway.control_ui.allowed_origins_wildcard" {
			found = f.Suppressed
		}
	}
	if !found {
		t.Fatal("suppressed finding disappeared instead of being marked")
	}
}

func TestSymlinksAndMissing(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "real")
	_ = os.Mkdir(real, 0o777)
	_ = os.Chmod(real, 0o777)
	link := filepath.Join(root, "state")
	_ = os.Symlink(real, link)
	r := Run(Take(config.Options{}, link), time.Now())
	if _, ok := ids(r)["fs.state_dir.symlink"]; !ok {
		t.Fatalf("symlinked state dir: %v", ids(r))
	}
	r = Run(Take(config.Options{}, filepath.Join(root, "nope")), time.Now())
	if _, ok := ids(r)["fs.state_dir.missing"]; !ok {
		t.Fatalf("missing state dir: %v", ids(r))
	}
	// Config symlink.
	dir := filepath.Join(root, "s2")
	_ = os.Mkdir(dir, 0o700)
	target := filepath.Join(root, "target.json5")
	_ = os.WriteFile(target, []byte(`{}`), 0o666)
	cl := filepath.Join(dir, "openclaw.json5")
	_ = os.Symlink(target, cl)
	r = Run(Take(config.Options{Path: cl, Explicit: true}, dir), time.Now())
	if _, ok := ids(r)["fs.config.symlink"]; !ok {
		t.Fatalf("symlinked config: %v", ids(r))
	}
}

func TestUnparsableConfigStillReportsFilesystem(t *testing.T) {
	opts, dir := build(t, "c.json5", `{gateway: {`, 0o644, layout{}, 0o755)
	s := Take(opts, dir)
	if s.Config != nil || s.ConfigErr == nil {
		t.Fatal("broken config loaded")
	}
	r := Run(s, time.Now())
	got := ids(r)
	if _, ok := got["fs.state_dir.perms_readable"]; !ok {
		t.Fatalf("filesystem findings missing: %v", got)
	}
	if len(r.Errors) == 0 || !strings.Contains(strings.Join(r.Errors, " "), "parse json5") {
		t.Fatalf("errors = %v", r.Errors)
	}
}

func TestBoundedWalk(t *testing.T) {
	opts, dir := build(t, "", "", 0, layout{}, 0o700)
	// A symlink loop and a deep tree: the walk ends.
	_ = os.Symlink(dir, filepath.Join(dir, "loop"))
	deep := dir
	for range maxWalkDepth + 5 {
		deep = filepath.Join(deep, "d")
	}
	_ = os.MkdirAll(deep, 0o700)
	done := make(chan *Report, 1)
	go func() { done <- Run(Take(opts, dir), time.Now()) }()
	select {
	case r := <-done:
		if len(r.Errors) == 0 {
			t.Fatal("truncated walk not reported")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("walk did not finish")
	}
}

func configOptions(p string) config.Options { return config.Options{Path: p, Explicit: true} }

// TestRedisStoreDoneRight: a password from the environment and TLS to a
// remote Redis (or plain redis:// on loopback) raise nothing.
func TestRedisStoreDoneRight(t *testing.T) {
	for _, u := range []string{"rediss://:${GATEWAY_PASSWORD_X}@redis.internal:6380/0", "redis://:${GATEWAY_PASSWORD_X}@127.0.0.1:6379/0", "redis://:${GATEWAY_PASSWORD_X}@[::1]:6379/0"} {
		opts, dir := build(t, "c.json5", `{gateway: {trustedProxies: ["127.0.0.1"], store: {backend: "redis", url: "`+u+`"}}}`, 0o600, layout{"credentials/": 0o700}, 0o700)
		r := Run(Take(opts, dir), time.Now())
		for id := range ids(r) {
			if strings.HasPrefix(id, "store.") || id == "config.secrets.gateway_password_in_config" {
				t.Errorf("%s: finding %s", u, id)
			}
		}
	}
}

// TestOpenClawConfigUnreadable: an OpenClaw configuration that exists but
// does not parse is reported, not skipped.
func TestOpenClawConfigUnreadable(t *testing.T) {
	opts, dir := build(t, "c.json5", `{gateway: {trustedProxies: ["127.0.0.1"]}}`, 0o600, layout{"credentials/": 0o700}, 0o700)
	oc := filepath.Join(t.TempDir(), "openclaw.json")
	if err := os.WriteFile(oc, []byte("{gateway: "), 0o600); err != nil {
		t.Fatal(err)
	}
	r := Run(Take(opts, dir).AddOpenClaw(OpenClawInput{Path: oc}), time.Now())
	if ids(r)["openclaw.config_unreadable"] != Warn {
		t.Fatalf("findings: %v", ids(r))
	}
}

// TestSecretRefIsNotALiteralSecret: OpenClaw's SecretRef form is accepted
// and is not reported as a secret written in the file.
func TestSecretRefIsNotALiteralSecret(t *testing.T) {
	opts, dir := build(t, "c.json5", `{gateway: {trustedProxies: ["127.0.0.1"], auth: {mode: "password", password: {source: "env", id: "GATEWAY_PASSWORD_X"}}}}`, 0o600, layout{"credentials/": 0o700}, 0o700)
	opts.Env = map[string]string{"GATEWAY_PASSWORD_X": "a passphrase long enough to pass"}
	r := Run(Take(opts, dir), time.Now())
	for id := range ids(r) {
		if id == "config.secrets.gateway_password_in_config" || id == "config.invalid" {
			t.Fatalf("SecretRef reported: %v", ids(r))
		}
	}
}

// TestStrongestPermissionFindingOnly: a path with several loose bits gets
// one finding, the strongest.
func TestStrongestPermissionFindingOnly(t *testing.T) {
	opts, dir := build(t, "c.json5", `{}`, 0o666, layout{"credentials/": 0o700}, 0o777)
	r := Run(Take(opts, dir), time.Now())
	got := ids(r)
	if got["fs.state_dir.perms_world_writable"] != Critical || got["fs.config.perms_writable"] != Critical {
		t.Fatalf("findings: %v", got)
	}
	for _, noise := range []string{"fs.state_dir.perms_readable", "fs.state_dir.perms_group_writable", "fs.config.perms_world_readable", "fs.config.perms_group_readable"} {
		if _, ok := got[noise]; ok {
			t.Errorf("%s reported beside the stronger finding for the same path", noise)
		}
	}
}

// TestMaxAttemptsZeroIsNotOff: maxAttempts 0 is a config error, not a
// lockout turned off; only rateLimit.enabled: false is "off" (OpenClaw
// reports neither for 0).
func TestMaxAttemptsZeroIsNotOff(t *testing.T) {
	opts, dir := build(t, "c.json5", `{gateway: {bind: "lan", auth: {rateLimit: {maxAttempts: 0}}}}`, 0o600, layout{}, 0o700)
	got := ids(Run(Take(opts, dir), time.Now()))
	if _, ok := got["config.invalid"]; !ok {
		t.Fatalf("config.invalid missing: %v", got)
	}
	if _, ok := got["gateway.auth_no_rate_limit"]; ok {
		t.Fatalf("maxAttempts 0 reported as the lockout turned off: %v", got)
	}
}

// TestSameUser: an upstream listening as the gateway's own user is
// critical (the integration test runs the other case, as another uid).
func TestSameUser(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	opts, dir := build(t, "c.json5", `{gateway: {upstream: "http://`+ln.Addr().String()+`"}}`, 0o600, layout{}, 0o700)
	got := ids(Run(Take(opts, dir), time.Now()))
	if got["openclaw.same_user"] != Critical {
		t.Fatalf("openclaw.same_user missing: %v", got)
	}
	ln.Close()
	if got := ids(Run(Take(opts, dir), time.Now())); got["openclaw.same_user"] != "" {
		t.Fatalf("nothing listens, yet: %v", got)
	}
}

// TestOpenClawConfigNeverVanishes: when OpenClaw's configuration cannot be
// found or read, the openclaw.* checks say they did not run.
func TestOpenClawConfigNeverVanishes(t *testing.T) {
	opts, dir := build(t, "c.json5", `{gateway: {upstream: "http://127.0.0.1:18789"}}`, 0o600, layout{}, 0o700)
	missing := filepath.Join(t.TempDir(), "openclaw.json")
	if got := ids(Run(Take(opts, dir).AddOpenClaw(OpenClawInput{Path: missing}), time.Now())); got["openclaw.config_not_found"] != Info {
		t.Fatalf("default path missing: %v", got)
	}
	if got := ids(Run(Take(opts, dir).AddOpenClaw(OpenClawInput{Path: missing, Explicit: true}), time.Now())); got["openclaw.config_unreadable"] != Warn {
		t.Fatalf("named path missing: %v", got)
	}
	unreadable := filepath.Join(t.TempDir(), "openclaw.json")
	_ = os.WriteFile(unreadable, []byte("{not json5"), 0o600)
	if got := ids(Run(Take(opts, dir).AddOpenClaw(OpenClawInput{Path: unreadable}), time.Now())); got["openclaw.config_unreadable"] != Warn {
		t.Fatalf("unparsable: %v", got)
	}
}

// TestAccessFamilyExampleIsClean: the README's family example leaves no
// access finding: nothing shadowed, the family denied every dangerous tool.
func TestAccessFamilyExampleIsClean(t *testing.T) {
	text := `{gateway: {users: {mum: {role: "admin"}, kid: {groups: ["family"]}}, groups: {family: {scopes: ["operator.read"]}},
  access: [{groups: ["family"], paths: ["/tools/invoke"], tools: ["exec", "spawn", "shell", "fs_write", "fs_delete", "fs_move", "apply_patch", "terminal", "portal",
    "sessions_spawn", "sessions_send", "conversations_list", "conversations_send", "conversations_turn", "automations", "gateway", "plugins", "nodes", "computer",
    "mobile_ui", "openclaw"], action: "deny"}, {groups: ["family"], paths: ["/v1/*"], action: "deny"}]}}`
	opts, dir := build(t, "c.json5", text, 0o600, layout{"credentials/": 0o700}, 0o700)
	for id := range ids(Run(Take(opts, dir), time.Now())) {
		if strings.HasPrefix(id, "access.") {
			t.Errorf("finding %s on the family example", id)
		}
	}
}
