package policy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"gateway/config"
	"gateway/sender"
	"gateway/state"
)

// Pairing code rules (SPEC "Policy").
const (
	CodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	CodeLength   = 8
	CodeTTL      = time.Hour
	MaxPending   = 3
)

// Store errors.
var (
	ErrBadChannel  = errors.New("invalid channel name")
	ErrNoCode      = errors.New("no such pending pairing code (expired?)")
	ErrPendingFull = errors.New("too many pending pairing requests")
	ErrCorrupt     = state.ErrCorrupt
)

// PairingRequest is one pending pairing, in OpenClaw's format.
type PairingRequest struct {
	ID         string    `json:"id"`
	Code       string    `json:"code"`
	CreatedAt  time.Time `json:"createdAt"`
	LastSeenAt time.Time `json:"lastSeenAt"`
	// ApprovedAt marks an approved request kept until its expiry, so a
	// second approval of the same code is a no-op success (idempotent)
	// rather than a confusing 404.
	ApprovedAt *time.Time `json:"approvedAt,omitempty"`
}

type pairingFile struct {
	Version  int              `json:"version"`
	Requests []PairingRequest `json:"requests"`
}

type allowFromFile struct {
	Version   int      `json:"version"`
	AllowFrom []string `json:"allowFrom"`
}

// Store keeps pairing requests and approved senders in
// <state>/credentials/<channel>-pairing.json and <channel>-allowFrom.json.
// Every write is atomic and made under the state lock so the CLI and the
// server can approve at the same time; reads of allowFrom are cached until
// the file changes (state.Cached). A file that does not parse is never
// overwritten: the request fails closed and the error names the file.
type Store struct {
	dir string
	now func() time.Time

	mu    sync.Mutex
	allow map[string]*state.Cached[[]string] // by channel
}

// NewStore opens the store under <stateDir>/credentials (created 0700).
func NewStore(stateDir string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	dir, err := state.EnsureSubdir(stateDir, "credentials")
	if err != nil {
		return nil, err
	}
	return &Store{dir: dir, now: now, allow: map[string]*state.Cached[[]string]{}}, nil
}

func (s *Store) paths(channel string) (pairing, allow string, err error) {
	if !config.ChannelNamePattern.MatchString(channel) {
		return "", "", fmt.Errorf("%w: %q", ErrBadChannel, channel)
	}
	return filepath.Join(s.dir, channel+"-pairing.json"), filepath.Join(s.dir, channel+"-allowFrom.json"), nil
}

// AllowFrom returns the channel's approved senders, normalised. Entries that
// cannot be normalised are skipped (they can match nobody) and "*" is
// ignored: a wildcard is only ever configured, never stored.
func (s *Store) AllowFrom(channel string) ([]string, error) {
	_, path, err := s.paths(channel)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	c, ok := s.allow[channel]
	if !ok {
		c = state.NewCached(path, func(data []byte) ([]string, error) {
			f, err := state.DecodeJSON[allowFromFile](data, path)
			if err != nil {
				return nil, err
			}
			var list []string
			for _, id := range f.AllowFrom {
				if n, err := sender.Normalize(channel, id); err == nil && n != sender.Wildcard {
					list = append(list, n)
				}
			}
			return list, nil
		})
		s.allow[channel] = c
	}
	s.mu.Unlock()
	list, err := c.Get()
	if err != nil && !errors.Is(err, state.ErrCorrupt) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return list, err
}

func newCode(taken func(string) bool) (string, error) {
	max := big.NewInt(int64(len(CodeAlphabet)))
	for range 100 {
		var b strings.Builder
		for range CodeLength {
			n, err := rand.Int(rand.Reader, max)
			if err != nil {
				return "", err
			}
			b.WriteByte(CodeAlphabet[n.Int64()])
		}
		if c := b.String(); !taken(c) {
			return c, nil
		}
	}
	return "", errors.New("could not draw a unique pairing code")
}

func (s *Store) live(r PairingRequest, now time.Time) bool { return now.Sub(r.CreatedAt) < CodeTTL }

