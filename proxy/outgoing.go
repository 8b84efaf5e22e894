package proxy

import (
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"strings"

	"gateway/auth"
	"gateway/cookie"
	"gateway/request"
	"gateway/trust"
)

// IdentityHeaders name the headers that hand the caller's identity to the
// upstream and, through forward auth, to the other apps
// (gateway.upstreamHeaders names the first two). OpenClaw's trusted-proxy
// mode reads the user from one and requires the other.
type IdentityHeaders struct {
	// User carries the user name. Default X-Gateway-User.
	User string
	// Method carries how they authenticated. Default X-Gateway-Auth.
	Method string
}

// The other identity headers: X-Gateway-Role, X-Gateway-Groups
// (comma-separated) and X-Gateway-Email.
const (
	HeaderRole   = "X-Gateway-Role"
	HeaderGroups = "X-Gateway-Groups"
	HeaderEmail  = "X-Gateway-Email"
)

// Write sets every identity header on h from id, each always present and
// empty when unknown (nil id: all empty): the one writer of the identity,
// for the agent's requests and for /auth/verify's answers. A proxy that
// copies headers could otherwise let a client's own copy of a missing one
// through (Caddy 2.6.2 skips empty values; see docs/proxies).
func (ih IdentityHeaders) Write(h http.Header, id *request.Identity) {
	user, method, role, groups, email := "", "", "", "", ""
	if id != nil {
		user, method, role, groups, email = id.User, id.Method, id.Role, strings.Join(id.Groups, ","), id.Email
	}
	// One backing array for the five values (one allocation, not
	// five: this runs on every proxied request); each header gets a
	// full slice of its own cell, so an append to one never writes
	// into the next.
	v := make([]string, 5)
	v[0], v[1], v[2], v[3], v[4] = user, method, role, groups, email
	h[ih.User] = v[0:1:1]
	h[ih.Method] = v[1:2:2]
	h[HeaderRole] = v[2:3:3]
	h[HeaderGroups] = v[3:4:4]
	h[HeaderEmail] = v[4:5:5]
}

// Canonical returns ih with defaults filled and names canonical.
func (ih IdentityHeaders) Canonical() IdentityHeaders {
	if ih.User == "" {
		ih.User = DefaultIdentityHeaders.User
	}
	if ih.Method == "" {
		ih.Method = DefaultIdentityHeaders.Method
	}
	ih.User, ih.Method = http.CanonicalHeaderKey(ih.User), http.CanonicalHeaderKey(ih.Method)
	return ih
}

// openClawScopes caps the operator scopes OpenClaw grants a trusted-proxy
// identity; defaultScopes is the cap for someone who is not an admin and
// whose scopes nothing in the configuration names.
const (
	openClawScopes = "X-Openclaw-Scopes"
	defaultScopes  = "operator.read,operator.write"
)

// DefaultIdentityHeaders are the header names used when none are configured.
var DefaultIdentityHeaders = IdentityHeaders{User: "X-Gateway-User", Method: "X-Gateway-Auth"}

// forgedIdentityHeaders are the identity headers of the usual identity-aware
// proxies (oauth2-proxy, Authelia, Pomerium, nginx auth_request), lower
// case. An upstream that trusts any of them (OpenClaw's trusted-proxy
// userHeader defaults to x-forwarded-user) would take a client's copy for
// the truth, so they are removed from every request in every mode, even
// from trusted peers, before anything is added. (X-Forwarded-User and its
// family go with every X-Forwarded-* header: trust.IsForwarding.)
var forgedIdentityHeaders = []string{"remote-user", "remote-email", "remote-groups", "remote-name", "x-remote-user"}

// forgedIdentityPrefixes are removed the same way: the gateway's own
// namespace, OpenClaw's, oauth2-proxy's auth_request family, and the signed
// identity headers of Pomerium, Cloudflare Access, Tailscale, Google IAP
// and AWS ALB.
var forgedIdentityPrefixes = []string{"X-Gateway-", "X-Openclaw-", "X-Auth-Request-", "X-Pomerium-", "Cf-Access-",
	"Tailscale-", "X-Goog-Iap-", "X-Amzn-Oidc-"}

