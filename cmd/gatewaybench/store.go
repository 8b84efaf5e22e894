package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// The state store's cost: the same gateway on files and on Redis, under
// the two loads that reach the store on every request when clients are
// remote (behind a trusted proxy): the shared token (a lockout attempt is
// reserved before it is compared) and a session cookie (the session is
// looked up).
const remoteClient = "X-Forwarded-For: 198.51.100.7"

var storeLoads = []struct{ name, suffix string }{{"token", "remote token"}, {"session", "remote session"}, {"bearer", "remote session bearer"}}

// redisPair is two gateway replicas on one Redis, for the propagation
// measurement.
type redisPair struct{ a, b string }

// storeTargets starts a redis-server and two gateway replicas on it, signs
// a session in on each gateway, and returns the targets (each load on
// files and on Redis, the Redis loads on replica B).
func storeTargets(tmp, upURL, filesGW string, filesPid int) ([]target, *redisPair, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, nil, nil, errors.New("redis-server not found (apt-get install -y redis-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	dir := filepath.Join(tmp, "redis")
	_ = os.MkdirAll(dir, 0o700)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, err
	}
	redis := &proc{addr: addr, cmd: cmd}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			redis.stop()
			return nil, nil, nil, fmt.Errorf("redis-server did not start: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	gwA, err := startChild(tmp, "gateway", upURL, "-redis", "redis://"+addr+"/0")
	if err != nil {
		redis.stop()
		return nil, nil, nil, err
	}
	gwB, err := startChild(tmp, "gateway", upURL, "-redis", "redis://"+addr+"/0")
	if err != nil {
		gwA.stop()
		redis.stop()
		return nil, nil, nil, err
	}
	stop := func() { gwA.stop(); gwB.stop(); redis.stop() }
	var out []target
	for _, b := range []struct {
		name, url string
		pids      []int
	}{{"files", filesGW, []int{filesPid}}, {"redis", "http://" + gwB.addr, []int{gwB.pid(), redis.pid()}}} {
		cookie, bearer, err := signIn(b.url)
		if err != nil {
			stop()
			return nil, nil, nil, fmt.Errorf("%s: sign-in: %w", b.name, err)
		}
		out = append(out,
			target{name: "gw " + b.name + ", " + storeLoads[0].suffix, url: b.url, headers: []string{"Authorization: Bearer " + benchToken, remoteClient}, pids: b.pids},
			target{name: "gw " + b.name + ", " + storeLoads[1].suffix, url: b.url, headers: []string{"Cookie: " + cookie, remoteClient}, pids: b.pids},
			target{name: "gw " + b.name + ", " + storeLoads[2].suffix, url: b.url, headers: []string{"Authorization: Bearer " + bearer, remoteClient}, pids: b.pids})
	}
	return out, &redisPair{a: "http://" + gwA.addr, b: "http://" + gwB.addr}, stop, nil
}

// signIn exchanges the token for a session as a remote client and returns
// the cookie ("name=value") and the session's bearer token.
func signIn(base string) (string, string, error) {
	req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/auth/login", strings.NewReader(`{"token":"`+benchToken+`"}`))
	req.Header.Set("Content-Type", "application/json")
	k, v, _ := strings.Cut(remoteClient, ": ")
	req.Header.Set(k, v)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var body struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	for _, c := range resp.Cookies() {
		if c.Name == "gateway_session" && body.Token != "" {
			return c.Name + "=" + c.Value, body.Token, nil
		}
	}
	return "", "", fmt.Errorf("status %d, no session", resp.StatusCode)
}

// printStoreCost prints Redis against files for each load.
func printStoreCost(results map[string][]sample) {
	files, ok := results["gw files, "+storeLoads[0].suffix]
	if !ok {
		return
	}
	_ = files
	fmt.Println("\nstate store cost (same run, medians): Redis on loopback against files")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "load\tfiles rps\tredis rps\trps redis/files\tp99 files\tp99 redis\tp99 redis/files\tCPU/req files\tCPU/req redis (gateway + redis-server)\t")
	for _, l := range storeLoads {
		f, r := summarize(results["gw files, "+l.suffix]), summarize(results["gw redis, "+l.suffix])
		if f.rps == 0 || f.p99 == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2fx\t%s\t%s\t%.2fx\t%s\t%s\t\n", l.suffix, f.rps, r.rps, r.rps/f.rps,
			f.p99.Round(time.Microsecond), r.p99.Round(time.Microsecond), float64(r.p99)/float64(f.p99),
			f.cpu.Round(100*time.Nanosecond), r.cpu.Round(100*time.Nanosecond))
	}
	_ = tw.Flush()
}
