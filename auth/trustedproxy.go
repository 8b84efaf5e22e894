package auth

import (
	"errors"
	"net/http"
	"strings"

	"gateway/httperr"
	"gateway/request"
)

// trustedProxyMethod takes the user an identity-aware proxy in front
// (oauth2-proxy, Authelia, Pomerium, Tailscale Serve) names in a header.
// On the agent origin it is the only way in: a request that fails its
// checks is refused, never judged by another method.
type trustedProxyMethod struct {
	a  *Authenticator
	o  TrustedProxyOptions
	ok bool // gateway.trustedProxies is set
}

func newTrustedProxyMethod(a *Authenticator, o TrustedProxyOptions, haveProxies bool) (*trustedProxyMethod, error) {
	// Canonicalise header names once, not on every request.
	o.UserHeader = http.CanonicalHeaderKey(strings.TrimSpace(o.UserHeader))
	o.GroupsHeader = http.CanonicalHeaderKey(strings.TrimSpace(o.GroupsHeader))
	if o.UserHeader == "" {
		return nil, errors.New("auth: trusted-proxy mode needs gateway.auth.trustedProxy.userHeader")
	}
	return &trustedProxyMethod{a: a, o: o, ok: haveProxies}, nil
}

func (m *trustedProxyMethod) Name() string { return request.MethodTrustedProxy }

// Authenticate: on the agent origin every request is judged here; on the
// admin origin only a request the proxy identified, from a proxy honoured
// there (never on the admin listener; on admin.host only from a proxy not
// on this host, since a local process could forge the header).
func (m *trustedProxyMethod) Authenticate(r *http.Request, rec *request.Record) (*request.Identity, error) {
	if rec.Admin {
		honoured := !rec.AdminListener && rec.PeerTrusted && !rec.Peer.Addr().IsLoopback()
		if !honoured || r.Header.Get(m.o.UserHeader) == "" {
			return nil, nil
		}
	}
	refuse := func(msg string) error {
		return httperr.New(http.StatusUnauthorized, "proxy_auth_required", msg, ErrProxyAuth)
	}
	if !m.ok {
		return nil, refuse("trusted-proxy mode needs gateway.trustedProxies; every request is refused until it is set")
	}
	if !rec.PeerTrusted {
		return nil, refuse("request did not come from a trusted proxy")
	}
	if rec.Peer.Addr().IsLoopback() && !m.o.AllowLoopback {
		return nil, refuse("a loopback proxy is not accepted unless gateway.auth.trustedProxy.allowLoopback is true")
	}
	for _, h := range m.o.RequiredHeaders {
		if strings.TrimSpace(r.Header.Get(h)) == "" {
			return nil, refuse("a required proxy header is missing")
		}
	}
	user := strings.TrimSpace(r.Header.Get(m.o.UserHeader))
	if user == "" || len(r.Header.Values(m.o.UserHeader)) != 1 {
		return nil, refuse("the proxy sent no (or more than one) user header")
	}
	c := claim{method: request.MethodTrustedProxy, user: user}
	if m.o.GroupsHeader != "" {
		for _, line := range r.Header.Values(m.o.GroupsHeader) {
			for g := range strings.SplitSeq(line, ",") {
				if g = strings.TrimSpace(g); g != "" {
					c.groups = append(c.groups, g)
				}
			}
		}
	}
	id, err := m.a.people.admit(c)
	if errors.Is(err, ErrNotAdmitted) {
		// The code operators know from earlier versions.
		return nil, httperr.New(http.StatusForbidden, "user_not_allowed", "user not allowed", ErrProxyAuth)
	}
	return id, err
}

func (m *trustedProxyMethod) offer(rec *request.Record) (Offer, bool) {
	if rec.Admin {
		return Offer{}, false
	}
	return Offer{Note: "This gateway takes your identity from the sign-in proxy in front of it (oauth2-proxy, Authelia, Pomerium, Tailscale). There is nothing to sign in to here: open the agent through that proxy's address and sign in there."}, true
}
