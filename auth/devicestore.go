package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"gateway/request"
	"gateway/state"
	"gateway/store"
)

// Device store files, relative to the state dir.
const (
	PendingFile = "devices/pending.json"
	PairedFile  = "devices/paired.json"
	RevokedFile = "devices/revoked.json"
)

// PendingTTL is how long a pairing request waits for the owner.
const PendingTTL = 5 * time.Minute

// Bounds on pending requests: in all, per client bucket and per network
// bucket (see ClientBuckets: a /24 or a /48). A client at its bound is
// refused; nobody else's request is ever evicted to make room, so a flood
// cannot replace the owner's request with the attacker's; and at 5 per
// network it takes 20 networks to fill the queue (SPEC "Devices:
// invitations"; an invitation skips the queue altogether).
const (
	maxPending          = 100
	maxPendingPerClient = 3
	maxPendingPerNet    = 5
)

// Errors from the device store.
var (
	ErrNoRequest         = errors.New("no such pending request")
	ErrNoDevice          = errors.New("no such paired device")
	ErrTooManyPending    = errors.New("too many pending pairing requests")
	ErrAdminNotConfirmed = errors.New("the request asks for the admin role; confirm it explicitly")
	ErrAmbiguousLatest   = errors.New("more than one pairing request is pending")
	ErrBadRole           = errors.New("unknown role")
)

// PendingRequest is a device waiting for the owner's approval.
type PendingRequest struct {
	RequestID   string `json:"requestId"`
	DeviceID    string `json:"deviceId"`
	PublicKey   string `json:"publicKey"`
	Role        string `json:"role"`
	CreatedAtMs int64  `json:"createdAtMs"`
	Client      string `json:"client"`
	ViaProxy    bool   `json:"viaProxy"`
}

// PairedDevice is an approved device.
type PairedDevice struct {
	DeviceID     string `json:"deviceId"`
	PublicKey    string `json:"publicKey"`
	Role         string `json:"role"`
	ApprovedAtMs int64  `json:"approvedAtMs"`
	ApprovedBy   string `json:"approvedBy"`
	// PairingID is fresh for every pairing; device tokens carry it.
	PairingID string `json:"pairingId,omitempty"`
}

// RevokedToken is a device token refused before its expiry.
type RevokedToken struct {
	JTI         string `json:"jti"`
	ExpiresAtMs int64  `json:"expiresAtMs"`
}

type pendingFile struct {
	Version  int              `json:"version"`
	Requests []PendingRequest `json:"requests"`
}

type pairedFile struct {
	Version int            `json:"version"`
	Devices []PairedDevice `json:"devices"`
}

type revokedFile struct {
	Version int            `json:"version"`
	Tokens  []RevokedToken `json:"tokens"`
}

// DeviceStore reads and writes the device documents. Every change is an
// atomic read-modify-write (the state lock for files, a transaction on
// Redis), so the CLI and running gateways can approve and revoke at the
// same time. Reads are cached until the document changes.
type DeviceStore struct {
	docs    store.Docs
	now     func() time.Time
	paired  *store.Cached[map[string]PairedDevice]
	revoked *store.Cached[map[string]int64]
}

// NewDeviceStore opens the device documents in docs.
func NewDeviceStore(docs store.Docs, now func() time.Time) *DeviceStore {
	if now == nil {
		now = time.Now
	}
	d := &DeviceStore{docs: docs, now: now}
	d.paired = store.NewCached(docs, PairedFile, func(data []byte) (map[string]PairedDevice, error) {
		f, err := state.DecodeJSON[pairedFile](data, docs.Where(PairedFile))
		m := map[string]PairedDevice{}
		for _, p := range f.Devices {
			m[p.DeviceID] = p
		}
		return m, err
	})
	d.revoked = store.NewCached(docs, RevokedFile, func(data []byte) (map[string]int64, error) {
		f, err := state.DecodeJSON[revokedFile](data, docs.Where(RevokedFile))
		m := map[string]int64{}
		for _, t := range f.Tokens {
			m[t.JTI] = t.ExpiresAtMs
		}
		return m, err
	})
	return d
}

// update is an atomic read-modify-write of one device document.
func (d *DeviceStore) update(ctx context.Context, name string, fn func(old []byte, where string) ([]byte, error)) error {
	where := d.docs.Where(name)
	return d.docs.Update(ctx, name, func(old []byte) ([]byte, error) { return fn(old, where) })
}

