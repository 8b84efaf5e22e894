package integration

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proxy is a running reverse proxy listening on addr.
type proxy struct {
	name string
	addr string
}

// snippet loads a published config from docs/proxies and points its
// listener and upstream at test addresses. The replacements must hit, so
// the docs cannot drift from what runs.
func snippet(t *testing.T, file, listen, upstream string, edits ...func(string) string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "docs", "proxies", file))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{"127.0.0.1:8080", "127.0.0.1:18780"} {
		if !strings.Contains(s, want) {
			t.Fatalf("%s lacks %s; docs and test drifted", file, want)
		}
	}
	s = strings.ReplaceAll(s, "127.0.0.1:8080", listen)
	s = strings.ReplaceAll(s, "127.0.0.1:18780", upstream)
	for _, e := range edits {
		s = e(s)
	}
	return s
}

// runProxy starts cmd, stops it at cleanup, and waits for addr.
func runProxy(t *testing.T, name string, cmd *exec.Cmd, addr string, logFile string) *proxy {
	t.Helper()
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(cmd, syscall.SIGINT, false, 5*time.Second) })
	waitListening(t, addr, func() string {
		b, _ := os.ReadFile(logFile)
		return out.String() + string(b)
	})
	return &proxy{name: name, addr: addr}
}

// startCaddy runs Caddy with docs/proxies/Caddyfile.
func startCaddy(t *testing.T, upstream string, edits ...func(string) string) *proxy {
	t.Helper()
	bin := requireBinary(t, "caddy")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dir := t.TempDir()
	cf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cf, []byte(snippet(t, "Caddyfile", addr, upstream, edits...)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cf, "--adapter", "caddyfile")
	// Caddy wants writable data and config homes even with admin and
	// automatic HTTPS off.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir+"/data", "XDG_CONFIG_HOME="+dir+"/config")
	return runProxy(t, "caddy", cmd, addr, "")
}

// startHAProxy runs HAProxy with docs/proxies/haproxy.cfg.
func startHAProxy(t *testing.T, upstream string, edits ...func(string) string) *proxy {
	t.Helper()
	bin := requireBinary(t, "haproxy")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dir := t.TempDir()
	cf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cf, []byte(snippet(t, "haproxy.cfg", addr, upstream, edits...)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", cf, "-db")
	return runProxy(t, "haproxy", cmd, addr, "")
}

// startNginxProxy adapts startNginx to the common shape.
func startNginxProxy(t *testing.T, upstream string, edits ...func(string) string) *proxy {
	t.Helper()
	n := startNginx(t, upstream, edits...)
	return &proxy{name: "nginx", addr: n.addr}
}

// startTraefik runs Traefik v3 with docs/proxies/traefik.yml and
// traefik-dynamic.yml.
func startTraefik(t *testing.T, upstream string, edits ...func(string) string) *proxy {
	t.Helper()
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	bin := requireBinary(t, "traefik", filepath.Join(gopath, "bin", "traefik"))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dir := t.TempDir()
	dyn := filepath.Join(dir, "dynamic.yml")
	static := snippetFile(t, "traefik.yml", map[string]string{"127.0.0.1:8080": addr, "filename: traefik-dynamic.yml": "filename: " + dyn})
	dynamic := snippetFile(t, "traefik-dynamic.yml", map[string]string{"127.0.0.1:18780": upstream})
	for _, e := range edits {
		dynamic = e(dynamic)
	}
	_ = os.WriteFile(dyn, []byte(dynamic), 0o600)
	sf := filepath.Join(dir, "traefik.yml")
	_ = os.WriteFile(sf, []byte(static), 0o600)
	cmd := exec.Command(bin, "--configFile="+sf)
	cmd.Dir = dir
	p := runProxy(t, "traefik", cmd, addr, "")
	// The file provider loads routes just after the listener opens.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// snippetFile loads a docs/proxies file with exact replacements that must
// all hit.
func snippetFile(t *testing.T, file string, repl map[string]string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "docs", "proxies", file))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for from, to := range repl {
		if !strings.Contains(s, from) {
			t.Fatalf("%s lacks %q; docs and test drifted", file, from)
		}
		s = strings.ReplaceAll(s, from, to)
	}
	return s
}

// proxyKinds are the proxies every scenario runs against.
var proxyKinds = []struct {
	name  string
	start func(t *testing.T, upstream string, edits ...func(string) string) *proxy
}{
	{"nginx", startNginxProxy},
	{"caddy", startCaddy},
	{"haproxy", startHAProxy},
	{"traefik", startTraefik},
}
