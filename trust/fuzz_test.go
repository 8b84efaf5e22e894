package trust

import (
	"net/http"
	"net/netip"
	"testing"
)

// FuzzResolve checks the invariants that make trust safe to expose: it never
// panics; the result is a valid address or an error; an untrusted peer's
// result is always the peer; a request with forwarding headers is never
// local.
func FuzzResolve(f *testing.F) {
	seeds := []struct{ peer, xff, fwd, xri, proto string }{
		{"127.0.0.1:1", "203.0.113.7", "", "", ""},
		{"127.0.0.1:1", "6.6.6.6, 203.0.113.7, 10.0.0.1", "", "", "https"},
		{"10.0.0.1:1", "[2001:db8::1]:80, fe80::1%eth0", "", "", ""},
		{"[::1]:1", "", `for="[2001:db8:cafe::17]:4711";proto=https, for=_hidden`, "", ""},
		{"127.0.0.1:1", "", "", "203.0.113.7", ""},
		{"203.0.113.9:1", "127.0.0.1", "for=127.0.0.1", "127.0.0.1", "https"},
		{"127.0.0.2:1", "0.0.0.0", "for=unknown", "::", "gopher"},
		{"10.9.9.9:1", "::ffff:10.0.0.1,,", `for="`, "x", ""},
	}
	for _, s := range seeds {
		f.Add(s.peer, s.xff, s.fwd, s.xri, s.proto)
	}
	rv := New(Options{TrustedProxies: prefixes("127.0.0.1", "10.0.0.0/8", "::1"), AllowRealIPFallback: true})
	f.Fuzz(func(t *testing.T, peerS, xff, fwd, xri, proto string) {
		peer, err := netip.ParseAddrPort(peerS)
		if err != nil {
			return
		}
		h := http.Header{}
		if xff != "" {
			h["X-Forwarded-For"] = []string{xff}
		}
		if fwd != "" {
			h["Forwarded"] = []string{fwd}
		}
		if xri != "" {
			h["X-Real-Ip"] = []string{xri}
		}
		if proto != "" {
			h["X-Forwarded-Proto"] = []string{proto}
		}
		res, err := rv.Resolve(peer, h, false, "gw")
		if err != nil {
			return
		}
		if !res.Client.IsValid() || res.Client.IsUnspecified() {
			t.Fatalf("invalid client %v", res.Client)
		}
		if !rv.Trusted(peer.Addr()) && res.Client != peer.Addr().Unmap() {
			t.Fatalf("untrusted peer %v resolved to %v", peer, res.Client)
		}
		if len(h) > 0 && res.Local {
			t.Fatalf("request with forwarding headers is local")
		}
		if res.Proto != "http" && res.Proto != "https" {
			t.Fatalf("proto %q", res.Proto)
		}
		_ = forwardedFor(&res, h)
	})
}
