package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/netip"
	"sync"
	"time"
)

// Nonces issues single-use device challenges: a memory table in one
// process, Redis across replicas (a challenge issued by one replica is
// consumed, once, by any).
type Nonces interface {
	// Issue returns a new nonce for client and its expiry;
	// ErrTooManyChallenges when the client, its network or the table is
	// at its bound.
	Issue(ctx context.Context, client netip.Addr) (string, time.Time, error)
	// Consume reports whether nonce was issued and unexpired, and
	// removes it either way: a nonce is good for exactly one attempt. An
	// error means the store could not say (the caller refuses).
	Consume(ctx context.Context, nonce string) (bool, error)
}

// NonceTTL is how long a challenge can be answered.
const NonceTTL = 60 * time.Second

// ErrTooManyChallenges refuses a challenge past a bound.
var ErrTooManyChallenges = errors.New("too many outstanding challenges")

// maxNonces bounds outstanding challenges in all; maxNoncesPerClient and
// maxNoncesPerNet bound them per client bucket (an address, IPv6 /64) and
// per coarse bucket (IPv4 /24, IPv6 /48), so one client flooding
// challenges never starves another's. Past a bound, expired ones are
// pruned and, if none expired, new challenges are refused (429).
const (
	maxNonces          = 10_000
	maxNoncesPerClient = 16
	maxNoncesPerNet    = 64
)

// MemNonces is Nonces in one process, with bounded storage, bounded per
// client too.
type MemNonces struct {
	mu     sync.Mutex
	now    func() time.Time
	m      map[string]issuedNonce
	counts map[netip.Prefix]int // outstanding per fine and per coarse bucket
}

type issuedNonce struct {
	exp          time.Time
	fine, coarse netip.Prefix
}

// NewNonces returns an empty challenge store.
func NewNonces(now func() time.Time) *MemNonces {
	if now == nil {
		now = time.Now
	}
	return &MemNonces{now: now, m: map[string]issuedNonce{}, counts: map[netip.Prefix]int{}}
}

// ClientBuckets returns the buckets a client address is counted in: its
// own (IPv4 /32, IPv6 /64, the unit an attacker is usually handed) and its
// network's (IPv4 /24, IPv6 /48).
func ClientBuckets(a netip.Addr) (fine, coarse netip.Prefix) {
	a = a.Unmap().WithZone("")
	fb, cb := 32, 24
	if a.Is6() {
		fb, cb = 64, 48
	}
	fine, _ = a.Prefix(fb)
	coarse, _ = a.Prefix(cb)
	return fine, coarse
}

func (n *MemNonces) full(fine, coarse netip.Prefix) bool {
	return len(n.m) >= maxNonces || n.counts[fine] >= maxNoncesPerClient || n.counts[coarse] >= maxNoncesPerNet
}

func (n *MemNonces) drop(k string, e issuedNonce) {
	delete(n.m, k)
	for _, p := range [2]netip.Prefix{e.fine, e.coarse} {
		if n.counts[p]--; n.counts[p] <= 0 {
			delete(n.counts, p)
		}
	}
}

// Issue implements Nonces.
func (n *MemNonces) Issue(ctx context.Context, client netip.Addr) (string, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return "", time.Time{}, err
	}
	fine, coarse := ClientBuckets(client)
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	if n.full(fine, coarse) {
		for k, e := range n.m {
			if !now.Before(e.exp) {
				n.drop(k, e)
			}
		}
		if n.full(fine, coarse) {
			return "", time.Time{}, ErrTooManyChallenges
		}
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, err
	}
	k := base64.RawURLEncoding.EncodeToString(b[:])
	exp := now.Add(NonceTTL)
	n.m[k] = issuedNonce{exp: exp, fine: fine, coarse: coarse}
	n.counts[fine]++
	n.counts[coarse]++
	return k, exp, nil
}

// Consume implements Nonces.
func (n *MemNonces) Consume(ctx context.Context, k string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.m[k]
	if !ok {
		return false, nil
	}
	n.drop(k, e)
	return n.now().Before(e.exp), nil
}
