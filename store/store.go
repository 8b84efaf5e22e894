// Package store keeps what auth and policy must remember across requests,
// restarts and replicas: JSON documents (sessions, devices, revocations,
// pairing codes, allowFrom approvals, the device-token signing keys),
// failure lockouts and device challenges. Two backends: files in the state
// directory (one process, or several on one host through the state lock)
// and Redis (replicas). Each operation that a rule needs atomic is atomic
// in both: a document update is a locked read-modify-write of a file, or a
// WATCH/MULTI transaction; lockouts and challenges are Lua scripts.
//
// The package knows nothing about who may do what; it keeps state.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"gateway/config"
)

// Backends.
const (
	BackendFile  = config.BackendFile
	BackendRedis = config.BackendRedis
)

// ErrUnavailable wraps every failure to reach the shared store (Redis down,
// timed out, refusing). Callers change nothing and never treat it as
// "absent"; wherever it reaches a client it is a 503 store_unavailable.
var ErrUnavailable error = unavailable{}

type unavailable struct{}

func (unavailable) Error() string { return "state store unavailable" }

// HTTPAnswer makes the error its own public answer (httperr.Answered).
func (unavailable) HTTPAnswer() (int, string, string) {
	return http.StatusServiceUnavailable, "store_unavailable", "the gateway's state store is unavailable; try again shortly"
}

// Options open a store.
type Options struct {
	// Backend is BackendFile (default) or BackendRedis.
	Backend string
	// Dir is the state directory (file backend).
	Dir string
	// URL is the Redis URL: redis:// or rediss://, with password and db.
	URL string
	// KeyPrefix starts every Redis key (default "gateway:"), so several
	// gateways can share one Redis.
	KeyPrefix string
	// AllowInsecureTLS accepts a rediss:// URL that turns certificate
	// checks off; without it Open refuses one.
	AllowInsecureTLS bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observe, when set, is told the duration and outcome of every
	// backend operation (the metrics).
	Observe func(op string, d time.Duration, err error)
}

// Store is an open backend.
type Store struct {
	// Backend names the backend in use.
	Backend string
	// Docs keeps the JSON documents.
	Docs Docs
	// Lockouts counts failed credentials and locks clients out.
	Lockouts Lockouts
	// Nonces issues and consumes device challenges.
	Nonces Nonces

	ready func(context.Context) error
	close func() error
}

// Open opens the backend o names. The Redis backend must answer now: a
// gateway that cannot reach its shared state refuses to start rather than
// run on a private copy.
func Open(o Options) (*Store, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Observe == nil {
		o.Observe = func(string, time.Duration, error) {}
	}
	switch o.Backend {
	case "", BackendFile:
		return openFiles(o)
	case BackendRedis:
		return openRedis(o)
	}
	return nil, fmt.Errorf("store: unknown backend %q (file or redis)", o.Backend)
}

// Ready reports whether the store answers (the /readyz check).
func (s *Store) Ready(ctx context.Context) error { return s.ready(ctx) }

// Close releases the backend's connections and background work.
func (s *Store) Close() error { return s.close() }

// Shared reports whether the state is shared with other hosts' replicas
// (Redis), so views of it must be refreshed in the background.
func (s *Store) Shared() bool { return s.Backend == BackendRedis }

// IsUnavailable reports whether err means the shared store could not be
// reached.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
