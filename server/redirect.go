package server

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"gateway/config"
	"gateway/request"
)

// redirects decides where a sign-in (or sign-out) may send a browser next
// (rd): a path on this origin, or an absolute URL on one of the gateway's
// own names (gateway.allowedHosts) or the apps forward auth protects, in
// the scheme the request came in. Anything else is "/".
type redirects struct {
	// hosts are the allowed names (lower case), with a port only when
	// the listed entry has one; "*" in allowedHosts never counts.
	hosts map[string]bool
}

func redirectsOf(cfg *config.Config) redirects {
	rr := redirects{hosts: map[string]bool{}}
	for _, h := range cfg.Typed.AllowedHosts {
		if h != "*" {
			rr.hosts[h] = true
		}
	}
	for _, h := range cfg.Typed.ForwardHosts {
		rr.hosts[h] = true
	}
	return rr
}

// safe returns rd if it may be followed, else "/".
func (rr redirects) safe(r *http.Request, rd string) string {
	if rd == "" {
		return "/"
	}
	for i := 0; i < len(rd); i++ {
		if rd[i] < 0x20 || rd[i] == 0x7f || rd[i] == '\\' {
			return "/"
		}
	}
	if rd[0] == '/' {
		// A path, but not "//host" (a scheme-relative URL to another
		// host).
		if strings.HasPrefix(rd, "//") {
			return "/"
		}
		return rd
	}
	u, err := url.Parse(rd)
	rec := request.FromContext(r.Context())
	if err != nil || u.Scheme != rec.Proto || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "/"
	}
	host := strings.ToLower(u.Host)
	if u.Port() == "" && strings.HasSuffix(host, ":") {
		return "/"
	}
	if !rr.hosts[host] {
		return "/"
	}
	return rd
}

// origins are the origins, in scheme, a sign-in may redirect to besides
// its own (for the sign-in page's CSP form-action): the apps' hosts.
func (rr redirects) origins(r *http.Request) []string {
	proto := request.FromContext(r.Context()).Proto
	out := make([]string, 0, len(rr.hosts))
	for h := range rr.hosts {
		if !strings.ContainsAny(h, "*' ;") {
			out = append(out, proto+"://"+h)
		}
	}
	slices.Sort(out)
	return out
}
