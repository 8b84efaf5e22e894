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

	"gateway/httperr"
	"gateway/request"
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

// IsForwarding reports whether a header is one a proxy uses to describe
// the client or the original request (ASCII case-insensitive): Forwarded,
// X-Forwarded and every X-Forwarded-* (by prefix, not a list: X-Forwarded-
// Client-Cert, -Access-Token, -Uri, -Method, -Scheme...), every
// X-Original-* (URL, URI, Method, Forwarded-For), X-Rewrite-Url, X-Real-Ip
// and the client-address headers of CDNs and load balancers (SPEC "Trust",
// outgoing headers). They are removed from requests of untrusted peers
// before anything reads them, and from every request before it goes
// upstream, where the gateway sets its own.
func IsForwarding(name string) bool {
	if len(name) < 9 {
		return false
	}
	switch {
	case hasFoldPrefix(name, "X-Forwarded"): // X-Forwarded and X-Forwarded-*
		return len(name) == 11 || name[11] == '-'
	case hasFoldPrefix(name, "X-Original-"):
		return true
	}
	for _, n := range clientAddressHeaders {
		if equalFold(name, n) {
			return true
		}
	}
	return false
}

// clientAddressHeaders are the single-name forwarding headers, lower case.
var clientAddressHeaders = []string{"forwarded", "x-real-ip", "x-rewrite-url", "x-client-ip", "true-client-ip",
	"cf-connecting-ip", "fastly-client-ip", "front-end-https", "x-cluster-client-ip"}

// hasFoldPrefix reports whether s starts with prefix, ASCII
// case-insensitively.
func hasFoldPrefix(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Limits on forwarding headers (SPEC "Trust").
const (
	// MaxLineBytes is the longest forwarding header line accepted.
	MaxLineBytes = 8 << 10
	// MaxHops is the most addresses a forwarding chain may hold.
	MaxHops = 64
)

// Errors returned by Resolve. Each is wrapped in an *httperr.Error that carries the
// HTTP status and public code.
var (
	ErrUntrustedProxy = errors.New("forwarding headers from an untrusted loopback peer")
	ErrMalformed      = errors.New("malformed forwarding header")
	ErrUnknownClient  = errors.New("client address hidden by the proxy")
	ErrTooLarge       = errors.New("forwarding header too large")
	ErrBadPeer        = errors.New("peer address not an IP")
	ErrHostNotAllowed = errors.New("host not served")
)

// Options configure a Resolver. The zero value trusts nobody and serves only
// loopback names and IP literals.
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
	// AllowedHosts are the DNS names served besides "localhost" (lower
	// case, no port). IP literals always pass: they cannot be rebound.
	AllowedHosts []string
	// AllowAnyHost serves every Host ("*" in gateway.allowedHosts): DNS
	// rebinding is then the operator's problem.
	AllowAnyHost bool
	// LocalUIDs are the Unix users whose loopback connections are local
	// (gateway.localUids; the server defaults it to the gateway's own).
	// Empty: nothing is local.
	LocalUIDs []int
	// OwnRoots are the first path segments of the gateway's own routes
	// ("admin", "auth", ...), lower case. A request-target that names one
	// of them only in another spelling (/ADMIN, /%61dmin, /admin%2F...,
	// /admin;x) is refused 400 ambiguous_path. None: no such check.
	OwnRoots []string
}

// Resolver resolves client addresses. It is immutable and safe for
// concurrent use; a config reload builds a new one.
type Resolver struct {
	trusted             []netip.Prefix
	allowRealIPFallback bool
	preferForwarded     bool
	hosts               map[string]bool
	anyHost             bool
	ownRoots            []string
	localUIDs           []int
}

// New builds a Resolver.
func New(o Options) *Resolver {
	t := make([]netip.Prefix, len(o.TrustedProxies))
	copy(t, o.TrustedProxies)
	hosts := make(map[string]bool, len(o.AllowedHosts))
	for _, h := range o.AllowedHosts {
		hosts[strings.ToLower(h)] = true
	}
	return &Resolver{trusted: t, allowRealIPFallback: o.AllowRealIPFallback, preferForwarded: o.PreferForwarded,
		hosts: hosts, anyHost: o.AllowAnyHost, ownRoots: append([]string(nil), o.OwnRoots...),
		localUIDs: append([]int(nil), o.LocalUIDs...)}
}

// Trusted reports whether a is a trusted proxy. a is unmapped and its zone
// dropped first, so every caller (the audit's probes too) decides alike.
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

// Strip removes every forwarding header (IsForwarding) from h. It is
// applied to requests from untrusted peers before anything else sees them.
func Strip(h http.Header) {
	for k := range h {
		if IsForwarding(k) {
			delete(h, k)
		}
	}
}

