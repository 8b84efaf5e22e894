package audit

import (
	"time"
)

// Run performs the static checks on a snapshot.
func Run(s *Snapshot, now time.Time) *Report {
	r := &Report{TS: now.UTC()}
	for _, c := range checks {
		r.Findings = append(r.Findings, c.run(s)...)
	}
	r.Errors = append(r.Errors, s.Errors...)
	if s.Truncated {
		r.Errors = append(r.Errors, "state dir walk stopped at its bounds (too many entries or too deep); some files were not checked")
	}
	r.finalize(suppressions(s))
	return r
}

func suppressions(s *Snapshot) []string {
	if s.Config == nil {
		return nil
	}
	return s.Config.Audit.Suppress
}

// Finalize re-sorts and recounts after deep findings were added.
func (r *Report) Finalize(suppress []string) {
	// Drop a previous suppression summary; finalize re-adds it.
	kept := r.Findings[:0]
	for _, f := range r.Findings {
		if f.CheckID != "audit.suppressions_active" {
			kept = append(kept, f)
		}
	}
	r.Findings = kept
	r.finalize(suppress)
}
