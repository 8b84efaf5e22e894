// Package request is the one record the gateway keeps about each request.
// Trust, auth and routing each fill their part of it once, before anything
// reads it, and everything downstream (the proxy, the handlers, the access
// log, the metrics) reads the record instead of re-deriving a fact from the
// headers. The only facts decided here are the request's shape (is it a
// WebSocket upgrade, is it a browser navigation), because they depend on the
// request line and headers alone.
package request

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
)

// Record is everything the gateway decided about one request.
type Record struct {
	// ID names the request in the log and the X-Request-Id response header.
	ID string
	// Trust is decided by package trust before routing.
	Trust
	// Upgrade is decided once, from the request line and headers.
	Upgrade Upgrade
	// Navigation is true for a browser asking for a page (its Accept names
	// text/html: a page load or a form post): such a client gets HTML
	// pages instead of JSON.
	Navigation bool
	// Route is the route class (for metrics and the access record).
	Route string
	// Admin is true on the admin origin: the admin listener, or the main
	// listener for the Host gateway.admin.host. Nothing there is proxied
	// to the agent, and only there do cookies answer for the console.
	Admin bool
	// AdminListener is true for requests on the admin listener itself,
	// where no trusted-proxy header or assertion is ever honoured (a local
	// process could forge them).
	AdminListener bool
	// Identity is set by auth once the caller is authenticated.
	Identity *Identity
	// Cause is why the request was refused, for the access record. It is
	// logged, never sent to the client.
	Cause error
	// UpstreamPath is the path the upstream is sent, as the access rules
	// read it (decoded, cleaned, "\" as "/"); "" sends the path as
	// received. Set by access when rules name paths or tools.
	UpstreamPath string
	// Calls, when set, judges each message the client sends on a
	// WebSocket (the access rules' view of OpenClaw's tools.invoke): a
	// non-nil answer is not forwarded and is sent back to the client
	// instead.
	Calls func(msg []byte) (answer []byte)
	// Page renders a refusal as an HTML page for a browser navigation;
	// the server sets it with the record (nil: JSON for everyone).
	Page func(w http.ResponseWriter, status int, code, msg string)

	// localOwner finds whether the connecting socket belongs to one of
	// gateway.localUids; set by trust for LoopbackClean requests.
	localOwner func() bool
	localDone  bool
	local      bool
}

// SetLocalOwner sets how Local finds the connecting socket's owner. Trust
// calls it once, for LoopbackClean requests.
func (r *Record) SetLocalOwner(f func() bool) { r.localOwner = f }

// Local reports whether the request is local (SPEC "Locality"): clean
// from this host (LoopbackClean) and made by a process of one of
// gateway.localUids. The owner is looked up the first time this is asked
// (a /proc read, kept off the hot path: only the rules that grant
// something to local requests ask), then remembered. It never means admin.
func (r *Record) Local() bool {
	if !r.LoopbackClean || r.localOwner == nil {
		return false
	}
	if !r.localDone {
		r.local, r.localDone = r.localOwner(), true
	}
	return r.local
}

// LocalKnown reports whether Local was decided for this request, and how
// (the access record logs it only then, so logging costs no lookup).
func (r *Record) LocalKnown() (local, known bool) { return r.local, r.localDone }

// Trust is what the gateway believes about where a request came from.
type Trust struct {
	// Peer is the TCP remote address, unmapped.
	Peer netip.AddrPort
	// Client is the resolved client address.
	Client netip.Addr
	// PeerTrusted is true when Peer is in gateway.trustedProxies.
	PeerTrusted bool
	// ViaProxy is true when any forwarding header was present, believed or
	// not.
	ViaProxy bool
	// CrossSite is true when a browser said the request comes from another
	// site (a foreign Origin, or Sec-Fetch-Site other than none and
	// same-origin).
	CrossSite bool
	// SameOrigin is true when a browser said the request comes from a page
	// of this very origin (Sec-Fetch-Site: same-origin, or an Origin equal
	// to the request's own scheme and host, port included) and nothing
	// said otherwise. A cookie-authenticated change needs it (SPEC
	// "Browsers"); a request that says nothing is not same-origin.
	SameOrigin bool
	// LoopbackClean is the cheap half of locality: a loopback peer, no
	// forwarding header, a loopback Host, not from another origin's page.
	// Record.Local adds who owns the connecting socket.
	LoopbackClean bool
	// SameHost is true when the resolved client is a loopback address: a
	// person on the gateway's own host, directly or through a proxy there.
	// The upstream is told gateway.sameHostClientAddress instead.
	SameHost bool
	// Proto is "http" or "https" as the client used it.
	Proto string
	// Host is the host the client asked for.
	Host string
	// Source says which input decided Client.
	Source Source
	// OriginalMethod and OriginalURI are the request a trusted proxy asks
	// forward auth about (X-Forwarded-Method and X-Forwarded-Uri from
	// Caddy and Traefik, X-Original-Method and X-Original-URI from
	// nginx); "" when none was sent. Its host and scheme are Host and
	// Proto.
	OriginalMethod, OriginalURI string
	// OriginalBad: the proxy sent an original request that cannot be
	// used (two that disagree, a malformed method or URI).
	OriginalBad bool
	// ForwardedFor is the outgoing X-Forwarded-For chain without the peer:
	// the client and the trusted hops to its right, as received. Empty
	// when the client is the peer.
	ForwardedFor string
}

