// Package trust decides who is really connecting: the client address, the
// scheme and host, whether the request came through a proxy and whether it is
// local. It never believes a forwarding header from an untrusted peer, and it
// fails closed on a header it cannot parse at the position that decides.
package trust

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
)

// Forwarding header names, canonical, so lookups index the map directly.
const (
	HeaderForwarded      = "Forwarded"
	HeaderXForwardedFor  = "X-Forwarded-For"
	HeaderXForwardedProt = "X-Forwarded-Proto"
	HeaderXForwardedHost = "X-Forwarded-Host"
	HeaderXRealIP        = "X-Real-Ip"
)

// ForwardingHeaders are the headers whose mere presence marks a request as
// having come through a proxy (SPEC "Locality"). Their values never decide
// locality.
var ForwardingHeaders = []string{HeaderForwarded, HeaderXForwardedFor, HeaderXForwardedProt, HeaderXForwardedHost, HeaderXRealIP}

// strippedHeaders are removed from requests of untrusted peers: the locality
// set plus the other X-Forwarded-* that upstream frameworks commonly read.
var strippedHeaders = append([]string{"X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Server", "X-Forwarded-Ssl", "X-Original-Forwarded-For"}, ForwardingHeaders...)

// Limits on forwarding headers (SPEC "Trust").
const (
	// MaxLineBytes is the longest forwarding header line accepted.
	MaxLineBytes = 8 << 10
	// MaxHops is the most addresses a forwarding chain may hold.
	MaxHops = 64
)

// Errors returned by Resolve. Each is wrapped in an *Error that carries the
// HTTP status and public code.
var (
	ErrUntrustedProxy = errors.New("forwarding headers from an untrusted loopback peer")
	ErrMalformed      = errors.New("malformed forwarding header")
	ErrUnknownClient  = errors.New("client address hidden by the proxy")
	ErrTooLarge       = errors.New("forwarding header too large")
	ErrBadPeer        = errors.New("peer address not an IP")
)

// Source says which input decided the client address.
type Source uint8

// Sources of the client address.
const (
	SourcePeer Source = iota
	SourceXForwardedFor
	SourceForwarded
	SourceXRealIP
)

func (s Source) String() string {
	switch s {
	case SourceXForwardedFor:
		return "x-forwarded-for"
	case SourceForwarded:
		return "forwarded"
	case SourceXRealIP:
		return "x-real-ip"
	}
	return "peer"
}

// Result is what the gateway believes about a request. It is decided once,
// before routing, and carried in the request context.
type Result struct {
	// Peer is the TCP remote address, unmapped.
	Peer netip.AddrPort
	// Client is the resolved client address.
	Client netip.Addr
	// PeerTrusted is true when Peer is in trustedProxies.
	PeerTrusted bool
	// ViaProxy is true when any forwarding header was present, believed or not.
	ViaProxy bool
	// Local is true only for a loopback peer with no forwarding header.
	Local bool
	// Proto is "http" or "https" as the client used it.
	Proto string
	// Host is the host the client asked for.
	Host string
	// Source says which input decided Client.
	Source Source
	// chainHops counts the trusted chain entries, client included, at the
	// right end of the deciding header (for the outgoing X-Forwarded-For).
	chainHops int
	// ForwardedFor is the outgoing X-Forwarded-For value: the trusted chain
	// from the client rightwards, plus the peer. Filled by ResolveRequest.
	ForwardedFor string
}

// Options configure a Resolver. The zero value trusts nobody.
type Options struct {
	// TrustedProxies are the peers whose forwarding headers are believed.
	// They must be masked and unmapped (config.ParsePrefix does both).
	TrustedProxies []netip.Prefix
	// AllowRealIPFallback believes X-Real-IP from a trusted peer that sent
	// neither X-Forwarded-For nor Forwarded.
	AllowRealIPFallback bool
	// PreferForwarded decides from Forwarded when both it and
	// X-Forwarded-For are present. Default: X-Forwarded-For.
	PreferForwarded bool
}

// Resolver resolves client addresses. It is immutable and safe for
// concurrent use; a config reload builds a new one.
type Resolver struct {
	trusted             []netip.Prefix
	allowRealIPFallback bool
	preferForwarded     bool
}

// New builds a Resolver.
func New(o Options) *Resolver {
	t := make([]netip.Prefix, len(o.TrustedProxies))
	copy(t, o.TrustedProxies)
	return &Resolver{trusted: t, allowRealIPFallback: o.AllowRealIPFallback, preferForwarded: o.PreferForwarded}
}

