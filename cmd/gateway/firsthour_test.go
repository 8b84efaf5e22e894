package main

// The operator's first hour, tried as a new operator would: with the
// binary alone. Each test runs the CLI as a separate process.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"gateway/auth"
)

// runCLI runs the CLI binary and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := cliProcess(args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// TestValidatePointsAtTheLine: a parse error names the line and column
// and quotes the line with a caret, in both formats; an unknown key says
// which known key was meant.
func TestValidatePointsAtTheLine(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		file, text string
		want       []string
	}{
		{"gateway.json5", "{\n  gateway: {\n    port: 18780,\n    bind: \"loopback\"\n    auth: {mode: \"token\"},\n  },\n}\n", []string{
			`line 5, column 5: expected ',' or '}' after the value of "bind", found auth (is a comma missing?)`,
			"  5 |     auth: {mode: \"token\"},\n    |     ^\n",
		}},
		{"gateway.yaml", "gateway:\n  port: 18780\n  bind: loopback\n auth: {mode: token}\n", []string{
			"config: parse yaml: line 4, column 2: value is not allowed in this context",
			"  4 |  auth: {mode: token}\n    |  ^\n",
		}},
		{"typo.json5", "{gateway: {trustedProxie: [\"127.0.0.1\"], auth: {mdoe: \"token\"}}}", []string{
			"gateway.trustedProxie: unknown key (did you mean gateway.trustedProxies?)",
			"gateway.auth.mdoe: unknown key (did you mean gateway.auth.mode?)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := filepath.Join(dir, tt.file)
			if err := os.WriteFile(p, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, _ := runCLI(t, "", "config", "validate", "--config", p, "--state-dir", dir)
			if code != exitFailure {
				t.Fatalf("exit %d, want 1:\n%s", code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			// The same at startup, said plainly on stderr as well as in
			// the JSON log.
			code, _, errOut := runCLI(t, "", "run", "--config", p, "--state-dir", dir, "--admin-listen", "off")
			if code != exitFailure {
				t.Fatalf("run: exit %d, want 1:\n%s", code, errOut)
			}
			for _, w := range tt.want {
				// One block, indented under "configuration rejected:".
				if w = strings.ReplaceAll(strings.TrimSuffix(w, "\n"), "\n", "\n  "); !strings.Contains(errOut, w) {
					t.Errorf("startup stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestReloadNamesTheTypo: a SIGHUP with a misspelt key keeps the running
// configuration and logs the hint.
func TestReloadNamesTheTypo(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "gateway.json5")
	port := freePort(t)
	good := fmt.Sprintf("{gateway: {port: %d, auth: {token: \"%s\"}}}", port, strings.Repeat("t", 40))
	if err := os.WriteFile(p, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startCLIGateway(t, "run", "--config", p, "--state-dir", dir, "--admin-listen", "off")
	g.waitFor(t, `"msg":"listening"`)
	bad := fmt.Sprintf("{gateway: {port: %d, trustedProxie: [], auth: {token: \"%s\"}}}", port, strings.Repeat("t", 40))
	if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = g.cmd.Process.Signal(syscall.SIGHUP)
	line := g.waitFor(t, "config reload rejected")
	if !strings.Contains(line, "gateway.trustedProxie: unknown key (did you mean gateway.trustedProxies?)") {
		t.Fatalf("reload log lacks the hint: %s", line)
	}
}

// TestVersion: `gateway version` and `gateway --version` print the same
// line; a release build's -ldflags -X values show there, in the startup
// log and in gateway_build_info.
func TestVersion(t *testing.T) {
	re := regexp.MustCompile(`^gateway \S+ \(commit \S+, go1\.\d+\S*\)\n$`)
	_, a, _ := runCLI(t, "", "version")
	_, b, _ := runCLI(t, "", "--version")
	if !re.MatchString(a) || a != b {
		t.Fatalf("version %q, --version %q", a, b)
	}

	bin := filepath.Join(t.TempDir(), "gateway")
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X gateway/buildinfo.version=v9.8.7 -X gateway/buildinfo.commit=0123abcd", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "gateway v9.8.7 (commit 0123abcd, go1.") {
		t.Fatalf("release build version: %q %v", out, err)
	}
	dir := t.TempDir()
	port := freePort(t)
	g := startProcess(t, exec.Command(bin, "run", "--state-dir", dir, "--port", fmt.Sprint(port), "--admin-listen", "off"))
	start := g.waitFor(t, `"msg":"gateway starting"`)
	if !strings.Contains(start, `"version":"v9.8.7"`) || !strings.Contains(start, `"commit":"0123abcd"`) || !strings.Contains(start, `"go":"go1.`) {
		t.Fatalf("startup log: %s", start)
	}
	g.waitFor(t, `"msg":"listening"`)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port)) // local: same user
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`(?m)^gateway_build_info\{commit="0123abcd",goversion="go1\.[^"]+",version="v9\.8\.7"\} 1$`).Match(body) {
		t.Fatalf("metrics (%d) lack gateway_build_info:\n%.2000s", resp.StatusCode, body)
	}
}

// TestPasswordPromptOnATerminal: on a terminal the password is asked for
// twice with echo off and never appears on the screen; only the hash
// goes to stdout.
func TestPasswordPromptOnATerminal(t *testing.T) {
	const secret = "correct-horse-battery"
	for _, tc := range []struct {
		name, again string
		ok          bool
	}{{"match", secret, true}, {"mismatch", "something-else", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer ptmx.Close()
			cmd := cliProcess("password", "hash")
			var out bytes.Buffer
			cmd.Stdin, cmd.Stderr, cmd.Stdout = tty, tty, &out
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			tty.Close()
			screen := &lockedBuffer{}
			go func() { _, _ = io.Copy(screen, ptmx) }()
			for i, answer := range []string{secret, tc.again} {
				// Type only once this prompt is up and echo is off, as a
				// person would: typed any earlier, the kernel would echo
				// it. (TCGETS on the master reads the terminal's modes.)
				waitUntil(t, func() bool {
					tio, err := unix.IoctlGetTermios(int(ptmx.Fd()), unix.TCGETS)
					return err == nil && tio.Lflag&unix.ECHO == 0 && strings.Count(screen.String(), "Password") == i+1
				})
				if _, err := ptmx.Write([]byte(answer + "\r")); err != nil {
					t.Fatal(err)
				}
			}
			err = cmd.Wait()
			time.Sleep(50 * time.Millisecond) // let the copier drain
			if strings.Contains(screen.String(), secret) || strings.Contains(out.String(), secret) {
				t.Fatalf("the password was shown:\nscreen %q\nstdout %q", screen.String(), out.String())
			}
			if !strings.Contains(screen.String(), "Password (again): ") {
				t.Fatalf("not asked twice: %q", screen.String())
			}
			if !tc.ok {
				if err == nil || out.Len() != 0 || !strings.Contains(screen.String(), "do not match") {
					t.Fatalf("mismatch: err %v stdout %q screen %q", err, out.String(), screen.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("exit: %v, screen %q", err, screen.String())
			}
			h, perr := auth.ParsePasswordHash(strings.TrimSpace(out.String()))
			if perr != nil || !h.Verify(secret) {
				t.Fatalf("stdout %q is not the hash: %v", out.String(), perr)
			}
		})
	}
}

// TestPasswordFromAPipe: from a pipe, the first line is the password.
func TestPasswordFromAPipe(t *testing.T) {
	code, out, errOut := runCLI(t, "from a pipe\nsecond line ignored\n", "password", "hash")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	h, err := auth.ParsePasswordHash(strings.TrimSpace(out))
	if err != nil || !h.Verify("from a pipe") || strings.Contains(errOut, "Password") {
		t.Fatalf("hash %q stderr %q: %v", out, errOut, err)
	}
	if code, _, errOut := runCLI(t, "", "password", "hash"); code != exitFailure || !strings.Contains(errOut, "no password") {
		t.Fatalf("empty pipe: %d %q", code, errOut)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cliGateway is a gateway process whose stderr (the JSON log) is read
// line by line.
type cliGateway struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	more  chan struct{}
}

func startCLIGateway(t *testing.T, args ...string) *cliGateway {
	return startProcess(t, cliProcess(args...))
}

func startProcess(t *testing.T, cmd *exec.Cmd) *cliGateway {
	t.Helper()
	g := &cliGateway{cmd: cmd, more: make(chan struct{}, 1)}
	r, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			g.mu.Lock()
			g.lines = append(g.lines, sc.Text())
			g.mu.Unlock()
			select {
			case g.more <- struct{}{}:
			default:
			}
		}
	}()
	return g
}

// waitFor returns the first log line containing s.
func (g *cliGateway) waitFor(t *testing.T, s string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		g.mu.Lock()
		for _, l := range g.lines {
			if strings.Contains(l, s) {
				g.mu.Unlock()
				return l
			}
		}
		all := strings.Join(g.lines, "\n")
		g.mu.Unlock()
		select {
		case <-g.more:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("no log line with %q:\n%s", s, all)
		}
	}
}