// OutgoingForwardedFor is the X-Forwarded-For value the upstream receives:
// the trusted chain plus the peer.
func (t *Trust) OutgoingForwardedFor() string {
	if t.ForwardedFor == "" {
		return t.Peer.Addr().String()
	}
	return t.ForwardedFor + ", " + t.Peer.Addr().String()
}

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

// Upgrade is the kind of protocol switch a request asks for.
type Upgrade uint8

// Upgrade kinds. Only WebSocket is ever proxied as an upgrade; any other
// Upgrade header (h2c, made-up protocols) is dropped and the request is an
// ordinary one, as nginx does.
const (
	UpgradeNone Upgrade = iota
	UpgradeWebSocket
)

// UpgradeOf decides whether r is a WebSocket handshake (RFC 6455 4.1: GET,
// a "websocket" token in Upgrade and an "upgrade" token in Connection). It
// is the only place this is decided.
func UpgradeOf(r *http.Request) Upgrade {
	if r.Method != http.MethodGet {
		return UpgradeNone
	}
	up, ok := r.Header["Upgrade"]
	if !ok {
		return UpgradeNone
	}
	if hasToken(up, "websocket") && hasToken(r.Header["Connection"], "upgrade") {
		return UpgradeWebSocket
	}
	return UpgradeNone
}

// IsNavigation reports whether r is a browser asking for a page: text/html
// in Accept (a page load, or a form post), or Sec-Fetch-Mode: navigate.
// Such requests get HTML answers (and, without a credential, the sign-in
// page); API clients keep JSON and a 401. A WebSocket handshake is never
// one, whatever its Accept says.
func IsNavigation(r *http.Request) bool {
	if UpgradeOf(r) != UpgradeNone {
		return false
	}
	if strings.EqualFold(r.Header.Get("Sec-Fetch-Mode"), "navigate") {
		return true
	}
	for _, v := range r.Header["Accept"] {
		if strings.Contains(strings.ToLower(v), "text/html") {
			return true
		}
	}
	return false
}

// hasToken reports whether any comma-separated element of the lines equals
// token, ASCII case-insensitively.
func hasToken(lines []string, token string) bool {
	for _, line := range lines {
		for len(line) > 0 {
			var el string
			el, line, _ = strings.Cut(line, ",")
			if strings.EqualFold(strings.TrimSpace(el), token) {
				return true
			}
		}
	}
	return false
}

type ctxKey struct{}

// NewContext returns ctx carrying a fresh record, and the record.
func NewContext(ctx context.Context) (context.Context, *Record) {
	rec := &Record{}
	return context.WithValue(ctx, ctxKey{}, rec), rec
}

// FromContext returns the request's record, or nil when the request did not
// pass through the gateway's first middleware (a mis-wired chain: callers
// treat that as a remote stranger).
func FromContext(ctx context.Context) *Record {
	rec, _ := ctx.Value(ctxKey{}).(*Record)
	return rec
}

// Ensure returns r's record, adding one (and a copy of r carrying it) when r
// has none. Middlewares that may run alone in tests use it.
func Ensure(r *http.Request) (*http.Request, *Record) {
	if rec := FromContext(r.Context()); rec != nil {
		return r, rec
	}
	ctx, rec := NewContext(r.Context())
	return r.WithContext(ctx), rec
}