// refresh reloads the paired devices and revoked tokens, so Lookup's
// fallback during an outage is at most one refresh old.
func (d *DeviceStore) refresh(ctx context.Context) error {
	_, err1 := d.paired.Get(ctx)
	_, err2 := d.revoked.Get(ctx)
	return errors.Join(err1, err2)
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// live reports whether a pending request has not expired.
func live(r PendingRequest, now time.Time) bool {
	return now.Sub(time.UnixMilli(r.CreatedAtMs)) < PendingTTL
}

// AddPending records the device's pairing request, replacing an earlier one
// of the same device. It refuses (ErrTooManyPending) when the client, its
// network or the store is at its bound.
func (d *DeviceStore) AddPending(ctx context.Context, req PendingRequest, client netip.Addr) (PendingRequest, error) {
	now := d.now()
	req.RequestID = randomID()
	req.CreatedAtMs = now.UnixMilli()
	req.Client = client.String()
	fine, coarse := store.ClientBuckets(client)
	err := d.update(ctx, PendingFile, func(old []byte, where string) ([]byte, error) {
		f, err := state.DecodeJSON[pendingFile](old, where)
		if err != nil {
			return nil, err
		}
		keep := []PendingRequest{}
		nFine, nCoarse := 0, 0
		for _, r := range f.Requests {
			if r.DeviceID == req.DeviceID || !live(r, now) {
				continue
			}
			keep = append(keep, r)
			if a, err := netip.ParseAddr(r.Client); err == nil {
				if fine.Contains(a.Unmap()) {
					nFine++
				}
				if coarse.Contains(a.Unmap()) {
					nCoarse++
				}
			}
		}
		if len(keep) >= maxPending || nFine >= maxPendingPerClient || nCoarse >= maxPendingPerNet {
			return nil, ErrTooManyPending
		}
		keep = append(keep, req)
		return state.EncodeJSON(pendingFile{Version: 1, Requests: keep})
	})
	return req, err
}

// Pending lists unexpired requests, oldest first.
func (d *DeviceStore) Pending() ([]PendingRequest, error) {
	data, err := store.Read(context.Background(), d.docs, PendingFile)
	if err != nil {
		return nil, err
	}
	f, err := state.DecodeJSON[pendingFile](data, d.docs.Where(PendingFile))
	if err != nil {
		return nil, err
	}
	now := d.now()
	var out []PendingRequest
	for _, r := range f.Requests {
		if now.Sub(time.UnixMilli(r.CreatedAtMs)) < PendingTTL {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAtMs < out[j].CreatedAtMs })
	return out, nil
}

// ApprovedRole decides the role a request is approved for: confirmed, the
// role the owner named ("" when they named none). A request for admin is
// approved only with the role confirmed; a client never chooses its own
// privilege.
func ApprovedRole(requested, confirmed string) (string, error) {
	switch {
	case confirmed != "" && !ValidRole(confirmed):
		return "", fmt.Errorf("%w %q (operator, node or admin)", ErrBadRole, confirmed)
	case confirmed != "":
		return confirmed, nil
	case requested == request.RoleAdmin:
		return "", ErrAdminNotConfirmed
	}
	return requested, nil
}

// Approve pairs the device of requestID for role (see ApprovedRole) and
// returns it. by names the approver for the record.
func (d *DeviceStore) Approve(ctx context.Context, requestID, role, by string) (PairedDevice, error) {
	return d.approve(ctx, func(reqs []PendingRequest, now time.Time) (int, error) {
		for i, r := range reqs {
			if r.RequestID == requestID && live(r, now) {
				return i, nil
			}
		}
		return -1, ErrNoRequest
	}, role, by)
}

// ApproveOnly approves the one pending request. With more than one pending
// it refuses with an *AmbiguousError listing them: "the latest" is whatever
// a flood made it, so the owner must name the request.
func (d *DeviceStore) ApproveOnly(ctx context.Context, role, by string) (PairedDevice, error) {
	return d.approve(ctx, func(reqs []PendingRequest, now time.Time) (int, error) {
		idx := -1
		var all []PendingRequest
		for i, r := range reqs {
			if live(r, now) {
				idx = i
				all = append(all, r)
			}
		}
		switch len(all) {
		case 0:
			return -1, ErrNoRequest
		case 1:
			return idx, nil
		}
		return -1, &AmbiguousError{Pending: all}
	}, role, by)
}

// AmbiguousError is ApproveOnly's refusal when several requests wait.
type AmbiguousError struct{ Pending []PendingRequest }

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%d pairing requests are pending; approve one by its requestId", len(e.Pending))
}

func (e *AmbiguousError) Unwrap() error { return ErrAmbiguousLatest }

// approve removes the request pick chooses and pairs its device, in one
// locked update of the pending file, then the paired file.
func (d *DeviceStore) approve(ctx context.Context, pick func([]PendingRequest, time.Time) (int, error), role, by string) (PairedDevice, error) {
	var dev PairedDevice
	now := d.now()
	err := d.update(ctx, PendingFile, func(old []byte, where string) ([]byte, error) {
		f, err := state.DecodeJSON[pendingFile](old, where)
		if err != nil {
			return nil, err
		}
		idx, err := pick(f.Requests, now)
		if err != nil {
			return nil, err
		}
		taken := f.Requests[idx]
		granted, err := ApprovedRole(taken.Role, role)
		if err != nil {
			return nil, err
		}
		dev = PairedDevice{DeviceID: taken.DeviceID, PublicKey: taken.PublicKey, Role: granted, ApprovedAtMs: now.UnixMilli(), ApprovedBy: by}
		f.Requests = append(f.Requests[:idx], f.Requests[idx+1:]...)
		return state.EncodeJSON(pendingFile{Version: 1, Requests: f.Requests})
	})
	if err != nil {
		return PairedDevice{}, err
	}
	return d.Pair(ctx, dev)
}

