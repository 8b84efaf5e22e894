package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gateway/config"
	"gateway/policy"
)

// TestMain lets the test binary act as the gateway CLI in a child process
// (GATEWAY_TEST_CLI=1), so concurrency tests use real separate processes.
func TestMain(m *testing.M) {
	if os.Getenv("GATEWAY_TEST_CLI") == "1" {
		e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, environ: envMap(os.Environ())}
		os.Exit(dispatch(os.Args[1:], e))
	}
	os.Exit(m.Run())
}

func cliProcess(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GATEWAY_TEST_CLI=1")
	return cmd
}

type inboundUpstream struct {
	mu   sync.Mutex
	msgs []map[string]any
	hdrs []http.Header
}

func (u *inboundUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m map[string]any
	_ = json.NewDecoder(r.Body).Decode(&m)
	u.mu.Lock()
	if r.URL.Path == "/channels/whatsapp/inbound" {
		u.msgs = append(u.msgs, m)
		u.hdrs = append(u.hdrs, r.Header.Clone())
	}
	u.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (u *inboundUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.msgs)
}

const ownerToken = "owner-token-0123456789abcdefghij"

func startPolicyGateway(t *testing.T, extra string) (base, stateDir string, up *inboundUpstream) {
	t.Helper()
	up = &inboundUpstream{}
	us := httptest.NewServer(up)
	t.Cleanup(us.Close)
	stateDir = filepath.Join(t.TempDir(), "state")
	_ = os.MkdirAll(stateDir, 0o700)
	cfg := fmt.Sprintf(`{gateway: {upstream: %q, auth: {token: %q}}, channels: {whatsapp: {dmPolicy: "pairing"%s}, telegram: {dmPolicy: "allowlist", allowFrom: ["42"]}}}`, us.URL, ownerToken, extra)
	_ = os.WriteFile(filepath.Join(stateDir, "gateway.json"), []byte(cfg), 0o600)
	e, _, _ := testEnv(nil)
	addr, stop := startServe(t, commonFlags{stateDir: stateDir}, config.Overrides{Port: freePort(t)}, e)
	t.Cleanup(func() { _ = stop() })
	return "http://" + addr, stateDir, up
}

func inbound(t *testing.T, base, ch, body string) (int, map[string]any) {
	t.Helper()
	return sendJSON(t, base+"/channels/"+ch+"/inbound", []byte(body), map[string]string{"Authorization": "Bearer " + ownerToken})
}

