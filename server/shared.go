package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"gateway/auth"
	"gateway/config"
	"gateway/metrics"
	"gateway/policy"
	"gateway/store"
)

// Shared is what outlives a config reload: the state store (files or
// Redis) with the authentication stores over it (lockout counters,
// challenges, sessions, devices, signing keys), the pairing store,
// decision counters and metrics. A SIGHUP builds a new handler over the
// same Shared, so it cannot unlock anyone or reset a counter, and building
// it changes nothing here.
type Shared struct {
	Dir      string
	Store    *store.Store
	Auth     *auth.Stores
	Pairing  *policy.Store
	Counters *policy.Counters
	Metrics  *metrics.Metrics

	stop     chan struct{}
	stopOnce sync.Once
	done     sync.WaitGroup
}

// OpenShared opens the stores in files under stateDir and registers the
// metrics.
func OpenShared(stateDir string) (*Shared, error) {
	return OpenSharedStore(store.Options{Backend: store.BackendFile, Dir: stateDir}, nil)
}

// StoreOptions are the store options of a configuration.
func StoreOptions(cfg *config.Config, stateDir string) store.Options {
	st := cfg.Gateway.Store
	return store.Options{Backend: st.Backend, Dir: stateDir, URL: st.URL, KeyPrefix: st.KeyPrefix, AllowInsecureTLS: st.AllowInsecureTLS}
}

// refreshEvery is how often a replica reloads what it must be able to
// check during a store outage (device lists, signing keys).
const refreshEvery = time.Second

// OpenSharedStore opens the store o names, the stores over it, and the
// metrics. On a shared backend it keeps the device lists and signing keys
// at most refreshEvery old until Close. log may be nil.
func OpenSharedStore(o store.Options, log *slog.Logger) (*Shared, error) {
	counters := &policy.Counters{}
	var st *store.Store
	m := metrics.New(metrics.Sources{Decisions: counters.Each, Lockouts: func() float64 {
		_, _, n := st.Lockouts.Stats()
		return float64(n)
	}})
	backend := o.Backend
	if backend == "" {
		backend = store.BackendFile
	}
	o.Observe = func(op string, d time.Duration, err error) { m.StoreOp(backend, op, d, err) }
	st, err := store.Open(o)
	if err != nil {
		return nil, err
	}
	as, err := auth.NewStores(st, o.Now)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	s := &Shared{Dir: o.Dir, Store: st, Auth: as, Pairing: policy.NewStoreOn(st.Docs, o.Now), Counters: counters, Metrics: m,
		stop: make(chan struct{})}
	if st.Shared() {
		s.done.Add(1)
		go s.refresh(log)
	}
	return s, nil
}

// refresh reloads the shared lists every refreshEvery until Close.
func (s *Shared) refresh(log *slog.Logger) {
	defer s.done.Done()
	t := time.NewTicker(refreshEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		err := s.Auth.Refresh()
		if log != nil && (err != nil) != failing {
			if err != nil {
				log.Warn("state store: refresh failed; device tokens are checked against the last lists loaded", slog.String("error", err.Error()))
			} else {
				log.Info("state store: refresh works again")
			}
		}
		failing = err != nil
	}
}

// Ready reports whether the state store answers.
func (s *Shared) Ready(ctx context.Context) error { return s.Store.Ready(ctx) }

// Close stops the background refresh and closes the store.
func (s *Shared) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.done.Wait()
	return s.Store.Close()
}

// Options returns handler options for cfg over this shared state.
func (s *Shared) Options(cfg *config.Config, token string, log *slog.Logger) Options {
	return Options{Config: cfg, Token: token, Shared: s, Logger: log}
}
