package integration

// Every configuration snippet in the README and docs/ is checked by the
// program that will read it, so what a reader copies works: nginx -t,
// caddy adapt, haproxy -c, Traefik loading its file provider, systemd-
// analyze verify (with stub binaries in a private root), the gateway's own
// config loader (JSON5 and YAML), OpenClaw's (JSON5 through its own CLI),
// and sh -n for shell. A snippet that needs a real certificate or a real
// path gets the test's, replaced in the places listed in docSubstitutions.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gateway/config"
	"gateway/openclaw"
)

// docBlock is one fenced code block of a Markdown file.
type docBlock struct {
	file string
	line int
	lang string
	text string
}

func (b docBlock) String() string { return fmt.Sprintf("%s:%d (%s)", b.file, b.line, b.lang) }

// docBlocks returns every fenced block of README.md and docs/**/*.md.
func docBlocks(t *testing.T) []docBlock {
	t.Helper()
	files := []string{"../README.md"}
	_ = filepath.WalkDir("../docs", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return nil
	})
	var out []docBlock
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var cur *docBlock
		indent := ""
		n := 0
		for sc.Scan() {
			n++
			line := sc.Text()
			trimmed := strings.TrimSpace(line)
			switch {
			case cur == nil && strings.HasPrefix(trimmed, "```"):
				cur = &docBlock{file: strings.TrimPrefix(f, "../"), line: n, lang: strings.TrimPrefix(trimmed, "```")}
				// A block inside a list item is indented as its fence
				// is; its lines are read relative to it.
				indent = line[:len(line)-len(strings.TrimLeft(line, " "))]
			case cur != nil && trimmed == "```":
				out = append(out, *cur)
				cur = nil
			case cur != nil:
				cur.text += strings.TrimPrefix(line, indent) + "\n"
			}
		}
		fh.Close()
	}
	return out
}

// docSubstitutions make a literal snippet checkable here: its certificate
// paths become the test's certificate.
func docSubstitutions(t *testing.T, s string) string {
	cert, key := testCert(t)
	s = regexp.MustCompile(`/etc/ssl/[^;\s]*fullchain\.pem`).ReplaceAllString(s, cert)
	s = regexp.MustCompile(`/etc/ssl/[^;\s]*privkey\.pem`).ReplaceAllString(s, key)
	return s
}

var testCertOnce struct{ cert, key string }

func testCert(t *testing.T) (string, string) {
	if testCertOnce.cert == "" {
		dir, err := os.MkdirTemp("", "gateway-doc-cert-")
		if err != nil {
			t.Fatal(err)
		}
		testCertOnce.cert, testCertOnce.key = selfSigned(t, dir)
	}
	return testCertOnce.cert, testCertOnce.key
}

func TestDocSnippets(t *testing.T) {
	t.Parallel()
	blocks := docBlocks(t)
	if len(blocks) < 20 {
		t.Fatalf("only %d code blocks found; the extraction broke", len(blocks))
	}
	checked := map[string]int{}
	for _, b := range blocks {
		check := docCheck(b)
		if check == nil {
			continue
		}
		checked[b.lang]++
		t.Run(strings.ReplaceAll(b.String(), "/", "_"), func(t *testing.T) {
			if err := check(t, b); err != nil {
				t.Errorf("%s does not check:\n%v\n--- snippet ---\n%s", b, err, b.text)
			}
		})
	}
	t.Logf("checked: %v", checked)
}

// TestDocProxyFiles: every file in docs/proxies is checked by the program
// that reads it (the proxy tests also run them; this catches a file no
// test happens to start).
func TestDocProxyFiles(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir("../docs/proxies")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		data, err := os.ReadFile(filepath.Join("../docs/proxies", name))
		if err != nil {
			t.Fatal(err)
		}
		b := docBlock{file: "docs/proxies/" + name, text: string(data)}
		var check func(*testing.T, docBlock) error
		switch {
		case strings.HasSuffix(name, ".conf"):
			check = checkNginx
		case strings.HasPrefix(name, "Caddyfile"):
			check = checkCaddy
		case strings.HasSuffix(name, ".cfg"):
			check = checkHAProxy
		case name == "traefik.yml":
			check = checkTraefikStatic
		case name == "traefik-dynamic.yml", name == "traefik-protect-app.yml":
			check = checkTraefikDynamic
		case strings.HasSuffix(name, ".md"):
			continue
		default:
			t.Errorf("docs/proxies/%s: no checker for this file", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			if err := check(t, b); err != nil {
				t.Errorf("docs/proxies/%s does not check:\n%v", name, err)
			}
		})
	}
}

