package audit

import (
	"fmt"
	"io"
	"strings"
)

// WriteText renders a report for people: a summary line, findings grouped
// by severity with their fix, then errors and a closing hint.
func WriteText(w io.Writer, r *Report, color bool, deepRan, fixRan bool) {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	fmt.Fprintf(w, "%s · %s · %s\n", paint("1;31", fmt.Sprintf("%d critical", r.Summary.Critical)),
		paint("1;33", fmt.Sprintf("%d warn", r.Summary.Warn)), paint("1;34", fmt.Sprintf("%d info", r.Summary.Info)))
	groups := []struct {
		sev   Severity
		label string
		code  string
	}{{Critical, "CRITICAL", "1;31"}, {Warn, "WARN", "1;33"}, {Info, "INFO", "1;34"}}
	for _, g := range groups {
		var fs []Finding
		for _, f := range r.Findings {
			if f.Severity == g.sev && !f.Suppressed {
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", paint(g.code, g.label))
		for _, f := range fs {
			fmt.Fprintf(w, "  %s  %s\n", paint("1", f.CheckID), f.Title)
			fmt.Fprintf(w, "    %s\n", f.Detail)
			fmt.Fprintf(w, "    Fix: %s\n", f.Remediation)
		}
	}
	var sup []string
	for _, f := range r.Findings {
		if f.Suppressed {
			sup = append(sup, f.CheckID)
		}
	}
	if len(sup) > 0 {
		fmt.Fprintf(w, "\nSUPPRESSED (audit.suppress): %s\n", strings.Join(sup, ", "))
	}
	if r.Deep != nil {
		fmt.Fprintf(w, "\nLIVE PROBES (%s)\n", r.Deep.Target)
		for _, p := range r.Deep.Probes {
			fmt.Fprintf(w, "  %-7s %s  %s\n", p.Status, p.ID, p.Detail)
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "\nERRORS (not everything could be checked)\n")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	var hints []string
	if !deepRan {
		hints = append(hints, "run with --deep to probe the live gateway as an attacker would")
	}
	if !fixRan {
		hints = append(hints, "--fix applies the safe fixes (modes, groupPolicy, redaction)")
	}
	if len(hints) > 0 {
		fmt.Fprintf(w, "\nHint: %s.\n", strings.Join(hints, "; "))
	}
}