// removedUpstream reports whether a client's header k never reaches the
// upstream (SPEC "Trust", outgoing headers): forwarding headers, identity
// headers of any identity-aware proxy, and any name holding "_" (nginx
// drops them too: frameworks that map "_" to "-" would read X_Gateway_User
// as X-Gateway-User).
func (o *Outgoing) removedUpstream(k string) bool {
	if strings.IndexByte(k, '_') >= 0 || o.strip[k] || trust.IsForwarding(k) || hasFoldPrefix(k, forgedIdentityPrefixes) {
		return true
	}
	for _, n := range forgedIdentityHeaders {
		if strings.EqualFold(k, n) {
			return true
		}
	}
	return false
}

// hopHeaders are removed before forwarding (RFC 9110 section 7.6.1), as
// httputil.ReverseProxy does; for a WebSocket, Connection and Upgrade are
// then set again for the upgrade itself.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// Outgoing builds the request the upstream receives from the client's. It
// is the one place that decides the upstream's view of a request, for every
// path: proxied HTTP, WebSocket upgrades and channel deliveries.
type Outgoing struct {
	// Identity names the identity headers; zero fields take the defaults.
	Identity IdentityHeaders
	// PreserveHost sends the client's Host (OpenClaw compares Origin with
	// Host); false sends the upstream's.
	PreserveHost bool
	// UserHeader is trusted-proxy mode's user header, read by auth and
	// removed here; StripHeaders are more headers of the gateway's methods
	// (the groups header, the assertion header) removed the same way.
	UserHeader   string
	StripHeaders []string
	// SameHostClient is the client address sent for a person on the
	// gateway's own host (record.SameHost), in X-Forwarded-For and
	// X-Real-IP: OpenClaw refuses a forwarded loopback client
	// (proxy_attribution_required) and ignores the user of a request
	// without forwarding headers ("direct-local"). Zero: the resolved
	// loopback address is sent as it is.
	SameHostClient netip.Addr

	strip map[string]bool // canonical names removed besides the fixed lists
}

func (o *Outgoing) init() {
	if o.strip != nil {
		return
	}
	o.Identity = o.Identity.Canonical()
	o.strip = map[string]bool{o.Identity.User: true, o.Identity.Method: true}
	for _, h := range append([]string{o.UserHeader}, o.StripHeaders...) {
		if h != "" {
			o.strip[http.CanonicalHeaderKey(h)] = true
		}
	}
}

// Build rewrites out, a clone of in whose URL the caller has pointed at the
// upstream, into what the upstream receives:
//   - hop-by-hop headers removed (as httputil.ReverseProxy does), Connection
//     and Upgrade set again only for a WebSocket handshake;
//   - every client-supplied forwarding header and forged identity header
//     removed (removedUpstream);
//   - the gateway's own credential removed, and only it (an Authorization
//     the gateway did not use passes untouched);
//   - forwarding and identity headers set fresh from the request record;
//   - unparsable query parameters removed (as httputil.ReverseProxy does);
//   - Host kept when PreserveHost.
func (o *Outgoing) Build(in, out *http.Request) {
	o.init()
	rec := request.FromContext(in.Context())
	h := out.Header
	removeHopHeaders(h)
	// As httputil.ReverseProxy does: tell the upstream trailers work when
	// the client said it wants them.
	if hasToken(in.Header["Te"], "trailers") {
		h.Set("Te", "trailers")
	}
	for k := range h {
		if o.removedUpstream(k) {
			delete(h, k)
		}
	}
	out.URL.RawQuery = cleanQuery(out.URL.RawQuery)
	out.Host = ""
	if o.PreserveHost {
		out.Host = in.Host
	}
	if rec == nil {
		return
	}
	if rec.Upgrade == request.UpgradeWebSocket {
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", "websocket")
		// A bearer.<token> entry is the gateway's credential form
		// whether or not it is the one that authenticated this request.
		stripProtocolToken(h)
	}
	if rec.SameHost && o.SameHostClient.IsValid() {
		// The one place the gateway writes a client address it did not
		// receive: the person on this host, authenticated here, as the
		// host's own address.
		h.Set(trust.HeaderXForwardedFor, o.SameHostClient.String())
		h.Set(trust.HeaderXRealIP, o.SameHostClient.String())
	} else {
		h.Set(trust.HeaderXForwardedFor, rec.OutgoingForwardedFor())
		h.Set(trust.HeaderXRealIP, rec.Client.String())
	}
	h.Set(trust.HeaderXForwardedProt, rec.Proto)
	h.Set(trust.HeaderXForwardedHost, rec.Host)
	if id := rec.Identity; id != nil {
		o.Identity.Write(h, id)
		// OpenClaw gives a trusted-proxy identity its CLI defaults
		// (operator.admin included) when the header is missing, so
		// anyone who is not an admin always gets one: their scopes, or
		// an empty value for none. A client's own copy went with the
		// X-Openclaw- family above.
		if !id.IsAdmin() {
			if id.Scopes == nil {
				h.Set(openClawScopes, defaultScopes)
			} else {
				h[openClawScopes] = []string{strings.Join(id.Scopes, ",")}
			}
		}
		if id.Credential == request.CredentialAuthorization {
			delete(h, "Authorization")
		}
	}
	// Every gateway cookie (sessions of both origins, CSRF, known
	// client, SSO, OIDC state) is the gateway's whatever authenticated
	// this request: the agent sees the person only through the identity
	// headers. Its own cookies pass.
	cookie.StripRequest(h)
}

