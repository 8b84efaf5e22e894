package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"

	"gateway/audit"
	"gateway/config"
	"gateway/state"
)

const auditUsage = `usage: gateway security audit [flags]

Checks the configuration and the state directory (and, with --deep, the
running gateway) for the mistakes that expose an agent. Exit status: 0 with
no critical finding, 1 with any, 2 when the audit itself could not run.

Flags:
`

func securityCmd(args []string, e *env) int {
	if len(args) == 0 || args[0] != "audit" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprint(e.stdout, "usage: gateway security audit [--deep] [--fix] [--json] ...\n")
			return exitOK
		}
		fmt.Fprint(e.stderr, "usage: gateway security audit [--deep] [--fix] [--json] ...\n")
		return exitUsage
	}
	return auditCmd(args[1:], e)
}

func auditCmd(args []string, e *env) int {
	fs := flag.NewFlagSet("gateway security audit", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var c commonFlags
	c.register(fs)
	deep := fs.Bool("deep", false, "probe the live gateway as an attacker would")
	fix := fs.Bool("fix", false, "apply the safe remediations, then audit again")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	target := fs.String("url", "", "gateway URL for --deep (default: from the config, on loopback)")
	token := fs.String("token", "", "credential for --deep probes (default: the configured or stored token)")
	password := fs.String("password", "", "log in with this password for --deep probes (password mode)")
	via := fs.String("via", "", "public proxy URL to send a canary through (--deep)")
	timeout := fs.Duration("timeout", 5*time.Second, "total time budget for --deep probes")
	fs.Usage = func() { fmt.Fprint(e.stderr, auditUsage); fs.PrintDefaults() }
	if rc, ok := parseFlags(fs, args); !ok {
		return rc
	}
	if *token != "" && *password != "" {
		fmt.Fprintln(e.stderr, "gateway security audit: --token and --password are exclusive")
		return exitUsage
	}
	dir, err := state.ResolveDir(c.stateDir, e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, "audit could not run:", err)
		return exitUsage
	}
	path, explicit := config.ResolvePath(c.configPath, e.getenv, dir)
	opts := config.Options{Path: path, Explicit: explicit, Env: e.environ}
	now := time.Now()
	oc := c.openClaw(e)
	snap := audit.Take(opts, dir).AddOpenClaw(oc)
	var fixRes *audit.FixResult
	if *fix {
		r := audit.Fix(snap)
		fixRes = &r
		snap = audit.Take(opts, dir).AddOpenClaw(oc) // audit again: report what remains
	}
	report := audit.Run(snap, now)
	if *deep && snap.Config != nil {
		do := snap.DeepOptions(*target)
		do.Timeout, do.Via = *timeout, *via
		switch {
		case *token != "":
			do.Token = *token
		case *password != "":
			do.Token = loginForProbe(do.URL, *password)
		case do.Token == "":
			if t, ok := config.StoredToken(dir); ok {
				do.Token = t
			}
		}
		d, findings := audit.Deep(context.Background(), do)
		report.Deep = d
		report.Findings = append(report.Findings, findings...)
		report.Finalize(snap.Config.Audit.Suppress)
	}

	if *asJSON {
		var out any = report
		if fixRes != nil {
			out = map[string]any{"fix": fixRes, "report": report}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	} else {
		if fixRes != nil {
			writeFixText(e, fixRes)
		}
		audit.WriteText(e.stdout, report, isTerminal(e.stdout), *deep, *fix)
	}
	switch {
	case snap.Config == nil:
		if !*asJSON {
			fmt.Fprintln(e.stderr, "audit could not load the configuration:", snap.ConfigErr)
		}
		return exitUsage
	case report.HasCritical():
		return exitFailure
	}
	return exitOK
}

// deepOptions derives the probe target and expectations from the config.

// loginForProbe exchanges the password for a session the probes can use.
// The password goes in the request body, never in a URL.
func loginForProbe(base, password string) string {
	body, _ := json.Marshal(map[string]string{"password": password})
	req, err := http.NewRequest("POST", strings.TrimSuffix(base, "/")+"/auth/login", strings.NewReader(string(body)))
	if err != nil {
		return ""
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out.Token
}

func writeFixText(e *env, r *audit.FixResult) {
	fmt.Fprintln(e.stdout, "FIX")
	if len(r.Changes) == 0 && len(r.Actions) == 0 {
		fmt.Fprintln(e.stdout, "  nothing to change")
	}
	for _, c := range r.Changes {
		fmt.Fprintln(e.stdout, "  config: "+c)
	}
	for _, a := range r.Actions {
		line := fmt.Sprintf("  %-8s %s %s", a.Status, a.Action, a.Path)
		if a.Reason != "" {
			line += " (" + a.Reason + ")"
		}
		fmt.Fprintln(e.stdout, line)
	}
	for _, er := range r.Errors {
		fmt.Fprintln(e.stdout, "  error: "+er)
	}
	fmt.Fprintln(e.stdout)
}
