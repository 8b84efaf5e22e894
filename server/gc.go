package server

import (
	"os"
	"runtime/debug"
)

// proxyGCPercent is the collector's target for a serving gateway. A proxy's
// heap is small and almost all garbage: each request allocates its record,
// headers and buffers and drops them. At Go's default (100) the collector
// runs every few thousand requests; at 400 a fifth as often, which took
// about a tenth off the CPU each proxied request costs (make bench, CPU per
// request), for a heap that may grow to five times what is live between
// collections (10,000 idle WebSockets: see docs/performance.md).
const proxyGCPercent = 400

// TuneGC sets the collector for serving, unless the operator chose one
// with GOGC (which always wins, as Go users expect).
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(proxyGCPercent)
	}
}
