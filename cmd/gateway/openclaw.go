package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"gateway/config"
	"gateway/openclaw"
	"gateway/state"
)

const openclawUsage = `usage: gateway openclaw check [--openclaw-config PATH] [--public-url URL] [--config F] [--state-dir D] [--json]

Reads OpenClaw's configuration (default ~/.openclaw/openclaw.json; read only,
never written) and says, item by item, whether OpenClaw will accept this
gateway as the identity-aware proxy in front of it (OpenClaw's trusted-proxy
mode), then prints the JSON to merge into OpenClaw's configuration when
something must change. The public URL (gateway.publicUrl, or --public-url)
is the origin browsers open the Control UI under: scheme, host and port.
Exit status: 0 when nothing must change (accepted risks, such as
allowLoopback with OpenClaw on this host, are shown but do not count), 1
when something must, 2 when a configuration cannot be read.
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
	publicURL := fs.String("public-url", "", "the URL people open the agent at (beats gateway.publicUrl), e.g. https://agent.example.com:8443")
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
	cfg, err := config.Load(config.Options{Path: path, Explicit: explicit, Env: e.environ, Flags: config.Overrides{PublicURL: *publicURL}})
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
	snippet := openclaw.Snippet(g, oc)
	required, accepted := 0, 0
	for _, it := range items {
		switch {
		case it.Required():
			required++
		case it.Accepted:
			accepted++
		}
	}
	if *asJSON {
		out := map[string]any{"openclawConfig": oc.Path, "items": items, "required": required, "accepted": accepted}
		if required > 0 {
			out["snippet"], out["mergeNote"], out["commands"] = snippet, mergeNote, openclaw.Commands(g, oc)
		}
		printJSON(e, out)
	} else {
		fmt.Fprintf(e.stdout, "OpenClaw configuration: %s (read only)\n\n", oc.Path)
		for _, it := range items {
			switch {
			case it.Severity == openclaw.OK:
				fmt.Fprintf(e.stdout, "  ok    %s\n", it.Title)
			case it.Accepted:
				fmt.Fprintf(e.stdout, "  risk  %s  [%s]\n        %s\n        Accepted: the recipe needs it with OpenClaw on this host. To drop it: %s\n", it.Title, it.ID, it.Detail, it.Fix)
			default:
				fmt.Fprintf(e.stdout, "  %-5s %s  [%s]\n        %s\n        Fix: %s\n", upper(string(it.Severity)), it.Title, it.ID, it.Detail, it.Fix)
			}
		}
		switch {
		case required == 0 && accepted > 0:
			fmt.Fprintf(e.stdout, "\nOpenClaw will accept this gateway (%d accepted risk(s) shown above).\n", accepted)
		case required == 0:
			fmt.Fprintln(e.stdout, "\nOpenClaw will accept this gateway.")
		default:
			fmt.Fprintf(e.stdout, "\n%d required change(s). The OpenClaw side of the pairing, to merge into %s:\n\n%s\n\n%s\n", required, oc.Path, snippet, mergeNote)
			fmt.Fprintf(e.stdout, "\nOr apply it with OpenClaw's own CLI, as OpenClaw's user (it validates as it writes):\n\n    %s\n\nthen restart OpenClaw.\n",
				strings.Join(openclaw.Commands(g, oc), "\n    "))
		}
	}
	if required > 0 {
		return exitFailure
	}
	return exitOK
}

// mergeNote is what a deep merge of the snippet does not do.
const mergeNote = "Also remove gateway.auth.token from OpenClaw's config (a deep merge keeps it, and OpenClaw refuses to start in trusted-proxy mode with a shared token) and do not set OPENCLAW_GATEWAY_TOKEN for it."

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
