package main

import (
	"github.com/creack/pty"

	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gateway/config"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testEnv(environ map[string]string) (*env, *lockedBuffer, *lockedBuffer) {
	out, errb := &lockedBuffer{}, &lockedBuffer{}
	if environ == nil {
		environ = map[string]string{}
	}
	return &env{stdin: strings.NewReader(""), stdout: out, stderr: errb, environ: environ}, out, errb
}

func TestDispatchExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"help"}, exitOK},
		{[]string{"--help"}, exitOK},
		{[]string{"run", "--help"}, exitOK},
		{[]string{"config", "validate", "--help"}, exitOK},
		{[]string{"bogus"}, exitUsage},
		{[]string{"run", "--no-such-flag"}, exitUsage},
		{[]string{"run", "extra"}, exitUsage},
		{[]string{"config"}, exitUsage},
	}
	for _, tt := range tests {
		e, _, _ := testEnv(nil)
		if got := dispatch(tt.args, e); got != tt.want {
			t.Errorf("dispatch(%q) = %d, want %d", tt.args, got, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.json5")
	_ = os.WriteFile(good, []byte("gateway:\n  trustedProxies: [127.0.0.1]\n"), 0o600)
	_ = os.WriteFile(bad, []byte(`{gateway: {trustedProxys: [], port: 0, auth: {token: "${UNSET_VAR}"}}}`), 0o600)

	e, out, _ := testEnv(nil)
	if code := dispatch([]string{"config", "validate", "--config", good}, e); code != exitOK || !strings.HasPrefix(out.String(), "OK") {
		t.Fatalf("good: code %d out %q", code, out)
	}
	e, out, _ = testEnv(nil)
	if code := dispatch([]string{"config", "validate", "--config", bad}, e); code != exitFailure {
		t.Fatalf("bad: code %d, want 1", code)
	}
	for _, want := range []string{"gateway.trustedProxys: unknown key", "gateway.auth.token", "UNSET_VAR"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	e, out, _ = testEnv(nil)
	if code := dispatch([]string{"config", "validate", "--config", filepath.Join(dir, "missing.yaml")}, e); code != exitFailure {
		t.Fatalf("missing explicit file: code %d, want 1 (%s)", code, out)
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServe runs serve in the background and returns its address.
func startServe(t *testing.T, c commonFlags, o config.Overrides, e *env) (string, func() error) {
	t.Helper()
	at, stop := startServeBoth(t, c, o, e)
	return at.Main, stop
}

// startServeBoth is startServe returning both listeners' addresses; the
// admin listener takes a free port unless o names one.
func startServeBoth(t *testing.T, c commonFlags, o config.Overrides, e *env) (listening, func() error) {
	t.Helper()
	if o.AdminListen == "" {
		o.AdminListen = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan listening, 1)
	errc := make(chan error, 1)
	log := slog.New(slog.NewJSONHandler(e.stderr, nil))
	go func() { errc <- serve(ctx, c, o, e, log, ready) }()
	select {
	case at := <-ready:
		return at, func() error { cancel(); return <-errc }
	case err := <-errc:
		cancel()
		t.Fatalf("serve failed: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	return listening{}, nil
}

func whoamiStatus(t *testing.T, addr, token string, h map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/auth/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestFirstRunGeneratesTokenOnceAndReloads(t *testing.T) {
	stateDir := filepath.Join(t.TempDir(), "state")
	c := commonFlags{stateDir: stateDir}
	o := config.Overrides{Port: freePort(t)}
	e, out, logs := testEnv(nil)
	addr, stop := startServe(t, c, o, e)

	if fi, err := os.Stat(stateDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir = %v, %v; want mode 0700", fi, err)
	}
	tokenBytes, err := os.ReadFile(filepath.Join(stateDir, "credentials", "gateway-token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenBytes))
	// stdout is not a terminal here (a journal, a log file): the token is
	// not printed, only where it is and the command that shows it.
	if strings.Contains(out.String(), token) || !strings.Contains(out.String(), "cat "+filepath.Join(stateDir, "credentials", "gateway-token")) {
		t.Fatalf("first run to a non-terminal:\n%s", out)
	}
	if strings.Contains(logs.String(), token) {
		t.Fatal("token appeared in the JSON log")
	}
	if !strings.Contains(logs.String(), `"tokenSource":"generated"`) {
		t.Errorf("startup log lacks the token source:\n%s", logs)
	}
	if got := whoamiStatus(t, addr, token, nil); got != 200 {
		t.Fatalf("whoami with generated token = %d", got)
	}
	if got := whoamiStatus(t, addr, "wrong", nil); got != 401 {
		t.Fatalf("whoami with wrong token = %d", got)
	}
	xff := map[string]string{"X-Forwarded-For": "203.0.113.7"}
	if got := whoamiStatus(t, addr, token, xff); got != 403 {
		t.Fatalf("XFF before trusting loopback = %d, want 403", got)
	}

	// SIGHUP with a valid new config: loopback becomes a trusted proxy.
	cfgPath := filepath.Join(stateDir, "gateway.json")
	if err := os.WriteFile(cfgPath, []byte(`{gateway: {trustedProxies: ["127.0.0.1"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	hup(t)
	waitFor(t, func() bool { return whoamiStatus(t, addr, token, xff) == 200 }, "reload to trust loopback")

	// SIGHUP with a broken config: rejected, the old one stays.
	if err := os.WriteFile(cfgPath, []byte(`{gateway: {trustedProxies: ["not-an-ip"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	hup(t)
	waitFor(t, func() bool { return strings.Contains(logs.String(), "config reload rejected") }, "reload rejection logged")
	if got := whoamiStatus(t, addr, token, xff); got != 200 {
		t.Fatalf("after rejected reload = %d, want the old config (200)", got)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}

	// Second start: same token, not printed again.
	_ = os.Remove(cfgPath)
	e2, out2, logs2 := testEnv(nil)
	addr, stop = startServe(t, c, config.Overrides{Port: freePort(t)}, e2)
	if strings.Contains(out2.String(), token) {
		t.Fatal("token printed on second start")
	}
	if !strings.Contains(logs2.String(), `"tokenSource":"state"`) {
		t.Errorf("second start log lacks tokenSource state:\n%s", logs2)
	}
	if got := whoamiStatus(t, addr, token, nil); got != 200 {
		t.Fatalf("whoami after restart = %d", got)
	}
	_ = stop()
}

func hup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestServeRefusesUnsafeStarts(t *testing.T) {
	dir := t.TempDir()
	noneLan := filepath.Join(dir, "none.yaml")
	_ = os.WriteFile(noneLan, []byte("gateway:\n  bind: lan\n  auth:\n    mode: none\n"), 0o600)
	missingVar := filepath.Join(dir, "var.yaml")
	_ = os.WriteFile(missingVar, []byte("gateway:\n  auth:\n    password: ${NOT_SET_ANYWHERE}\n    mode: password\n"), 0o600)
	fileAsState := filepath.Join(dir, "file")
	_ = os.WriteFile(fileAsState, nil, 0o600)
	tests := []struct {
		name string
		c    commonFlags
		want string
	}{
		{"none on lan", commonFlags{configPath: noneLan, stateDir: filepath.Join(dir, "s1")}, "gateway.auth.mode"},
		{"missing variable", commonFlags{configPath: missingVar, stateDir: filepath.Join(dir, "s2")}, "NOT_SET_ANYWHERE"},
		{"unusable state dir", commonFlags{stateDir: fileAsState}, "not a directory"},
		{"redis without certificate checks", commonFlags{configPath: writeFile(t, dir, "r.yaml", "gateway:\n  store:\n    backend: redis\n    url: rediss://127.0.0.1:1/0?skip_verify=true\n"), stateDir: filepath.Join(dir, "s4")}, "gateway.store.url: turns TLS certificate checks off"},
		{"unknown mode via file", commonFlags{configPath: writeFile(t, dir, "m.json", `{"gateway": {"auth": {"mode": "open-sesame"}}}`), stateDir: filepath.Join(dir, "s3")}, "gateway.auth.mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, _ := testEnv(nil)
			err := serve(context.Background(), tt.c, config.Overrides{Port: freePort(t)}, e, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("serve = %v, want error mentioning %q", err, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestFirstRunPrintsTokenToATerminal: on a terminal the generated token is
// shown once, with a curl example.
func TestFirstRunPrintsTokenToATerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	stateDir := filepath.Join(t.TempDir(), "state")
	e, _, _ := testEnv(nil)
	e.stdout = tty
	var got strings.Builder
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			got.Write(buf[:n])
			if err != nil || strings.Contains(got.String(), "/auth/whoami") {
				close(done)
				return
			}
		}
	}()
	_, stop := startServe(t, commonFlags{stateDir: stateDir}, config.Overrides{Port: freePort(t)}, e)
	defer func() { _ = stop() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("nothing on the terminal: %q", got.String())
	}
	tok, _ := os.ReadFile(filepath.Join(stateDir, "credentials", "gateway-token"))
	if !strings.Contains(got.String(), strings.TrimSpace(string(tok))) || !strings.Contains(got.String(), "curl -H") {
		t.Fatalf("the terminal did not get the token:\n%s", got.String())
	}
}

// TestConfigInit: the starter file is born 0600, loads, says what the docs
// use with --openclaw and --public-url, and is never overwritten without
// --force.
func TestConfigInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	e, out, errb := testEnv(nil)
	if code := dispatch([]string{"config", "init", "--openclaw", "--public-url", "https://agent.example.com:8443", "--state-dir", dir}, e); code != exitOK {
		t.Fatalf("init: %d %s %s", code, out, errb)
	}
	p := filepath.Join(dir, "gateway.json")
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	cfg, err := config.Load(config.Options{Path: p, Explicit: true})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway.Upstream != "http://127.0.0.1:18789" || cfg.Typed.AllowedHosts[0] != "agent.example.com" ||
		cfg.Typed.PublicURL.String() != "https://agent.example.com:8443" || len(cfg.Typed.TrustedProxies) != 1 {
		t.Fatalf("the starter config: %+v", cfg.Gateway)
	}
	text, _ := os.ReadFile(p)
	if !strings.Contains(string(text), "//") {
		t.Fatal("no comments in the starter file")
	}
	e, _, errb = testEnv(nil)
	if code := dispatch([]string{"config", "init", "--state-dir", dir}, e); code != exitFailure || !strings.Contains(errb.String(), "--force") {
		t.Fatalf("second init: %d %s", code, errb)
	}
	if again, _ := os.ReadFile(p); string(again) != string(text) {
		t.Fatal("the file was overwritten")
	}
	e, _, _ = testEnv(nil)
	if code := dispatch([]string{"config", "init", "--state-dir", dir, "--force"}, e); code != exitOK {
		t.Fatalf("--force: %d", code)
	}
	// A plain starter file (no flags) loads too: the embedded defaults,
	// written down.
	if _, err := config.Load(config.Options{Path: p, Explicit: true}); err != nil {
		t.Fatal(err)
	}
}
