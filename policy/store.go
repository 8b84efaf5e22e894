package policy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"gateway/config"
	"gateway/sender"
	"gateway/state"
	"gateway/store"
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

// Store keeps pairing requests and approved senders in the documents
// credentials/<channel>-pairing.json and <channel>-allowFrom.json (files in
// the state dir, in OpenClaw's format, or Redis keys of the same names).
// Every write is an atomic read-modify-write, so the CLI, the server and
// other replicas can approve at the same time; reads of allowFrom are
// cached until the document changes. A document that does not parse is
// never overwritten: the request fails closed and the error names it.
type Store struct {
	docs store.Docs
	now  func() time.Time

	mu    sync.Mutex
	allow map[string]*store.Cached[[]string] // by channel
}

// NewStoreOn opens the pairing documents in docs.
func NewStoreOn(docs store.Docs, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{docs: docs, now: now, allow: map[string]*store.Cached[[]string]{}}
}

// NewStore opens the pairing documents in files under stateDir.
func NewStore(stateDir string, now func() time.Time) (*Store, error) {
	st, err := store.Open(store.Options{Dir: stateDir, Now: now})
	if err != nil {
		return nil, err
	}
	return NewStoreOn(st.Docs, now), nil
}

// names returns the channel's document names.
func (s *Store) names(channel string) (pairing, allow string, err error) {
	if !config.ChannelNamePattern.MatchString(channel) {
		return "", "", fmt.Errorf("%w: %q", ErrBadChannel, channel)
	}
	return "credentials/" + channel + "-pairing.json", "credentials/" + channel + "-allowFrom.json", nil
}

// update is an atomic read-modify-write of one document; fn gets the
// document's name for messages.
func (s *Store) update(ctx context.Context, name string, fn func(old []byte, where string) ([]byte, error)) error {
	where := s.docs.Where(name)
	return s.docs.Update(ctx, name, func(old []byte) ([]byte, error) { return fn(old, where) })
}

// AllowFrom returns the channel's approved senders, normalised. Entries that
// cannot be normalised are skipped (they can match nobody) and "*" is
// ignored: a wildcard is only ever configured, never stored.
func (s *Store) AllowFrom(ctx context.Context, channel string) ([]string, error) {
	_, name, err := s.names(channel)
	if err != nil {
		return nil, err
	}
	path := s.docs.Where(name)
	s.mu.Lock()
	c, ok := s.allow[channel]
	if !ok {
		c = store.NewCached(s.docs, name, func(data []byte) ([]string, error) {
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
	list, err := c.Get(ctx)
	if err != nil && !errors.Is(err, state.ErrCorrupt) && !store.IsUnavailable(err) {
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
	name, _, err := s.names(channel)
	if err != nil {
		return "", false, err
	}
	now := s.now().UTC()
	err = s.update(ctx, name, func(old []byte, path string) ([]byte, error) {
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
	name, _, err := s.names(channel)
	if err != nil {
		return nil, err
	}
	data, err := store.Read(context.Background(), s.docs, name)
	if err != nil {
		return nil, err
	}
	f, err := state.DecodeJSON[pairingFile](data, s.docs.Where(name))
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
	pName, aName, err := s.names(channel)
	if err != nil {
		return "", err
	}
	code = strings.ToUpper(strings.TrimSpace(code))
	now := s.now().UTC()
	// Lock order is always pairing document, then allowFrom document.
	err = s.update(ctx, pName, func(old []byte, pPath string) ([]byte, error) {
		f, err := state.DecodeJSON[pairingFile](old, pPath)
		if err != nil {
			return nil, err
		}
		idx := slices.IndexFunc(f.Requests, func(r PairingRequest) bool { return r.Code == code && s.live(r, now) })
		if idx < 0 {
			return nil, ErrNoCode
		}
		from = f.Requests[idx].ID
		if err := s.addAllowed(ctx, channel, aName, from); err != nil {
			return nil, err
		}
		if f.Requests[idx].ApprovedAt == nil {
			f.Requests[idx].ApprovedAt = &now
		}
		return state.EncodeJSON(f)
	})
	return from, err
}

func (s *Store) addAllowed(ctx context.Context, channel, name, from string) error {
	if from == sender.Wildcard {
		return errors.New("refusing to store a wildcard")
	}
	return s.update(ctx, name, func(old []byte, path string) ([]byte, error) {
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
	name, _, err := s.names(channel)
	if err != nil {
		return err
	}
	code = strings.ToUpper(strings.TrimSpace(code))
	now := s.now()
	return s.update(ctx, name, func(old []byte, path string) ([]byte, error) {
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
