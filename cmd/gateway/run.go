package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"gateway/audit"
	"gateway/buildinfo"
	"gateway/config"
	"gateway/openclaw"
	"gateway/server"
	"gateway/state"
)

func envMap(environ []string) map[string]string { return config.EnvMap(environ) }

// commonFlags are the flags every command that reads configuration takes.
type commonFlags struct {
	configPath, stateDir, openClawConfig string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.configPath, "config", "", "config file (.json, .json5, .yaml, .yml); default $GATEWAY_CONFIG_PATH or <state-dir>/gateway.json (or gateway.yaml)")
	fs.StringVar(&c.stateDir, "state-dir", "", "state directory; default $GATEWAY_STATE_DIR or ~/.gateway")
	fs.StringVar(&c.openClawConfig, "openclaw-config", "", "OpenClaw's configuration, read only, for the openclaw.* checks; default ~/.openclaw/openclaw.json")
}

// openClaw says where OpenClaw's configuration is for the openclaw.*
// checks (never written), and whether its token variable is set.
func (c *commonFlags) openClaw(e *env) audit.OpenClawInput {
	in := audit.OpenClawInput{Path: c.openClawConfig, Explicit: c.openClawConfig != "", EnvToken: e.getenv("OPENCLAW_GATEWAY_TOKEN") != ""}
	if in.Path == "" {
		if home := e.getenv("HOME"); home != "" {
			in.Path = openclaw.DefaultConfigPath(home)
		}
	}
	return in
}

// loaded is a configuration ready to serve.
type loaded struct {
	cfg         *config.Config
	stateDir    string
	token       string
	tokenSource string
	generated   bool
	// legacyNotice names files an earlier version left in ~/.openclaw.
	legacyNotice string
}

// load resolves the state dir and config, and the token in token mode.
func load(c commonFlags, flags config.Overrides, e *env, createState bool) (*loaded, error) {
	dir, err := state.ResolveDir(c.stateDir, e.getenv)
	if err != nil {
		return nil, err
	}
	notice := ""
	if createState {
		notice = state.LegacyNotice(c.stateDir, e.getenv)
		if err := state.EnsureDir(dir); err != nil {
			return nil, err
		}
	}
	path, explicit := config.ResolvePath(c.configPath, e.getenv, dir)
	cfg, err := config.Load(config.Options{Path: path, Explicit: explicit, Env: e.environ, Flags: flags})
	if err != nil {
		return nil, err
	}
	l := &loaded{cfg: cfg, stateDir: dir, legacyNotice: notice}
	if l.token, l.tokenSource, l.generated, err = config.ResolveToken(cfg, dir, createState); err != nil {
		return nil, err
	}
	if cfg.Gateway.Store.Backend == config.BackendRedis && cfg.Gateway.Auth.Mode == config.ModeToken && (l.tokenSource == "generated" || l.tokenSource == "state") {
		// Each replica would make up its own token, and a client would be
		// refused by every replica but one.
		return nil, errors.New("gateway.store.backend redis in token mode needs the token configured for every replica alike: set gateway.auth.token (${VAR}) or GATEWAY_TOKEN")
	}
	return l, nil
}

