package trust

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"slices"

	"gateway/httperr"
	"gateway/peercred"
	"gateway/request"
)

// ResolveRequest resolves r from its peer address and headers.
func (rv *Resolver) ResolveRequest(r *http.Request) (request.Trust, error) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if _, unix := r.Context().Value(peerUIDKey{}).(int); unix {
		// A Unix-socket peer is on this host; its user is known.
		peer, err = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0), nil
	}
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
		if res.LoopbackClean {
			rec.SetLocalOwner(func() bool { return rv.ownerIsLocal(r.Context(), res.Peer) })
		}
		next.ServeHTTP(w, r)
	})
}

// peerUIDKey carries the uid of a Unix-socket connection's peer
// (SO_PEERCRED), put in the connection's context by the server.
type peerUIDKey struct{}

// WithPeerUID returns ctx carrying the uid of a Unix-socket peer.
func WithPeerUID(ctx context.Context, uid int) context.Context {
	return context.WithValue(ctx, peerUIDKey{}, uid)
}

// ownerIsLocal reports whether the connecting socket belongs to one of the
// local users: a Unix-socket peer by its SO_PEERCRED uid, a TCP peer by
// the owner of its end of the connection in /proc/net/tcp{,6}. Unknown is
// not local.
func (rv *Resolver) ownerIsLocal(ctx context.Context, peer netip.AddrPort) bool {
	if uid, ok := ctx.Value(peerUIDKey{}).(int); ok {
		return slices.Contains(rv.localUIDs, uid)
	}
	la, ok := ctx.Value(http.LocalAddrContextKey).(*net.TCPAddr)
	if !ok {
		return false
	}
	uid, err := peercred.TCPOwner(peer, la.AddrPort())
	return err == nil && slices.Contains(rv.localUIDs, uid)
}
