//go:build linux

package integration

// Issue 19, item 2: "local" is the gateway's own Unix user, not any process
// on the host. The gateway runs as a non-root test user; clients run as
// that user (local) and as another (not local), all started from the root
// test process with setpriv.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gateway/auth/authtest"
)

const (
	gatewayUID = 4242
	otherUID   = 4243
)

// uidClient is the test binary run as another user (TestMain dispatches on
// GATEWAY_TEST_CLIENT): "get URL" prints the status; "pair URL" pairs a
// fresh device for role operator and prints the answer's status; "listen"
// serves HTTP on a free loopback port (printing it) until killed.
func uidClient(args []string) int {
	switch args[0] {
	case "get":
		resp, err := http.Get(args[1])
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	case "pair":
		dev := authtest.NewDevice()
		postJSON := func(path string, body any) map[string]any {
			b, _ := json.Marshal(body)
			resp, err := http.Post(args[1]+path, "application/json", strings.NewReader(string(b)))
			if err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
			defer resp.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			return out
		}
		ch := postJSON("/auth/device/challenge", map[string]any{})
		nonce, _ := ch["nonce"].(string)
		out := postJSON("/auth/device/connect", dev.Connect(nonce, "operator", time.Now()))
		fmt.Println(out["status"])
	case "guess":
		// Eleven wrong tokens; print the last answer.
		status := 0
		for range 11 {
			req, _ := http.NewRequest("GET", args[1]+"/auth/whoami", nil)
			req.Header.Set("Authorization", "Bearer wrong-token")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				fmt.Println("error", err)
				return 1
			}
			resp.Body.Close()
			status = resp.StatusCode
		}
		fmt.Println(status)
	case "unixget":
		// GET a path over the admin Unix socket with the token.
		c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", args[1])
		}}}
		req, _ := http.NewRequest("GET", "http://127.0.0.1"+args[2], nil) // as through ssh -L
		req.Header.Set("Authorization", "Bearer "+os.Getenv("GATEWAY_TEST_TOKEN"))
		resp, err := c.Do(req)
		if err != nil {
			fmt.Println("refused")
			return 0
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	case "listen":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "agent") }))
	}
	return 0
}