// Trusted reports whether a is a trusted proxy.
func (r *Resolver) Trusted(a netip.Addr) bool {
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is6() && a.Zone() != "" {
		a = a.WithZone("")
	}
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// HasTrustedProxies reports whether any proxy is trusted.
func (r *Resolver) HasTrustedProxies() bool { return len(r.trusted) > 0 }

// Strip removes every forwarding header from h. It is applied to requests
// from untrusted peers before anything else sees them.
func Strip(h http.Header) {
	for _, k := range strippedHeaders {
		delete(h, k)
	}
}

// Resolve decides the client address from the peer and the headers. tls
// says whether the client connection itself is TLS and host is the request's
// Host. It does not modify h and does not allocate on success.
func (r *Resolver) Resolve(peer netip.AddrPort, h http.Header, tls bool, host string) (Result, error) {
	pa := peer.Addr().Unmap()
	if !pa.IsValid() || pa.IsUnspecified() {
		return Result{}, wrap(ErrBadPeer)
	}
	peer = netip.AddrPortFrom(pa, peer.Port())
	// Each header is looked up once; map lookups dominate this function.
	fwd, xff, xfp, xfh, xri := h[HeaderForwarded], h[HeaderXForwardedFor], h[HeaderXForwardedProt], h[HeaderXForwardedHost], h[HeaderXRealIP]
	present := len(fwd)+len(xff)+len(xfp)+len(xfh)+len(xri) > 0
	res := Result{
		Peer:     peer,
		Client:   pa,
		ViaProxy: present,
		Local:    pa.IsLoopback() && !present,
		Proto:    "http",
		Host:     host,
		Source:   SourcePeer,
	}
	if tls {
		res.Proto = "https"
	}
	if !r.Trusted(pa) {
		if present && pa.IsLoopback() {
			// A same-host proxy nobody configured: guessing either way
			// is wrong (believing lets anyone forge; ignoring makes every
			// client look local), so refuse and say what to configure.
			return Result{}, wrap(ErrUntrustedProxy)
		}
		return res, nil
	}
	res.PeerTrusted = true
	if !present {
		return res, nil
	}
	for _, lines := range [...][]string{fwd, xff, xfp, xfh, xri} {
		for _, line := range lines {
			if len(line) > MaxLineBytes {
				return Result{}, wrap(ErrTooLarge)
			}
		}
	}

	useFwd := len(fwd) > 0 && (len(xff) == 0 || r.preferForwarded)
	switch {
	case useFwd:
		var els elements
		if err := parseForwarded(fwd, &els); err != nil {
			return Result{}, err
		}
		client, idx, err := r.walkForwarded(&els)
		if err != nil {
			return Result{}, err
		}
		res.Client, res.Source, res.chainHops = client, SourceForwarded, els.n-idx
		if p := els.e[idx].proto; p != "" {
			proto, err := normProto(p)
			if err != nil {
				return Result{}, err
			}
			res.Proto = proto
		}
		if hv := els.e[idx].host; hv != "" {
			if !validHost(hv) {
				return Result{}, wrap(ErrMalformed)
			}
			res.Host = hv
		}
	case len(xff) > 0:
		client, hops, err := r.walkXFF(xff)
		if err != nil {
			return Result{}, err
		}
		res.Client, res.Source, res.chainHops = client, SourceXForwardedFor, hops
	case r.allowRealIPFallback && len(xri) > 0:
		if len(xri) != 1 {
			return Result{}, wrap(ErrMalformed)
		}
		a, err := parseNode(xri[0], false)
		if err != nil {
			return Result{}, err
		}
		res.Client, res.Source, res.chainHops = a, SourceXRealIP, 1
	}

	if v := lastValue(xfp); v != "" {
		proto, err := normProto(v)
		if err != nil {
			return Result{}, err
		}
		res.Proto = proto
	}
	if v := lastValue(xfh); v != "" {
		if !validHost(v) {
			return Result{}, wrap(ErrMalformed)
		}
		res.Host = v
	}
	return res, nil
}

// walkXFF applies the rightmost-untrusted rule to all X-Forwarded-For
// lines, read as one list: skip trusted entries from the right; the first
// untrusted one is the client; if all are trusted, the leftmost is. An entry
// that does not parse at the decision position fails the request rather than
// being skipped, since skipping would let a client choose what we believe.
// It scans in place from the right (no list is built) and returns the number
// of entries from the client rightwards.
func (r *Resolver) walkXFF(lines []string) (netip.Addr, int, error) {
	total := 0
	for _, line := range lines {
		total += strings.Count(line, ",") + 1
	}
	if total > MaxHops {
		return netip.Addr{}, 0, wrap(ErrTooLarge)
	}
	seen := 0
	for li := len(lines) - 1; li >= 0; li-- {
		line := lines[li]
		end := len(line)
		for i := len(line) - 1; i >= -1; i-- {
			if i >= 0 && line[i] != ',' {
				continue
			}
			a, err := parseNode(line[i+1:end], false)
			if err != nil {
				return netip.Addr{}, 0, err
			}
			seen++
			if seen == total || !r.Trusted(a) {
				return a, seen, nil
			}
			end = i
		}
	}
	return netip.Addr{}, 0, wrap(ErrMalformed)
}

func (r *Resolver) walkForwarded(els *elements) (netip.Addr, int, error) {
	for i := els.n - 1; i >= 0; i-- {
		if !els.e[i].hasFor {
			// An element without for= hides the node just like
			// "unknown" does.
			return netip.Addr{}, 0, wrap(ErrUnknownClient)
		}
		a, err := parseNode(els.e[i].forv, true)
		if err != nil {
			return netip.Addr{}, 0, err
		}
		if !r.Trusted(a) || i == 0 {
			return a, i, nil
		}
	}
	return netip.Addr{}, 0, wrap(ErrMalformed)
}

// normProto accepts http and https, and the ws/wss that Traefik sends on
// WebSocket upgrades (the same transports).
func normProto(v string) (string, error) {
	switch {
	case equalFold(v, "https"), equalFold(v, "wss"):
		return "https", nil
	case equalFold(v, "http"), equalFold(v, "ws"):
		return "http", nil
	}
	return "", wrap(ErrMalformed)
}

// equalFold is an ASCII-only case-insensitive compare (no allocation, no
// Unicode folding surprises such as the Kelvin sign).
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// validHost accepts host, host:port, [v6] and [v6]:port made of the
// characters a Host header may hold; anything else is refused rather than
// passed to the upstream.
func validHost(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}

// lastValue returns the rightmost comma-separated value of the last line:
// the one set by the proxy nearest to us, which is the one we trust.
func lastValue(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	line := lines[len(lines)-1]
	for i := len(line) - 1; i >= 0; i-- {
		if line[i] == ',' {
			return trimOWS(line[i+1:])
		}
	}
	return trimOWS(line)
}
