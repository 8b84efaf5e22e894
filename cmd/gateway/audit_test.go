package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gateway/config"
)

func auditRun(t *testing.T, args ...string) (int, string) {
	t.Helper()
	e, out, errOut := testEnv(map[string]string{"TOKEN": strings.Repeat("t", 40)})
	rc := dispatch(append([]string{"security", "audit"}, args...), e)
	return rc, out.String() + errOut.String()
}

func TestAuditCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	_ = os.MkdirAll(filepath.Join(dir, "credentials"), 0o700)
	good := filepath.Join(dir, "openclaw.yaml")
	_ = os.WriteFile(good, []byte("gateway:\n  trustedProxies: [127.0.0.1]\n  auth:\n    token: ${TOKEN}\n"), 0o600)
	rc, out := auditRun(t, "--config", good, "--state-dir", dir)
	if rc != 0 || !strings.Contains(out, "0 critical · 0 warn · 0 info") || !strings.Contains(out, "--deep") {
		t.Fatalf("secure: rc %d\n%s", rc, out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("# keep me\nlogging:\n  redactSensitive: off\nchannels:\n  whatsapp:\n    dmPolicy: open\n    allowFrom: ['*']\n    groupPolicy: open\n"), 0o644)
	rc, out = auditRun(t, "--config", bad, "--state-dir", dir)
	if rc != 1 || !strings.Contains(out, "CRITICAL") || !strings.Contains(out, "Fix: ") || !strings.Contains(out, "channels.whatsapp.dm.open") {
		t.Fatalf("insecure: rc %d\n%s", rc, out)
	}
	rc, out = auditRun(t, "--config", bad, "--state-dir", dir, "--json")
	var rep struct {
		TS       string
		Summary  struct{ Critical, Warn, Info int }
		Findings []struct{ CheckID, Severity, Title, Detail, Remediation string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rc != 1 || rep.Summary.Critical == 0 || rep.TS == "" {
		t.Fatalf("json: rc %d err %v\n%s", rc, err, out)
	}
	rc, out = auditRun(t, "--config", bad, "--state-dir", dir, "--fix", "--json")
	var fixed struct {
		Fix struct {
			Changes []string
			Actions []struct{ Path, Action, Status string }
		}
		Report struct{ Summary struct{ Critical, Warn int } }
	}
	if err := json.Unmarshal([]byte(out), &fixed); err != nil {
		t.Fatalf("fix json: %v\n%s", err, out)
	}
	if len(fixed.Fix.Changes) != 2 || rc != 1 { // dm.open stays: the fix never opens or closes access
		t.Fatalf("fix: rc %d %+v", rc, fixed.Fix)
	}
	data, _ := os.ReadFile(bad)
	if !strings.Contains(string(data), "# keep me") || !strings.Contains(string(data), "groupPolicy: allowlist") {
		t.Fatalf("fixed file:\n%s", data)
	}

	broken := filepath.Join(dir, "broken.json5")
	_ = os.WriteFile(broken, []byte("{gateway: "), 0o600)
	rc, out = auditRun(t, "--config", broken, "--state-dir", dir, "--json")
	if rc != 2 || !strings.Contains(out, "parse json5") {
		t.Fatalf("broken config: rc %d\n%s", rc, out)
	}
	if rc, _ := auditRun(t, "--token", "a", "--password", "b"); rc != 2 {
		t.Fatalf("exclusive flags: rc %d", rc)
	}
}

func TestAdminAuditEndpointAndStartupAudit(t *testing.T) {
	stateDir := filepath.Join(t.TempDir(), "state")
	_ = os.MkdirAll(stateDir, 0o700)
	_ = os.WriteFile(filepath.Join(stateDir, "gateway.json"), []byte(`{gateway: {trustedProxies: ["127.0.0.1"], auth: {token: "owner-token-0123456789abcdefghij"}}, logging: {redactSensitive: "off"}}`), 0o600)
	e, _, logs := testEnv(nil)
	addr, stop := startServe(t, commonFlags{stateDir: stateDir}, config.Overrides{Port: freePort(t)}, e)
	defer func() { _ = stop() }()
	if !strings.Contains(logs.String(), `"checkId":"logging.redact_off"`) {
		t.Fatalf("startup audit did not log the warning:\n%s", logs)
	}
	get := func(path, tok string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/admin/audit", ""); code != 403 { // the agent origin takes only a bearer for /admin
		t.Fatalf("anonymous audit: %d", code)
	}
	code, body := get("/admin/audit", "owner-token-0123456789abcdefghij")
	if code != 200 || !strings.Contains(body, `"logging.redact_off"`) || strings.Contains(body, "owner-token") {
		t.Fatalf("audit: %d %s", code, body)
	}
	code, body = get("/admin/audit?deep=1", "owner-token-0123456789abcdefghij")
	if code != 200 || !strings.Contains(body, `"probes"`) || !strings.Contains(body, `"gateway.probe_xff_spoof"`) {
		t.Fatalf("deep audit: %d %s", code, body)
	}
}

func TestRefuseInsecure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	_ = os.MkdirAll(dir, 0o700)
	cfg := filepath.Join(dir, "c.json5")
	_ = os.WriteFile(cfg, []byte(`{gateway: {refuseInsecure: true}, channels: {whatsapp: {dmPolicy: "open", allowFrom: ["*"]}}}`), 0o600)
	e, _, _ := testEnv(nil)
	err := serve(t.Context(), commonFlags{configPath: cfg, stateDir: dir}, config.Overrides{Port: freePort(t)}, e, discardLog(), nil)
	if err == nil || !strings.Contains(err.Error(), "refuseInsecure") {
		t.Fatalf("serve = %v", err)
	}
}

func TestAuditDeepCLI(t *testing.T) {
	stateDir := filepath.Join(t.TempDir(), "state")
	_ = os.MkdirAll(stateDir, 0o700)
	_ = os.WriteFile(filepath.Join(stateDir, "gateway.json"), []byte(`{gateway: {trustedProxies: ["127.0.0.1"]}}`), 0o600)
	e, _, _ := testEnv(nil)
	addr, stop := startServe(t, commonFlags{stateDir: stateDir}, config.Overrides{Port: freePort(t)}, e)
	defer func() { _ = stop() }()
	// The token is read from the state dir, as an operator's would be.
	rc, out := auditRun(t, "--state-dir", stateDir, "--deep", "--url", "http://"+addr, "--json")
	var rep struct {
		Deep struct {
			Probes []struct{ ID, Status string }
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]string{}
	for _, p := range rep.Deep.Probes {
		got[p.ID] = p.Status
	}
	for _, id := range []string{"gateway.probe_unauth_http", "gateway.probe_unauth_ws", "gateway.probe_xff_spoof", "gateway.probe_exposed", "gateway.probe_no_lockout"} {
		if got[id] != "pass" {
			t.Errorf("%s = %q (rc %d)\n%s", id, got[id], rc, out)
		}
	}
	if rc != 0 {
		t.Fatalf("rc %d\n%s", rc, out)
	}
}
