// Package admin is the owner's actions on the gateway's state: approve,
// reject and revoke devices, invite one, end sessions, approve and reject
// chat pairing codes. Each action is one function here; the JSON API, the
// console's forms and the CLI are thin callers of it, so they cannot drift.
// It decides nothing about who may call it: the callers have checked that
// the caller is the owner, on the admin origin or the CLI.
package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"gateway/auth"
	"gateway/httperr"
	"gateway/policy"
	"gateway/request"
)

// Service performs the owner's actions on the shared state.
type Service struct {
	// Devices are the pending and paired devices and the invitations.
	Devices *auth.DeviceStore
	// Sessions are the sign-in sessions; nil where there are none to
	// manage (the CLI).
	Sessions *auth.SessionStore
	// SessionPolicy is the session lifetime rule in force.
	SessionPolicy auth.SessionPolicy
	// KnownClients are the owner's known-client cookies, ended with every
	// session.
	KnownClients *auth.KnownClients
	// Pairing holds the chat pairing codes and allowFrom approvals.
	Pairing *policy.Store
}

// Who names the caller of an action in what it records ("cli",
// "admin:owner").
type Who string

// DeviceApproval says which pending request to approve and for which role.
type DeviceApproval struct {
	// RequestID names the request; Latest picks the only one pending
	// (refused with the list when several are).
	RequestID string
	Latest    bool
	// Role confirms the role to grant; required to grant admin. Empty:
	// the role asked for.
	Role string
}

// ApproveDevice pairs the device of a pending request.
func (s *Service) ApproveDevice(ctx context.Context, a DeviceApproval, by Who) (auth.PairedDevice, error) {
	switch {
	case a.RequestID != "" && a.Latest:
		return auth.PairedDevice{}, badRequest("give requestId or latest, not both")
	case a.Latest:
		return deviceResult(s.Devices.ApproveOnly(ctx, a.Role, string(by)))
	case a.RequestID != "":
		return deviceResult(s.Devices.Approve(ctx, a.RequestID, a.Role, string(by)))
	}
	return auth.PairedDevice{}, badRequest("requestId or latest is required")
}

// RejectDevice drops a pending request.
func (s *Service) RejectDevice(ctx context.Context, requestID string) error {
	if requestID == "" {
		return badRequest("requestId is required")
	}
	return deviceErr(s.Devices.Reject(ctx, requestID))
}

// RevokeDevice unpairs a device: every token it holds stops working.
func (s *Service) RevokeDevice(ctx context.Context, deviceID string) error {
	if deviceID == "" {
		return badRequest("deviceId is required")
	}
	return deviceErr(s.Devices.Revoke(ctx, deviceID))
}

