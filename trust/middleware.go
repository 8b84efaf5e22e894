package trust

import (
	"net/http"
	"net/netip"

	"gateway/httperr"
	"gateway/request"
)

// ResolveRequest resolves r from its peer address and headers.
func (rv *Resolver) ResolveRequest(r *http.Request) (request.Trust, error) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return request.Trust{}, wrap(ErrBadPeer)
	}
	if len(rv.ownRoots) > 0 {
		if names, exact := namesOwnRoute(r.URL.EscapedPath(), rv.ownRoots); names && !exact {
			return request.Trust{}, ambiguousPath()
		}
	}
	return rv.Resolve(peer, r.Header, r.TLS != nil, r.Host)
}

// Middleware resolves every request once and stores the result in the
// request record, refuses the ones that fail (4xx, cause in the record), and
// strips forwarding headers from untrusted peers so nothing later can read
// them.
func (rv *Resolver) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, rec := request.Ensure(r)
		res, err := rv.ResolveRequest(r)
		if err != nil {
			httperr.Write(w, r, err)
			return
		}
		if !res.PeerTrusted {
			Strip(r.Header)
		}
		rec.Trust = res
		next.ServeHTTP(w, r)
	})
}