// Pair adds or replaces a paired device under a fresh pairing id, which
// makes every token of an earlier pairing of the device invalid.
func (d *DeviceStore) Pair(ctx context.Context, dev PairedDevice) (PairedDevice, error) {
	dev.PairingID = randomID() + randomID()
	err := d.update(ctx, PairedFile, func(old []byte, where string) ([]byte, error) {
		f, err := state.DecodeJSON[pairedFile](old, where)
		if err != nil {
			return nil, err
		}
		keep := []PairedDevice{}
		for _, p := range f.Devices {
			if p.DeviceID != dev.DeviceID {
				keep = append(keep, p)
			}
		}
		keep = append(keep, dev)
		return state.EncodeJSON(pairedFile{Version: 1, Devices: keep})
	})
	return dev, err
}

// Reject drops a pending request.
func (d *DeviceStore) Reject(ctx context.Context, requestID string) error {
	return d.update(ctx, PendingFile, func(old []byte, where string) ([]byte, error) {
		f, err := state.DecodeJSON[pendingFile](old, where)
		if err != nil {
			return nil, err
		}
		for i, r := range f.Requests {
			if r.RequestID == requestID {
				f.Requests = append(f.Requests[:i], f.Requests[i+1:]...)
				return state.EncodeJSON(pendingFile{Version: 1, Requests: f.Requests})
			}
		}
		return nil, ErrNoRequest
	})
}

// Revoke unpairs a device; its tokens stop working at once because every
// token check looks the device up.
func (d *DeviceStore) Revoke(ctx context.Context, deviceID string) error {
	return d.update(ctx, PairedFile, func(old []byte, where string) ([]byte, error) {
		f, err := state.DecodeJSON[pairedFile](old, where)
		if err != nil {
			return nil, err
		}
		for i, p := range f.Devices {
			if p.DeviceID == deviceID {
				f.Devices = append(f.Devices[:i], f.Devices[i+1:]...)
				return state.EncodeJSON(pairedFile{Version: 1, Devices: f.Devices})
			}
		}
		return nil, ErrNoDevice
	})
}

// RevokeToken adds a token id to the revocation list until it expires.
func (d *DeviceStore) RevokeToken(ctx context.Context, jti string, expires time.Time) error {
	now := d.now()
	return d.update(ctx, RevokedFile, func(old []byte, where string) ([]byte, error) {
		f, err := state.DecodeJSON[revokedFile](old, where)
		if err != nil {
			return nil, err
		}
		keep := []RevokedToken{}
		for _, t := range f.Tokens {
			if t.ExpiresAtMs > now.UnixMilli() && t.JTI != jti {
				keep = append(keep, t)
			}
		}
		keep = append(keep, RevokedToken{JTI: jti, ExpiresAtMs: expires.UnixMilli()})
		return state.EncodeJSON(revokedFile{Version: 1, Tokens: keep})
	})
}

// Paired lists paired devices.
func (d *DeviceStore) Paired(ctx context.Context) ([]PairedDevice, error) {
	m, err := d.paired.Get(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PairedDevice, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ApprovedAtMs < out[j].ApprovedAtMs })
	return out, nil
}

// Lookup returns a paired device and whether token jti is revoked. A store
// that cannot be read is an error: the caller refuses (fail closed).
func (d *DeviceStore) Lookup(ctx context.Context, deviceID, jti string) (PairedDevice, bool, bool, error) {
	return d.lookup(ctx, deviceID, jti, (*store.Cached[map[string]PairedDevice]).Get, (*store.Cached[map[string]int64]).Get)
}

// LookupToken is Lookup for checking a device token: while the shared store
// is unreachable it answers from the last lists loaded (refreshed every
// second while the store is up), so device tokens keep working through an
// outage, in which no revocation can be written anyway. A document that
// does not decode is still an error.
func (d *DeviceStore) LookupToken(ctx context.Context, deviceID, jti string) (PairedDevice, bool, bool, error) {
	return d.lookup(ctx, deviceID, jti, (*store.Cached[map[string]PairedDevice]).Last, (*store.Cached[map[string]int64]).Last)
}

func (d *DeviceStore) lookup(ctx context.Context, deviceID, jti string, paired func(*store.Cached[map[string]PairedDevice], context.Context) (map[string]PairedDevice, error),
	revoked func(*store.Cached[map[string]int64], context.Context) (map[string]int64, error)) (PairedDevice, bool, bool, error) {
	p, err := paired(d.paired, ctx)
	if err != nil {
		return PairedDevice{}, false, false, err
	}
	r, err := revoked(d.revoked, ctx)
	if err != nil {
		return PairedDevice{}, false, false, err
	}
	dev, ok := p[deviceID]
	_, isRevoked := r[jti]
	return dev, ok, isRevoked, nil
}
