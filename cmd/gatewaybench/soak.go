package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// rssKiB reads a process's resident set size from /proc.
func rssKiB(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// soak holds n idle authenticated WebSockets through a gateway process and
// reports its RSS. Bounded: 90 s to open them all.
func soak(tmp string, n int) {
	// Each tunnelled WebSocket holds two sockets in the gateway. Without
	// CAP_SYS_RESOURCE the hard open-file limit caps how many fit.
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		if max := (int(lim.Max) - 100) / 2; n > max {
			fmt.Printf("\n(soak limited to %d connections: the open-file hard limit is %d and each WebSocket needs two sockets in the gateway)\n", max, lim.Max)
			n = max
		}
	}
	fmt.Printf("\nWebSocket soak: %d idle authenticated connections through the gateway\n", n)
	up, err := startChild(tmp, "wsupstream", "http://127.0.0.1:1")
	if err != nil {
		fmt.Println("  skipped:", err)
		return
	}
	defer up.stop()
	gw, err := startChild(tmp, "gateway", "http://"+up.addr)
	if err != nil {
		fmt.Println("  skipped:", err)
		return
	}
	defer gw.stop()
	base := rssKiB(gw.cmd.Process.Pid)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	var failed atomic.Int64
	sem := make(chan struct{}, 64)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}
	start := time.Now()
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, _, err := websocket.Dial(ctx, "ws://"+gw.addr+"/ws", &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"bearer." + benchToken}})
			if err != nil {
				failed.Add(1)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	opened := time.Since(start)
	time.Sleep(2 * time.Second) // let the gateway settle (GC, stacks)
	rss := rssKiB(gw.cmd.Process.Pid)
	ok := int64(n) - failed.Load()
	fmt.Printf("  opened %d (failed %d) in %s\n", ok, failed.Load(), opened.Round(time.Millisecond))
	per := 0.0
	if ok > 0 {
		per = float64(rss-base) / float64(ok)
	}
	fmt.Printf("  gateway RSS: %.1f MiB idle before, %.1f MiB with the connections (%.1f KiB per connection; %.0f MiB projected for 10000; target <= 200 MiB)\n",
		float64(base)/1024, float64(rss)/1024, per, (float64(base)+per*10000)/1024)
	_ = gw.cmd.Process.Signal(syscall.SIGUSR1)
	time.Sleep(500 * time.Millisecond)
	for _, c := range conns {
		if c != nil {
			c.CloseNow()
		}
	}
}

// coldStart times `gateway run` (or the in-process child when the binary
// is not given) from exec to the first /readyz 200.
func coldStart(tmp, upstream string, n int) {
	bin := os.Getenv("GATEWAY_BIN")
	fmt.Printf("\ncold start to /readyz OK (%d runs, target <= 100 ms)\n", n)
	var ds []time.Duration
	for i := range n {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		state := fmt.Sprintf("%s/cold-%d", tmp, i)
		var cmd *exec.Cmd
		if bin != "" {
			cmd = exec.Command(bin, "run", "--state-dir", state, "--port", strconv.Itoa(port), "--upstream", upstream)
			cmd.Env = append(os.Environ(), "GATEWAY_TOKEN="+benchToken)
		} else {
			cmd = exec.Command(os.Args[0], "child", "gateway", "-upstream", upstream, "-addr", fmt.Sprintf("127.0.0.1:%d", port))
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			fmt.Println("  skipped:", err)
			return
		}
		url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
		client := &http.Client{Timeout: time.Second}
		var d time.Duration
		for time.Since(start) < 10*time.Second {
			resp, err := client.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					d = time.Since(start)
					break
				}
			}
			time.Sleep(time.Millisecond)
		}
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if d > 0 {
			ds = append(ds, d)
		}
	}
	var fs []float64
	for _, d := range ds {
		fs = append(fs, float64(d))
	}
	what := "in-process child"
	if bin != "" {
		what = "gateway run"
	}
	fmt.Printf("  %s: median %s over %d runs\n", what, time.Duration(median(fs)).Round(100*time.Microsecond), len(ds))
}

// auditTime times `gateway security audit` (no --deep) on a realistic
// state dir: channel credentials, an agent with a thousand session logs,
// devices and identity.
func auditTime(tmp string, n int) {
	bin := os.Getenv("GATEWAY_BIN")
	if bin == "" {
		return
	}
	dir := tmp + "/audit-state"
	mk := func(p string, files int, name string) {
		_ = os.MkdirAll(dir+"/"+p, 0o700)
		for i := range files {
			_ = os.WriteFile(fmt.Sprintf("%s/%s/%s-%d", dir, p, name, i), []byte(`{"k":"v"}`), 0o600)
		}
	}
	mk("credentials/whatsapp", 200, "session")
	mk("credentials", 6, "allowFrom.json")
	mk("agents/main/sessions", 1000, "s.jsonl")
	mk("agents/main/agent", 1, "auth-profiles.json")
	mk("devices", 3, "f.json")
	mk("identity", 1, "k.json")
	_ = os.WriteFile(dir+"/gateway.json", []byte(`{gateway: {trustedProxies: ["127.0.0.1"]}, channels: {whatsapp: {dmPolicy: "pairing"}, telegram: {dmPolicy: "allowlist", allowFrom: ["42"]}}}`), 0o600)
	var ds []float64
	for range n {
		start := time.Now()
		cmd := exec.Command(bin, "security", "audit", "--state-dir", dir, "--json")
		_ = cmd.Run() // exit 0 or 1 both mean it ran
		ds = append(ds, float64(time.Since(start)))
	}
	fmt.Printf("\nsecurity audit (no --deep) on a state dir of ~1,200 files: median %s over %d runs (target <= 200 ms)\n",
		time.Duration(median(ds)).Round(100*time.Microsecond), n)
}
