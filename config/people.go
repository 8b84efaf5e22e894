package config

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"gateway/request"
)

// ServicePrefix starts the user name the gateway gives a Cloudflare Access
// service token (its common_name): the only ':' a person's name may have.
const ServicePrefix = "service:"

// ReservedName reports why a user name a method reports cannot be a
// person's: the owner's name (any case) and names with ':' (devices are
// "device:<id>") belong to the gateway. "" means the name is fine.
func ReservedName(name string) string {
	switch {
	case strings.EqualFold(name, request.Owner):
		return "is the owner's name"
	case strings.HasPrefix(name, ServicePrefix) && len(name) > len(ServicePrefix) && !strings.Contains(name[len(ServicePrefix):], ":"):
		return ""
	case strings.Contains(name, ":"):
		return "contains ':' (names with ':' are the gateway's own, such as device:<id>)"
	}
	return ""
}

// NormalUser is the form a user name is compared in: lower case when it is
// an email address (providers differ in case), as written otherwise.
func NormalUser(name string) string {
	if strings.Contains(name, "@") {
		return strings.ToLower(name)
	}
	return name
}

// PersonRoles are the roles a person can have.
var PersonRoles = []string{request.RoleAdmin, request.RoleUser}

// people: gateway.users, gateway.groups, and the two methods that bring
// people (OIDC, assertions). Runs after trust and admin (it reads the
// trusted proxies and the public URL).
func (v *validator) people(g *Gateway) {
	p := People{Users: map[string]Person{}, Groups: map[string]Group{}}
	for _, name := range sortedKeys(g.Users) {
		path := fmt.Sprintf("gateway.users[%q]", name)
		u := g.Users[name]
		if strings.TrimSpace(name) == "" {
			v.add("gateway.users", "a user name is empty")
			continue
		}
		if why := ReservedName(name); why != "" {
			v.add(path, "%s; choose the name the person's method reports", why)
			continue
		}
		n := NormalUser(name)
		if _, dup := p.Users[n]; dup {
			v.add(path, "is listed twice (names with '@' are compared in lower case)")
			continue
		}
		v.role(path+".role", u.Role)
		v.scopes(path+".scopes", u.Scopes)
		for i, gr := range u.Groups {
			if strings.TrimSpace(gr) == "" {
				v.add(fmt.Sprintf("%s.groups[%d]", path, i), "is empty")
			}
		}
		p.Users[n] = u
	}
	for _, name := range sortedKeys(g.Groups) {
		path := fmt.Sprintf("gateway.groups[%q]", name)
		if strings.TrimSpace(name) == "" {
			v.add("gateway.groups", "a group name is empty")
			continue
		}
		v.role(path+".role", g.Groups[name].Role)
		v.scopes(path+".scopes", g.Groups[name].Scopes)
		p.Groups[name] = g.Groups[name]
	}
	if o := g.Auth.OIDC; o != nil {
		for i, d := range o.AllowedDomains {
			d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
			if !validHostName(d) || d == "*" {
				v.add(fmt.Sprintf("gateway.auth.oidc.allowedDomains[%d]", i), "must be a domain such as example.com, got %q", o.AllowedDomains[i])
				continue
			}
			p.AllowedDomains = append(p.AllowedDomains, d)
		}
	}
	v.t.People = p
	v.oidc(g)
	v.assertion(g)
	if h := g.Auth.TrustedProxy.GroupsHeader; h != "" && !validHeaderName(h) {
		v.add("gateway.auth.trustedProxy.groupsHeader", "must be a header name, got %q", h)
	}
}

func (v *validator) role(path, role string) {
	if role != "" && !slices.Contains(PersonRoles, role) {
		v.add(path, "must be admin or user, got %q", role)
	}
}

// scopes checks OpenClaw operator scope names.
func (v *validator) scopes(path string, scopes []string) {
	for i, s := range scopes {
		if !strings.HasPrefix(s, "operator.") || strings.ContainsAny(s, " ,") {
			v.add(fmt.Sprintf("%s[%d]", path, i), "must be an OpenClaw operator scope such as operator.read, got %q", s)
		}
	}
}

// providerURL checks an issuer or JWKS URL: https, or http on a loopback
// host (a provider on this machine, tests).
func providerURL(s string) (*url.URL, string) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, "must be an absolute https URL"
	}
	switch u.Scheme {
	case "https":
		return u, ""
	case "http":
		if loopbackHost(u.Hostname()) {
			return u, ""
		}
		return nil, "must be https (http only on a loopback host: a provider on this machine)"
	}
	return nil, "must be an absolute https URL"
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

