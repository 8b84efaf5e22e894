package trust

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"gateway/config"
	"gateway/httperr"
)

// maxHostInMessage bounds how much of a refused Host is echoed back.
const maxHostInMessage = 100

// hostAllowed is the DNS rebinding defence (SPEC "Host allowlist"): IP
// literals pass (a page cannot rebind one), so does "localhost", so do the
// configured names; any other name may be an attacker's that resolves to
// us. An empty Host (HTTP/1.0) names nothing a browser could have sent.
func (r *Resolver) hostAllowed(host string) bool {
	if r.anyHost || host == "" {
		return true
	}
	name := hostName(host)
	if _, err := netip.ParseAddr(name); err == nil {
		return true
	}
	name = strings.ToLower(name)
	return name == "localhost" || r.hosts[name]
}

func hostRefused(host string) error {
	if len(host) > maxHostInMessage {
		host = host[:maxHostInMessage] + "..."
	}
	return httperr.New(http.StatusMisdirectedRequest, "host_not_allowed",
		"this gateway does not serve the host "+host+"; add it to gateway.allowedHosts if it is yours", ErrHostNotAllowed)
}

// hostName strips the port and the IPv6 brackets from a Host value.
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

// loopbackHost reports whether host names this machine's loopback:
// "localhost" or a loopback IP literal.
func loopbackHost(host string) bool {
	name := hostName(host)
	if strings.EqualFold(name, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(name)
	return err == nil && a.Unmap().IsLoopback()
}

// crossSite reports whether a browser says the request comes from a page
// of another origin: Sec-Fetch-Site other than none (typed URL, bookmark)
// and same-origin, or an Origin that is not the gateway's own as the client
// addressed it. Non-browser clients send neither header.
func crossSite(h http.Header, proto, host string) bool {
	if v := h["Sec-Fetch-Site"]; len(v) > 0 {
		if len(v) != 1 || (v[0] != "none" && v[0] != "same-origin") {
			return true
		}
	}
	origin, ok := h["Origin"]
	if !ok {
		return false
	}
	if len(origin) != 1 {
		return true
	}
	return !SameOrigin(origin[0], proto, host)
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
