package integration

// Three gateway processes share their state through a real redis-server
// (Debian's, started here on a random port with no persistence) behind
// HAProxy round robin (docs/proxies/haproxy-replicas.cfg): every sharing
// rule of SPEC "Beyond one machine", then Redis stopped mid-test (the
// outage rules) and restarted (recovery).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gateway/auth/authtest"
	"gateway/store/redistest"
)

const (
	replicaPassword = "correct horse battery staple"
	redisPassword   = "redis-test-password"
)

// buildGateway compiles the gateway once per test binary run.
var buildGateway = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "gateway-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "gateway")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/gateway").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// replica is one gateway process.
type replica struct {
	name, addr string
	cmd        *exec.Cmd
	logs       *logBuffer
}

// startReplicas starts n gateway processes at once (so they race to
// create the signing key) on the Redis at redisURL, with the upstream up.
func startReplicas(t *testing.T, n int, redisURL, up string, env ...string) []*replica {
	t.Helper()
	bin, err := buildGateway()
	if err != nil {
		t.Fatal(err)
	}
	var rs []*replica
	for i := range n {
		port := freePort(t)
		dir := t.TempDir()
		cfg := fmt.Sprintf(`{
  gateway: { port: %d, bind: "loopback", upstream: %q, trustedProxies: ["127.0.0.1"], admin: { listen: "127.0.0.1:0" },
    auth: { mode: "password" },
    store: { backend: "redis", url: "${GATEWAY_REDIS_URL}" } },
  channels: { telegram: { dmPolicy: "pairing" } },
}`, port, up)
		cf := filepath.Join(dir, "gateway.json5")
		if err := os.WriteFile(cf, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		r := &replica{name: fmt.Sprintf("gw%d", i+1), addr: fmt.Sprintf("127.0.0.1:%d", port), logs: &logBuffer{}}
		r.cmd = exec.Command(bin, "run", "--config", cf, "--state-dir", filepath.Join(dir, "state"))
		r.cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "GATEWAY_TOKEN=" + token,
			"GATEWAY_PASSWORD=" + replicaPassword, "GATEWAY_REDIS_URL=" + redisURL}
		r.cmd.Env = append(r.cmd.Env, env...)
		r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
		rs = append(rs, r)
	}
	for _, r := range rs {
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stopProcess(r.cmd, syscall.SIGTERM, false, 10*time.Second)
			if t.Failed() {
				t.Logf("%s log:\n%s", r.name, r.logs)
			}
		})
	}
	for _, r := range rs {
		waitListening(t, r.addr, r.logs.String)
	}
	return rs
}

// hit is one request to a replica: from the trusted proxy (this host) on
// behalf of client (an X-Forwarded-For), with optional headers and body.
type hit struct {
	method, path, client, body string
	h                          map[string]string
}

type answer struct {
	status int
	body   string
	header http.Header
	took   time.Duration
}

func (a answer) String() string { return fmt.Sprintf("%d %.300s", a.status, a.body) }

