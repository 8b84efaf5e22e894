package main

// Items of "Every path to admin needs a credential" that need the command:
// configuration loading, reloads and the devices CLI.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gateway/auth"
	"gateway/config"
	"gateway/store"
)

// Item 6: with passwordHash in the file, a new password in the environment
// was ignored (the old one kept working) while the log said
// passwordSource env.
func TestEnvPasswordRotation(t *testing.T) {
	stateDir := filepath.Join(t.TempDir(), "state")
	_ = os.MkdirAll(stateDir, 0o700)
	oldHash, err := auth.HashPassword("the-old-password-0123")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, stateDir, "gateway.yaml", "gateway:\n  auth:\n    mode: password\n    passwordHash: \""+oldHash+"\"\n")
	e, _, logs := testEnv(map[string]string{"GATEWAY_PASSWORD": "the-new-password-4567"})
	addr, stop := startServe(t, commonFlags{stateDir: stateDir}, config.Overrides{Port: freePort(t)}, e)
	defer func() { _ = stop() }()
	login := func(pw string) int {
		code, _ := postJSON(t, "http://"+addr+"/auth/login", map[string]string{"password": pw}, nil)
		return code
	}
	if got := login("the-old-password-0123"); got != http.StatusUnauthorized {
		t.Fatalf("old password after rotation: %d", got)
	}
	if got := login("the-new-password-4567"); got != http.StatusOK {
		t.Fatalf("new password from the environment: %d", got)
	}
	if !strings.Contains(logs.String(), `"passwordSource":"env"`) {
		t.Fatalf("startup log does not say the environment's password is in force:\n%s", logs)
	}
}

// Item 12: a reload with maxAttempts 1 and an invalid allowFrom entry was
// rejected, yet one failed login then locked a client out: building the
// new handler had already changed the shared limiter.
func TestRejectedReloadChangesNothing(t *testing.T) {
	stateDir := filepath.Join(t.TempDir(), "state")
	_ = os.MkdirAll(stateDir, 0o700)
	const token = "owner-token-0123456789abcdefghij"
	cfg := writeFile(t, stateDir, "gateway.json", `{gateway: {trustedProxies: ["127.0.0.1"], auth: {token: "`+token+`"}},
		channels: {telegram: {dmPolicy: "allowlist", allowFrom: ["42"]}}}`)
	e, _, logs := testEnv(nil)
	addr, stop := startServe(t, commonFlags{stateDir: stateDir}, config.Overrides{Port: freePort(t)}, e)
	defer func() { _ = stop() }()
	_ = os.WriteFile(cfg, []byte(`{gateway: {trustedProxies: ["127.0.0.1"], auth: {token: "`+token+`", rateLimit: {maxAttempts: 1}}},
		channels: {telegram: {dmPolicy: "allowlist", allowFrom: ["@alice"]}}}`), 0o600)
	hup(t)
	waitFor(t, func() bool { return strings.Contains(logs.String(), "config reload rejected") }, "reload rejection logged")
	if !strings.Contains(logs.String(), "channels.telegram.allowFrom[0]") {
		t.Errorf("rejection does not name the bad key:\n%s", logs)
	}
	client := map[string]string{"X-Forwarded-For": "203.0.113.9"}
	if got := whoamiStatus(t, addr, "wrong", client); got != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", got)
	}
	if got := whoamiStatus(t, addr, token, client); got != http.StatusOK {
		t.Fatalf("one failure after a rejected reload locked the client out: %d", got)
	}
}

