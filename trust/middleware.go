package trust

import (
	"context"
	"net/http"
	"net/netip"
	"strings"

	"gateway/httperr"
)

type ctxKey struct{}

// slot is a place in the context for the Result, filled in later by the
// middleware without copying the request again (each r.WithContext is a
// 250-byte allocation on the hot path).
type slot struct{ res *Result }

// WithResult returns ctx carrying res.
func WithResult(ctx context.Context, res *Result) context.Context {
	return context.WithValue(ctx, ctxKey{}, &slot{res: res})
}

// WithSlot returns ctx with an empty place for the Result, which
// Middleware fills in place.
func WithSlot(ctx context.Context) context.Context {
	return context.WithValue(ctx, ctxKey{}, &slot{})
}

// FromContext returns the Result decided for this request, if any.
func FromContext(ctx context.Context) (*Result, bool) {
	s, ok := ctx.Value(ctxKey{}).(*slot)
	if !ok || s.res == nil {
		return nil, false
	}
	return s.res, true
}

// ResolveRequest resolves r and fills ForwardedFor for the upstream.
func (rv *Resolver) ResolveRequest(r *http.Request) (Result, error) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return Result{}, wrap(ErrBadPeer)
	}
	res, err := rv.Resolve(peer, r.Header, r.TLS != nil, r.Host)
	if err != nil {
		return Result{}, err
	}
	res.ForwardedFor = forwardedFor(&res, r.Header)
	return res, nil
}

// forwardedFor builds the outgoing X-Forwarded-For: the resolved client and
// the trusted hops to its right, as received, then the peer. Entries left of
// the client were chosen by the client and are dropped, so an upstream that
// naively reads the leftmost entry still gets the right answer.
func forwardedFor(res *Result, h http.Header) string {
	if res.Source == SourcePeer {
		return res.Peer.Addr().String() // the common, direct case
	}
	var b strings.Builder
	add := func(a netip.Addr) {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.String())
	}
	switch res.Source {
	case SourceXForwardedFor:
		var list entries
		if splitXFF(h[HeaderXForwardedFor], &list) == nil {
			for i := list.n - res.chainHops; i < list.n; i++ {
				if a, err := parseNode(list.s[i], false); err == nil {
					add(a)
				}
			}
		}
	case SourceForwarded:
		var els elements
		if parseForwarded(h[HeaderForwarded], &els) == nil {
			for i := els.n - res.chainHops; i < els.n; i++ {
				if a, err := parseNode(els.e[i].forv, true); err == nil {
					add(a)
				}
			}
		}
	case SourceXRealIP:
		add(res.Client)
	}
	add(res.Peer.Addr())
	return b.String()
}

// Middleware resolves every request once, refuses the ones that fail (JSON
// 4xx), strips forwarding headers from untrusted peers, and stores the
// Result in the context. onError, if set, is told about each refusal.
func (rv *Resolver) Middleware(onError func(*http.Request, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			res, err := rv.ResolveRequest(r)
			if err != nil {
				if onError != nil {
					onError(r, err)
				}
				httperr.Write(w, err)
				return
			}
			if !res.PeerTrusted {
				Strip(r.Header)
			}
			if s, ok := r.Context().Value(ctxKey{}).(*slot); ok && s.res == nil {
				s.res = &res
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithResult(r.Context(), &res)))
		})
	}
}
