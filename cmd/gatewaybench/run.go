package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

type benchConfig struct {
	duration   time.Duration
	rounds     int
	conns      int
	threads    int
	soak       int
	coldStarts int
}

type target struct {
	name    string
	url     string
	headers []string // extra wrk headers, "Name: value"
	pids    []int    // processes whose CPU serves the target (none: not measured)
}

type sample struct {
	rps      float64
	p50, p99 time.Duration
	cpu      time.Duration // CPU per request, 0 when not measured
}

func run(c benchConfig) error {
	raiseNoFile()
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return errors.New("wrk not found (make bench installs it: apt-get install -y wrk)")
	}
	tmp, err := os.MkdirTemp("", "gatewaybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	upURL, stopUp, err := startUpstream()
	if err != nil {
		return err
	}
	defer stopUp()

	targets := []target{{name: "upstream (direct)", url: upURL}}
	bare, err := startChild(tmp, "bare", upURL)
	if err != nil {
		return err
	}
	defer bare.stop()
	targets = append(targets, target{name: "bare ReverseProxy", url: "http://" + bare.addr, pids: []int{bare.pid()}})
	if ng, err := startNginx(tmp, "nginx", plainNginx(strings.TrimPrefix(upURL, "http://"))); err != nil {
		fmt.Fprintln(os.Stderr, "nginx baseline skipped:", err)
	} else {
		defer ng.stop()
		targets = append(targets, target{name: nginxPlain, url: "http://" + ng.addr, pids: []int{ng.pid()}})
		if fwd, stopFwd, err := forwardTarget(tmp, upURL); err != nil {
			fmt.Fprintln(os.Stderr, "forward auth comparison skipped:", err)
		} else {
			defer stopFwd()
			targets = append(targets, fwd)
		}
	}
	gw, err := startChild(tmp, "gateway", upURL)
	if err != nil {
		return err
	}
	defer gw.stop()
	targets = append(targets, target{name: "gateway", url: "http://" + gw.addr, headers: []string{"Authorization: Bearer " + benchToken}, pids: []int{gw.pid()}})
	storeTargets, pair, stopStore, err := storeTargets(tmp, upURL, "http://"+gw.addr, gw.pid())
	if err != nil {
		fmt.Fprintln(os.Stderr, "state store comparison skipped:", err)
	} else {
		defer stopStore()
		targets = append(targets, storeTargets...)
	}

	// Sanity: every target answers 200 before load.
	for _, t := range targets {
		if err := check(t); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	fmt.Printf("load: wrk -t%d -c%d -d%s, %d interleaved rounds, loopback only\n\n", c.threads, c.conns, c.duration, c.rounds)
	results, err := rounds(wrk, targets, c)
	if err != nil {
		return err
	}
	printTable(targets, results)
	printStoreCost(results)
	printForwardCost(results, c.conns)
	if pair != nil {
		if err := propagation(wrk, pair, targets, c); err != nil {
			return fmt.Errorf("propagation: %w", err)
		}
	}

	// One connection: what a single client waits, without queueing.
	one := c
	one.conns, one.threads = 1, 1
	var serial []target
	for _, t := range targets {
		switch t.name {
		case "bare ReverseProxy", nginxPlain, nginxForward, "gateway":
			serial = append(serial, t)
		}
	}
	fmt.Printf("\nload: wrk -t1 -c1 -d%s, %d interleaved rounds\n\n", c.duration, c.rounds)
	results1, err := rounds(wrk, serial, one)
	if err != nil {
		return err
	}
	printTable(serial, results1)
	printForwardCost(results1, 1)
	if c.coldStarts > 0 {
		coldStart(tmp, upURL, c.coldStarts)
		auditTime(tmp, c.coldStarts)
	}
	if c.soak > 0 {
		soak(tmp, c.soak)
	}
	return nil
}

// rounds runs every target once per round, interleaved, so a slow
// stretch of the machine hits them all alike.
func rounds(wrk string, targets []target, c benchConfig) (map[string][]sample, error) {
	results := map[string][]sample{}
	for r := 0; r < c.rounds; r++ {
		for _, t := range targets {
			s, err := runWrk(wrk, t, c)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.name, err)
			}
			results[t.name] = append(results[t.name], s)
			fmt.Printf("round %d  %-32s %9.0f rps  p50 %-9s p99 %-9s CPU/req %s\n", r+1, t.name, s.rps, s.p50.Round(time.Microsecond), s.p99.Round(time.Microsecond), s.cpu.Round(100*time.Nanosecond))
		}
	}
	return results, nil
}