// Resolve decides where the request came from: the client address, scheme
// and host, whether it came through a proxy, whether a browser sent it from
// another site, and whether it is local. tls says whether the client
// connection itself is TLS and host is the request's Host. It does not
// modify h; it allocates only to build the outgoing chain of a proxied
// request.
func (r *Resolver) Resolve(peer netip.AddrPort, h http.Header, tls bool, host string) (request.Trust, error) {
	pa := peer.Addr().Unmap()
	if !pa.IsValid() || pa.IsUnspecified() {
		return request.Trust{}, wrap(ErrBadPeer)
	}
	// DNS rebinding: a page on a name that resolves to us is same-origin
	// with us and may set any header but Host, so the Host decides first.
	kind, name := classifyHost(host)
	if !r.hostAllowed(kind, name) {
		return request.Trust{}, hostRefused(host)
	}
	// Browsers never send two Origins; an upstream reading the last one
	// would see another origin than the one checked here.
	if len(h["Origin"]) > 1 {
		return request.Trust{}, httperr.New(http.StatusBadRequest, "bad_request", "more than one Origin header", ErrDuplicateOrigin)
	}
	peer = netip.AddrPortFrom(pa, peer.Port())
	// Each header is looked up once; map lookups dominate this function.
	fwd, xff, xfp, xfh, xri := h[HeaderForwarded], h[HeaderXForwardedFor], h[HeaderXForwardedProt], h[HeaderXForwardedHost], h[HeaderXRealIP]
	present := len(fwd)+len(xff)+len(xfp)+len(xfh)+len(xri) > 0
	res := request.Trust{
		Peer:     peer,
		Client:   pa,
		ViaProxy: present,
		Proto:    "http",
		Host:     host,
		Source:   request.SourcePeer,
	}
	if tls {
		res.Proto = "https"
	}
	if r.Trusted(pa) {
		res.PeerTrusted = true
		if present {
			if err := r.resolveForwarded(&res, fwd, xff, xfp, xfh, xri); err != nil {
				return request.Trust{}, err
			}
			if res.Host != host {
				if k, n := classifyHost(res.Host); !r.hostAllowed(k, n) {
					return request.Trust{}, hostRefused(res.Host)
				}
			}
		}
		// Only /auth/verify reads it, and refuses a request whose
		// original is unusable; elsewhere these headers are just not
		// passed on.
		if original(&res, h) != nil {
			res.OriginalMethod, res.OriginalURI, res.OriginalBad = "", "", true
		}
	} else if present && pa.IsLoopback() {
		// A same-host proxy nobody configured: guessing either way is
		// wrong (believing lets anyone forge; ignoring makes every client
		// look local), so refuse and say what to configure.
		return request.Trust{}, wrap(ErrUntrustedProxy)
	}
	if len(h["Origin"])+len(h["Sec-Fetch-Site"]) > 0 {
		res.CrossSite, res.SameOrigin = browserSite(h, res.Proto, res.Host)
	}
	// Locality (SPEC): the peer is this host, no proxy was involved (the
	// presence of a forwarding header decides, never its value), the
	// client asked for a loopback name, and no browser page from another
	// site sent it. A rebinding page fails the Host test; a page on
	// another site fails the cross-site test.
	res.LoopbackClean = pa.IsLoopback() && !present && kind == hostLoopback && !res.CrossSite
	res.SameHost = res.Client.IsLoopback()
	return res, nil
}

// resolveForwarded applies a trusted peer's forwarding headers to res.
func (r *Resolver) resolveForwarded(res *request.Trust, fwd, xff, xfp, xfh, xri []string) error {
	for _, lines := range [...][]string{fwd, xff, xfp, xfh, xri} {
		for _, line := range lines {
			if len(line) > MaxLineBytes {
				return wrap(ErrTooLarge)
			}
		}
	}
	var chain hops
	useFwd := len(fwd) > 0 && (len(xff) == 0 || r.preferForwarded)
	switch {
	case useFwd:
		var els elements
		if err := parseForwarded(fwd, &els); err != nil {
			return err
		}
		idx, err := r.walkForwarded(&els, &chain)
		if err != nil {
			return err
		}
		res.Source = request.SourceForwarded
		if p := els.e[idx].proto; p != "" {
			proto, err := normProto(p)
			if err != nil {
				return err
			}
			res.Proto = proto
		}
		if hv := els.e[idx].host; hv != "" {
			if !validHost(hv) {
				return wrap(ErrMalformed)
			}
			res.Host = hv
		}
	case len(xff) > 0:
		if err := r.walkXFF(xff, &chain); err != nil {
			return err
		}
		res.Source = request.SourceXForwardedFor
	case r.allowRealIPFallback && len(xri) > 0:
		if len(xri) != 1 {
			return wrap(ErrMalformed)
		}
		a, err := parseNode(xri[0], false)
		if err != nil {
			return err
		}
		chain.add(a)
		res.Source = request.SourceXRealIP
	}
	if chain.n > 0 {
		res.Client = chain.a[chain.n-1]
		res.ForwardedFor = chain.String()
	}
	if v := lastValue(xfp); v != "" {
		proto, err := normProto(v)
		if err != nil {
			return err
		}
		res.Proto = proto
	}
	if v := lastValue(xfh); v != "" {
		if !validHost(v) {
			return wrap(ErrMalformed)
		}
		res.Host = v
	}
	return nil
}

