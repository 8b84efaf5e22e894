package trust

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"gateway/httperr"
	"gateway/request"
)

// Sources, short for the tables.
const (
	SourcePeer          = request.SourcePeer
	SourceXForwardedFor = request.SourceXForwardedFor
	SourceForwarded     = request.SourceForwarded
	SourceXRealIP       = request.SourceXRealIP
)

// testHost is the Host the resolution table's requests carry: a loopback
// literal, so the allowlist passes and locality depends on the rest.
const testHost = "127.0.0.1:18780"

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		if !strings.Contains(s, "/") {
			a := netip.MustParseAddr(s)
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		out = append(out, netip.MustParsePrefix(s).Masked())
	}
	return out
}

type hdr [][2]string

func (h hdr) header() http.Header {
	out := http.Header{}
	for _, kv := range h {
		out.Add(kv[0], kv[1])
	}
	return out
}

func TestResolve(t *testing.T) {
	std := Options{TrustedProxies: prefixes("127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"), AllowedHosts: []string{"agent.example.com"}}
	tests := []struct {
		name    string
		opts    Options
		peer    string
		h       hdr
		tls     bool
		want    string // client; "" when an error is expected
		wantErr error
		local   bool
		via     bool
		src     request.Source
		proto   string
		host    string
		xff     string // outgoing X-Forwarded-For
	}{
		// Untrusted peers.
		{name: "direct no headers", opts: std, peer: "203.0.113.9:5000", want: "203.0.113.9", src: SourcePeer, xff: "203.0.113.9"},
		{name: "untrusted remote peer headers ignored", opts: std, peer: "203.0.113.9:5000",
			h:    hdr{{"X-Forwarded-For", "127.0.0.1"}, {"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "evil"}},
			want: "203.0.113.9", via: true, proto: "http", xff: "203.0.113.9"},
		{name: "untrusted loopback peer with XFF refused", opts: Options{}, peer: "127.0.0.1:5000",
			h: hdr{{"X-Forwarded-For", "6.6.6.6"}}, wantErr: ErrUntrustedProxy},
		{name: "untrusted loopback peer with only X-Real-IP refused", opts: Options{}, peer: "127.0.0.2:5000",
			h: hdr{{"X-Real-IP", "6.6.6.6"}}, wantErr: ErrUntrustedProxy},
		{name: "untrusted ::1 with Forwarded refused", opts: Options{}, peer: "[::1]:5000",
			h: hdr{{"Forwarded", "for=6.6.6.6"}}, wantErr: ErrUntrustedProxy},
		{name: "untrusted loopback no headers is local", opts: Options{}, peer: "127.0.0.1:5000", want: "127.0.0.1", local: true},
		{name: "mapped loopback peer is local", opts: Options{}, peer: "[::ffff:127.0.0.1]:5000", want: "127.0.0.1", local: true},

		// Trusted peers: X-Forwarded-For.
		{name: "trusted loopback no headers local", opts: std, peer: "127.0.0.1:1", want: "127.0.0.1", local: true},
		{name: "single hop", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "203.0.113.7"}},
			want: "203.0.113.7", via: true, src: SourceXForwardedFor, xff: "203.0.113.7, 127.0.0.1"},
		{name: "forged leftmost ignored", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "6.6.6.6, 203.0.113.7"}},
			want: "203.0.113.7", via: true, src: SourceXForwardedFor, xff: "203.0.113.7, 127.0.0.1"},
		{name: "forged loopback leftmost never local", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "127.0.0.1"}},
			want: "127.0.0.1", via: true, src: SourceXForwardedFor, xff: "127.0.0.1, 127.0.0.1"},
		{name: "trusted hops skipped", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "6.6.6.6, 203.0.113.7, 10.1.1.1, 10.2.2.2"}},
			want: "203.0.113.7", via: true, src: SourceXForwardedFor, xff: "203.0.113.7, 10.1.1.1, 10.2.2.2, 127.0.0.1"},
		{name: "all trusted leftmost wins", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "10.0.0.1, 10.0.0.2"}},
			want: "10.0.0.1", via: true, src: SourceXForwardedFor, xff: "10.0.0.1, 10.0.0.2, 127.0.0.1"},
		{name: "multiple lines concatenated (HAProxy)", opts: std, peer: "127.0.0.1:1",
			h:    hdr{{"X-Forwarded-For", "6.6.6.6"}, {"X-Forwarded-For", "203.0.113.7"}},
			want: "203.0.113.7", via: true, src: SourceXForwardedFor},
		{name: "multiple lines trusted in last", opts: std, peer: "127.0.0.1:1",
			h:    hdr{{"X-Forwarded-For", "6.6.6.6, 203.0.113.7"}, {"X-Forwarded-For", "10.0.0.5"}},
			want: "203.0.113.7", via: true, src: SourceXForwardedFor},
		{name: "port stripped", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "203.0.113.7:4711"}}, want: "203.0.113.7", via: true, src: SourceXForwardedFor},
		{name: "bracketed v6 with port", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "[2001:db8::1]:4711"}}, want: "2001:db8::1", via: true, src: SourceXForwardedFor},
		{name: "bracketed v6 no port", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "[2001:db8::1]"}}, want: "2001:db8::1", via: true, src: SourceXForwardedFor},
		{name: "bare v6", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "2001:db8::1"}}, want: "2001:db8::1", via: true, src: SourceXForwardedFor},
		{name: "v6 zone kept", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "fe80::1%eth0"}}, want: "fe80::1%eth0", via: true, src: SourceXForwardedFor},
		{name: "mapped v4 unmapped", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "::ffff:203.0.113.7"}}, want: "203.0.113.7", via: true, src: SourceXForwardedFor},
		{name: "mapped trusted hop skipped", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "203.0.113.7, ::ffff:10.0.0.1"}}, want: "203.0.113.7", via: true, src: SourceXForwardedFor},
		{name: "OWS tolerated", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", " 6.6.6.6 ,\t203.0.113.7 "}}, want: "203.0.113.7", via: true, src: SourceXForwardedFor},
		{name: "garbage left of decision ignored", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "not-an-ip, 203.0.113.7"}}, want: "203.0.113.7", via: true, src: SourceXForwardedFor},
		{name: "garbage at decision fails", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "203.0.113.7, garbage"}}, wantErr: ErrMalformed},
		{name: "garbage after trusted fails", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "garbage, 10.0.0.1"}}, wantErr: ErrMalformed},
		{name: "unspecified v4 fails", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "0.0.0.0"}}, wantErr: ErrMalformed},
		{name: "unspecified v6 fails", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "::"}}, wantErr: ErrMalformed},
		{name: "empty element fails", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "203.0.113.7,"}}, wantErr: ErrMalformed},
		{name: "empty header fails", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", ""}}, wantErr: ErrMalformed},
		{name: "bad port fails", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "203.0.113.7:99999"}}, wantErr: ErrMalformed},
		{name: "v4 in brackets fails", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "[203.0.113.7]"}}, wantErr: ErrMalformed},
		{name: "hostname fails", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", "example.com"}}, wantErr: ErrMalformed},
		{name: "overlong line", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", strings.Repeat("1", MaxLineBytes+1)}}, wantErr: ErrTooLarge},
		{name: "too many hops", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", strings.Repeat("10.0.0.1,", MaxHops) + "10.0.0.1"}}, wantErr: ErrTooLarge},
		{name: "64 hops ok", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-For", strings.Repeat("10.0.0.1,", MaxHops-1) + "203.0.113.7"}}, want: "203.0.113.7", via: true, src: SourceXForwardedFor},
		{name: "v6 trusted peer", opts: std, peer: "[::1]:1", h: hdr{{"X-Forwarded-For", "2001:db8::9"}}, want: "2001:db8::9", via: true, src: SourceXForwardedFor},

		// Proto and host.
		{name: "proto and host from trusted", opts: std, peer: "127.0.0.1:1",
			h:    hdr{{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-Proto", "HTTPS"}, {"X-Forwarded-Host", "agent.example.com"}},
			want: "203.0.113.7", via: true, src: SourceXForwardedFor, proto: "https", host: "agent.example.com"},
		{name: "proto rightmost value", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-Proto", "http, https"}}, want: "127.0.0.1", via: true, proto: "https"},
		{name: "traefik wss proto", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-Proto", "wss"}}, want: "127.0.0.1", via: true, proto: "https"},
		{name: "bad proto fails", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-Proto", "gopher"}}, wantErr: ErrMalformed},
		{name: "bad host fails", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-Host", "evil.com/<script>"}}, wantErr: ErrMalformed},
		{name: "tls without header", opts: std, peer: "127.0.0.1:1", tls: true, want: "127.0.0.1", local: true, proto: "https"},
		{name: "only proto header is not local", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Forwarded-Proto", "http"}}, want: "127.0.0.1", via: true},

		// X-Real-IP.
		{name: "x-real-ip ignored by default", opts: std, peer: "127.0.0.1:1", h: hdr{{"X-Real-IP", "203.0.113.7"}}, want: "127.0.0.1", via: true, xff: "127.0.0.1"},
		{name: "x-real-ip fallback", opts: Options{TrustedProxies: std.TrustedProxies, AllowRealIPFallback: true}, peer: "127.0.0.1:1",
			h: hdr{{"X-Real-IP", "203.0.113.7"}}, want: "203.0.113.7", via: true, src: SourceXRealIP, xff: "203.0.113.7, 127.0.0.1"},
		{name: "x-real-ip loses to XFF", opts: Options{TrustedProxies: std.TrustedProxies, AllowRealIPFallback: true}, peer: "127.0.0.1:1",
			h: hdr{{"X-Real-IP", "6.6.6.6"}, {"X-Forwarded-For", "203.0.113.7"}}, want: "203.0.113.7", via: true, src: SourceXForwardedFor},
		{name: "x-real-ip garbage fails", opts: Options{TrustedProxies: std.TrustedProxies, AllowRealIPFallback: true}, peer: "127.0.0.1:1",
			h: hdr{{"X-Real-IP", "nope"}}, wantErr: ErrMalformed},
		{name: "x-real-ip twice fails", opts: Options{TrustedProxies: std.TrustedProxies, AllowRealIPFallback: true}, peer: "127.0.0.1:1",
			h: hdr{{"X-Real-IP", "203.0.113.7"}, {"X-Real-IP", "6.6.6.6"}}, wantErr: ErrMalformed},

		// Forwarded (RFC 7239).
		{name: "forwarded simple", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", "for=203.0.113.7"}}, want: "203.0.113.7", via: true, src: SourceForwarded},
		{name: "forwarded quoted v6 port", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", `for="[2001:db8:cafe::17]:4711"`}}, want: "2001:db8:cafe::17", via: true, src: SourceForwarded},
		{name: "forwarded quoted v4 port", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", `For="203.0.113.7:47011"`}}, want: "203.0.113.7", via: true, src: SourceForwarded},
		{name: "forwarded proto host by", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", `for=6.6.6.6, for=203.0.113.7;proto=https;host="agent.example.com";by=10.0.0.1, for=10.0.0.2`}},
			want: "203.0.113.7", via: true, src: SourceForwarded, proto: "https", host: "agent.example.com", xff: "203.0.113.7, 10.0.0.2, 127.0.0.1"},
		{name: "forwarded multi line", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", "for=6.6.6.6"}, {"Forwarded", "for=203.0.113.7"}}, want: "203.0.113.7", via: true, src: SourceForwarded},
		{name: "forwarded obfuscated left ignored", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", "for=_hidden, for=203.0.113.7"}}, want: "203.0.113.7", via: true, src: SourceForwarded},
		{name: "forwarded obfuscated port ok", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", `for="[2001:db8::1]:_p1"`}}, want: "2001:db8::1", via: true, src: SourceForwarded},
		{name: "forwarded unknown at decision fails", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", "for=203.0.113.7, for=unknown"}}, wantErr: ErrUnknownClient},
		{name: "forwarded obfuscated at decision fails", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", "for=_abc"}}, wantErr: ErrUnknownClient},
		{name: "forwarded element without for fails", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", "proto=https"}}, wantErr: ErrUnknownClient},
		{name: "forwarded unterminated quote", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", `for="203.0.113.7`}}, wantErr: ErrMalformed},
		{name: "forwarded unquoted port", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", `for=203.0.113.7:80`}}, wantErr: ErrMalformed},
		{name: "forwarded duplicate for", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", `for=1.2.3.4;for=203.0.113.7`}}, wantErr: ErrMalformed},
		{name: "forwarded escape refused", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", `for="203.0.113.\7"`}}, wantErr: ErrMalformed},
		{name: "forwarded missing value", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", `for=`}}, wantErr: ErrMalformed},
		{name: "both headers default XFF", opts: std, peer: "127.0.0.1:1", h: hdr{{"Forwarded", "for=6.6.6.6"}, {"X-Forwarded-For", "203.0.113.7"}}, want: "203.0.113.7", via: true, src: SourceXForwardedFor},
		{name: "both headers prefer Forwarded", opts: Options{TrustedProxies: std.TrustedProxies, PreferForwarded: true}, peer: "127.0.0.1:1",
			h: hdr{{"Forwarded", "for=203.0.113.7"}, {"X-Forwarded-For", "6.6.6.6"}}, want: "203.0.113.7", via: true, src: SourceForwarded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rv := New(tt.opts)
			h := tt.h.header()
			peer := netip.MustParseAddrPort(tt.peer)
			got, err := rv.Resolve(peer, h, tt.tls, testHost)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				var he *httperr.Error
				if !errors.As(err, &he) || he.Status < 400 || he.Status > 499 {
					t.Fatalf("err = %#v, want a 4xx *httperr.Error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got.Client.String() != tt.want {
				t.Errorf("client = %v, want %v", got.Client, tt.want)
			}
			if got.LoopbackClean != tt.local {
				t.Errorf("local = %v, want %v", got.LoopbackClean, tt.local)
			}
			if got.ViaProxy != tt.via {
				t.Errorf("viaProxy = %v, want %v", got.ViaProxy, tt.via)
			}
			if got.Source != tt.src {
				t.Errorf("source = %v, want %v", got.Source, tt.src)
			}
			wantProto := tt.proto
			if wantProto == "" {
				wantProto = "http"
			}
			if got.Proto != wantProto {
				t.Errorf("proto = %q, want %q", got.Proto, wantProto)
			}
			wantHost := tt.host
			if wantHost == "" {
				wantHost = testHost
			}
			if got.Host != wantHost {
				t.Errorf("host = %q, want %q", got.Host, wantHost)
			}
			if tt.xff != "" {
				if ff := got.OutgoingForwardedFor(); ff != tt.xff {
					t.Errorf("outgoing XFF = %q, want %q", ff, tt.xff)
				}
			}
		})
	}
}

// TestHostAllowlist is the DNS rebinding defence: a page on a name that
// resolves to the gateway is same-origin with it and can set any header
// but Host, so a Host the gateway does not serve is refused before
// anything else, directly and through a trusted proxy.
func TestHostAllowlist(t *testing.T) {
	opts := Options{TrustedProxies: prefixes("127.0.0.1"), AllowedHosts: []string{"agent.example.com"}}
	tests := []struct {
		name string
		host string
		h    hdr
		ok   bool
	}{
		{"loopback v4 literal", "127.0.0.1:18780", nil, true},
		{"other v4 literal", "192.0.2.10", nil, true},
		{"v6 literal", "[::1]:18780", nil, true},
		{"localhost", "localhost:18780", nil, true},
		{"localhost any case", "LocalHost", nil, true},
		{"configured name", "agent.example.com", nil, true},
		{"configured name with port and case", "Agent.Example.COM:8443", nil, true},
		{"no Host (HTTP/1.0)", "", nil, true},
		{"rebinding name", "rebind.attacker.example:18780", nil, false},
		{"rebinding name with forged headers", "rebind.attacker.example", hdr{{"X-Forwarded-For", "127.0.0.1"}, {"Remote-User", "admin"}}, false},
		{"subdomain of localhost", "evil.localhost", nil, false},
		{"localhost with a dot", "localhost.", nil, false},
		{"subdomain of a configured name", "x.agent.example.com", nil, false},
		{"proxy forwards a rebinding host", "127.0.0.1", hdr{{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-Host", "rebind.attacker.example"}}, false},
		{"proxy forwards the served host", "127.0.0.1", hdr{{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-Host", "agent.example.com"}}, true},
		{"Forwarded host is checked too", "127.0.0.1", hdr{{"Forwarded", `for=203.0.113.7;host="rebind.attacker.example"`}}, false},
	}
	rv := New(opts)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rv.Resolve(netip.MustParseAddrPort("127.0.0.1:5000"), tt.h.header(), false, tt.host)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var he *httperr.Error
			if !errors.Is(err, ErrHostNotAllowed) || !errors.As(err, &he) || he.Status != 421 || he.Code != "host_not_allowed" {
				t.Fatalf("err = %v, want 421 host_not_allowed", err)
			}
			if !strings.Contains(he.Msg, "gateway.allowedHosts") {
				t.Fatalf("message %q does not name the key", he.Msg)
			}
		})
	}
	if _, err := New(Options{AllowAnyHost: true}).Resolve(netip.MustParseAddrPort("127.0.0.1:5000"), nil, false, "anything.example"); err != nil {
		t.Fatalf("allowedHosts [*] refused: %v", err)
	}
}

// TestLocality: only a clean request from this host is local. Each row is
// one way something else could try to pass for it.
func TestLocality(t *testing.T) {
	rv := New(Options{AllowedHosts: []string{"agent.example.com"}})
	tests := []struct {
		name  string
		peer  string
		host  string
		h     hdr
		local bool
		cross bool
	}{
		{"curl on the host", "127.0.0.1:1", "127.0.0.1:18780", nil, true, false},
		{"localhost name", "[::1]:1", "localhost:18780", nil, true, false},
		{"typed URL in a browser", "127.0.0.1:1", "127.0.0.1:18780", hdr{{"Sec-Fetch-Site", "none"}}, true, false},
		{"same-origin page", "127.0.0.1:1", "127.0.0.1:18780", hdr{{"Origin", "http://127.0.0.1:18780"}, {"Sec-Fetch-Site", "same-origin"}}, true, false},
		{"remote peer", "192.0.2.1:1", "127.0.0.1:18780", nil, false, false},
		{"served public name", "127.0.0.1:1", "agent.example.com", nil, false, false},
		{"cross-site page (ClawJacked)", "127.0.0.1:1", "127.0.0.1:18780", hdr{{"Origin", "https://evil.example"}, {"Sec-Fetch-Site", "cross-site"}}, false, true},
		{"cross-site Origin only", "127.0.0.1:1", "127.0.0.1:18780", hdr{{"Origin", "https://evil.example"}}, false, true},
		{"Sec-Fetch-Site cross-site only", "127.0.0.1:1", "127.0.0.1:18780", hdr{{"Sec-Fetch-Site", "cross-site"}}, false, true},
		{"another local port is another site", "127.0.0.1:1", "127.0.0.1:18780", hdr{{"Origin", "http://127.0.0.1:3000"}, {"Sec-Fetch-Site", "same-site"}}, false, true},
		{"null origin", "127.0.0.1:1", "127.0.0.1:18780", hdr{{"Origin", "null"}}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := rv.Resolve(netip.MustParseAddrPort(tt.peer), tt.h.header(), false, tt.host)
			if err != nil {
				t.Fatal(err)
			}
			if res.LoopbackClean != tt.local || res.CrossSite != tt.cross {
				t.Fatalf("local=%v crossSite=%v, want %v %v", res.LoopbackClean, res.CrossSite, tt.local, tt.cross)
			}
		})
	}
}

func TestIsForwarding(t *testing.T) {
	for _, c := range []struct {
		name string
		want bool
	}{
		{"X-Forwarded-For", true}, {"x-forwarded-client-cert", true}, {"X-Forwarded", true}, {"X-FORWARDED-URI", true},
		{"X-Forwardedx", false}, {"X-Forwarded-", true}, {"Forwarded", true}, {"X-Real-Ip", true},
		{"X-Original-Url", true}, {"X-Original-Method", true}, {"X-Rewrite-Url", true}, {"True-Client-Ip", true},
		{"Cf-Connecting-Ip", true}, {"Fastly-Client-Ip", true}, {"Front-End-Https", true}, {"X-Client-Ip", true},
		{"Authorization", false}, {"X-Request-Id", false}, {"Forward", false}, {"", false}, {"Origin", false},
	} {
		if got := IsForwarding(c.name); got != c.want {
			t.Errorf("IsForwarding(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}
