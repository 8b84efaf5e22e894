package server

import (
	"net/http"
	"sync/atomic"
	"time"

	"gateway/audit"
	"gateway/config"
	"gateway/httperr"
	"gateway/jsonhttp"
)

// deepRunning allows one deep audit at a time across handler reloads: a
// deep run sends a dozen requests to the gateway itself.
var deepRunning atomic.Bool

type auditRoutes struct {
	cfg      *config.Config
	stateDir string
	selfURL  string
	token    string
	openClaw audit.OpenClawInput
}

// audit serves GET /admin/audit[?deep=1]: the same engine and JSON as the
// CLI, against the running instance's configuration and state dir.
func (h auditRoutes) audit(w http.ResponseWriter, r *http.Request) {
	snap := audit.FromConfig(h.cfg, h.stateDir).AddOpenClaw(h.openClaw)
	report := audit.Run(snap, time.Now())
	if d := r.URL.Query().Get("deep"); d == "1" || d == "true" {
		if h.selfURL == "" {
			httperr.Write(w, r, httperr.New(http.StatusServiceUnavailable, "deep_unavailable", "the listener address is not known yet", nil))
			return
		}
		if !deepRunning.CompareAndSwap(false, true) {
			httperr.Write(w, r, httperr.New(http.StatusTooManyRequests, "busy", "a deep audit is already running", nil))
			return
		}
		defer deepRunning.Store(false)
		do := snap.DeepOptions(h.selfURL)
		do.Token, do.Timeout = h.token, 5*time.Second
		d, findings := audit.Deep(r.Context(), do)
		report.Deep = d
		report.Findings = append(report.Findings, findings...)
		report.Finalize(h.cfg.Audit.Suppress)
	}
	jsonhttp.Write(w, http.StatusOK, report)
}