func TestMain(m *testing.M) {
	if os.Getenv("GATEWAY_TEST_CLIENT") != "" {
		os.Exit(uidClient(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// asUser runs the test binary in client mode as uid.
func asUser(t *testing.T, setpriv, self string, uid int, args ...string) *exec.Cmd {
	t.Helper()
	id := strconv.Itoa(uid)
	cmd := exec.Command(setpriv, append([]string{"--reuid=" + id, "--regid=" + id, "--clear-groups", self}, args...)...)
	cmd.Env = []string{"GATEWAY_TEST_CLIENT=1", "PATH=/usr/bin:/bin", "GATEWAY_TEST_TOKEN=" + token}
	return cmd
}

func runAs(t *testing.T, setpriv, self string, uid int, args ...string) string {
	t.Helper()
	out, err := asUser(t, setpriv, self, uid, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("as uid %d %v: %v\n%s", uid, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// listenAs starts a listener as uid and returns its port.
func listenAs(t *testing.T, setpriv, self string, uid int) int {
	t.Helper()
	cmd := asUser(t, setpriv, self, uid, "listen")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(cmd, syscall.SIGKILL, false, 5*time.Second) })
	line, err := bufio.NewReader(out).ReadString('\n')
	port, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		t.Fatalf("listener as uid %d: %q %v", uid, line, err)
	}
	return port
}

func TestLocalMeansYourOwnUser(t *testing.T) {
	if os.Getuid() != 0 {
		missingComponent(t, "switching users needs root (CI runs the tests as root)")
	}
	setpriv := requireBinary(t, "setpriv")
	gwBin, err := buildGateway()
	if err != nil {
		t.Fatal(err)
	}
	// A directory every test user can read: the binaries, and the
	// gateway's state dir owned by its user.
	dir, err := os.MkdirTemp("", "gateway-uid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	_ = os.Chmod(dir, 0o755)
	copyExec := func(src, name string) string {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bin, self := copyExec(gwBin, "gateway"), copyExec(os.Args[0], "client")
	state := filepath.Join(dir, "state")
	_ = os.Mkdir(state, 0o700)
	_ = os.Chown(state, gatewayUID, gatewayUID)

	// The agent runs as another user than the gateway (the safe layout).
	agentPort := listenAs(t, setpriv, self, otherUID)
	port := freePort(t)
	run := filepath.Join(dir, "run") // like /run/gateway: the gateway's, readable by all
	_ = os.Mkdir(run, 0o755)
	_ = os.Chown(run, gatewayUID, gatewayUID)
	sock := filepath.Join(run, "admin.sock")
	cfgText := fmt.Sprintf(`{gateway: {port: %d, upstream: "http://127.0.0.1:%d", admin: {listen: "unix:%s"}, auth: {token: "${GATEWAY_TOKEN}"}}}`, port, agentPort, sock)
	cf := filepath.Join(state, "gateway.json5")
	_ = os.WriteFile(cf, []byte(cfgText), 0o600)
	_ = os.Chown(cf, gatewayUID, gatewayUID)

	logs := &logBuffer{}
	id := strconv.Itoa(gatewayUID)
	gw := exec.Command(setpriv, "--reuid="+id, "--regid="+id, "--clear-groups", bin, "run", "--config", cf, "--state-dir", state)
	gw.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin", "GATEWAY_TOKEN=" + token}
	gw.Stdout, gw.Stderr = logs, logs
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopProcess(gw, syscall.SIGTERM, false, 10*time.Second)
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs)
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", port), logs.String)

	// The console's Unix socket answers the gateway's user only: another
	// user cannot open it (mode 0660), and root, who can, is closed by the
	// SO_PEERCRED check.
	if got := runAs(t, setpriv, self, gatewayUID, "unixget", sock, "/admin/devices"); got != "200" {
		t.Errorf("the admin socket as the gateway's user: %s", got)
	}
	if got := runAs(t, setpriv, self, gatewayUID, "unixget", sock, "/metrics"); got != "200" {
		t.Errorf("/metrics on the admin socket as the gateway's user (local): %s", got)
	}
	for _, uid := range []int{otherUID, 0} {
		if got := runAs(t, setpriv, self, uid, "unixget", sock, "/admin/devices"); got != "refused" {
			t.Errorf("the admin socket as uid %d: %s", uid, got)
		}
	}
	// The gateway's own user: local.
	if got := runAs(t, setpriv, self, gatewayUID, "get", base+"/metrics"); got != "200" {
		t.Errorf("/metrics as the gateway's user: %s", got)
	}
	if got := runAs(t, setpriv, self, gatewayUID, "pair", base); got != "paired" {
		t.Errorf("device as the gateway's user: %s (want auto-approved)", got)
	}
	// Another user on the same host: not local.
	if got := runAs(t, setpriv, self, otherUID, "get", base+"/metrics"); got != "401" {
		t.Errorf("/metrics as another user: %s", got)
	}
	if got := runAs(t, setpriv, self, otherUID, "pair", base); got != "pending" {
		t.Errorf("device as another user: %s (want pending)", got)
	}
	// The lockout exempts the gateway's user only.
	if got := runAs(t, setpriv, self, gatewayUID, "guess", base); got != "401" {
		t.Errorf("eleventh wrong token as the gateway's user: %s (local requests are exempt)", got)
	}
	if got := runAs(t, setpriv, self, otherUID, "guess", base); got != "429" {
		t.Errorf("eleventh wrong token as another user: %s", got)
	}
	// Root is not implied (TCP forwarders often run as root).
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("/metrics as root: %d", resp.StatusCode)
	}
	if strings.Contains(logs.String(), "openclaw.same_user") {
		t.Error("the startup audit reports openclaw.same_user for an agent of another user")
	}

	// openclaw.same_user: the audit, run as the gateway's user, against an
	// upstream of its own user and of another.
	audit := func(agentPort int) string {
		text := fmt.Sprintf(`{gateway: {port: %d, upstream: "http://127.0.0.1:%d", auth: {token: "${GATEWAY_TOKEN}"}}}`, port, agentPort)
		p := filepath.Join(state, fmt.Sprintf("audit-%d.json5", agentPort))
		_ = os.WriteFile(p, []byte(text), 0o600)
		_ = os.Chown(p, gatewayUID, gatewayUID)
		cmd := exec.Command(setpriv, "--reuid="+id, "--regid="+id, "--clear-groups", bin, "security", "audit", "--config", p, "--state-dir", state)
		cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin", "GATEWAY_TOKEN=" + token}
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if out := audit(agentPort); strings.Contains(out, "openclaw.same_user") {
		t.Errorf("audit with the agent as another user:\n%s", out)
	}
	if out := audit(listenAs(t, setpriv, self, gatewayUID)); !strings.Contains(out, "openclaw.same_user") {
		t.Errorf("audit with the agent as the gateway's user:\n%s", out)
	}
}