// hops collects the trusted chain while it is walked, right to left: a[0]
// is the hop nearest the peer, a[n-1] the client.
type hops struct {
	a [MaxHops]netip.Addr
	n int
}

func (c *hops) add(a netip.Addr) {
	c.a[c.n] = a
	c.n++
}

// String renders the chain left to right (client first), as the outgoing
// X-Forwarded-For lists it, in one allocation.
func (c *hops) String() string {
	var buf [256]byte
	b := buf[:0]
	for i := c.n - 1; i >= 0; i-- {
		if i != c.n-1 {
			b = append(b, ", "...)
		}
		b = c.a[i].AppendTo(b)
	}
	return string(b)
}

// walkXFF applies the rightmost-untrusted rule to all X-Forwarded-For
// lines, read as one list: skip trusted entries from the right; the first
// untrusted one is the client; if all are trusted, the leftmost is. An entry
// that does not parse at the decision position fails the request rather than
// being skipped, since skipping would let a client choose what we believe.
// It scans in place from the right and adds each entry it passes, client
// last, to chain. Entries left of the client were chosen by the client and
// are never looked at.
func (r *Resolver) walkXFF(lines []string, chain *hops) error {
	total := 0
	for _, line := range lines {
		total += strings.Count(line, ",") + 1
	}
	if total > MaxHops {
		return wrap(ErrTooLarge)
	}
	for li := len(lines) - 1; li >= 0; li-- {
		line := lines[li]
		end := len(line)
		for i := len(line) - 1; i >= -1; i-- {
			if i >= 0 && line[i] != ',' {
				continue
			}
			a, err := parseNode(line[i+1:end], false)
			if err != nil {
				return err
			}
			chain.add(a)
			if chain.n == total || !r.Trusted(a) {
				return nil
			}
			end = i
		}
	}
	return wrap(ErrMalformed)
}

// walkForwarded is walkXFF for RFC 7239 elements; it returns the index of
// the client's element (its proto and host are the ones believed).
func (r *Resolver) walkForwarded(els *elements, chain *hops) (int, error) {
	for i := els.n - 1; i >= 0; i-- {
		if !els.e[i].hasFor {
			// An element without for= hides the node just like
			// "unknown" does.
			return 0, wrap(ErrUnknownClient)
		}
		a, err := parseNode(els.e[i].forv, true)
		if err != nil {
			return 0, err
		}
		chain.add(a)
		if !r.Trusted(a) || i == 0 {
			return i, nil
		}
	}
	return 0, wrap(ErrMalformed)
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

// original records the request a trusted proxy asks forward auth about:
// one method and one URI, from Caddy's and Traefik's X-Forwarded-Method
// and X-Forwarded-Uri or nginx's X-Original-Method and X-Original-URI.
// Two that disagree, or a malformed one, are an error.
func original(res *request.Trust, h http.Header) error {
	one := func(a, b string) (string, error) {
		va, vb := h.Values(a), h.Values(b)
		if len(va) > 1 || len(vb) > 1 || (len(va) == 1 && len(vb) == 1 && va[0] != vb[0]) {
			return "", wrap(ErrMalformed)
		}
		if len(va) == 1 {
			return va[0], nil
		}
		if len(vb) == 1 {
			return vb[0], nil
		}
		return "", nil
	}
	m, err := one("X-Forwarded-Method", "X-Original-Method")
	if err != nil {
		return err
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-') || i >= 16 {
			return wrap(ErrMalformed)
		}
	}
	u, err := one("X-Forwarded-Uri", "X-Original-Uri")
	if err != nil {
		return err
	}
	if u != "" && (u[0] != '/' || len(u) > MaxLineBytes) {
		return wrap(ErrMalformed)
	}
	res.OriginalMethod, res.OriginalURI = strings.ToUpper(m), u
	return nil
}
