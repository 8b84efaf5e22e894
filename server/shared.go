package server

import (
	"log/slog"

	"gateway/auth"
	"gateway/config"
	"gateway/metrics"
	"gateway/policy"
)

// Shared is what outlives a config reload: the authentication stores
// (lockout counters, challenges, sessions, devices, signing keys), the
// pairing store, decision counters and metrics. A SIGHUP builds a new
// handler over the same Shared, so it cannot unlock anyone or reset a
// counter, and building it changes nothing here.
type Shared struct {
	Dir      string
	Auth     *auth.Stores
	Pairing  *policy.Store
	Counters *policy.Counters
	Metrics  *metrics.Metrics
}

// OpenShared opens the stores in stateDir and registers the metrics.
func OpenShared(stateDir string) (*Shared, error) {
	st, err := auth.OpenStores(stateDir, nil)
	if err != nil {
		return nil, err
	}
	store, err := policy.NewStore(stateDir, nil)
	if err != nil {
		return nil, err
	}
	counters := &policy.Counters{}
	m := metrics.New(metrics.Sources{Decisions: counters.Each, Lockouts: func() float64 {
		_, _, n := st.Limiter.Stats()
		return float64(n)
	}})
	return &Shared{Dir: stateDir, Auth: st, Pairing: store, Counters: counters, Metrics: m}, nil
}

// Options returns handler options for cfg over this shared state.
func (s *Shared) Options(cfg *config.Config, token string, log *slog.Logger) Options {
	return Options{Config: cfg, Token: token, Shared: s, Logger: log}
}