func check(t target) error {
	req, _ := http.NewRequest("GET", t.url+"/bench", nil)
	for _, h := range t.headers {
		k, v, _ := strings.Cut(h, ": ")
		if k == "Host" {
			req.Host = v // Go's client sends req.Host, never a Host header
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

var (
	reqsRe  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p50Re   = regexp.MustCompile(`\s50%\s+([0-9.]+)(us|ms|s)`)
	p99Re   = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	errRe   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	countRe = regexp.MustCompile(`(\d+) requests in`)
)

func parseDur(m []string) time.Duration {
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	switch m[2] {
	case "us":
		return time.Duration(v * float64(time.Microsecond))
	case "ms":
		return time.Duration(v * float64(time.Millisecond))
	}
	return time.Duration(v * float64(time.Second))
}

func runWrk(wrk string, t target, c benchConfig) (sample, error) {
	args := []string{fmt.Sprintf("-t%d", c.threads), fmt.Sprintf("-c%d", c.conns), fmt.Sprintf("-d%ds", int(c.duration.Seconds())), "--latency", "--timeout", "5s"}
	for _, h := range t.headers {
		args = append(args, "-H", h)
	}
	args = append(args, t.url+"/bench")
	ctx, cancel := context.WithTimeout(context.Background(), c.duration+30*time.Second)
	defer cancel()
	cpu0 := cpuOf(t.pids)
	out, err := exec.CommandContext(ctx, wrk, args...).CombinedOutput()
	cpu := cpuOf(t.pids) - cpu0
	if err != nil {
		return sample{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	s := string(out)
	if m := errRe.FindStringSubmatch(s); m != nil && m[1] != "0" {
		return sample{}, fmt.Errorf("%s non-2xx responses:\n%s", m[1], s)
	}
	m := reqsRe.FindStringSubmatch(s)
	if m == nil {
		return sample{}, fmt.Errorf("cannot parse wrk output:\n%s", s)
	}
	rps, _ := strconv.ParseFloat(m[1], 64)
	smp := sample{rps: rps, p50: parseDur(p50Re.FindStringSubmatch(s)), p99: parseDur(p99Re.FindStringSubmatch(s))}
	if n := countRe.FindStringSubmatch(s); n != nil && len(t.pids) > 0 {
		if reqs, _ := strconv.ParseFloat(n[1], 64); reqs > 0 {
			smp.cpu = time.Duration(float64(cpu) / reqs)
		}
	}
	return smp, nil
}

func median(xs []float64) float64 {
	sort.Float64s(xs)
	n := len(xs)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func summarize(ss []sample) sample {
	var r, a, b, c []float64
	for _, s := range ss {
		r = append(r, s.rps)
		a = append(a, float64(s.p50))
		b = append(b, float64(s.p99))
		c = append(c, float64(s.cpu))
	}
	return sample{rps: median(r), p50: time.Duration(median(a)), p99: time.Duration(median(b)), cpu: time.Duration(median(c))}
}

func printTable(targets []target, results map[string][]sample) {
	sum := map[string]sample{}
	for _, t := range targets {
		sum[t.name] = summarize(results[t.name])
	}
	bare, hasBare := sum["bare ReverseProxy"]
	ng, hasNginx := sum[nginxPlain]
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\trps\tp50\tp99\tCPU/req\trps/bare\tp99/bare\trps/nginx\tp99/nginx\tCPU/nginx\t")
	for _, t := range targets {
		s := sum[t.name]
		ratio := func(ok bool, a, b float64) string {
			if !ok || b == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2fx", a/b)
		}
		cpu := "-"
		if s.cpu > 0 {
			cpu = s.cpu.Round(100 * time.Nanosecond).String()
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", t.name, s.rps, s.p50.Round(time.Microsecond), s.p99.Round(time.Microsecond), cpu,
			ratio(hasBare, s.rps, bare.rps), ratio(hasBare, float64(s.p99), float64(bare.p99)),
			ratio(hasNginx, s.rps, ng.rps), ratio(hasNginx, float64(s.p99), float64(ng.p99)),
			ratio(hasNginx && s.cpu > 0, float64(s.cpu), float64(ng.cpu)))
	}
	_ = tw.Flush()
	fmt.Println("(medians over rounds; targets: floor >= 0.95x bare, milestone >= 1.5x bare with p99 <= 0.8x, goal >= 1.0x nginx with p99 <= nginx)")
}

// upstream is a minimal agent stand-in: a tiny body, keep-alive.
func startUpstream() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	body := []byte("ok\n")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "3")
		_, _ = w.Write(body)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

type proc struct {
	addr string
	cmd  *exec.Cmd
}

func (p *proc) pid() int {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *proc) stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func startChild(tmp, kind, upstream string, extra ...string) (*proc, error) {
	ready := filepath.Join(tmp, kind+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".addr")
	args := append([]string{"child", kind, "-upstream", upstream, "-ready", ready}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(ready); err == nil && len(b) > 0 {
			p.addr = string(b)
			return p, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.stop()
	return nil, fmt.Errorf("%s child did not start", kind)
}

// plainNginx is nginx as a keepalive reverse proxy to the upstream, the
// configuration operators use for speed.
func plainNginx(upstream string) func(listen string) string {
	return func(listen string) string {
		return fmt.Sprintf(`
    upstream agent { server %s; keepalive 128; }
    server {
        listen %s;
        location / {
            proxy_pass http://agent;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }
`, upstream, listen)
	}
}

// startNginx runs nginx named name (its directory under tmp) with the
// http-level configuration servers returns for its listen address.
func startNginx(tmp, name string, servers func(listen string) string) (*proc, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return nil, errors.New("nginx not found (apt-get install -y nginx)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	dir := filepath.Join(tmp, name)
	_ = os.MkdirAll(dir, 0o700)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
worker_processes auto;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log error;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[2]s/cb; proxy_temp_path %[2]s/p; fastcgi_temp_path %[2]s/f; uwsgi_temp_path %[2]s/u; scgi_temp_path %[2]s/s;
%[3]s
}
`, user, dir, servers(addr))
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, addr: addr}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return p, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.stop()
	return nil, errors.New("nginx did not start")
}
