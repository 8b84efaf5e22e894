// Package auth decides who a caller is: shared token (and, in later modes,
// password sessions, devices and trusted-proxy users). It compares secrets in
// constant time, never logs them, and never falls back to a weaker mode than
// the one configured.
package auth

import "context"

// Identity is an authenticated caller.
type Identity struct {
	// User names the caller ("owner" for the shared token).
	User string
	// Method is how they authenticated: "token", "none", ...
	Method string
	// Role is "admin" for the owner; other roles come with devices.
	Role string
	// Credential names the request part that carried the secret, so the
	// proxy can remove it before the upstream sees it: "authorization",
	// "websocket-protocol", "cookie" or "".
	Credential string
	// DeviceID and TokenID identify a device token's device and jti.
	DeviceID, TokenID string
}

// IsAdmin reports whether the identity is the owner.
func (id *Identity) IsAdmin() bool { return id != nil && id.Role == RoleAdmin }

// Roles.
const (
	RoleAdmin = "admin"
)

type ctxKey struct{}

// slot is a place in the context for the identity, filled in by the
// middleware without another r.WithContext.
type slot struct{ id *Identity }

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, &slot{id: id})
}

// WithSlot returns ctx with an empty place for the identity.
func WithSlot(ctx context.Context) context.Context {
	return context.WithValue(ctx, ctxKey{}, &slot{})
}

// FromContext returns the caller's identity, if authenticated.
func FromContext(ctx context.Context) (*Identity, bool) {
	s, ok := ctx.Value(ctxKey{}).(*slot)
	if !ok || s.id == nil {
		return nil, false
	}
	return s.id, true
}

// setInContext fills a pre-installed slot; it reports false if there is
// none (or it is taken), and the caller must use WithIdentity.
func setInContext(ctx context.Context, id *Identity) bool {
	s, ok := ctx.Value(ctxKey{}).(*slot)
	if !ok || s.id != nil {
		return false
	}
	s.id = id
	return true
}
