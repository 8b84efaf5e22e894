// Command gatewaybench measures the gateway against baselines in the same
// run: the upstream direct, a bare httputil.ReverseProxy and nginx
// proxy_pass, driven by wrk, interleaved in rounds, reported as ratios
// (absolute numbers on shared machines are noise). It also holds N idle
// authenticated WebSockets through the gateway and reports its RSS.
// Everything listens and connects on loopback only, and every run is
// bounded in time.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		os.Exit(child(os.Args[2:]))
	}
	fs := flag.NewFlagSet("gatewaybench", flag.ExitOnError)
	dur := fs.Duration("duration", 10*time.Second, "load duration per target per round")
	rounds := fs.Int("rounds", 2, "interleaved rounds")
	conns := fs.Int("conns", 64, "concurrent connections (wrk -c)")
	threads := fs.Int("threads", 2, "wrk threads")
	soak := fs.Int("soak", 10000, "idle authenticated WebSockets to hold through the gateway (0: skip)")
	coldStart := fs.Int("coldstart", 5, "cold starts to time (0: skip)")
	_ = fs.Parse(os.Args[1:])
	if err := run(benchConfig{duration: *dur, rounds: *rounds, conns: *conns, threads: *threads, soak: *soak, coldStarts: *coldStart}); err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}
