package auth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"gateway/httperr"
	"gateway/request"
	"gateway/store"
)

// ConnectResult is the answer to POST /auth/device/connect.
type ConnectResult struct {
	// Status is "paired" (Token is set) or "pending" (RequestID is set:
	// the owner must approve, then the device connects again).
	Status       string    `json:"status"`
	DeviceID     string    `json:"deviceId"`
	Role         string    `json:"role"`
	Token        string    `json:"token,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt"`
	RequestID    string    `json:"requestId,omitempty"`
	AutoApproved bool      `json:"autoApproved,omitempty"`
}

func (a *Authenticator) deviceEnabled() error {
	if !a.device.Enabled {
		return httperr.New(http.StatusNotFound, "device_auth_disabled", "device auth is not enabled", nil)
	}
	return nil
}

// Challenge issues a single-use nonce for device auth.
func (a *Authenticator) Challenge(r *http.Request) (string, time.Time, error) {
	if err := a.deviceEnabled(); err != nil {
		return "", time.Time{}, err
	}
	nonce, exp, err := a.st.Nonces.Issue(recordOf(r).Client)
	if errors.Is(err, ErrTooManyChallenges) {
		return "", time.Time{}, httperr.New(http.StatusTooManyRequests, "busy", "too many outstanding challenges; retry shortly", err)
	}
	return nonce, exp, err // store.ErrUnavailable answers itself: 503 store_unavailable
}

// autoApprove reports whether a connect may be paired without the owner:
// only a clean local request (this host, no proxy, loopback Host, not from
// another site's page) with autoApproveLocal on, and never for the admin
// role, which only the owner grants.
func (a *Authenticator) autoApprove(rec *request.Record, role string) bool {
	return a.device.AutoApproveLocal && role != request.RoleAdmin && rec.Local()
}

// Connect verifies a signed challenge. A paired device gets a token; an
// unknown one gets a pending pairing request, or is paired at once when
// autoApprove allows.
func (a *Authenticator) Connect(ctx context.Context, r *http.Request, req ConnectRequest) (ConnectResult, error) {
	if err := a.deviceEnabled(); err != nil {
		return ConnectResult{}, err
	}
	verified := false
	res, err := a.connect(ctx, r, req, &verified)
	if verified || err != nil {
		a.observed(MethodDevice, errOrNil(verified, err))
	}
	return res, err
}

// errOrNil is what Observe is told about a connect: success once the
// proof was verified, whatever happened to the pairing after it.
func errOrNil(verified bool, err error) error {
	if verified {
		return nil
	}
	return err
}

func (a *Authenticator) connect(ctx context.Context, r *http.Request, req ConnectRequest, verified *bool) (ConnectResult, error) {
	rec := recordOf(r)
	att, err := a.reserve(ScopeDevice, rec)
	if err != nil {
		return ConnectResult{}, err
	}
	now := a.st.Now()
	pub, err := VerifyConnect(req, a.st.Nonces, now)
	if store.IsUnavailable(err) {
		// The nonce could not be checked: nothing was verified.
		att.Cancel()
		return ConnectResult{}, err
	}
	if err != nil {
		// Every one of these is a wrong credential (a forged or
		// replayed proof), so each counts toward the lockout.
		e := a.failed(att)
		var he *httperr.Error
		if errors.As(e, &he) {
			he.Msg = "device proof refused: " + err.Error()
			if errors.Is(err, ErrBadDeviceRequest) {
				he.Status, he.Code = http.StatusBadRequest, "bad_request"
			}
		}
		return ConnectResult{}, e
	}
	att.Succeed()
	*verified = true
	id := DeviceID(pub)
	dev, paired, _, err := a.st.Devices.Lookup(id, "")
	if store.IsUnavailable(err) {
		return ConnectResult{}, err
	}
	if err != nil {
		return ConnectResult{}, httperr.New(http.StatusServiceUnavailable, "state_unreadable", "device store unreadable", err)
	}
	autoApproved := false
	if !paired && req.Invite != "" {
		// An invitation skips the queue: a flood of pending requests
		// never keeps the owner from adding a device. A device that
		// already used its code and retries is paired by now and is
		// answered as any connect.
		if dev, err = a.redeem(ctx, rec, req, id, now); err != nil {
			return ConnectResult{}, err
		}
		paired = true
	}
	if !paired && a.autoApprove(rec, req.Role) {
		dev, err = a.st.Devices.Pair(ctx, PairedDevice{DeviceID: id, PublicKey: req.PublicKey, Role: req.Role, ApprovedAtMs: now.UnixMilli(), ApprovedBy: "auto-local"})
		if err != nil {
			return ConnectResult{}, err
		}
		paired, autoApproved = true, true
	}
	if !paired {
		p, err := a.st.Devices.AddPending(ctx, PendingRequest{DeviceID: id, PublicKey: req.PublicKey, Role: req.Role, ViaProxy: rec.ViaProxy}, rec.Client)
		if errors.Is(err, ErrTooManyPending) {
			return ConnectResult{}, httperr.New(http.StatusTooManyRequests, "too_many_pending",
				"too many pairing requests are waiting for the owner; retry after they are approved, rejected or expire (5 minutes)", err)
		}
		if err != nil {
			return ConnectResult{}, err
		}
		return ConnectResult{Status: "pending", DeviceID: id, Role: req.Role, RequestID: p.RequestID,
			ExpiresAt: time.UnixMilli(p.CreatedAtMs).Add(PendingTTL)}, nil
	}
	if req.Role != dev.Role && dev.Role != request.RoleAdmin {
		return ConnectResult{}, httperr.New(http.StatusForbidden, "role_not_approved", "role "+req.Role+" was not approved for this device", ErrRoleNotApproved)
	}
	tok, exp, err := a.st.Tokens.Issue(dev, req.Role, a.device.TokenTTL)
	if err != nil {
		return ConnectResult{}, err
	}
	return ConnectResult{Status: "paired", DeviceID: id, Role: req.Role, Token: tok, ExpiresAt: exp, AutoApproved: autoApproved}, nil
}

// redeem pairs the device with its invitation's role. Wrong, used and
// expired codes count in their own lockout scope; a connect signing another
// role than the invitation's is refused without using it up.
func (a *Authenticator) redeem(ctx context.Context, rec *request.Record, req ConnectRequest, id string, now time.Time) (PairedDevice, error) {
	att, err := a.reserve(ScopeInvite, rec)
	if err != nil {
		return PairedDevice{}, err
	}
	by, err := a.st.Devices.Redeem(ctx, req.Invite, req.Role)
	switch {
	case errors.Is(err, ErrBadInvitation):
		att.Fail()
		return PairedDevice{}, httperr.New(http.StatusUnauthorized, "invalid_invitation", "unknown, used or expired invitation", err)
	case errors.Is(err, ErrRoleMismatch):
		att.Cancel()
		return PairedDevice{}, httperr.New(http.StatusBadRequest, "role_mismatch", "the invitation is for another role; connect with the role it grants", err)
	case err != nil:
		att.Cancel()
		return PairedDevice{}, StoreUnavailable(err)
	}
	att.Succeed()
	return a.st.Devices.Pair(ctx, PairedDevice{DeviceID: id, PublicKey: req.PublicKey, Role: req.Role, ApprovedAtMs: now.UnixMilli(), ApprovedBy: "invite:" + by})
}