// Request returns the pairing code for sender on channel: the existing one
// if the sender is already pending, else a new one. created says which.
// With MaxPending others pending, a new sender gets ErrPendingFull.
func (s *Store) Request(ctx context.Context, channel, from string) (code string, created bool, err error) {
	path, _, err := s.paths(channel)
	if err != nil {
		return "", false, err
	}
	now := s.now().UTC()
	err = state.Update(ctx, path, func(old []byte) ([]byte, error) {
		f, err := state.DecodeJSON[pairingFile](old, path)
		if err != nil {
			return nil, err
		}
		var keep []PairingRequest
		pending := 0
		for _, r := range f.Requests {
			if !s.live(r, now) {
				continue
			}
			if r.ID == from && r.ApprovedAt == nil {
				r.LastSeenAt = now
				code = r.Code
			}
			if r.ApprovedAt == nil {
				pending++
			}
			keep = append(keep, r)
		}
		if code == "" {
			if pending >= MaxPending {
				return nil, ErrPendingFull
			}
			code, err = newCode(func(c string) bool {
				return slices.ContainsFunc(keep, func(r PairingRequest) bool { return r.Code == c })
			})
			if err != nil {
				return nil, err
			}
			created = true
			keep = append(keep, PairingRequest{ID: from, Code: code, CreatedAt: now, LastSeenAt: now})
		}
		return state.EncodeJSON(pairingFile{Version: 1, Requests: nonNil(keep)})
	})
	return code, created, err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Pending lists unexpired, unapproved requests.
func (s *Store) Pending(channel string) ([]PairingRequest, error) {
	path, _, err := s.paths(channel)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	f, err := state.DecodeJSON[pairingFile](data, path)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := []PairingRequest{}
	for _, r := range f.Requests {
		if s.live(r, now) && r.ApprovedAt == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// Approve moves the sender of code (case-insensitive) into the channel's
// allowFrom file. Approving an already approved code succeeds again.
func (s *Store) Approve(ctx context.Context, channel, code string) (from string, err error) {
	pPath, aPath, err := s.paths(channel)
	if err != nil {
		return "", err
	}
	code = strings.ToUpper(strings.TrimSpace(code))
	now := s.now().UTC()
	// Lock order is always pairing file, then allowFrom file.
	err = state.Update(ctx, pPath, func(old []byte) ([]byte, error) {
		f, err := state.DecodeJSON[pairingFile](old, pPath)
		if err != nil {
			return nil, err
		}
		idx := slices.IndexFunc(f.Requests, func(r PairingRequest) bool { return r.Code == code && s.live(r, now) })
		if idx < 0 {
			return nil, ErrNoCode
		}
		from = f.Requests[idx].ID
		if err := s.addAllowed(ctx, channel, aPath, from); err != nil {
			return nil, err
		}
		if f.Requests[idx].ApprovedAt == nil {
			f.Requests[idx].ApprovedAt = &now
		}
		return state.EncodeJSON(f)
	})
	return from, err
}

func (s *Store) addAllowed(ctx context.Context, channel, path, from string) error {
	if from == sender.Wildcard {
		return errors.New("refusing to store a wildcard")
	}
	return state.Update(ctx, path, func(old []byte) ([]byte, error) {
		f, err := state.DecodeJSON[allowFromFile](old, path)
		if err != nil {
			return nil, err
		}
		for _, id := range f.AllowFrom {
			if n, err := sender.Normalize(channel, id); err == nil && n == from {
				return state.EncodeJSON(allowFromFile{Version: 1, AllowFrom: nonNil(f.AllowFrom)})
			}
		}
		f.AllowFrom = append(f.AllowFrom, from)
		return state.EncodeJSON(allowFromFile{Version: 1, AllowFrom: f.AllowFrom})
	})
}

// Reject drops a pending code (case-insensitive).
func (s *Store) Reject(ctx context.Context, channel, code string) error {
	path, _, err := s.paths(channel)
	if err != nil {
		return err
	}
	code = strings.ToUpper(strings.TrimSpace(code))
	now := s.now()
	return state.Update(ctx, path, func(old []byte) ([]byte, error) {
		f, err := state.DecodeJSON[pairingFile](old, path)
		if err != nil {
			return nil, err
		}
		idx := slices.IndexFunc(f.Requests, func(r PairingRequest) bool {
			return r.Code == code && r.ApprovedAt == nil && s.live(r, now)
		})
		if idx < 0 {
			return nil, ErrNoCode
		}
		f.Requests = slices.Delete(f.Requests, idx, idx+1)
		return state.EncodeJSON(pairingFile{Version: 1, Requests: nonNil(f.Requests)})
	})
}
