package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gateway/config"
)

// fakeIdP plays Authelia's /api/verify: the "sso" cookie names the user.
func fakeIdP(t *testing.T) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/verify" {
			w.WriteHeader(404)
			return
		}
		c, err := r.Cookie("sso")
		if err != nil || c.Value == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Remote-User", c.Value)
		w.Header().Set("Remote-Email", c.Value+"@example.com")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func identityGateway(t *testing.T, userHeader string) *gateway {
	return startGateway(t, func(c *config.Config) {
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.Auth.Mode = "trusted-proxy"
		c.Gateway.Auth.TrustedProxy = config.TrustedProxy{UserHeader: userHeader, AllowUsers: []string{"alice"}, AllowLoopback: true}
	})
}

func getAs(t *testing.T, url string, h map[string]string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := clientFrom("127.0.0.2").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := make([]byte, 4096)
	n, _ := resp.Body.Read(b)
	return resp.StatusCode, b[:n]
}

func TestTrustedProxyIdentity(t *testing.T) {
	idp := fakeIdP(t)
	setups := []struct {
		name, header string
		start        func(t *testing.T, gw string) string
	}{
		{"nginx auth_request", "x-forwarded-user", func(t *testing.T, gw string) string {
			n := startNginxFile(t, "nginx-auth-request.conf", gw, func(s string) string {
				return strings.ReplaceAll(s, "127.0.0.1:9091", idp)
			})
			return n.addr
		}},
		{"caddy forward_auth", "remote-user", func(t *testing.T, gw string) string {
			bin := requireBinary(t, "caddy")
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			dir := t.TempDir()
			cf := filepath.Join(dir, "Caddyfile")
			text := snippet(t, "Caddyfile-forward-auth", addr, gw, func(s string) string { return strings.ReplaceAll(s, "127.0.0.1:9091", idp) })
			_ = os.WriteFile(cf, []byte(text), 0o600)
			cmd := exec.Command(bin, "run", "--config", cf, "--adapter", "caddyfile")
			cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir+"/data", "XDG_CONFIG_HOME="+dir+"/config")
			return runProxy(t, "caddy", cmd, addr, "").addr
		}},
	}
	for _, su := range setups {
		t.Run(su.name, func(t *testing.T) {
			gw := identityGateway(t, su.header)
			base := "http://" + su.start(t, gw.addr)
			forge := map[string]string{"X-Forwarded-User": "alice", "Remote-User": "alice"}
			cases := []struct {
				name   string
				h      map[string]string
				status int
				user   string
			}{
				{"alice logged in", map[string]string{"Cookie": "sso=alice"}, 200, "alice"},
				{"bob logged in, not allowed", map[string]string{"Cookie": "sso=bob"}, 403, ""},
				{"bob forging alice's header", with(forge, "Cookie", "sso=bob"), 403, ""},
				{"not logged in, forging", forge, 401, ""},
			}
			for _, c := range cases {
				status, body := getAs(t, base+"/auth/whoami", c.h)
				if status != c.status {
					t.Errorf("%s: %d %s, want %d", c.name, status, body, c.status)
					continue
				}
				if c.user != "" {
					if w := decode[whoami](t, body); w.User != c.user || w.Method != "trusted-proxy" || w.Client != "127.0.0.2" {
						t.Errorf("%s: whoami %+v", c.name, w)
					}
				}
			}
			// Straight to the gateway, bypassing the proxy, the header is
			// worthless.
			status, _ := getAs(t, "http://"+gw.addr+"/auth/whoami", forge)
			if status != 401 {
				t.Errorf("direct with forged header: %d, want 401", status)
			}
		})
	}
}

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}
