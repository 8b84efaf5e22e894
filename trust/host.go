package trust

import (
	"net/http"
	"net/netip"
	"strings"

	"gateway/config"
	"gateway/httperr"
)

// maxHostInMessage bounds how much of a refused Host is echoed back.
const maxHostInMessage = 100

// hostKind classifies a Host value once per request.
type hostKind uint8

const (
	hostEmpty    hostKind = iota // no Host (HTTP/1.0)
	hostLoopback                 // localhost or a loopback IP literal
	hostIP                       // another IP literal
	hostName                     // a DNS name
)

// classifyHost parses a Host value (name, name:port, v4, v4:port, [v6],
// [v6]:port) without allocating.
func classifyHost(host string) (hostKind, string) {
	if host == "" {
		return hostEmpty, ""
	}
	name := stripPort(host)
	if strings.EqualFold(name, "localhost") {
		return hostLoopback, name
	}
	if a, err := netip.ParseAddr(name); err == nil {
		if a.Unmap().IsLoopback() {
			return hostLoopback, name
		}
		return hostIP, name
	}
	return hostName, name
}

// stripPort removes the port and the IPv6 brackets from a Host value.
func stripPort(host string) string {
	if host[0] == '[' {
		if end := strings.IndexByte(host, ']'); end > 0 {
			return host[1:end]
		}
		return host
	}
	if i := strings.IndexByte(host, ':'); i >= 0 && strings.IndexByte(host[i+1:], ':') < 0 {
		return host[:i] // one colon: name or v4 with a port; more: bare v6
	}
	return host
}

// hostAllowed is the DNS rebinding defence (SPEC "Host allowlist"): IP
// literals pass (a page cannot rebind one), so does "localhost", so do the
// configured names; any other name may be an attacker's that resolves to
// us. An empty Host (HTTP/1.0) names nothing a browser could have sent.
func (r *Resolver) hostAllowed(kind hostKind, name string) bool {
	if kind != hostName || r.anyHost {
		return true
	}
	if r.hosts[name] {
		return true
	}
	return r.hosts[strings.ToLower(name)]
}

func hostRefused(host string) error {
	if len(host) > maxHostInMessage {
		host = host[:maxHostInMessage] + "..."
	}
	return httperr.New(http.StatusMisdirectedRequest, "host_not_allowed",
		"this gateway does not serve the host "+host+"; add it to gateway.allowedHosts if it is yours", ErrHostNotAllowed)
}

// browserSite reads what a browser says about the page that sent the
// request. cross: it comes from a page of another origin (Sec-Fetch-Site,
// which no page can set, decides when present: none (typed URL, bookmark)
// and same-origin are this site, all else is not; without it, an Origin
// that is not the gateway's own as the client addressed it is another
// site). same: the browser positively says this origin (Sec-Fetch-Site:
// same-origin, or the request's own Origin) and neither header says
// otherwise. Non-browser clients send neither: not cross, not same.
func browserSite(h http.Header, proto, host string) (cross, same bool) {
	origin, hasOrigin := h["Origin"]
	originSame := hasOrigin && len(origin) == 1 && SameOrigin(origin[0], proto, host)
	if v := h["Sec-Fetch-Site"]; len(v) > 0 {
		cross = len(v) != 1 || (v[0] != "none" && v[0] != "same-origin")
		same = !cross && v[0] == "same-origin" && (!hasOrigin || originSame)
		return cross, same
	}
	return !originSame, originSame
}

// SameOrigin reports whether origin is proto://host, normalised (case,
// default ports). "null" and anything unparsable are never the same.
func SameOrigin(origin, proto, host string) bool {
	o, err := config.NormalizeOrigin(origin)
	if err != nil {
		return false
	}
	self, err := config.NormalizeOrigin(proto + "://" + host)
	return err == nil && o == self
}
