// Package audit checks the gateway's own configuration, state directory and
// live behaviour, the way an attacker would look at them, and applies the
// safe remediations. It inspects; it never serves, and it never prints a
// secret: details name keys and paths, not values.
package audit

import (
	"slices"
	"strings"
	"time"
)

// Severity of a finding.
type Severity string

// Severities, most severe first.
const (
	Critical Severity = "critical"
	Warn     Severity = "warn"
	Info     Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case Critical:
		return 0
	case Warn:
		return 1
	}
	return 2
}

// Finding is one result.
type Finding struct {
	CheckID     string   `json:"checkId"`
	Severity    Severity `json:"severity"`
	Title       string   `json:"title"`
	Detail      string   `json:"detail"`
	Remediation string   `json:"remediation"`
	Suppressed  bool     `json:"suppressed,omitempty"`
}

// Summary counts unsuppressed findings by severity.
type Summary struct {
	Critical int `json:"critical"`
	Warn     int `json:"warn"`
	Info     int `json:"info"`
}

// Report is the audit result, OpenClaw-compatible.
type Report struct {
	TS       time.Time   `json:"ts"`
	Summary  Summary     `json:"summary"`
	Findings []Finding   `json:"findings"`
	Deep     *DeepReport `json:"deep,omitempty"`
	// Errors lists what the audit could not inspect (an unparsable
	// config, an unreadable directory).
	Errors []string `json:"errors,omitempty"`
}

// HasCritical reports whether any unsuppressed critical finding exists.
func (r *Report) HasCritical() bool { return r.Summary.Critical > 0 }

// finalize applies suppressions, sorts and counts.
func (r *Report) finalize(suppress []string) {
	var suppressed []string
	for i := range r.Findings {
		if slices.Contains(suppress, r.Findings[i].CheckID) {
			r.Findings[i].Suppressed = true
			suppressed = append(suppressed, r.Findings[i].CheckID)
		}
	}
	if len(suppressed) > 0 {
		// An accepted risk stays visible.
		r.Findings = append(r.Findings, Finding{
			CheckID: "audit.suppressions_active", Severity: Info,
			Title:       "Some findings are suppressed",
			Detail:      "audit.suppress hides these from the summary and exit status: " + strings.Join(suppressed, ", "),
			Remediation: "Review the suppressed risks periodically; remove entries from audit.suppress once fixed.",
		})
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		if d := a.Severity.rank() - b.Severity.rank(); d != 0 {
			return d
		}
		return strings.Compare(a.CheckID, b.CheckID)
	})
	r.Summary = Summary{}
	for _, f := range r.Findings {
		if f.Suppressed {
			continue
		}
		switch f.Severity {
		case Critical:
			r.Summary.Critical++
		case Warn:
			r.Summary.Warn++
		default:
			r.Summary.Info++
		}
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
}