func runCmd(args []string, e *env) int {
	fs := flag.NewFlagSet("gateway run", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var c commonFlags
	c.register(fs)
	var o config.Overrides
	fs.IntVar(&o.Port, "port", 0, "listen port (beats GATEWAY_PORT and the file)")
	fs.StringVar(&o.Bind, "bind", "", "loopback | lan | custom (beats GATEWAY_BIND and the file)")
	fs.StringVar(&o.Upstream, "upstream", "", "agent base URL, e.g. http://127.0.0.1:18789")
	fs.StringVar(&o.AdminListen, "admin-listen", "", "the console's listener: ip:port, unix:/path or off (beats gateway.admin.listen; default loopback at port+1)")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, "usage: gateway [run] [flags]\n\nStarts the gateway. With no configuration it listens on 127.0.0.1:18780\nin token mode, generating a token on first start.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if rc, ok := parseFlags(fs, args); !ok {
		return rc
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "gateway run: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	// Log lines are batched (flushed every 100 ms and at exit) so the
	// access log costs no syscall per request.
	lw := server.NewLogWriter(e.stderr, 100*time.Millisecond)
	defer func() { _ = lw.Close() }()
	log := slog.New(slog.NewJSONHandler(lw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, c, o, e, log, nil); err != nil {
		log.Error("gateway stopped", slog.String("err", err.Error()))
		if errors.Is(err, config.ErrInvalid) {
			// The log line above is one JSON string; say it again as
			// the operator would read it, line and caret included.
			_ = lw.Flush()
			fmt.Fprintf(e.stderr, "gateway: %v\n", err)
		}
		return exitFailure
	}
	return exitOK
}

// listening says where a started gateway accepts connections.
type listening struct {
	// Main is the main listener's address; Admin the admin listener's
	// (host:port, or the socket's path; "" when off).
	Main, Admin string
}

// serve loads the configuration and serves until ctx is done. ready, if not
// nil, receives the listen addresses once the gateway accepts connections.
func serve(ctx context.Context, c commonFlags, o config.Overrides, e *env, log *slog.Logger, ready chan<- listening) error {
	server.TuneGC()
	bi := buildinfo.Get()
	log.Info("gateway starting", slog.String("version", bi.Version), slog.String("commit", bi.Commit), slog.String("go", bi.GoVersion))
	l, err := load(c, o, e, true)
	if err != nil {
		return startupError(err)
	}
	logLoaded(log, l)
	if l.legacyNotice != "" {
		log.Warn("state from an earlier version found in ~/.openclaw", slog.String("detail", l.legacyNotice))
	}
	shared, err := server.OpenSharedStore(server.StoreOptions(l.cfg, l.stateDir), log)
	if err != nil {
		return err
	}
	defer func() { _ = shared.Close() }()
	log.Info("state store", slog.String("backend", shared.Store.Backend))
	if err := startupAudit(log, l, c.openClaw(e)); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", l.cfg.Typed.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", l.cfg.Typed.ListenAddr, err)
	}
	addr := ln.Addr().String()
	aln, err := listenAdmin(l.cfg)
	if err != nil {
		_ = ln.Close()
		return err
	}
	rt := runtime{shared: shared, selfURL: selfURL(addr), log: log, openClaw: c.openClaw(e), adminURL: adminURL(l.cfg, aln), agentURL: selfURL(addr)}
	h, err := server.NewHandlers(rt.options(l))
	if err != nil {
		_ = ln.Close()
		if aln != nil {
			_ = aln.Close()
		}
		return err
	}
	log.Info("listening", slog.String("addr", addr), slog.Bool("exposed", l.cfg.Typed.Exposed),
		slog.String("upstream", upstreamString(l.cfg)))
	log.Info("console", slog.String("url", rt.adminURL))
	if l.generated {
		printToken(e, l, addr)
	}
	swap := server.NewSwappable(h.Main)
	srv := server.NewHTTPServer(swap, log)
	adminSwap := server.NewSwappable(h.Admin)
	if aln != nil {
		asrv := server.NewHTTPServer(adminSwap, log)
		asrv.ConnContext = server.AdminConnContext
		go func() {
			if err := server.Serve(ctx, asrv, aln, 30*time.Second); err != nil {
				log.Error("admin listener stopped", slog.String("err", err.Error()))
			}
		}()
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(c, o, e, l.cfg, swap, adminSwap, rt)
			}
		}
	}()
	if ready != nil {
		at := listening{Main: addr}
		if aln != nil {
			at.Admin = aln.Addr().String()
		}
		ready <- at
	}
	err = server.Serve(ctx, srv, ln, 30*time.Second)
	if err == nil {
		log.Info("shut down cleanly")
	}
	return err
}

// reload re-reads the configuration on SIGHUP. A configuration that does
// not load is logged and the running one stays in force; listener changes
// need a restart.
func reload(c commonFlags, o config.Overrides, e *env, running *config.Config, swap, adminSwap *server.Swappable, rt runtime) {
	log, m := rt.log, rt.shared.Metrics
	l, err := load(c, o, e, true)
	if err != nil {
		m.Reload("rejected")
		log.Error("config reload rejected; keeping the running configuration", slog.String("err", err.Error()))
		return
	}
	if err := startupAudit(log, l, rt.openClaw); err != nil {
		m.Reload("rejected")
		log.Error("config reload rejected; keeping the running configuration", slog.String("err", err.Error()))
		return
	}
	if l.cfg.Gateway.Store != running.Gateway.Store {
		// Moving state to another backend under running sessions and
		// lockouts is a restart, not a reload.
		m.Reload("rejected")
		log.Error("config reload rejected; keeping the running configuration",
			slog.String("err", "gateway.store changed; the state store changes only on restart"))
		return
	}
	h, err := server.NewHandlers(rt.options(l))
	if err != nil {
		m.Reload("rejected")
		log.Error("config reload rejected; keeping the running configuration", slog.String("err", err.Error()))
		return
	}
	if l.cfg.Typed.ListenAddr != running.Typed.ListenAddr || l.cfg.Typed.AdminAddr != running.Typed.AdminAddr {
		log.Warn("listen address changes need a restart; still listening on the old addresses",
			slog.String("old", running.Typed.ListenAddr), slog.String("new", l.cfg.Typed.ListenAddr),
			slog.String("oldAdmin", running.Typed.AdminAddr), slog.String("newAdmin", l.cfg.Typed.AdminAddr))
	}
	swap.Store(h.Main)
	adminSwap.Store(h.Admin)
	m.Reload("ok")
	logLoaded(log, l)
	log.Info("config reloaded")
}

