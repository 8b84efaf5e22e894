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
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"gateway/config"
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
	redisURL := fs.String("redis", "", "keep the gateway's state in this Redis (default: files)")
	forward := fs.Bool("forward", false, "protect app.bench.test with forward auth (agent.bench.test is the agent)")
	_ = fs.Parse(args[1:])
	reportMemOnSignal()
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
		h = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() }, Transport: proxy.NewTransport(0),
			ErrorLog: log.New(io.Discard, "", 0)} // wrk cutting connections at the end is not news
	case "barelean":
		// Diagnostic: ReverseProxy with the gateway's transport and
		// buffer pool but none of its middleware, to see what the chain
		// itself costs.
		h = proxy.New(proxy.Options{Upstream: proxy.NewUpstream(u)})
	case "wsupstream":
		// Accepts WebSockets and keeps them idle (the soak's agent).
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
			if err != nil {
				return
			}
			_, _, _ = c.Read(context.Background())
			c.CloseNow()
		})
	case "gateway":
		server.TuneGC() // as `gateway run` does
		h, err = gatewayHandler(*upstream, *redisURL, *forward)
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
// access log to /dev/null (formatted and written, as in production), its
// state in files or, with redisURL, in Redis. 127.0.0.1 is a trusted
// proxy, so a load with X-Forwarded-For plays remote clients behind one.
func gatewayHandler(upstream, redisURL string, forward bool) (http.Handler, error) {
	dir, err := os.MkdirTemp("", "gatewaybench-state-")
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.Gateway.Upstream = upstream
	cfg.Gateway.Auth.Token = benchToken
	cfg.Gateway.TrustedProxies = []string{"127.0.0.1"}
	if redisURL != "" {
		cfg.Gateway.Store.Backend, cfg.Gateway.Store.URL = "redis", redisURL
	}
	if forward {
		cfg.Gateway.AllowedHosts = []string{"agent.bench.test"}
		cfg.Gateway.PublicURL = "http://agent.bench.test"
		cfg.Gateway.ForwardAuth = config.ForwardAuth{Hosts: []string{"app.bench.test"}, CookieDomain: "bench.test"}
		cfg.Gateway.Access = []config.AccessRule{{Hosts: []string{"app.bench.test"}, Action: "allow"}}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewJSONHandler(server.NewLogWriter(devnull, 100*time.Millisecond), nil))
	st, err := server.OpenSharedStore(server.StoreOptions(cfg, dir), nil)
	if err != nil {
		return nil, err
	}
	return server.NewHandler(st.Options(cfg, benchToken, log))
}

// raiseNoFile lifts the open-file limit for the soak: as root up to
// 1<<20 (10,000 tunnelled WebSockets hold 20,000 sockets plus splice
// pipes), otherwise to the hard limit.
func raiseNoFile() {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) != nil {
		return
	}
	want := syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}
	if r.Max > want.Max || syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) != nil {
		r.Cur = r.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
}

// reportMemOnSignal prints the Go runtime's view of memory on SIGUSR1, so
// the soak can say where the RSS goes.
func reportMemOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		for range ch {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Fprintf(os.Stderr, "  child runtime: goroutines %d, heap in use %.1f MiB, stacks %.1f MiB, runtime total (Sys) %.1f MiB\n",
				runtime.NumGoroutine(), float64(m.HeapInuse)/(1<<20), float64(m.StackInuse)/(1<<20), float64(m.Sys)/(1<<20))
		}
	}()
}
