// Package integration runs the gateway behind real reverse proxies started by
// the tests themselves, on loopback only.
package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gateway/config"
	"gateway/server"
)

const token = "integration-token-0123456789abcdef"

// requireBinary finds a proxy binary. Missing is a failure under CI (the
// Makefile installs it) and a skip with instructions elsewhere.
func requireBinary(t *testing.T, name string, extra ...string) string {
	t.Helper()
	// Debian puts nginx and haproxy in /usr/sbin, which a non-login PATH
	// may lack.
	candidates := append([]string{name, "/usr/sbin/" + name, "/usr/bin/" + name}, extra...)
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	missingComponent(t, fmt.Sprintf("%s not found; install it with: apt-get install -y --no-install-recommends %s (make test does this)", name, name))
	return ""
}

// missingComponent ends a test whose real component is not installed: a
// failure under CI (a skipped integration test proves nothing), a skip
// elsewhere.
func missingComponent(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitListening dials addr until it accepts, for at most 10 s.
func waitListening(t *testing.T, addr string, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never started listening; logs:\n%s", addr, logs())
}

// gateway is a gateway served in-process on a loopback port.
type gateway struct {
	addr string
	// adminAddr is the admin listener (the console's origin).
	adminAddr string
	// logs holds its JSON log (access records included).
	logs *logBuffer
}

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startGateway(t *testing.T, mutate func(*config.Config)) *gateway {
	t.Helper()
	return startGatewayWith(t, gatewaySetup{}, mutate)
}

// gatewaySetup is what some tests choose about a gateway beyond its
// configuration.
type gatewaySetup struct {
	// addr is the main listener's address (default: a free port).
	addr string
	// authClient fetches the OpenID provider's documents and keys.
	authClient *http.Client
}

func startGatewayWith(t *testing.T, gs gatewaySetup, mutate func(*config.Config)) *gateway {
	t.Helper()
	cfg := config.Default()
	cfg.Gateway.Auth.Token = token
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	var sink io.Writer = logs
	if testing.Verbose() {
		sink = io.MultiWriter(logs, os.Stderr)
	}
	log := slog.New(slog.NewJSONHandler(sink, nil))
	st, err := server.OpenShared(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if gs.addr == "" {
		gs.addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", gs.addr)
	if err != nil {
		t.Fatal(err)
	}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := st.Options(cfg, token, log)
	o.AdminURL = "http://" + aln.Addr().String() + "/admin/"
	o.AgentURL = "http://" + ln.Addr().String()
	o.AuthHTTPClient = gs.authClient
	h, err := server.NewHandlers(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.NewHTTPServer(h.Main, log)
	asrv := server.NewHTTPServer(h.Admin, log)
	asrv.ConnContext = server.AdminConnContext
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = server.Serve(ctx, srv, ln, 2*time.Second); done <- struct{}{} }()
	go func() { _ = server.Serve(ctx, asrv, aln, 2*time.Second); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return &gateway{addr: ln.Addr().String(), adminAddr: aln.Addr().String(), logs: logs}
}

// clientFrom returns an HTTP client whose connections come from the given
// loopback source address, so tests can play a stranger (127.0.0.2) against
// a trusted proxy (127.0.0.1).
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: d.DialContext, Proxy: nil},
	}
}

// whoami is the /auth/whoami body.
type whoami = server.Whoami

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// get sends GET url with the bearer token and extra headers.
func get(t *testing.T, c *http.Client, url string, h map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range h {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// nginx is a running nginx with a config built from docs/proxies/nginx.conf.
type nginx struct {
	addr string
}

// startNginx runs nginx in the foreground in a temp prefix with the
// published snippet, its listener and upstream rewritten to test ports.
func startNginx(t *testing.T, gatewayAddr string, edits ...func(string) string) *nginx {
	return startNginxFile(t, "nginx.conf", gatewayAddr, edits...)
}

// startNginxFile runs nginx with any published nginx snippet.
func startNginxFile(t *testing.T, file, gatewayAddr string, edits ...func(string) string) *nginx {
	t.Helper()
	return startNginxFileAt(t, file, fmt.Sprintf("127.0.0.1:%d", freePort(t)), gatewayAddr, edits...)
}

// startNginxFileAt runs nginx with a published snippet listening on addr.
func startNginxFileAt(t *testing.T, file, addr, gatewayAddr string, edits ...func(string) string) *nginx {
	t.Helper()
	bin := requireBinary(t, "nginx")
	s := snippet(t, file, addr, gatewayAddr, edits...)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gateway.conf"), []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must write the temp dirs below
	}
	main := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[2]s/gateway.conf;
}
`, user, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	runProxy(t, "nginx", cmd, addr, filepath.Join(dir, "error.log"))
	return &nginx{addr: addr}
}

// stopProcess sends sig to cmd (to its process group when group is set),
// waits up to grace for it to exit, then kills it: the cleanup of every
// process a test starts.
func stopProcess(cmd *exec.Cmd, sig syscall.Signal, group bool, grace time.Duration) {
	send := func(sig syscall.Signal) {
		if group {
			_ = syscall.Kill(-cmd.Process.Pid, sig)
		} else {
			_ = cmd.Process.Signal(sig)
		}
	}
	send(sig)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		send(syscall.SIGKILL)
		<-done
	}
}
