package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"gateway/state"
)

// InvitationsFile holds the device invitations not yet used, each only as
// the SHA-256 of its code: a copy of it does not let anyone pair.
const InvitationsFile = "devices/invitations.json"

// maxInvitations bounds the invitations kept; the oldest go first.
const maxInvitations = 100

// Errors of invitations.
var (
	// ErrBadInvitation is a code that is unknown, used or expired.
	ErrBadInvitation = errors.New("unknown, used or expired invitation")
	// ErrRoleMismatch is a connect that signs another role than its
	// invitation's.
	ErrRoleMismatch = errors.New("the connect signs another role than the invitation grants")
)

type storedInvitation struct {
	Hash        string `json:"hash"`
	Role        string `json:"role"`
	CreatedAtMs int64  `json:"createdAtMs"`
	ExpiresAtMs int64  `json:"expiresAtMs"`
	CreatedBy   string `json:"createdBy"`
}

type invitationsFile struct {
	Version     int                `json:"version"`
	Invitations []storedInvitation `json:"invitations"`
}

// invitationHash is how a code is stored and looked up.
func invitationHash(code string) string {
	sum := sha256.Sum256([]byte(strings.ToUpper(strings.TrimSpace(code))))
	return hex.EncodeToString(sum[:])
}

// Invite issues a one-time invitation for role, valid for ttl: 128 random
// bits as 26 base32 characters. The code is returned once and only its
// hash is kept.
func (d *DeviceStore) Invite(ctx context.Context, role string, ttl time.Duration, by string) (string, time.Time, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", time.Time{}, err
	}
	code := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:])
	now := d.now()
	inv := storedInvitation{Hash: invitationHash(code), Role: role, CreatedAtMs: now.UnixMilli(), ExpiresAtMs: now.Add(ttl).UnixMilli(), CreatedBy: by}
	err := d.update(ctx, InvitationsFile, func(old []byte, where string) ([]byte, error) {
		f, err := state.DecodeJSON[invitationsFile](old, where)
		if err != nil {
			return nil, err
		}
		keep := liveInvitations(f.Invitations, now)
		keep = append(keep, inv)
		if len(keep) > maxInvitations {
			keep = keep[len(keep)-maxInvitations:]
		}
		return state.EncodeJSON(invitationsFile{Version: 1, Invitations: keep})
	})
	return code, time.UnixMilli(inv.ExpiresAtMs), err
}

func liveInvitations(all []storedInvitation, now time.Time) []storedInvitation {
	keep := []storedInvitation{}
	for _, i := range all {
		if now.UnixMilli() < i.ExpiresAtMs {
			keep = append(keep, i)
		}
	}
	return keep
}

// Redeem uses up the invitation with this code for a device connecting as
// role, in one atomic update of the document (single-use on every
// replica), and returns who issued it. An invitation for another role is
// left unused (ErrRoleMismatch).
func (d *DeviceStore) Redeem(ctx context.Context, code, role string) (by string, err error) {
	h := invitationHash(code)
	now := d.now()
	err = d.update(ctx, InvitationsFile, func(old []byte, where string) ([]byte, error) {
		f, err := state.DecodeJSON[invitationsFile](old, where)
		if err != nil {
			return nil, err
		}
		keep := liveInvitations(f.Invitations, now)
		for i, inv := range keep {
			if inv.Hash != h {
				continue
			}
			if inv.Role != role {
				return nil, ErrRoleMismatch
			}
			by = inv.CreatedBy
			keep = append(keep[:i], keep[i+1:]...)
			return state.EncodeJSON(invitationsFile{Version: 1, Invitations: keep})
		}
		return nil, ErrBadInvitation
	})
	return by, err
}