func (v *validator) oidc(g *Gateway) {
	o := g.Auth.OIDC
	if o == nil {
		return
	}
	t := &OIDCTyped{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret, Name: o.Name,
		UserClaim: o.UserClaim, GroupsClaim: o.GroupsClaim, Scopes: o.Scopes}
	ok := true
	bad := func(key, format string, args ...any) {
		v.add("gateway.auth.oidc."+key, format, args...)
		ok = false
	}
	switch g.Auth.Mode {
	case ModeToken, ModePassword:
	default:
		bad("issuer", "OIDC sign-in works beside mode token or password (in mode %s the proxy in front, or nobody, signs people in)", g.Auth.Mode)
	}
	iss, why := providerURL(o.Issuer)
	if why != "" {
		bad("issuer", "%s, got %q", why, o.Issuer)
	}
	if strings.TrimSpace(o.ClientID) == "" {
		bad("clientId", "is required (the client registered at the provider)")
	}
	switch {
	case o.RedirectURL != "":
		u, err := url.Parse(o.RedirectURL)
		if err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname()))) || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			bad("redirectUrl", "must be the https URL of /auth/oidc/callback registered at the provider, got %q", o.RedirectURL)
		} else if u.Path != "/auth/oidc/callback" {
			bad("redirectUrl", "must end in /auth/oidc/callback (the gateway's callback), got path %q", u.Path)
		} else {
			t.RedirectURL = u
		}
	case v.t.PublicURL != nil:
		u := *v.t.PublicURL
		u.Path = "/auth/oidc/callback"
		t.RedirectURL = &u
	default:
		bad("redirectUrl", "is required when gateway.publicUrl is unset (the callback URL registered at the provider)")
	}
	if t.UserClaim == "" {
		t.UserClaim = "email"
	}
	if len(t.Scopes) == 0 {
		t.Scopes = []string{"openid", "email", "profile"}
	} else if !slices.Contains(t.Scopes, "openid") {
		bad("scopes", "must include openid")
	}
	if t.Name == "" && iss != nil {
		t.Name = iss.Hostname()
	}
	t.MaxSessionAge = 12 * time.Hour
	if o.MaxSessionAge != "" {
		t.MaxSessionAge = duration(&v.errs, "gateway.auth.oidc.maxSessionAge", o.MaxSessionAge)
	}
	if ok {
		v.t.OIDC = t
	}
}

func (v *validator) assertion(g *Gateway) {
	a := g.Auth.Assertion
	if a == nil {
		return
	}
	t := &AssertionTyped{Header: a.Header, JWKSURL: a.JWKSURL, Issuer: a.Issuer, Audience: a.Audience,
		UserClaim: a.UserClaim, GroupsClaim: a.GroupsClaim, Required: a.Required}
	ok := true
	bad := func(key, format string, args ...any) {
		v.add("gateway.auth.assertion."+key, format, args...)
		ok = false
	}
	if t.Header == "" {
		t.Header = "Cf-Access-Jwt-Assertion"
	}
	if !validHeaderName(t.Header) {
		bad("header", "must be a header name, got %q", a.Header)
	}
	t.Header = http.CanonicalHeaderKey(t.Header)
	if _, why := providerURL(a.JWKSURL); why != "" {
		bad("jwksUrl", "%s, got %q", why, a.JWKSURL)
	}
	if strings.TrimSpace(a.Issuer) == "" {
		bad("issuer", "is required (the token's iss, e.g. https://<team>.cloudflareaccess.com)")
	}
	if strings.TrimSpace(a.Audience) == "" {
		bad("audience", "is required (the application's AUD tag)")
	}
	if t.UserClaim == "" {
		t.UserClaim = "email"
	}
	if len(a.Proxies) > 0 {
		for i, s := range a.Proxies {
			p, err := ParsePrefix(s)
			if err != nil {
				bad(fmt.Sprintf("proxies[%d]", i), "%v", err)
				continue
			}
			t.Proxies = append(t.Proxies, p)
		}
	} else {
		// The trusted proxies, loopback left out: on this host any
		// process could replay a token it found.
		for _, p := range v.t.TrustedProxies {
			if !p.Addr().IsLoopback() {
				t.Proxies = append(t.Proxies, p)
			}
		}
		if len(t.Proxies) == 0 && ok {
			bad("proxies", "no proxy to take assertions from: gateway.trustedProxies has no address beyond loopback; list the proxy here (a loopback one only deliberately)")
		}
	}
	if ok {
		v.t.Assertion = t
	}
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// sortedKeys returns m's keys in order, for stable error lists.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
