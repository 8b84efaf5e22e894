package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"

	"gateway/state"
	"gateway/store"
)

// KnownClientsFile holds the owner's known-client cookies, each only as the
// SHA-256 of its id.
const KnownClientsFile = "credentials/known-clients.json"

// Known-client limits.
const (
	// KnownClientTTL is how long a known-client cookie lasts unused.
	KnownClientTTL = 90 * 24 * time.Hour
	// maxKnownClients bounds the document; the least recently used go
	// first.
	maxKnownClients = 50
)

// ErrUnknownClient is a known-client cookie that does not verify, is not
// in the store, or belongs to an earlier credential.
var ErrUnknownClient = errors.New("unknown known-client cookie")

// KnownClients are the browsers and clients that signed in with the owner's
// password or token before (OWASP's "device cookie" defence against
// lockout abuse). Such a client's sign-in attempts are counted in a bucket
// of its own (the cookie, not its address) and use a hash slot kept for
// them, so a flood from many addresses neither locks the owner out nor
// makes their sign-in wait. A cookie is a signed id the store knows, for
// one credential scope and the credential in force when it was issued; it
// is rotated on every use, ended by "sign out everywhere", by a change of
// the credential, and when its own bucket locks (a stolen or planted
// cookie then counts like no cookie at all). Checks always read the store:
// a revocation on one replica holds on all at once.
type KnownClients struct {
	docs store.Docs
	now  func() time.Time
	key  func() []byte
}

// NewKnownClients opens the known clients in docs; key signs the cookies
// (derived from the signing keys every replica shares).
func NewKnownClients(docs store.Docs, now func() time.Time, key func() []byte) *KnownClients {
	if now == nil {
		now = time.Now
	}
	return &KnownClients{docs: docs, now: now, key: key}
}

type knownClient struct {
	ID          string `json:"id"` // hex SHA-256 of the cookie's id
	Scope       string `json:"scope"`
	Fingerprint string `json:"fingerprint"` // of the credential it was issued under
	CreatedAtMs int64  `json:"createdAtMs"`
	LastUsedMs  int64  `json:"lastUsedMs"`
}

type knownClientsFile struct {
	Version int           `json:"version"`
	Clients []knownClient `json:"clients"`
}

// knownID is the stored form of a cookie's id.
func knownID(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// sign returns the cookie value for scope and raw id.
func (k *KnownClients) sign(scope, raw string) string {
	m := hmac.New(sha256.New, k.key())
	m.Write([]byte("gateway known client v1|" + scope + "|" + raw))
	return scope + "." + raw + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// parse verifies a cookie value's signature and returns its scope and the
// stored form of its id.
func (k *KnownClients) parse(value string) (scope, id string, ok bool) {
	scope, rest, ok1 := strings.Cut(value, ".")
	raw, _, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || raw == "" {
		return "", "", false
	}
	if !hmac.Equal([]byte(value), []byte(k.sign(scope, raw))) {
		return "", "", false
	}
	return scope, knownID(raw), true
}

// Check returns the stored id of a known-client cookie for scope issued
// under the credential with this fingerprint, reading the store (never a
// cached copy).
func (k *KnownClients) Check(ctx context.Context, value, scope, fingerprint string) (string, error) {
	s, id, ok := k.parse(value)
	if !ok || s != scope {
		return "", ErrUnknownClient
	}
	data, err := store.Read(ctx, k.docs, KnownClientsFile)
	if err != nil {
		return "", err
	}
	f, err := state.DecodeJSON[knownClientsFile](data, k.docs.Where(KnownClientsFile))
	if err != nil {
		return "", err
	}
	now := k.now()
	for _, c := range f.Clients {
		if c.ID == id && c.Scope == scope && hmac.Equal([]byte(c.Fingerprint), []byte(fingerprint)) && k.live(c, now) {
			return id, nil
		}
	}
	return "", ErrUnknownClient
}

func (k *KnownClients) live(c knownClient, now time.Time) bool {
	return now.Sub(time.UnixMilli(c.LastUsedMs)) < KnownClientTTL
}

// Issue records a new known client for scope (replacing old, the stored id
// of the cookie it rotates, if any) and returns the new cookie value.
func (k *KnownClients) Issue(ctx context.Context, scope, fingerprint, old string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	raw := base64.RawURLEncoding.EncodeToString(b[:])
	now := k.now()
	err := k.update(ctx, func(cs []knownClient) []knownClient {
		keep := cs[:0]
		for _, c := range cs {
			if c.ID != old && k.live(c, now) {
				keep = append(keep, c)
			}
		}
		keep = append(keep, knownClient{ID: knownID(raw), Scope: scope, Fingerprint: fingerprint, CreatedAtMs: now.UnixMilli(), LastUsedMs: now.UnixMilli()})
		if len(keep) > maxKnownClients {
			keep = keep[len(keep)-maxKnownClients:]
		}
		return keep
	})
	if err != nil {
		return "", err
	}
	return k.sign(scope, raw), nil
}

// Revoke forgets one known client.
func (k *KnownClients) Revoke(ctx context.Context, id string) error {
	return k.update(ctx, func(cs []knownClient) []knownClient {
		keep := cs[:0]
		for _, c := range cs {
			if c.ID != id {
				keep = append(keep, c)
			}
		}
		return keep
	})
}

// RevokeAll forgets every known client.
func (k *KnownClients) RevokeAll(ctx context.Context) error {
	return k.update(ctx, func([]knownClient) []knownClient { return nil })
}

func (k *KnownClients) update(ctx context.Context, fn func([]knownClient) []knownClient) error {
	where := k.docs.Where(KnownClientsFile)
	return k.docs.Update(ctx, KnownClientsFile, func(old []byte) ([]byte, error) {
		f, err := state.DecodeJSON[knownClientsFile](old, where)
		if err != nil {
			return nil, err
		}
		return state.EncodeJSON(knownClientsFile{Version: 1, Clients: fn(f.Clients)})
	})
}

// knownBucket is the lockout bucket of a known client: its own scope, so
// its failures count nowhere else, and an address no client has.
var knownBucket = netip.IPv6Unspecified()

// hashGate admits at most one password verification per network (IPv4
// /24, IPv6 /48) at a time, so one network cannot hold every hashing slot.
type hashGate struct {
	mu   sync.Mutex
	nets map[netip.Prefix]*gateSlot
}

type gateSlot struct {
	ch    chan struct{}
	users int
}

// acquire waits (up to wait, or ctx) for the network's turn and returns
// its release; ok false means the wait ran out.
func (g *hashGate) acquire(ctx context.Context, net netip.Prefix, wait time.Duration) (release func(), err error) {
	g.mu.Lock()
	if g.nets == nil {
		g.nets = map[netip.Prefix]*gateSlot{}
	}
	s := g.nets[net]
	if s == nil {
		s = &gateSlot{ch: make(chan struct{}, 1)}
		g.nets[net] = s
	}
	s.users++
	g.mu.Unlock()
	done := func() {
		g.mu.Lock()
		if s.users--; s.users == 0 {
			delete(g.nets, net)
		}
		g.mu.Unlock()
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	case <-t.C:
		done()
		return nil, errBusy
	}
}

var errBusy = errors.New("no password-hashing slot within the wait")
