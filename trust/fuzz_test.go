package trust

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"gateway/request"
)

// FuzzResolve checks the invariants that make trust safe to expose: it never
// panics; the result is a valid address or an error; an untrusted peer's
// result is always the peer; a request with forwarding headers is never
// local; a Host the gateway does not serve never resolves; the outgoing
// chain holds only addresses, client first and peer last.
func FuzzResolve(f *testing.F) {
	seeds := []struct{ peer, xff, fwd, xri, proto, host string }{
		{"127.0.0.1:1", "203.0.113.7", "", "", "", "127.0.0.1:18780"},
		{"127.0.0.1:1", "", "", "", "", "rebind.attacker.example"},
		{"[::1]:1", "", "", "", "", "[::1]:80"},
		{"127.0.0.1:1", "", `for=1.2.3.4;host="evil"`, "", "", "localhost"},
		{"127.0.0.1:1", "6.6.6.6, 203.0.113.7, 10.0.0.1", "", "", "https", "localhost"},
		{"10.0.0.1:1", "[2001:db8::1]:80, fe80::1%eth0", "", "", "", "localhost"},
		{"[::1]:1", "", `for="[2001:db8:cafe::17]:4711";proto=https, for=_hidden`, "", "", "localhost"},
		{"127.0.0.1:1", "", "", "203.0.113.7", "", "localhost"},
		{"203.0.113.9:1", "127.0.0.1", "for=127.0.0.1", "127.0.0.1", "https", "localhost"},
		{"127.0.0.2:1", "0.0.0.0", "for=unknown", "::", "gopher", "localhost"},
		{"10.9.9.9:1", "::ffff:10.0.0.1,,", `for="`, "x", "", "localhost"},
	}
	for _, s := range seeds {
		f.Add(s.peer, s.xff, s.fwd, s.xri, s.proto, s.host)
	}
	rv := New(Options{TrustedProxies: prefixes("127.0.0.1", "10.0.0.0/8", "::1"), AllowRealIPFallback: true})
	f.Fuzz(func(t *testing.T, peerS, xff, fwd, xri, proto, host string) {
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
		res, err := rv.Resolve(peer, h, false, host)
		if err != nil {
			return
		}
		// A name that is not served never resolves (DNS rebinding), and
		// a local request always names a loopback host.
		if kind, _ := classifyHost(res.Host); kind == hostName {
			t.Fatalf("host %q resolved though not served", res.Host)
		}
		if kind, _ := classifyHost(host); res.LoopbackClean && kind != hostLoopback {
			t.Fatalf("local with Host %q", host)
		}
		// The outgoing chain ends with the resolved client's entry and
		// holds only addresses: entries the client chose left of it are
		// never passed on.
		ff := res.OutgoingForwardedFor()
		parts := strings.Split(ff, ", ")
		if len(parts) < 1 || parts[len(parts)-1] != peer.Addr().Unmap().String() {
			t.Fatalf("outgoing XFF %q does not end with the peer", ff)
		}
		if res.Source != request.SourcePeer && parts[0] != res.Client.String() {
			t.Fatalf("outgoing XFF %q does not start with the client %v", ff, res.Client)
		}
		for _, p := range parts {
			if _, err := netip.ParseAddr(p); err != nil {
				t.Fatalf("outgoing XFF %q holds a non-address %q", ff, p)
			}
		}
		if !res.Client.IsValid() || res.Client.IsUnspecified() {
			t.Fatalf("invalid client %v", res.Client)
		}
		if !rv.Trusted(peer.Addr()) && res.Client != peer.Addr().Unmap() {
			t.Fatalf("untrusted peer %v resolved to %v", peer, res.Client)
		}
		if len(h) > 0 && res.LoopbackClean {
			t.Fatalf("request with forwarding headers is local")
		}
		if res.Proto != "http" && res.Proto != "https" {
			t.Fatalf("proto %q", res.Proto)
		}
	})
}