func send(t *testing.T, base string, q hit) answer {
	t.Helper()
	method := q.method
	if method == "" {
		method = "GET"
	}
	req, err := http.NewRequest(method, base+q.path, strings.NewReader(q.body))
	if err != nil {
		t.Fatal(err)
	}
	if q.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if q.client != "" {
		req.Header.Set("X-Forwarded-For", q.client)
	}
	for k, v := range q.h {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := (&http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: string(b), header: resp.Header, took: time.Since(start)}
}

// propagation is how long the tests give a change made on one replica to
// reach the others. SPEC: 100 ms; CI runs under -race on two busy cores,
// so the tests allow ten times that and log what they saw.
const propagation = time.Second

// seenBy sends q to base until ok accepts the answer, for at most
// propagation, and returns the last answer and how long it took.
func seenBy(t *testing.T, base string, q hit, ok func(answer) bool) (answer, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		a := send(t, base, q)
		if ok(a) || time.Since(start) > propagation {
			return a, time.Since(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func bearerH(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

func jsonBody(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// deviceConnect runs challenge on one base and connect on another.
func deviceConnect(t *testing.T, challengeAt, connectAt, client string, dev authtest.Device, role string) answer {
	t.Helper()
	a := send(t, challengeAt, hit{method: "POST", path: "/auth/device/challenge", client: client, body: `{}`})
	var ch struct{ Nonce string }
	_ = json.Unmarshal([]byte(a.body), &ch)
	if a.status != 200 || ch.Nonce == "" {
		t.Fatalf("challenge: %v", a)
	}
	return send(t, connectAt, hit{method: "POST", path: "/auth/device/connect", client: client, body: jsonBody(dev.Connect(ch.Nonce, role, time.Now()))})
}

func TestReplicasShareStateThroughRedis(t *testing.T) {
	redis := redistest.Start(t, redisPassword)
	rec, up := startRecorder(t)
	rs := startReplicas(t, 3, redis.URL(), up)
	base := func(i int) string { return "http://" + rs[i%3].addr }
	px := startHAProxyReplicas(t, rs)
	front := "http://" + px.addr
	admin := bearerH(token)

	t.Run("one signing key", func(t *testing.T) {
		keys, err := redis.Client().HGet(context.Background(), "gateway:doc:identity/device-token-keys.json", "data").Result()
		if err != nil {
			t.Fatal(err)
		}
		var f struct{ Keys []struct{ KID string } }
		if err := json.Unmarshal([]byte(keys), &f); err != nil || len(f.Keys) != 1 {
			t.Fatalf("three replicas started at once stored %d keys (%v)", len(f.Keys), err)
		}
	})
	t.Run("a lockout counts and holds across replicas", func(t *testing.T) {
		guesser := "203.0.113.66"
		for i := range 10 {
			a := send(t, base(i), hit{method: "POST", path: "/auth/login", client: guesser, body: `{"password":"wrong"}`})
			if a.status != 401 {
				t.Fatalf("guess %d on %s: %v", i+1, rs[i%3].name, a)
			}
		}
		for i := range 3 {
			a := send(t, base(i), hit{method: "POST", path: "/auth/login", client: guesser, body: jsonBody(map[string]string{"password": replicaPassword})})
			if a.status != 429 || a.header.Get("Retry-After") == "" {
				t.Fatalf("after 10 guesses spread over three replicas, %s let the right password in: %v", rs[i].name, a)
			}
		}
	})
	var cookie string
	t.Run("a session signed in on one replica works on all; signing out on one ends it on all", func(t *testing.T) {
		a := send(t, base(0), hit{method: "POST", path: "/auth/login", client: "198.51.100.10", body: jsonBody(map[string]string{"password": replicaPassword})})
		if a.status != 200 {
			t.Fatalf("login: %v", a)
		}
		for _, c := range a.header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "gateway_session=") {
				cookie = strings.SplitN(c, ";", 2)[0]
			}
		}
		withCookie := map[string]string{"Cookie": cookie}
		for i := range 3 {
			if a := send(t, base(i), hit{path: "/auth/whoami", client: "198.51.100.10", h: withCookie}); a.status != 200 || !strings.Contains(a.body, `"method":"session"`) {
				t.Fatalf("session on %s: %v", rs[i].name, a)
			}
		}
		signOut := map[string]string{"Cookie": cookie, "Origin": base(1), "Sec-Fetch-Site": "same-origin"}
		if a := send(t, base(1), hit{method: "POST", path: "/auth/logout", client: "198.51.100.10", h: signOut}); a.status != 200 {
			t.Fatalf("logout: %v", a)
		}
		// At once on the replica that signed out; within the
		// propagation bound on the others.
		if a := send(t, base(1), hit{path: "/auth/whoami", client: "198.51.100.10", h: withCookie}); a.status != 401 {
			t.Fatalf("signed out on %s, still signed in there: %v", rs[1].name, a)
		}
		for i := range 3 {
			a, took := seenBy(t, base(i), hit{path: "/auth/whoami", client: "198.51.100.10", h: withCookie}, func(a answer) bool { return a.status == 401 })
			if a.status != 401 {
				t.Fatalf("signed out on %s, still signed in on %s after %v: %v", rs[1].name, rs[i].name, took, a)
			}
		}
	})
	t.Run("a nonce issued by one replica is single-use on all", func(t *testing.T) {
		dev := authtest.NewDevice()
		client := "198.51.100.20"
		a := send(t, base(0), hit{method: "POST", path: "/auth/device/challenge", client: client, body: `{}`})
		var ch struct{ Nonce string }
		_ = json.Unmarshal([]byte(a.body), &ch)
		proof := jsonBody(dev.Connect(ch.Nonce, "operator", time.Now()))
		if a := send(t, base(1), hit{method: "POST", path: "/auth/device/connect", client: client, body: proof}); a.status != 202 {
			t.Fatalf("connect on another replica: %v", a)
		}
		for i := range 3 {
			if a := send(t, base(i), hit{method: "POST", path: "/auth/device/connect", client: client, body: proof}); a.status != 401 || !strings.Contains(a.body, "nonce") {
				t.Fatalf("replayed proof on %s: %v", rs[i].name, a)
			}
		}
	})
	dev := authtest.NewDevice()
	var devToken, revokedToken string
	t.Run("a device approved through one replica connects through another", func(t *testing.T) {
		client := "198.51.100.30"
		a := deviceConnect(t, base(0), base(0), client, dev, "operator")
		var p struct{ RequestID string }
		_ = json.Unmarshal([]byte(a.body), &p)
		if a.status != 202 || p.RequestID == "" {
			t.Fatalf("pairing request: %v", a)
		}
		if a := send(t, base(1), hit{method: "POST", path: "/admin/devices/approve", h: admin, body: jsonBody(map[string]string{"requestId": p.RequestID})}); a.status != 200 {
			t.Fatalf("approve on %s: %v", rs[1].name, a)
		}
		start := time.Now()
		for a = deviceConnect(t, base(2), base(2), client, dev, "operator"); a.status == 202 && time.Since(start) < propagation; {
			time.Sleep(5 * time.Millisecond)
			a = deviceConnect(t, base(2), base(2), client, dev, "operator")
		}
		var res struct{ Token string }
		_ = json.Unmarshal([]byte(a.body), &res)
		if a.status != 200 || res.Token == "" {
			t.Fatalf("connect on %s after approval on %s: %v", rs[2].name, rs[1].name, a)
		}
		devToken = res.Token
		for i := range 3 {
			if a := send(t, base(i), hit{path: "/agent", client: client, h: bearerH(devToken)}); a.status != 200 {
				t.Fatalf("device token signed by %s on %s: %v", rs[2].name, rs[i].name, a)
			}
		}
	})
	t.Run("a revocation on one replica refuses the token on all at once", func(t *testing.T) {
		other := authtest.NewDevice()
		client := "198.51.100.31"
		a := deviceConnect(t, base(0), base(0), client, other, "operator")
		var p struct{ RequestID string }
		_ = json.Unmarshal([]byte(a.body), &p)
		send(t, base(0), hit{method: "POST", path: "/admin/devices/approve", h: admin, body: jsonBody(map[string]string{"requestId": p.RequestID})})
		a = deviceConnect(t, base(0), base(0), client, other, "operator")
		var res struct{ Token string }
		_ = json.Unmarshal([]byte(a.body), &res)
		revokedToken = res.Token
		for i := range 3 {
			if a := send(t, base(i), hit{path: "/agent", client: client, h: bearerH(res.Token)}); a.status != 200 {
				t.Fatalf("before revocation on %s: %v", rs[i].name, a)
			}
		}
		if a := send(t, base(1), hit{method: "POST", path: "/admin/devices/revoke", h: admin, body: jsonBody(map[string]string{"deviceId": other.ID})}); a.status != 200 {
			t.Fatalf("revoke: %v", a)
		}
		if a := send(t, base(1), hit{path: "/agent", client: client, h: bearerH(res.Token)}); a.status != 401 {
			t.Fatalf("revoked on %s, the next request there got %v", rs[1].name, a)
		}
		for i := range 3 {
			a, took := seenBy(t, base(i), hit{path: "/agent", client: client, h: bearerH(res.Token)}, func(a answer) bool { return a.status == 401 })
			if a.status != 401 {
				t.Fatalf("revoked on %s, %s still let the token in after %v: %v", rs[1].name, rs[i].name, took, a)
			}
		}
	})
	t.Run("a pairing code approved through one replica lets the sender through another", func(t *testing.T) {
		msg := jsonBody(map[string]string{"from": "123456789", "text": "hello"})
		a := send(t, base(0), hit{method: "POST", path: "/channels/telegram/inbound", h: admin, body: msg})
		var res struct {
			Action, PairingCode string
		}
		_ = json.Unmarshal([]byte(a.body), &res)
		if res.Action != "pairing" || res.PairingCode == "" {
			t.Fatalf("unknown sender: %v", a)
		}
		if a := send(t, base(1), hit{method: "POST", path: "/admin/pairing/telegram/approve", h: admin, body: jsonBody(map[string]string{"code": res.PairingCode})}); a.status != 200 {
			t.Fatalf("approve code: %v", a)
		}
		a, _ = seenBy(t, base(2), hit{method: "POST", path: "/channels/telegram/inbound", h: admin, body: msg}, func(a answer) bool { return strings.Contains(a.body, `"action":"deliver"`) })
		if !strings.Contains(a.body, `"action":"deliver"`) || !strings.Contains(a.body, `"upstreamStatus":200`) {
			t.Fatalf("approved sender on %s: %v", rs[2].name, a)
		}
	})
	t.Run("behind HAProxy round robin the replicas are one gateway", func(t *testing.T) {
		stranger := clientFrom("127.0.0.2")
		login, _ := http.NewRequest("POST", front+"/auth/login", strings.NewReader(jsonBody(map[string]string{"password": replicaPassword})))
		login.Header.Set("Content-Type", "application/json")
		resp, err := stranger.Do(login)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var sc string
		for _, c := range resp.Cookies() {
			if c.Name == "gateway_session" {
				sc = c.Value
			}
		}
		if resp.StatusCode != 200 || sc == "" {
			t.Fatalf("login through HAProxy: %d", resp.StatusCode)
		}
		for i := range 9 {
			req, _ := http.NewRequest("GET", front+"/agent", nil)
			req.AddCookie(&http.Cookie{Name: "gateway_session", Value: sc})
			resp, err := stranger.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("request %d through HAProxy: %d", i+1, resp.StatusCode)
			}
		}
		for _, r := range rs {
			if !strings.Contains(r.logs.String(), `"user":"owner","auth":"session"`) {
				t.Fatalf("round robin never reached %s with the session", r.name)
			}
		}
		if h := rec.header(); h.Get("Cookie") != "" {
			t.Fatalf("the session cookie reached the upstream: %q", h.Get("Cookie"))
		}
	})

	t.Run("a sign-out on one replica reaches another under load", func(t *testing.T) {
		a := send(t, base(0), hit{method: "POST", path: "/auth/login", client: "198.51.100.80", body: jsonBody(map[string]string{"password": replicaPassword})})
		var lr struct{ Token string }
		_ = json.Unmarshal([]byte(a.body), &lr)
		if a.status != 200 || lr.Token == "" {
			t.Fatalf("login: %v", a)
		}
		// Eight connections use the session on replica B as fast as
		// they can (bounded in time and count) while A ends it.
		b := base(2)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
		defer hc.CloseIdleConnections()
		var sent atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20000 && ctx.Err() == nil; i++ {
					req, _ := http.NewRequestWithContext(ctx, "GET", b+"/agent", nil)
					req.Header.Set("Authorization", "Bearer "+lr.Token)
					req.Header.Set("X-Forwarded-For", "198.51.100.80")
					resp, err := hc.Do(req)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					sent.Add(1)
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		loadStart, sentBefore := time.Now(), sent.Load()
		if a := send(t, base(0), hit{method: "POST", path: "/auth/logout", client: "198.51.100.80", h: bearerH(lr.Token)}); a.status != 200 {
			t.Fatalf("logout on A: %v", a)
		}
		// The probe comes from another client: the load's own
		// requests with the dead session are counted failures and soon
		// lock the load's address out (429), which says nothing about
		// the session.
		a, took := seenBy(t, b, hit{path: "/agent", client: "198.51.100.81", h: bearerH(lr.Token)}, func(a answer) bool { return a.status == 401 })
		rate := float64(sent.Load()-sentBefore) / time.Since(loadStart).Seconds()
		cancel()
		wg.Wait()
		if a.status != 401 {
			t.Fatalf("replica B still took the session %v after A ended it: %v", took, a)
		}
		t.Logf("signed out on A; B (under %.0f requests/s with the session) refused it within %v (its answer included)", rate, took)
	})

	// The outage.
	redis.Stop()
	var worst time.Duration
	check := func(a answer) answer {
		worst = max(worst, a.took)
		return a
	}
	t.Run("while Redis is down", func(t *testing.T) {
		for i := range 3 {
			b := base(i)
			if a := check(send(t, b, hit{path: "/readyz"})); a.status != 503 || !strings.Contains(a.body, "store_unavailable") {
				t.Fatalf("%s readyz: %v", rs[i].name, a)
			}
			if a := check(send(t, b, hit{method: "POST", path: "/auth/login", client: "198.51.100.50", body: jsonBody(map[string]string{"password": replicaPassword})})); a.status != 503 || !strings.Contains(a.body, "store_unavailable") {
				t.Fatalf("%s sign-in: %v", rs[i].name, a)
			}
			page := check(send(t, b, hit{method: "GET", path: "/agent", client: "198.51.100.50", h: map[string]string{"Accept": "text/html", "Cookie": cookie}}))
			if page.status != 503 || !strings.Contains(page.body, "<html") || !strings.Contains(page.body, "state store") {
				t.Fatalf("%s browser with a session cookie: %v", rs[i].name, page)
			}
			if a := check(send(t, b, hit{method: "POST", path: "/auth/device/challenge", client: "198.51.100.50", body: `{}`})); a.status != 503 {
				t.Fatalf("%s challenge: %v", rs[i].name, a)
			}
			if a := check(send(t, b, hit{method: "POST", path: "/admin/devices/approve", h: admin, body: `{"latest":true}`})); a.status != 503 {
				t.Fatalf("%s approval: %v", rs[i].name, a)
			}
			if a := check(send(t, b, hit{path: "/agent", client: "198.51.100.51", h: admin})); a.status != 200 {
				t.Fatalf("%s: the shared token stopped working: %v", rs[i].name, a)
			}
			if a := check(send(t, b, hit{path: "/agent", client: "198.51.100.30", h: bearerH(devToken)})); a.status != 200 {
				t.Fatalf("%s: a device token stopped working: %v", rs[i].name, a)
			}
			// The last lists loaded still hold the revocation: an outage
			// never revives a revoked device's token.
			if a := check(send(t, b, hit{path: "/agent", client: "198.51.100.31", h: bearerH(revokedToken)})); a.status != 401 {
				t.Fatalf("%s: a revoked device token during the outage: %v", rs[i].name, a)
			}
			// A wrong bearer that is not a session (no gws. prefix) is
			// checked against the shared token alone: 401, and counted,
			// so guessing the token stays limited on each replica
			// through the outage.
			guesser := fmt.Sprintf("198.51.100.%d", 70+i)
			for range 10 {
				if a := check(send(t, b, hit{path: "/agent", client: guesser, h: bearerH("wrong-token")})); a.status != 401 {
					t.Fatalf("%s: a wrong token: %v", rs[i].name, a)
				}
			}
			if a := check(send(t, b, hit{path: "/agent", client: guesser, h: admin})); a.status != 429 {
				t.Fatalf("%s: after 10 wrong tokens during the outage the right one got %v, want 429", rs[i].name, a)
			}
		}
		// Through HAProxy: every replica is drained, the backups take the
		// traffic, and the token works.
		deadline := time.Now().Add(10 * time.Second)
		for {
			a := send(t, front, hit{path: "/agent", h: admin})
			if a.status == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("through HAProxy during the outage: %v", a)
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("slowest answer while Redis was down: %v", worst)
		if worst > time.Second {
			t.Fatalf("a request took %v while Redis was down; the limit is 1 s", worst)
		}
	})

	// Recovery: Redis comes back (empty: it had no persistence).
	redis.Restart()
	t.Run("after Redis is back", func(t *testing.T) {
		deadline := time.Now().Add(15 * time.Second)
		for i := range 3 {
			for send(t, base(i), hit{path: "/readyz"}).status != 200 {
				if time.Now().After(deadline) {
					t.Fatalf("%s not ready 15 s after Redis returned", rs[i].name)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		a := send(t, base(0), hit{method: "POST", path: "/auth/login", client: "198.51.100.60", body: jsonBody(map[string]string{"password": replicaPassword})})
		if a.status != 200 {
			t.Fatalf("sign-in after recovery: %v", a)
		}
		var lr struct{ Token string }
		_ = json.Unmarshal([]byte(a.body), &lr)
		for i := range 3 {
			if a := send(t, base(i), hit{path: "/auth/whoami", client: "198.51.100.60", h: bearerH(lr.Token)}); a.status != 200 {
				t.Fatalf("new session on %s: %v", rs[i].name, a)
			}
		}
		// The signing key is back in Redis (restored from the replicas'
		// memory), so a device paired now verifies everywhere.
		fresh := authtest.NewDevice()
		a = deviceConnect(t, base(0), base(1), "198.51.100.61", fresh, "operator")
		var p struct{ RequestID string }
		_ = json.Unmarshal([]byte(a.body), &p)
		if a := send(t, base(2), hit{method: "POST", path: "/admin/devices/approve", h: admin, body: jsonBody(map[string]string{"requestId": p.RequestID})}); a.status != 200 {
			t.Fatalf("approve after recovery: %v", a)
		}
		a = deviceConnect(t, base(1), base(2), "198.51.100.61", fresh, "operator")
		var res struct{ Token string }
		_ = json.Unmarshal([]byte(a.body), &res)
		for i := range 3 {
			if a := send(t, base(i), hit{path: "/agent", client: "198.51.100.61", h: bearerH(res.Token)}); a.status != 200 {
				t.Fatalf("device token after recovery on %s: %v", rs[i].name, a)
			}
		}
	})
}

// TestReplicaOnRedisOverTLS: a rediss:// URL with a password and a
// database number; the certificate is trusted through SSL_CERT_FILE, as an
// operator with a private CA does.
func TestReplicaOnRedisOverTLS(t *testing.T) {
	redis := redistest.StartTLS(t, redisPassword)
	_, up := startRecorder(t)
	rs := startReplicas(t, 1, redis.URLDB(3), up, "SSL_CERT_FILE="+redis.CAFile)
	base := "http://" + rs[0].addr
	if a := send(t, base, hit{path: "/readyz"}); a.status != 200 {
		t.Fatalf("readyz over TLS: %v", a)
	}
	a := send(t, base, hit{method: "POST", path: "/auth/login", client: "198.51.100.80", body: jsonBody(map[string]string{"password": replicaPassword})})
	if a.status != 200 {
		t.Fatalf("sign-in over TLS: %v", a)
	}
	keys, err := redis.ClientDB(3).Keys(context.Background(), "gateway:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("no gateway keys in database 3: %v %v", keys, err)
	}
	for _, k := range keys {
		if strings.Contains(k, replicaPassword) || strings.Contains(k, token) {
			t.Fatalf("a secret in a Redis key: %s", k)
		}
	}
	if n, _ := redis.ClientDB(0).DBSize(context.Background()).Result(); n != 0 {
		t.Fatalf("%d keys in database 0; the URL said 3", n)
	}
	// Without the certificate trusted, the replica refuses to start.
	bin, _ := buildGateway()
	cmd := exec.Command(bin, "run", "--state-dir", t.TempDir(), "--port", fmt.Sprint(freePort(t)))
	cf := filepath.Join(t.TempDir(), "gateway.json5")
	_ = os.WriteFile(cf, []byte(`{gateway: {store: {backend: "redis", url: "${GATEWAY_REDIS_URL}"}}}`), 0o600)
	cmd.Args = append(cmd.Args, "--config", cf)
	cmd.Env = []string{"HOME=" + t.TempDir(), "GATEWAY_TOKEN=" + token, "GATEWAY_REDIS_URL=" + redis.URL(), "SSL_CERT_FILE=/dev/null"}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "does not answer") || strings.Contains(string(out), redisPassword) {
		t.Fatalf("an untrusted Redis certificate: %v\n%s", err, out)
	}
}

// startHAProxyReplicas runs docs/proxies/haproxy-replicas.cfg in front of
// the replicas.
func startHAProxyReplicas(t *testing.T, rs []*replica) *proxy {
	t.Helper()
	bin := requireBinary(t, "haproxy")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	data, err := os.ReadFile(filepath.Join("..", "docs", "proxies", "haproxy-replicas.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.ReplaceAll(string(data), "127.0.0.1:8080", addr)
	for i, r := range rs {
		want := fmt.Sprintf("127.0.0.1:1878%d", i+1)
		if !strings.Contains(cfg, want) {
			t.Fatalf("haproxy-replicas.cfg lacks %s; docs and test drifted", want)
		}
		cfg = strings.ReplaceAll(cfg, want, r.addr)
	}
	dir := t.TempDir()
	cf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return runProxy(t, "haproxy", exec.Command(bin, "-f", cf, "-db"), addr, "")
}