// Item 2 on the CLI: a request for admin is approved only with --role
// admin, and --latest refuses when more than one request waits.
func TestDevicesApproveConfirmsAdmin(t *testing.T) {
	stateDir := t.TempDir()
	st, err := store.Open(store.Options{Dir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	devices := auth.NewDeviceStore(st.Docs, nil)
	ctx := context.Background()
	add := func(id, role, client string) auth.PendingRequest {
		p, err := devices.AddPending(ctx, auth.PendingRequest{DeviceID: id, PublicKey: "k", Role: role}, netip.MustParseAddr(client))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	admin := add("aaaa", "admin", "203.0.113.1")
	run := func(args ...string) (int, string, string) {
		e, out, errb := testEnv(nil)
		code := dispatch(append([]string{"devices"}, append(args, "--state-dir", stateDir)...), e)
		return code, out.String(), errb.String()
	}
	if code, _, errs := run("list"); code != exitOK || errs != "" {
		t.Fatalf("list: %d %s", code, errs)
	} else if _, out, _ := run("list"); !strings.Contains(out, "REQUESTED ROLE") || !strings.Contains(out, "admin") {
		t.Fatalf("list does not show the requested role:\n%s", out)
	}
	if code, _, errs := run("approve", admin.RequestID); code != exitFailure || !strings.Contains(errs, "--role admin") {
		t.Fatalf("approve admin without --role: %d %s", code, errs)
	}
	add("bbbb", "operator", "203.0.113.2")
	if code, _, errs := run("approve", "--latest", "--role", "admin"); code != exitFailure || !strings.Contains(errs, admin.RequestID) {
		t.Fatalf("--latest with two pending: %d %s", code, errs)
	}
	if paired, _ := devices.Paired(context.Background()); len(paired) != 0 {
		t.Fatalf("something was paired: %+v", paired)
	}
	if code, out, errs := run("approve", admin.RequestID, "--role", "admin"); code != exitOK || !strings.Contains(out, "role admin") {
		t.Fatalf("approve --role admin: %d %s %s", code, out, errs)
	}
	if code, out, errs := run("approve", "--latest"); code != exitOK || !strings.Contains(out, "role operator") {
		t.Fatalf("--latest with one pending: %d %s %s", code, out, errs)
	}
}

// TestOpenClawCheck: against a fresh `openclaw onboard`-style config the
// check says what to change and prints the JSON to merge; with that JSON
// merged in, it passes but for the allowLoopback caveat; OpenClaw's file is
// never written.
func TestOpenClawCheck(t *testing.T) {
	home := t.TempDir()
	oc := writeFile(t, home, "openclaw.json", `{gateway: {mode: "local", bind: "loopback", port: 18789, auth: {mode: "token", token: "abc"}}}`)
	stateDir := filepath.Join(home, "state")
	_ = os.MkdirAll(stateDir, 0o700)
	writeFile(t, stateDir, "gateway.json", `{gateway: {upstream: "http://127.0.0.1:18789", allowedHosts: ["agent.example.com"]}}`)
	before, _ := os.ReadFile(oc)
	e, out, _ := testEnv(map[string]string{"HOME": home})
	if code := dispatch([]string{"openclaw", "check", "--openclaw-config", oc, "--state-dir", stateDir}, e); code != exitFailure {
		t.Fatalf("fresh config: exit %d\n%s", code, out)
	}
	for _, want := range []string{"openclaw.auth_mode", "openclaw.trusted_proxies", "openclaw.token_set", `"mode": "trusted-proxy"`, `"x-gateway-user"`, "https://agent.example.com"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if after, _ := os.ReadFile(oc); string(after) != string(before) {
		t.Fatal("gateway openclaw check wrote OpenClaw's config")
	}
	if !strings.Contains(out.String(), "remove gateway.auth.token") {
		t.Errorf("the merge note is missing:\n%s", out)
	}
	// The finished recipe (the printed JSON, merged by hand as the docs
	// say, the token removed) exits 0, showing the accepted risk.
	m := regexp.MustCompile(`(?s)\n(\{\n.*?\n\})\n`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no JSON in the output:\n%s", out)
	}
	finished := writeFile(t, home, "finished.json", m[1])
	e, out, _ = testEnv(map[string]string{"HOME": home})
	if code := dispatch([]string{"openclaw", "check", "--openclaw-config", finished, "--state-dir", stateDir}, e); code != exitOK ||
		!strings.Contains(out.String(), "risk  Any local process can claim a user") || !strings.Contains(out.String(), "OpenClaw will accept this gateway") {
		t.Fatalf("the finished recipe: exit %d\n%s", code, out)
	}
	e, out, _ = testEnv(map[string]string{"HOME": home})
	dispatch([]string{"openclaw", "check", "--json", "--openclaw-config", finished, "--state-dir", stateDir}, e)
	var rep struct {
		Items []struct {
			CheckID, Severity, Title, Detail, Remediation string
			Accepted                                      bool
		}
		Required, Accepted int
	}
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil || rep.Required != 0 || rep.Accepted != 1 || rep.Items[0].CheckID == "" {
		t.Fatalf("--json: %v %+v\n%s", err, rep, out)
	}
	// A public URL with a port needs that origin exactly.
	e, out, _ = testEnv(map[string]string{"HOME": home})
	if code := dispatch([]string{"openclaw", "check", "--openclaw-config", finished, "--state-dir", stateDir, "--public-url", "https://agent.example.com:8443"}, e); code != exitFailure ||
		!strings.Contains(out.String(), "https://agent.example.com:8443") {
		t.Fatalf("another public port: exit %d\n%s", code, out)
	}
	// The security audit reports the same ids.
	e, out, _ = testEnv(map[string]string{"HOME": home})
	dispatch([]string{"security", "audit", "--json", "--openclaw-config", oc, "--state-dir", stateDir}, e)
	if !strings.Contains(out.String(), `"openclaw.trusted_proxies"`) {
		t.Fatalf("audit lacks the openclaw findings:\n%s", out)
	}
}
