package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gateway/auth"
	"gateway/config"
)

func postJSON(t *testing.T, url string, body any, h map[string]string) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	return sendJSON(t, url, b, h)
}

// sendJSON posts a raw JSON body and decodes the JSON answer.
func sendJSON(t *testing.T, url string, body []byte, h map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out
}

// TestDevicePairingEndToEnd: a device asks to pair through a proxy (so it is
// not local and cannot be auto-approved), the owner approves it with the CLI
// while the server runs, it connects, uses its token over HTTP and
// WebSocket, is revoked with the CLI, and is refused.
func TestDevicePairingEndToEnd(t *testing.T) {
	stateDir := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(stateDir, "gateway.json"), []byte(`{gateway: {trustedProxies: ["127.0.0.1"], auth: {token: "owner-token-0123456789abcdefghij"}}}`), 0o600)
	c := commonFlags{stateDir: stateDir}
	e, _, _ := testEnv(nil)
	addr, stop := startServe(t, c, config.Overrides{Port: freePort(t)}, e)
	defer func() { _ = stop() }()
	base := "http://" + addr

	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	id := auth.DeviceID(pub)
	viaProxy := map[string]string{"X-Forwarded-For": "198.51.100.20"}
	connect := func() (int, map[string]any) {
		code, ch := postJSON(t, base+"/auth/device/challenge", map[string]any{}, viaProxy)
		if code != 200 {
			t.Fatalf("challenge: %d %v", code, ch)
		}
		nonce := ch["nonce"].(string)
		ms := time.Now().UnixMilli()
		sig := ed25519.Sign(priv, auth.SignedPayload(id, "operator", ms, nonce))
		return postJSON(t, base+"/auth/device/connect", map[string]any{
			"deviceId": id, "publicKey": base64.RawURLEncoding.EncodeToString(pub), "nonce": nonce,
			"signedAtMs": ms, "role": "operator", "signature": base64.RawURLEncoding.EncodeToString(sig),
		}, viaProxy)
	}
	code, body := connect()
	if code != http.StatusAccepted || body["status"] != "pending" {
		t.Fatalf("first connect: %d %v", code, body)
	}

	// The owner approves from the CLI, against the live state dir.
	e2, out, errOut := testEnv(nil)
	if rc := dispatch([]string{"devices", "list", "--state-dir", stateDir}, e2); rc != 0 || !strings.Contains(out.String(), body["requestId"].(string)) {
		t.Fatalf("devices list: rc %d out %s err %s", rc, out, errOut)
	}
	e2, out, errOut = testEnv(nil)
	if rc := dispatch([]string{"devices", "approve", "--latest", "--state-dir", stateDir}, e2); rc != 0 {
		t.Fatalf("devices approve: rc %d %s %s", rc, out, errOut)
	}

	code, body = connect()
	if code != 200 || body["status"] != "paired" {
		t.Fatalf("connect after approval: %d %v", code, body)
	}
	devTok := body["token"].(string)

	who := func(tok string) int {
		req, _ := http.NewRequest("GET", base+"/auth/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := who(devTok); got != 200 {
		t.Fatalf("whoami with device token: %d", got)
	}
	// Operator devices are not admin.
	req, _ := http.NewRequest("GET", base+"/admin/devices", nil)
	req.Header.Set("Authorization", "Bearer "+devTok)
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("operator device on /admin: %d, want 403", resp.StatusCode)
	}
	// WebSocket with the device token as subprotocol: authenticated before
	// the upgrade (no upstream here, so the built-in page answers 404 JSON
	// rather than 401).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, wsResp, _ := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{Subprotocols: []string{"bearer." + devTok}})
	if wsResp == nil || wsResp.StatusCode == 401 {
		t.Fatalf("WebSocket with device token refused as unauthenticated: %v", wsResp)
	}

	// Revoked from the CLI: refused at once.
	e3, out, errOut := testEnv(nil)
	if rc := dispatch([]string{"devices", "revoke", id, "--state-dir", stateDir}, e3); rc != 0 {
		t.Fatalf("devices revoke: rc %d %s %s", rc, out, errOut)
	}
	if got := who(devTok); got != 401 {
		t.Fatalf("whoami after revoke: %d, want 401", got)
	}
	_, wsResp, _ = websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{Subprotocols: []string{"bearer." + devTok}})
	if wsResp == nil || wsResp.StatusCode != 401 {
		t.Fatalf("WebSocket after revoke: %v, want 401", wsResp)
	}
}

func TestPasswordHashCommand(t *testing.T) {
	e, out, _ := testEnv(nil)
	e.stdin = strings.NewReader("correct horse battery\n")
	if rc := dispatch([]string{"password", "hash"}, e); rc != 0 {
		t.Fatalf("rc %d", rc)
	}
	h, err := auth.ParsePasswordHash(strings.TrimSpace(out.String()))
	if err != nil || !h.Verify("correct horse battery") {
		t.Fatalf("hash %q: %v", out, err)
	}
	e, _, _ = testEnv(nil)
	if rc := dispatch([]string{"password", "hash"}, e); rc != exitFailure {
		t.Fatalf("empty stdin: rc %d", rc)
	}
}
