package trust

import (
	"net/http"
	"net/netip"
	"testing"
)

// BenchmarkResolve4Hop measures one resolution over a 4-hop chain through a
// trusted proxy, including the outgoing X-Forwarded-For chain built during
// the walk (its one allocation; the chain used to be re-parsed afterwards).
func BenchmarkResolve4Hop(b *testing.B) {
	rv := New(Options{TrustedProxies: prefixes("127.0.0.1", "10.0.0.0/8", "192.168.0.0/16", "::1")})
	h := http.Header{
		"X-Forwarded-For":   {"6.6.6.6, 203.0.113.7, 10.1.1.1, 192.168.1.1"},
		"X-Forwarded-Proto": {"https"},
	}
	peer := netip.MustParseAddrPort("127.0.0.1:5555")
	b.ReportAllocs()
	for b.Loop() {
		res, err := rv.Resolve(peer, h, false, "127.0.0.1")
		if err != nil || res.Client.Is6() {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolveDirect is the no-proxy fast path: the Host allowlist,
// locality, no allocation.
func BenchmarkResolveDirect(b *testing.B) {
	rv := New(Options{TrustedProxies: prefixes("127.0.0.1")})
	h := http.Header{"Authorization": {"Bearer x"}}
	peer := netip.MustParseAddrPort("203.0.113.7:5555")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rv.Resolve(peer, h, false, "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}