// TestWhatsAppPairingFlow: a new sender messages, gets a code, nothing
// reaches the agent; the owner approves with the CLI; the next message is
// delivered.
func TestWhatsAppPairingFlow(t *testing.T) {
	base, stateDir, up := startPolicyGateway(t, "")
	msg := `{"from": "+1 555 123 4567", "chatType": "direct", "text": "hello agent"}`
	code, out := inbound(t, base, "whatsapp", msg)
	if code != 200 || out["action"] != "pairing" || len(out["pairingCode"].(string)) != 8 {
		t.Fatalf("first message: %d %v", code, out)
	}
	pc := out["pairingCode"].(string)
	_, out = inbound(t, base, "whatsapp", `{"from": "+15551234567", "text": "again"}`)
	if out["pairingCode"] != pc {
		t.Fatalf("re-contact got a different code: %v", out)
	}
	if up.count() != 0 {
		t.Fatal("an unpaired message reached the upstream")
	}
	cmd := cliProcess("pairing", "approve", "whatsapp", strings.ToLower(pc), "--state-dir", stateDir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pairing approve: %v %s", err, b)
	}
	code, out = inbound(t, base, "whatsapp", msg)
	if code != http.StatusAccepted || out["action"] != "deliver" {
		t.Fatalf("after approval: %d %v", code, out)
	}
	if up.count() != 1 || up.msgs[0]["from"] != "+15551234567" || up.msgs[0]["text"] != "hello agent" {
		t.Fatalf("upstream got %v", up.msgs)
	}
	if h := up.hdrs[0]; h.Get("X-Gateway-Auth") != "token" || h.Get("Authorization") != "" {
		t.Fatalf("upstream headers %v", h)
	}
	// Group messages are not widened by the DM pairing.
	_, out = inbound(t, base, "whatsapp", `{"from": "+15551234567", "chatType": "group", "groupId": "g1@g.us", "text": "x"}`)
	if out["action"] != "drop" {
		t.Fatalf("group from a paired sender: %v", out)
	}
	// Bad input.
	for _, tt := range []struct {
		ch, body string
		want     int
	}{
		{"nope", msg, 404},
		{"..%2Fetc", msg, 400},
		{"Whats.App", msg, 400},
		{"whatsapp", `{"text": "no sender"}`, 400},
		{"whatsapp", `{"from": "+15551234567", "chatType": "broadcast"}`, 400},
		{"whatsapp", `{"from": "+15551234567", "chatType": "group"}`, 400},
		{"whatsapp", `{"from": "not a number"}`, 400},
		{"whatsapp", `{"from": `, 400},
		{"whatsapp", `{"from": "+15551234567", "text": "` + strings.Repeat("x", 70<<10) + `"}`, 413},
		{"telegram", `{"from": "@bob"}`, 400},
	} {
		if code, out := inbound(t, base, tt.ch, tt.body); code != tt.want {
			t.Errorf("%s %.40s: %d %v, want %d", tt.ch, tt.body, code, out, tt.want)
		}
	}
	// The admin API lists and approves too; an expired or unknown code is 404.
	req, _ := http.NewRequest("POST", base+"/admin/pairing/whatsapp/approve", strings.NewReader(`{"code":"ZZZZZZZZ"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ownerToken)
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("unknown code approve: %d", resp.StatusCode)
	}
}

// TestConcurrentApprovals: 50 pending senders approved at once by CLI
// processes and HTTP requests together; every one ends up allowed.
func TestConcurrentApprovals(t *testing.T) {
	base, stateDir, _ := startPolicyGateway(t, "")
	// Fifty pending requests (the 3-per-channel cap applies to issuing
	// codes, not to a file the owner already has).
	now := time.Now().UTC()
	type req struct {
		ID         string    `json:"id"`
		Code       string    `json:"code"`
		CreatedAt  time.Time `json:"createdAt"`
		LastSeenAt time.Time `json:"lastSeenAt"`
	}
	var reqs []req
	for i := range 50 {
		code := fmt.Sprintf("CODE%04d", i)
		code = strings.NewReplacer("0", "A", "1", "B", "O", "P").Replace(code)
		reqs = append(reqs, req{ID: fmt.Sprintf("+1555100%04d", i), Code: code, CreatedAt: now, LastSeenAt: now})
	}
	data, _ := json.Marshal(map[string]any{"version": 1, "requests": reqs})
	if err := os.WriteFile(filepath.Join(stateDir, "credentials", "whatsapp-pairing.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				if b, err := cliProcess("pairing", "approve", "whatsapp", r.Code, "--state-dir", stateDir).CombinedOutput(); err != nil {
					errs <- fmt.Errorf("cli %s: %v %s", r.Code, err, b)
				}
				return
			}
			hr, _ := http.NewRequest("POST", base+"/admin/pairing/whatsapp/approve", bytes.NewReader([]byte(`{"code":"`+r.Code+`"}`)))
			hr.Header.Set("Content-Type", "application/json")
			hr.Header.Set("Authorization", "Bearer "+ownerToken)
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("http %s: %d", r.Code, resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, _ := policy.NewStore(stateDir, nil)
	list, err := s.AllowFrom(context.Background(), "whatsapp")
	if err != nil || len(list) != 50 {
		t.Fatalf("allowFrom has %d entries (%v), want 50", len(list), err)
	}
}