// docCheck picks the checker for a block, nil for blocks that are output
// or prose (no language, or a language with nothing to run).
func docCheck(b docBlock) func(*testing.T, docBlock) error {
	switch b.lang {
	case "nginx":
		return checkNginx
	case "caddy", "caddyfile", "Caddyfile":
		return checkCaddy
	case "haproxy":
		return checkHAProxy
	case "ini":
		if strings.Contains(b.text, "[Service]") {
			return checkSystemd
		}
	case "sh", "bash":
		return checkShell
	case "yaml", "yml":
		switch {
		case regexp.MustCompile(`(?m)^entryPoints:`).MatchString(b.text):
			return checkTraefikStatic
		case strings.Contains(b.text, "http:\n  routers:"):
			return checkTraefikDynamic
		case isGatewayConfig(b.text):
			return checkGatewayConfig
		}
	case "json5", "json":
		switch {
		case isOpenClawConfig(b.text):
			return checkOpenClawConfig
		case isGatewayConfig(b.text):
			return checkGatewayConfig
		}
	}
	return nil
}

// isGatewayConfig reports whether a block is a gateway configuration (its
// top level names gateway, channels, logging or audit), not output shown
// in the docs (an audit report, a whoami answer).
func isGatewayConfig(s string) bool {
	return regexp.MustCompile(`(?m)^\{?\s*"?(gateway|channels|logging|audit)"?\s*:`).MatchString(s)
}

// isOpenClawConfig tells OpenClaw's configuration (gateway.mode local or
// remote, its trusted-proxy keys) from the gateway's own.
func isOpenClawConfig(s string) bool {
	return regexp.MustCompile(`mode:\s*"(local|remote)"|"mode":\s*"(local|remote)"|secrets:\s*\{`).MatchString(s)
}

func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCheck(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// checkNginx runs nginx -t on the snippet inside a minimal main config:
// server blocks (and the maps before them) go into http {}.
func checkNginx(t *testing.T, b docBlock) error {
	bin := requireBinary(t, "nginx")
	dir := t.TempDir()
	body := docSubstitutions(t, b.text)
	conf := fmt.Sprintf("pid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path %s;\n%s\n}\n", dir, dir, body)
	switch {
	case regexp.MustCompile(`(?m)^\s*http\s*\{`).MatchString(body):
		conf = fmt.Sprintf("pid %s/nginx.pid;\nerror_log stderr;\nevents {}\n%s\n", dir, body)
	case strings.HasPrefix(strings.TrimSpace(body), "location"):
		// A location block, shown to go inside the reader's server.
		conf = fmt.Sprintf("pid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n  server {\n    listen 127.0.0.1:8080;\n%s\n  }\n}\n", dir, body)
	}
	p := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return runCheck(bin, "-t", "-q", "-p", dir, "-c", p)
}

func checkCaddy(t *testing.T, b docBlock) error {
	bin := requireBinary(t, "caddy")
	p := writeTemp(t, "Caddyfile", docSubstitutions(t, b.text))
	return runCheck(bin, "adapt", "--config", p, "--adapter", "caddyfile")
}

func checkHAProxy(t *testing.T, b docBlock) error {
	bin := requireBinary(t, "haproxy")
	text := docSubstitutions(t, b.text)
	if m := regexp.MustCompile(`(?m)^backend (\S+)`).FindStringSubmatch(text); m != nil && !strings.Contains(text, "frontend ") {
		// A backend shown on its own: give it the defaults and a
		// frontend a whole file has.
		text = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n" +
			"frontend f\n    bind 127.0.0.1:8080\n    default_backend " + m[1] + "\n" + text
	}
	p := writeTemp(t, "haproxy.cfg", text)
	return runCheck(bin, "-c", "-f", p)
}

// checkShell parses a shell block without running it.
func checkShell(t *testing.T, b docBlock) error {
	return runCheck("sh", "-n", writeTemp(t, "snippet.sh", b.text))
}

// checkSystemd verifies a unit with systemd-analyze in a private root that
// holds the host's unit files (for the targets) and a stub for every
// binary the unit runs.
func checkSystemd(t *testing.T, b docBlock) error {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		missingComponent(t, "systemd-analyze not found (Debian's systemd package)")
	}
	root := t.TempDir()
	unitDir := filepath.Join(root, "etc", "systemd", "system")
	_ = os.MkdirAll(unitDir, 0o755)
	_ = os.MkdirAll(filepath.Join(root, "usr", "lib", "systemd"), 0o755)
	if err := exec.Command("cp", "-r", "/usr/lib/systemd/system", filepath.Join(root, "usr", "lib", "systemd")).Run(); err != nil {
		return fmt.Errorf("copying the host's units: %w", err)
	}
	for _, m := range regexp.MustCompile(`(?m)^Exec\w*=[-+@!:]*(/\S+)`).FindAllStringSubmatch(b.text, -1) {
		stub := filepath.Join(root, m[1])
		_ = os.MkdirAll(filepath.Dir(stub), 0o755)
		if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	name := "snippet.service"
	if m := regexp.MustCompile(`(?m)^# /etc/systemd/system/(\S+\.service)`).FindStringSubmatch(b.text); m != nil {
		name = m[1]
	}
	if err := os.WriteFile(filepath.Join(unitDir, name), []byte(b.text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "verify", "--root="+root, "/etc/systemd/system/"+name).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		return fmt.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	return nil
}

// checkTraefikStatic starts Traefik with the static snippet (its file
// provider pointed at the dynamic snippet of docs/proxies) and fails on any
// configuration error it logs.
func checkTraefikStatic(t *testing.T, b docBlock) error {
	dyn, err := os.ReadFile("../docs/proxies/traefik-dynamic.yml")
	if err != nil {
		t.Fatal(err)
	}
	return runTraefik(t, b.text, string(dyn))
}

// checkTraefikDynamic loads the dynamic snippet through the static file of
// docs/proxies.
func checkTraefikDynamic(t *testing.T, b docBlock) error {
	static, err := os.ReadFile("../docs/proxies/traefik.yml")
	if err != nil {
		t.Fatal(err)
	}
	return runTraefik(t, string(static), b.text)
}

// runTraefik starts Traefik with the two files, the dynamic one's server
// pointed at a stub, and requires a request through it to reach the stub:
// the routers were loaded as written.
func runTraefik(t *testing.T, static, dynamic string) error {
	bin := requireBinary(t, "traefik", filepath.Join(goPath(), "bin", "traefik"))
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "stub") }))
	defer stub.Close()
	dir := t.TempDir()
	dynPath := filepath.Join(dir, "dynamic.yml")
	_ = os.WriteFile(dynPath, []byte(strings.ReplaceAll(dynamic, "127.0.0.1:18780", strings.TrimPrefix(stub.URL, "http://"))), 0o600)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	static = regexp.MustCompile(`filename: \S+`).ReplaceAllString(static, "filename: "+dynPath)
	static = strings.ReplaceAll(static, "127.0.0.1:8080", addr)
	staticPath := filepath.Join(dir, "traefik.yml")
	_ = os.WriteFile(staticPath, []byte(static), 0o600)
	logs := &logBuffer{}
	cmd := exec.Command(bin, "--configFile="+staticPath)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// A router that names a host is reached by that name (the first
	// router's: the one in front of the gateway).
	host := ""
	if m := regexp.MustCompile("Host\\(`([^`]+)`\\)").FindStringSubmatch(dynamic); m != nil {
		host = m[1]
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) == "stub" {
			return nil
		}
	}
	return fmt.Errorf("nothing reached the upstream through Traefik in 10 s:\n%s\n--- static ---\n%s", logs, static)
}

