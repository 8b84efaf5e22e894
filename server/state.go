package server

import (
	"log/slog"

	"gateway/auth"
	"gateway/config"
	"gateway/metrics"
	"gateway/policy"
)

// State is what outlives a config reload: lockout counters, challenges,
// sessions, devices and signing keys, the pairing store, decision counters
// and metrics. A SIGHUP builds a new handler over the same State, so it
// cannot unlock anyone or reset a counter.
type State struct {
	Dir      string
	Auth     *auth.Deps
	Pairing  *policy.Store
	Counters *policy.Counters
	Metrics  *metrics.Metrics
}

// NewState opens the stores in stateDir and registers the metrics.
func NewState(stateDir string, cfg *config.Config) (*State, error) {
	deps, err := auth.NewDeps(stateDir, cfg, nil)
	if err != nil {
		return nil, err
	}
	store, err := policy.NewStore(stateDir, nil)
	if err != nil {
		return nil, err
	}
	counters := &policy.Counters{}
	m := metrics.New(metrics.Sources{Policy: counters, Lockouts: func() float64 {
		_, _, n := deps.Limiter.Stats()
		return float64(n)
	}})
	return &State{Dir: stateDir, Auth: deps, Pairing: store, Counters: counters, Metrics: m}, nil
}

// Options returns handler options for cfg over this state.
func (s *State) Options(cfg *config.Config, token string, log *slog.Logger) Options {
	return Options{Config: cfg, Token: token, Logger: log, Auth: s.Auth, Pairing: s.Pairing,
		PolicyCounters: s.Counters, Metrics: s.Metrics, StateDir: s.Dir}
}