// runtime is what a running gateway keeps across reloads.
type runtime struct {
	shared   *server.Shared
	selfURL  string
	log      *slog.Logger
	openClaw audit.OpenClawInput
	// adminURL names the console's address; agentURL the main
	// listener's (for invitations when gateway.publicUrl is unset).
	adminURL, agentURL string
}

func (rt runtime) options(l *loaded) server.Options {
	o := rt.shared.Options(l.cfg, l.token, rt.log)
	o.SelfURL, o.OpenClaw, o.AdminURL, o.AgentURL = rt.selfURL, rt.openClaw, rt.adminURL, rt.agentURL
	return o
}

// listenAdmin opens the admin listener gateway.admin.listen names: TCP, or
// a Unix socket (mode 0660, an old socket file replaced) whose peers are
// checked against gateway.localUids. nil when it is off.
func listenAdmin(cfg *config.Config) (net.Listener, error) {
	switch cfg.Typed.AdminNetwork {
	case "tcp":
		ln, err := net.Listen("tcp", cfg.Typed.AdminAddr)
		if err != nil {
			return nil, fmt.Errorf("admin listener %s: %w (set gateway.admin.listen, or --admin-listen, to another address or off)", cfg.Typed.AdminAddr, err)
		}
		return ln, nil
	case "unix":
		return server.ListenAdminUnix(cfg.Typed.AdminAddr, cfg.Typed.LocalUIDs)
	}
	return nil, nil
}

// adminURL names where the console answers, for the startup log and the
// agent origin's admin_elsewhere refusals.
func adminURL(cfg *config.Config, aln net.Listener) string {
	switch {
	case cfg.Typed.AdminHost != "":
		return "https://" + cfg.Typed.AdminHost + "/admin/"
	case aln == nil:
		return "(off: gateway.admin.listen is off and gateway.admin.host unset; use the CLI)"
	case cfg.Typed.AdminNetwork == "unix":
		return "unix:" + cfg.Typed.AdminAddr + " (ssh -L 9000:" + cfg.Typed.AdminAddr + " host, then http://127.0.0.1:9000/admin/)"
	}
	return selfURL(aln.Addr().String()) + "/admin/"
}

