package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"gateway/auth"
	"gateway/config"
	"gateway/metrics"
	"gateway/policy"
	"gateway/proxy"
	"gateway/server"
)

// benchToken authenticates the load; it only ever exists on loopback.
const benchToken = "bench-token-0123456789abcdef0123456789"

// child serves one target in its own process so the targets do not share
// a heap, a scheduler or a GC with the load tool: "bare" (httputil
// ReverseProxy with a tuned transport) or "gateway" (the real handler
// chain: trust, token auth, access log, metrics, proxy).
func child(args []string) int {
	fs := flag.NewFlagSet("child", flag.ExitOnError)
	upstream := fs.String("upstream", "", "upstream URL")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	ready := fs.String("ready", "", "file to write the listen address to")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run here")
	_ = fs.Parse(args[1:])
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	raiseNoFile()
	u, err := url.Parse(*upstream)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var h http.Handler
	switch args[0] {
	case "bare":
		h = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() }, Transport: proxy.NewTransport(),
			ErrorLog: log.New(io.Discard, "", 0)} // wrk cutting connections at the end is not news
	case "gateway":
		h, err = gatewayHandler(*upstream)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown child", args[0])
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *ready != "" {
		_ = os.WriteFile(*ready, []byte(ln.Addr().String()), 0o600)
	}
	srv := server.NewHTTPServer(h, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_ = server.Serve(ctx, srv, ln, 2*time.Second)
	return 0
}

// gatewayHandler builds the gateway as `gateway run` would, logging its
// access log to /dev/null (formatted and written, as in production).
func gatewayHandler(upstream string) (http.Handler, error) {
	dir, err := os.MkdirTemp("", "gatewaybench-state-")
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.Gateway.Upstream = upstream
	cfg.Gateway.Auth.Token = benchToken
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewJSONHandler(server.NewLogWriter(devnull, 100*time.Millisecond), nil))
	deps, err := auth.NewDeps(dir, cfg, nil)
	if err != nil {
		return nil, err
	}
	store, err := policy.NewStore(dir, nil)
	if err != nil {
		return nil, err
	}
	counters := &policy.Counters{}
	m := metrics.New(metrics.Sources{Policy: counters})
	return server.NewHandler(server.Options{Config: cfg, Token: benchToken, Logger: log, Auth: deps, Pairing: store, PolicyCounters: counters, Metrics: m, StateDir: dir})
}

func raiseNoFile() {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) == nil && r.Cur < r.Max {
		r.Cur = r.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
}
