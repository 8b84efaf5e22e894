package auth

import (
	"net/http"

	"gateway/request"
)

// noneMethod is mode none: no credential at all, so only the owner at this
// machine: a request through any proxy, for a foreign Host, from another
// site's page or from another Unix user's process is refused. It is the
// owner, but never admin, on the agent origin; on the admin listener the
// owner's own processes are the owner (admin).
type noneMethod struct{}

func (noneMethod) Name() string { return request.MethodNone }

func (noneMethod) Authenticate(r *http.Request, rec *request.Record) (*request.Identity, error) {
	switch {
	case !rec.Admin:
		if !rec.Local() {
			return nil, unauthorized(ErrNotLocal)
		}
		return &request.Identity{User: request.Owner, Method: request.MethodNone, Role: request.RoleUser}, nil
	case rec.AdminListener && rec.Local():
		return &request.Identity{User: request.Owner, Method: request.MethodNone, Role: request.RoleAdmin}, nil
	}
	return nil, nil
}

func (noneMethod) offer(rec *request.Record) (Offer, bool) {
	if rec.Admin {
		return Offer{}, false
	}
	return Offer{Note: "This gateway runs without authentication (gateway.auth.mode: none) and serves only requests from its own host, with no proxy in between."}, true
}