func goPath() string {
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func envFor(text string) map[string]string {
	env := map[string]string{}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`).FindAllStringSubmatch(text, -1) {
		env[m[1]] = "doc-value-" + strings.ToLower(m[1]) + "-0123456789"
		if strings.Contains(m[1], "REDIS_URL") {
			env[m[1]] = "rediss://:secret@redis.internal:6380/0"
		}
	}
	return env
}

// checkGatewayConfig loads a gateway configuration snippet exactly as
// `gateway config validate` does.
func checkGatewayConfig(t *testing.T, b docBlock) error {
	ext := ".json5"
	if b.lang == "yaml" || b.lang == "yml" {
		ext = ".yaml"
	}
	p := writeTemp(t, "gateway"+ext, b.text)
	_, err := config.Load(config.Options{Path: p, Explicit: true, Env: envFor(b.text)})
	return err
}

// checkOpenClawConfig parses the OpenClaw side with the gateway's reader
// and lets OpenClaw's own CLI validate it.
func checkOpenClawConfig(t *testing.T, b docBlock) error {
	p := writeTemp(t, "openclaw.json", b.text)
	if _, err := openclaw.Load(p); err != nil {
		return err
	}
	node, mjs := requireOpenClaw(t)
	home := t.TempDir()
	_ = os.MkdirAll(filepath.Join(home, ".openclaw"), 0o700)
	_ = os.MkdirAll(filepath.Join(home, "tmp"), 0o700)
	_ = os.WriteFile(filepath.Join(home, ".openclaw", "openclaw.json"), []byte(b.text), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, mjs, "config", "validate")
	cmd.Dir = home
	cmd.Env = openClawEnv(home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("openclaw config validate: %v\n%s", err, out)
	}
	return nil
}
