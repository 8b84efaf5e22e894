package main

import (
	"errors"
	"flag"
	"fmt"

	"gateway/config"
	"gateway/openclaw"
	"gateway/state"
)

const openclawUsage = `usage: gateway openclaw check [--openclaw-config PATH] [--config F] [--state-dir D] [--json]

Reads OpenClaw's configuration (default ~/.openclaw/openclaw.json; read only,
never written) and says, item by item, whether OpenClaw will accept this
gateway as the identity-aware proxy in front of it (OpenClaw's trusted-proxy
mode), then prints the JSON to merge into OpenClaw's configuration.
Exit status: 0 when every item passes, 1 otherwise, 2 when a configuration
cannot be read.
`

func openclawCmd(args []string, e *env) int {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprint(e.stdout, openclawUsage)
			return exitOK
		}
		fmt.Fprint(e.stderr, openclawUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("gateway openclaw check", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var c commonFlags
	c.register(fs)
	asJSON := fs.Bool("json", false, "print the items and the snippet as JSON")
	fs.Usage = func() { fmt.Fprint(e.stderr, openclawUsage); fs.PrintDefaults() }
	if rc, ok := parseFlags(fs, args[1:]); !ok {
		return rc
	}
	dir, err := state.ResolveDir(c.stateDir, e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}
	path, explicit := config.ResolvePath(c.configPath, e.getenv, dir)
	cfg, err := config.Load(config.Options{Path: path, Explicit: explicit, Env: e.environ})
	if err != nil {
		fmt.Fprintln(e.stderr, "gateway config:", err)
		return exitUsage
	}
	in := c.openClaw(e)
	oc, err := openclaw.Load(in.Path)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		if errors.Is(err, openclaw.ErrNotFound) {
			fmt.Fprintln(e.stderr, "pass --openclaw-config with the path of OpenClaw's openclaw.json")
		}
		return exitUsage
	}
	g := openclaw.GatewayFrom(cfg, e.getenv)
	items := openclaw.Check(oc, g)
	snippet := openclaw.Snippet(g)
	failed := 0
	for _, it := range items {
		if it.Severity != openclaw.OK {
			failed++
		}
	}
	if *asJSON {
		printJSON(e, map[string]any{"openclawConfig": oc.Path, "items": items, "snippet": snippet, "failed": failed})
	} else {
		fmt.Fprintf(e.stdout, "OpenClaw configuration: %s (read only)\n\n", oc.Path)
		for _, it := range items {
			if it.Severity == openclaw.OK {
				fmt.Fprintf(e.stdout, "  ok    %s\n", it.Title)
				continue
			}
			fmt.Fprintf(e.stdout, "  %-5s %s  [%s]\n        %s\n        Fix: %s\n", upper(string(it.Severity)), it.Title, it.ID, it.Detail, it.Fix)
		}
		if failed == 0 {
			fmt.Fprintln(e.stdout, "\nOpenClaw will accept this gateway.")
		} else {
			fmt.Fprintf(e.stdout, "\n%d item(s) to change. The OpenClaw side of the pairing, to merge into %s:\n\n%s\n", failed, oc.Path, snippet)
		}
	}
	if failed > 0 {
		return exitFailure
	}
	return exitOK
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