// selfURL is how the gateway reaches its own listener (for deep audits).
func selfURL(addr string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if a, err := netip.ParseAddr(h); err != nil || a.IsUnspecified() {
		h = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(h, p)
}

// startupAudit runs the static audit on the configuration about to serve
// and logs every critical and warn finding with its fix, the way sshd
// complains about loose key modes. gateway.refuseInsecure makes a critical
// finding fatal.
func startupAudit(log *slog.Logger, l *loaded, oc audit.OpenClawInput) error {
	r := audit.Run(audit.FromConfig(l.cfg, l.stateDir).AddOpenClaw(oc), time.Now())
	for _, f := range r.Findings {
		if f.Suppressed || f.Severity == audit.Info {
			continue
		}
		lvl := slog.LevelWarn
		if f.Severity == audit.Critical {
			lvl = slog.LevelError
		}
		log.Log(context.Background(), lvl, "security audit: "+f.Title, slog.String("checkId", f.CheckID),
			slog.String("severity", string(f.Severity)), slog.String("detail", f.Detail), slog.String("fix", f.Remediation))
	}
	if r.HasCritical() && l.cfg.Gateway.RefuseInsecure {
		return fmt.Errorf("security audit found %d critical finding(s) and gateway.refuseInsecure is true; see the log or run `gateway security audit`", r.Summary.Critical)
	}
	return nil
}

func logLoaded(log *slog.Logger, l *loaded) {
	src := l.cfg.Source.Path
	if src == "" {
		src = "embedded defaults"
	}
	attrs := []any{slog.String("mode", l.cfg.Gateway.Auth.Mode), slog.String("config", src), slog.String("stateDir", l.stateDir)}
	switch l.cfg.Gateway.Auth.Mode {
	case config.ModeToken:
		attrs = append(attrs, slog.String("tokenSource", l.tokenSource))
	case config.ModePassword:
		attrs = append(attrs, slog.String("passwordSource", l.cfg.Source.PasswordSource))
	}
	log.Info("auth mode", attrs...)
}

func upstreamString(cfg *config.Config) string {
	if cfg.Typed.Upstream == nil {
		return "(none: built-in status page)"
	}
	return cfg.Typed.Upstream.String()
}

// printToken shows a freshly generated token exactly once, on stdout (not
// in the JSON log, which may be shipped elsewhere), and only when stdout is
// a terminal: under systemd stdout is the journal, and a container's or a
// redirected file's output is kept and shipped too. Otherwise it says
// where the token is and how to show it.
func printToken(e *env, l *loaded, addr string) {
	host := addr
	if h, p, err := net.SplitHostPort(addr); err == nil && (h == "" || h == "0.0.0.0" || h == "::") {
		host = net.JoinHostPort("127.0.0.1", p)
	}
	if !isTerminal(e.stdout) {
		fmt.Fprintf(e.stdout, `
A gateway token was generated and saved to %s/%s (mode 0600).
It is not printed here: this output is not a terminal, and a journal or a log
file would keep it. Show it on the gateway's host with:

    cat %s/%s

`, l.stateDir, config.TokenFile, l.stateDir, config.TokenFile)
		return
	}
	fmt.Fprintf(e.stdout, `
A gateway token was generated and saved to %s/%s (mode 0600).
It is shown only this once:

    %s

Try it:

    curl -H "Authorization: Bearer %s" http://%s/auth/whoami

`, l.stateDir, config.TokenFile, l.token, l.token, host)
}

func startupError(err error) error { return startupErr{err} }

// startupErr presents a multi-line load error (every problem, or a quoted
// line) as one block, keeping the chain for errors.Is.
type startupErr struct{ err error }

func (e startupErr) Error() string {
	msg := e.err.Error()
	if strings.Contains(msg, "\n") {
		msg = "configuration rejected:\n  " + strings.ReplaceAll(msg, "\n", "\n  ")
	}
	return msg
}

func (e startupErr) Unwrap() error { return e.err }

func validateCmd(args []string, e *env) int {
	fs := flag.NewFlagSet("gateway config validate", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var c commonFlags
	c.register(fs)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, "usage: gateway config validate [--config FILE] [--state-dir DIR]\n\nPrints OK, or every problem with its key path and exits 1.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if rc, ok := parseFlags(fs, args); !ok {
		return rc
	}
	dir, err := state.ResolveDir(c.stateDir, e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFailure
	}
	path, explicit := config.ResolvePath(c.configPath, e.getenv, dir)
	cfg, err := config.Load(config.Options{Path: path, Explicit: explicit, Env: e.environ})
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(e.stdout, line)
		}
		return exitFailure
	}
	if cfg.Source.Path == "" {
		fmt.Fprintf(e.stdout, "OK (no file at %s: embedded defaults)\n", path)
	} else {
		fmt.Fprintf(e.stdout, "OK %s\n", cfg.Source.Path)
	}
	return exitOK
}

func healthcheckCmd(args []string, e *env) int {
	fs := flag.NewFlagSet("gateway healthcheck", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	url := fs.String("url", "", "health URL; default http://127.0.0.1:<port>/healthz from GATEWAY_PORT or 18780")
	if rc, ok := parseFlags(fs, args); !ok {
		return rc
	}
	target := *url
	if target == "" {
		port := e.getenv("GATEWAY_PORT")
		if port == "" {
			port = "18780"
		}
		target = "http://" + net.JoinHostPort("127.0.0.1", port) + "/healthz"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(target)
	if err != nil {
		fmt.Fprintln(e.stderr, "unhealthy:", err)
		return exitFailure
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(e.stderr, "unhealthy: status", resp.StatusCode)
		return exitFailure
	}
	fmt.Fprintln(e.stdout, "healthy")
	return exitOK
}
