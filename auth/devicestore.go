package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"gateway/state"
)

// Device store files, relative to the state dir.
const (
	PendingFile = "devices/pending.json"
	PairedFile  = "devices/paired.json"
	RevokedFile = "devices/revoked.json"
)

// PendingTTL is how long a pairing request waits for the owner.
const PendingTTL = 5 * time.Minute

// maxPending bounds pending requests; the oldest go first.
const maxPending = 100

// Errors from the device store.
var (
	ErrNoRequest = errors.New("no such pending request")
	ErrNoDevice  = errors.New("no such paired device")
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

// DeviceStore reads and writes the device files. Every change is a
// read-modify-write under the state lock, so the CLI and a running server
// can approve and revoke at the same time. Reads are cached by mtime.
type DeviceStore struct {
	dir string
	now func() time.Time

	mu          sync.Mutex
	paired      map[string]PairedDevice
	pairedMod   time.Time
	pairedSize  int64
	revoked     map[string]int64
	revokedMod  time.Time
	revokedSize int64
}

// NewDeviceStore opens the store in <stateDir>/devices (created 0700).
func NewDeviceStore(stateDir string, now func() time.Time) (*DeviceStore, error) {
	if now == nil {
		now = time.Now
	}
	if _, err := state.EnsureSubdir(stateDir, "devices"); err != nil {
		return nil, err
	}
	return &DeviceStore{dir: stateDir, now: now}, nil
}

func (d *DeviceStore) path(rel string) string { return filepath.Join(d.dir, rel) }

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// AddPending records (or replaces) the device's pairing request.
func (d *DeviceStore) AddPending(ctx context.Context, req PendingRequest) (PendingRequest, error) {
	now := d.now()
	req.RequestID = newRequestID()
	req.CreatedAtMs = now.UnixMilli()
	err := state.Update(ctx, d.path(PendingFile), func(old []byte) ([]byte, error) {
		f, err := state.DecodeJSON[pendingFile](old, d.path(PendingFile))
		if err != nil {
			return nil, err
		}
		keep := []PendingRequest{}
		for _, r := range f.Requests {
			if r.DeviceID != req.DeviceID && now.Sub(time.UnixMilli(r.CreatedAtMs)) < PendingTTL {
				keep = append(keep, r)
			}
		}
		keep = append(keep, req)
		if len(keep) > maxPending {
			keep = keep[len(keep)-maxPending:]
		}
		return state.EncodeJSON(pendingFile{Version: 1, Requests: keep})
	})
	return req, err
}

// Pending lists unexpired requests, oldest first.
func (d *DeviceStore) Pending() ([]PendingRequest, error) {
	data, err := os.ReadFile(d.path(PendingFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	f, err := state.DecodeJSON[pendingFile](data, d.path(PendingFile))
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

// Approve pairs the device of requestID ("" with latest=true: the newest
// request) and returns it. by names the approver for the record.
func (d *DeviceStore) Approve(ctx context.Context, requestID string, latest bool, by string) (PairedDevice, error) {
	var taken PendingRequest
	now := d.now()
	err := state.Update(ctx, d.path(PendingFile), func(old []byte) ([]byte, error) {
		f, err := state.DecodeJSON[pendingFile](old, d.path(PendingFile))
		if err != nil {
			return nil, err
		}
		idx := -1
		for i, r := range f.Requests {
			if now.Sub(time.UnixMilli(r.CreatedAtMs)) >= PendingTTL {
				continue
			}
			if latest {
				if idx < 0 || r.CreatedAtMs >= f.Requests[idx].CreatedAtMs {
					idx = i
				}
			} else if r.RequestID == requestID {
				idx = i
			}
		}
		if idx < 0 {
			return nil, ErrNoRequest
		}
		taken = f.Requests[idx]
		f.Requests = append(f.Requests[:idx], f.Requests[idx+1:]...)
		return state.EncodeJSON(pendingFile{Version: 1, Requests: f.Requests})
	})
	if err != nil {
		return PairedDevice{}, err
	}
	dev := PairedDevice{DeviceID: taken.DeviceID, PublicKey: taken.PublicKey, Role: taken.Role, ApprovedAtMs: now.UnixMilli(), ApprovedBy: by}
	return dev, d.pair(ctx, dev)
}

// Pair adds or replaces a paired device directly (silent local approval).
func (d *DeviceStore) Pair(ctx context.Context, dev PairedDevice) error { return d.pair(ctx, dev) }

func (d *DeviceStore) pair(ctx context.Context, dev PairedDevice) error {
	return state.Update(ctx, d.path(PairedFile), func(old []byte) ([]byte, error) {
		f, err := state.DecodeJSON[pairedFile](old, d.path(PairedFile))
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
}

// Reject drops a pending request.
func (d *DeviceStore) Reject(ctx context.Context, requestID string) error {
	return state.Update(ctx, d.path(PendingFile), func(old []byte) ([]byte, error) {
		f, err := state.DecodeJSON[pendingFile](old, d.path(PendingFile))
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
	return state.Update(ctx, d.path(PairedFile), func(old []byte) ([]byte, error) {
		f, err := state.DecodeJSON[pairedFile](old, d.path(PairedFile))
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
	return state.Update(ctx, d.path(RevokedFile), func(old []byte) ([]byte, error) {
		f, err := state.DecodeJSON[revokedFile](old, d.path(RevokedFile))
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
func (d *DeviceStore) Paired() ([]PairedDevice, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.loadPaired(); err != nil {
		return nil, err
	}
	out := make([]PairedDevice, 0, len(d.paired))
	for _, p := range d.paired {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ApprovedAtMs < out[j].ApprovedAtMs })
	return out, nil
}

// Lookup returns a paired device and whether token jti is revoked. A store
// that cannot be read is an error: the caller refuses (fail closed).
func (d *DeviceStore) Lookup(deviceID, jti string) (PairedDevice, bool, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.loadPaired(); err != nil {
		return PairedDevice{}, false, false, err
	}
	if err := d.loadRevoked(); err != nil {
		return PairedDevice{}, false, false, err
	}
	p, ok := d.paired[deviceID]
	_, revoked := d.revoked[jti]
	return p, ok, revoked, nil
}

// changed stats path and reports whether it differs from the cached mtime
// and size (both, since mtime granularity can hide a quick rewrite).
func changed(path string, mod *time.Time, size *int64) (bool, bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		ch := !mod.IsZero() || *size != -1
		*mod, *size = time.Time{}, -1
		return ch, false, nil
	}
	if err != nil {
		return false, false, err
	}
	if fi.ModTime().Equal(*mod) && fi.Size() == *size {
		return false, true, nil
	}
	*mod, *size = fi.ModTime(), fi.Size()
	return true, true, nil
}

// reload re-reads path into m (through fill) when its mtime or size
// changed. A file that does not parse leaves m nil, so every later call
// fails again: the store fails closed until the file is fixed.
func reload[T any](path string, mod *time.Time, size *int64, m *map[string]T, fill func(map[string]T, []byte) error) error {
	ch, exists, err := changed(path, mod, size)
	if err != nil {
		return err
	}
	if !ch && *m != nil {
		return nil
	}
	fresh := map[string]T{}
	if exists {
		data, err := os.ReadFile(path)
		if err != nil {
			*m = nil
			return err
		}
		if err := fill(fresh, data); err != nil {
			*m = nil
			return err
		}
	}
	*m = fresh
	return nil
}

func (d *DeviceStore) loadPaired() error {
	return reload(d.path(PairedFile), &d.pairedMod, &d.pairedSize, &d.paired, func(m map[string]PairedDevice, data []byte) error {
		f, err := state.DecodeJSON[pairedFile](data, d.path(PairedFile))
		for _, p := range f.Devices {
			m[p.DeviceID] = p
		}
		return err
	})
}

func (d *DeviceStore) loadRevoked() error {
	return reload(d.path(RevokedFile), &d.revokedMod, &d.revokedSize, &d.revoked, func(m map[string]int64, data []byte) error {
		f, err := state.DecodeJSON[revokedFile](data, d.path(RevokedFile))
		for _, t := range f.Tokens {
			m[t.JTI] = t.ExpiresAtMs
		}
		return err
	})
}
