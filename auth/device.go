package auth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"gateway/httperr"
	"gateway/jsonhttp"
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

// deviceMethod is a paired device: Ed25519 challenge and connect
// (/auth/device/*), then short-lived device tokens as bearer credentials.
type deviceMethod struct {
	a *Authenticator
	o DeviceOptions
}

func (m *deviceMethod) Name() string { return request.MethodDevice }

func (m *deviceMethod) Authenticate(r *http.Request, rec *request.Record) (*request.Identity, error) {
	return authenticateCredential(m, r, rec)
}

// takes JWT-shaped bearer values while device auth is on.
func (m *deviceMethod) takes(p presented) bool {
	return m.o.Enabled && p.carrier != request.CredentialCookie && LooksLikeJWT(p.value)
}

func (m *deviceMethod) check(ctx context.Context, rec *request.Record, p presented) (*request.Identity, error) {
	att, err := m.a.reserve(ctx, ScopeDevice, rec)
	if err != nil {
		return nil, err
	}
	id, err := m.verifyToken(ctx, p.value)
	if err != nil {
		att.Cancel()
		return nil, StoreUnavailable(err)
	}
	if id == nil {
		return nil, m.a.failed(att)
	}
	att.Succeed()
	return id, nil
}

// verifyToken returns the identity of a valid device token, nil for an
// invalid one, or an error when the device lists cannot be read (never
// loaded, or not decodable): refused either way.
func (m *deviceMethod) verifyToken(ctx context.Context, tok string) (*request.Identity, error) {
	st := m.a.st
	claims, err := st.Tokens.Parse(tok)
	if err != nil {
		return nil, nil
	}
	dev, paired, revoked, err := st.Devices.LookupToken(ctx, claims.Subject, claims.ID)
	if err != nil {
		return nil, err
	}
	if !paired || revoked {
		return nil, nil
	}
	// A token from an earlier pairing (the device was revoked and paired
	// again, however quickly) names another pairing id: dead.
	if claims.PairingID != dev.PairingID {
		return nil, nil
	}
	if claims.Role != dev.Role && dev.Role != request.RoleAdmin {
		return nil, nil
	}
	return &request.Identity{User: "device:" + dev.DeviceID[:16], Method: request.MethodDevice, Role: claims.Role, DeviceID: dev.DeviceID, TokenID: claims.ID}, nil
}

// Routes are the device endpoints, on the agent origin.
func (m *deviceMethod) Routes() []Route {
	return []Route{
		{Method: http.MethodPost, Path: "/auth/device/challenge", Handler: m.challenge, AgentOnly: true},
		{Method: http.MethodPost, Path: "/auth/device/connect", Handler: m.connect, AgentOnly: true},
	}
}

type challengeResponse struct {
	Nonce     string    `json:"nonce"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (m *deviceMethod) challenge(w http.ResponseWriter, r *http.Request) {
	nonce, exp, err := m.a.Challenge(r)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, challengeResponse{Nonce: nonce, ExpiresAt: exp})
}

func (m *deviceMethod) connect(w http.ResponseWriter, r *http.Request) {
	var req ConnectRequest
	if err := jsonhttp.Decode(w, r, &req); err != nil {
		httperr.Write(w, r, err)
		return
	}
	res, err := m.a.Connect(r.Context(), r, req)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	status := http.StatusOK
	if res.Status == "pending" {
		status = http.StatusAccepted
	}
	jsonhttp.Write(w, status, res)
}

func (a *Authenticator) deviceEnabled() error {
	if !a.device.o.Enabled {
		return httperr.New(http.StatusNotFound, "device_auth_disabled", "device auth is not enabled", nil)
	}
	return nil
}

// Challenge issues a single-use nonce for device auth.
func (a *Authenticator) Challenge(r *http.Request) (string, time.Time, error) {
	if err := a.deviceEnabled(); err != nil {
		return "", time.Time{}, err
	}
	nonce, exp, err := a.st.Nonces.Issue(r.Context(), recordOf(r).Client)
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
	return a.device.o.AutoApproveLocal && role != request.RoleAdmin && rec.Local()
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
		a.observed(request.MethodDevice, errOrNil(verified, err))
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
	att, err := a.reserve(ctx, ScopeDevice, rec)
	if err != nil {
		return ConnectResult{}, err
	}
	now := a.st.Now()
	pub, err := VerifyConnect(ctx, req, a.st.Nonces, now)
	if store.IsUnavailable(err) || ctx.Err() != nil {
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
	dev, paired, _, err := a.st.Devices.Lookup(ctx, id, "")
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
	tok, exp, err := a.st.Tokens.Issue(dev, req.Role, a.device.o.TokenTTL)
	if err != nil {
		return ConnectResult{}, err
	}
	return ConnectResult{Status: "paired", DeviceID: id, Role: req.Role, Token: tok, ExpiresAt: exp, AutoApproved: autoApproved}, nil
}

// redeem pairs the device with its invitation's role. Wrong, used and
// expired codes count in their own lockout scope; a connect signing another
// role than the invitation's is refused without using it up.
func (a *Authenticator) redeem(ctx context.Context, rec *request.Record, req ConnectRequest, id string, now time.Time) (PairedDevice, error) {
	att, err := a.reserve(ctx, ScopeInvite, rec)
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