// Invitation is a device invitation just issued: the code is shown once.
type Invitation struct {
	Code      string    `json:"code"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Limits on invitations (SPEC "Devices: invitations").
const (
	DefaultInviteTTL = 10 * time.Minute
	MaxInviteTTL     = 24 * time.Hour
	MaxAdminInvite   = 15 * time.Minute
)

// InviteDevice issues a one-time invitation for role (default operator),
// valid for ttl (default DefaultInviteTTL). An invitation for admin is
// issued only where adminOK (the admin origin, the CLI) and lasts at most
// MaxAdminInvite.
func (s *Service) InviteDevice(ctx context.Context, role string, ttl time.Duration, adminOK bool, by Who) (Invitation, error) {
	if role == "" {
		role = request.RoleOperator
	}
	if !auth.ValidRole(role) {
		return Invitation{}, httperr.New(http.StatusBadRequest, "bad_request", "role must be operator, node or admin", auth.ErrBadRole)
	}
	if ttl == 0 {
		ttl = DefaultInviteTTL
	}
	limit := MaxInviteTTL
	if role == request.RoleAdmin {
		if !adminOK {
			return Invitation{}, httperr.New(http.StatusForbidden, "admin_elsewhere",
				"an invitation for the admin role is issued only on the admin origin or with the CLI", nil)
		}
		limit = MaxAdminInvite
	}
	if ttl < time.Minute || ttl > limit {
		return Invitation{}, badRequest("ttl must be between 1m and " + limit.String() + " for role " + role)
	}
	code, exp, err := s.Devices.Invite(ctx, role, ttl, string(by))
	if err != nil {
		return Invitation{}, err
	}
	return Invitation{Code: code, Role: role, ExpiresAt: exp}, nil
}

// RevokeSession ends one session by its stored id.
func (s *Service) RevokeSession(ctx context.Context, id string) error {
	if id == "" {
		return badRequest("id is required")
	}
	return storeErr(s.Sessions.RevokeID(ctx, id, s.SessionPolicy))
}

// RevokeAllSessions ends every session, and every known-client cookie
// with them ("sign out everywhere").
func (s *Service) RevokeAllSessions(ctx context.Context) error {
	if err := s.Sessions.RevokeAll(ctx, s.SessionPolicy); err != nil {
		return storeErr(err)
	}
	if s.KnownClients != nil {
		return storeErr(s.KnownClients.RevokeAll(ctx))
	}
	return nil
}

// ApprovePairing lets the sender of a pending chat pairing code through;
// it returns the sender.
func (s *Service) ApprovePairing(ctx context.Context, channel, code string) (string, error) {
	if strings.TrimSpace(code) == "" {
		return "", badRequest("code is required")
	}
	from, err := s.Pairing.Approve(ctx, channel, strings.TrimSpace(code))
	return from, pairingErr(err)
}

// RejectPairing drops a pending chat pairing code.
func (s *Service) RejectPairing(ctx context.Context, channel, code string) error {
	if strings.TrimSpace(code) == "" {
		return badRequest("code is required")
	}
	return pairingErr(s.Pairing.Reject(ctx, channel, strings.TrimSpace(code)))
}

func badRequest(msg string) error {
	return httperr.New(http.StatusBadRequest, "bad_request", msg, nil)
}

func deviceResult(d auth.PairedDevice, err error) (auth.PairedDevice, error) {
	return d, deviceErr(err)
}

// deviceErr gives the device store's refusals their public answer.
func deviceErr(err error) error {
	var amb *auth.AmbiguousError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &amb):
		return err // the caller lists the pending requests
	case errors.Is(err, auth.ErrNoRequest):
		return httperr.New(http.StatusNotFound, "not_found", "no such pending request (expired?)", err)
	case errors.Is(err, auth.ErrNoDevice):
		return httperr.New(http.StatusNotFound, "not_found", "no such paired device", err)
	case errors.Is(err, auth.ErrAdminNotConfirmed):
		return httperr.New(http.StatusConflict, "role_confirmation_required",
			"the request asks for the admin role; approve it with \"role\":\"admin\" (--role admin) to confirm, or with another role", err)
	case errors.Is(err, auth.ErrBadRole):
		return httperr.New(http.StatusBadRequest, "bad_request", "role must be operator, node or admin", err)
	}
	return storeErr(err)
}

// PairingError gives the pairing store's refusals their public answer
// (the chat inbound path meets them too).
func PairingError(err error) error { return pairingErr(err) }

// pairingErr gives the pairing store's refusals their public answer.
func pairingErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, policy.ErrNoCode):
		return httperr.New(http.StatusNotFound, "unknown_code", "no such pending pairing code (expired?)", err)
	case errors.Is(err, policy.ErrCorrupt):
		return httperr.New(http.StatusServiceUnavailable, "state_corrupt", "pairing state is unreadable; see the gateway log", err)
	case errors.Is(err, policy.ErrBadChannel):
		return httperr.New(http.StatusBadRequest, "bad_channel", "channel names are [a-z0-9_-]{1,64}", err)
	}
	return storeErr(err)
}

// storeErr makes a failure to read or write the state a 503, never "not
// there".
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	var he *httperr.Error
	if errors.As(err, &he) {
		return err
	}
	return auth.StoreUnavailable(err)
}