// hasFoldPrefix reports whether k starts with any of prefixes, ASCII case
// insensitively (header maps built by code need not be canonical).
func hasFoldPrefix(k string, prefixes []string) bool {
	for _, p := range prefixes {
		if len(k) >= len(p) && strings.EqualFold(k[:len(p)], p) {
			return true
		}
	}
	return false
}

func removeHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// cleanQuery removes query parameters that do not parse (as
// httputil.ReverseProxy does since Go 1.17), so the gateway and the upstream
// cannot disagree about what "a=1;b=2" means.
func cleanQuery(s string) string {
	for i := 0; i < len(s); {
		switch s[i] {
		case ';':
			return reencode(s)
		case '%':
			if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
				return reencode(s)
			}
			i += 3
		default:
			i++
		}
	}
	return s
}

func reencode(s string) string {
	v, _ := url.ParseQuery(s)
	return v.Encode()
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// stripProtocolToken removes the bearer.<token> entry from
// Sec-WebSocket-Protocol, keeping any real subprotocols.
func stripProtocolToken(h http.Header) {
	var keep []string
	for _, line := range h.Values("Sec-WebSocket-Protocol") {
		for v := range strings.SplitSeq(line, ",") {
			v = strings.TrimSpace(v)
			if v != "" && !strings.HasPrefix(v, auth.WebSocketProtocolPrefix) {
				keep = append(keep, v)
			}
		}
	}
	h.Del("Sec-WebSocket-Protocol")
	if len(keep) > 0 {
		h.Set("Sec-WebSocket-Protocol", strings.Join(keep, ", "))
	}
}

// answerSubprotocol makes a 101 name one of the protocols the client
// offered when it offered any: the upstream's choice, else the bearer.
// entry that carried the token (the upstream never saw it). Browsers fail
// a handshake whose 101 names none ("Server sent no subprotocol").
func answerSubprotocol(in *http.Request, resp http.Header) {
	if resp.Get("Sec-WebSocket-Protocol") != "" {
		return
	}
	for _, line := range in.Header.Values("Sec-WebSocket-Protocol") {
		for v := range strings.SplitSeq(line, ",") {
			if v = strings.TrimSpace(v); strings.HasPrefix(v, auth.WebSocketProtocolPrefix) {
				resp.Set("Sec-WebSocket-Protocol", v)
				return
			}
		}
	}
}

// hasToken reports whether a comma-separated header holds token (ASCII case
// insensitive).
func hasToken(lines []string, token string) bool {
	for _, line := range lines {
		for el := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(textproto.TrimString(el), token) {
				return true
			}
		}
	}
	return false
}
