package auth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"gateway/httperr"
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
	if !a.device {
		return httperr.New(http.StatusNotFound, "device_auth_disabled", "device auth is not enabled", nil)
	}
	return nil
}

// Challenge issues a single-use nonce for device auth.
func (a *Authenticator) Challenge(r *http.Request) (string, time.Time, error) {
	if err := a.deviceEnabled(); err != nil {
		return "", time.Time{}, err
	}
	nonce, exp, err := a.deps.Nonces.Issue()
	if errors.Is(err, ErrTooManyChallenges) {
		return "", time.Time{}, httperr.New(http.StatusTooManyRequests, "busy", "too many outstanding challenges; retry shortly", err)
	}
	return nonce, exp, err
}

// Connect verifies a signed challenge. A paired device gets a token; an
// unknown one gets a pending pairing request, approved silently only for a
// clean local request with autoApproveLocal (never through a proxy).
func (a *Authenticator) Connect(ctx context.Context, r *http.Request, req ConnectRequest) (ConnectResult, error) {
	if err := a.deviceEnabled(); err != nil {
		return ConnectResult{}, err
	}
	res := resultOf(r)
	if err := a.checkLocked(ScopeDevice, res); err != nil {
		return ConnectResult{}, err
	}
	now := a.deps.Now()
	pub, err := VerifyConnect(req, a.deps.Nonces, now)
	if err != nil {
		// Every one of these is a wrong credential (a forged or
		// replayed proof), so each counts toward the lockout.
		e := a.failed(ScopeDevice, res, ErrBadCredentials)
		var he *httperr.Error
		if errors.As(e, &he) && he.Status == http.StatusUnauthorized {
			he.Msg = "device proof refused: " + err.Error()
			if errors.Is(err, ErrBadDeviceRequest) {
				he.Status, he.Code = http.StatusBadRequest, "bad_request"
			}
		}
		return ConnectResult{}, e
	}
	a.deps.Limiter.Succeed(ScopeDevice, res.Client)
	id := DeviceID(pub)
	dev, paired, _, err := a.deps.Devices.Lookup(id, "")
	if err != nil {
		return ConnectResult{}, httperr.New(http.StatusServiceUnavailable, "state_unreadable", "device store unreadable", err)
	}
	autoApproved := false
	if !paired && a.autoLoc && res.Local {
		dev = PairedDevice{DeviceID: id, PublicKey: req.PublicKey, Role: req.Role, ApprovedAtMs: now.UnixMilli(), ApprovedBy: "auto-local"}
		if err := a.deps.Devices.Pair(ctx, dev); err != nil {
			return ConnectResult{}, err
		}
		paired, autoApproved = true, true
	}
	if !paired {
		p, err := a.deps.Devices.AddPending(ctx, PendingRequest{DeviceID: id, PublicKey: req.PublicKey, Role: req.Role,
			Client: res.Client.String(), ViaProxy: res.ViaProxy})
		if err != nil {
			return ConnectResult{}, err
		}
		return ConnectResult{Status: "pending", DeviceID: id, Role: req.Role, RequestID: p.RequestID,
			ExpiresAt: time.UnixMilli(p.CreatedAtMs).Add(PendingTTL)}, nil
	}
	if req.Role != dev.Role && dev.Role != RoleAdmin {
		return ConnectResult{}, httperr.New(http.StatusForbidden, "role_not_approved", "role "+req.Role+" was not approved for this device", ErrRoleNotApproved)
	}
	tok, exp, err := a.deps.Tokens.Issue(id, req.Role, a.tokenTTL)
	if err != nil {
		return ConnectResult{}, err
	}
	return ConnectResult{Status: "paired", DeviceID: id, Role: req.Role, Token: tok, ExpiresAt: exp, AutoApproved: autoApproved}, nil
}
