package main

import (
	"errors"
	"flag"
	"fmt"
	iofs "io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gateway/config"
	"gateway/state"
)

const configInitUsage = `usage: gateway config init [--openclaw] [--public-url URL] [--state-dir DIR] [--config FILE] [--force]

Writes a commented starter configuration (JSON5) with mode 0600, by default
to <state-dir>/gateway.json, and checks it loads. An existing file is never
overwritten without --force.

  --openclaw        in front of OpenClaw on this host, as docs/openclaw.md sets
                    it up: upstream http://127.0.0.1:18789, the TLS proxy on
                    this host trusted
  --public-url URL  the address people open (https://agent.example.com[:port]):
                    its host is served (allowedHosts) and it is gateway.publicUrl
`

func configInitCmd(args []string, e *env) int {
	fs := flag.NewFlagSet("gateway config init", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var c commonFlags
	c.register(fs)
	withOpenClaw := fs.Bool("openclaw", false, "in front of OpenClaw on this host (docs/openclaw.md)")
	publicURL := fs.String("public-url", "", "the URL people open, e.g. https://agent.example.com")
	force := fs.Bool("force", false, "overwrite an existing file")
	fs.Usage = func() { fmt.Fprint(e.stderr, configInitUsage); fs.PrintDefaults() }
	if rc, ok := parseFlags(fs, args); !ok {
		return rc
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "gateway config init: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	host := ""
	if *publicURL != "" {
		u, err := url.Parse(*publicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || (u.Path != "" && u.Path != "/") {
			fmt.Fprintf(e.stderr, "gateway config init: --public-url must be like https://agent.example.com[:port], got %q\n", *publicURL)
			return exitUsage
		}
		host = strings.ToLower(u.Hostname())
		*publicURL = u.Scheme + "://" + strings.ToLower(u.Host)
	}
	dir, err := state.ResolveDir(c.stateDir, e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFailure
	}
	path := c.configPath
	if path == "" {
		path = filepath.Join(dir, "gateway.json")
		if err := state.EnsureDir(dir); err != nil {
			fmt.Fprintln(e.stderr, err)
			return exitFailure
		}
	}
	if _, err := os.Lstat(path); err == nil && !*force {
		fmt.Fprintf(e.stderr, "gateway config init: %s exists; it is not overwritten (--force does)\n", path)
		return exitFailure
	} else if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		fmt.Fprintln(e.stderr, err)
		return exitFailure
	}
	text := starterConfig(*withOpenClaw, *publicURL, host)
	if err := state.WriteFileAtomic(path, []byte(text), state.FileMode); err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFailure
	}
	// What was written must load, as `gateway run` will load it.
	if _, err := config.Load(config.Options{Path: path, Explicit: true, Env: e.environ}); err != nil {
		fmt.Fprintf(e.stderr, "gateway config init: the file written does not load (a bug): %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "wrote %s (mode 0600)\nnext: gateway config validate --config %s, then gateway run\n", path, path)
	if *withOpenClaw {
		fmt.Fprintln(e.stdout, "then: gateway openclaw check (it prints the OpenClaw side of the pairing)")
	}
	return exitOK
}

// starterConfig is the commented starter file.
func starterConfig(withOpenClaw bool, publicURL, host string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("// The gateway's configuration (JSON5: comments and trailing commas are fine).\n")
	w("// Every key is in the README (\"Configuration\"). Check a change with\n")
	w("// `gateway config validate`; a running gateway reloads it on SIGHUP.\n")
	w("{\n  gateway: {\n")
	w("    port: 18780,                 // the gateway's own port (18789 is OpenClaw's)\n")
	w("    bind: \"loopback\",            // loopback | lan | custom; behind a proxy on this host: loopback\n")
	if withOpenClaw {
		w("    upstream: \"http://127.0.0.1:18789\", // OpenClaw on this host\n")
		w("    trustedProxies: [\"127.0.0.1\"],   // the TLS proxy in front, on this host (nginx, Caddy)\n")
	} else {
		w("    // upstream: \"http://127.0.0.1:18789\", // the agent; unset: the built-in status page\n")
		w("    trustedProxies: [],          // the address your reverse proxy connects from, e.g. \"127.0.0.1\"\n")
	}
	if host != "" {
		w("    allowedHosts: [%q],  // the public name browsers use (421 for any other)\n", host)
		w("    publicUrl: %q,\n", publicURL)
	} else {
		w("    allowedHosts: [],            // the public name browsers use, e.g. \"agent.example.com\"\n")
		w("    // publicUrl: \"https://agent.example.com\",\n")
	}
	w("    auth: {\n")
	w("      mode: \"token\",              // token | password | trusted-proxy | none\n")
	w("      // the token is generated into credentials/gateway-token on first start,\n")
	w("      // or set GATEWAY_TOKEN; password mode: password: \"${GATEWAY_PASSWORD}\"\n")
	w("    },\n")
	w("    admin: {\n")
	w("      listen: \"127.0.0.1:18781\",  // the console (never on the agent's address): ssh -L 18781:127.0.0.1:18781\n")
	w("      // listen: \"unix:/run/gateway/admin.sock\", // or a socket only this user may open\n")
	w("    },\n")
	w("  },\n}\n")
	return b.String()
}
