package config

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"gateway/request"
)

// AccessAuth are the values a rule's auth list may name.
var AccessAuth = []string{request.MethodToken, request.MethodPassword, request.MethodDevice, request.MethodTrustedProxy,
	request.MethodNone, request.MethodOIDC, request.MethodAssertion, request.MethodSession}

// httpMethods a rule may name.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// access validates gateway.access: every problem names gateway.access[i].
func (v *validator) access(g *Gateway) {
	for i, r := range g.Access {
		at := fmt.Sprintf("gateway.access[%d]", i)
		t := AccessRuleTyped{}
		list := func(key string, l []string) bool {
			if l != nil && len(l) == 0 {
				v.add(at+"."+key, "is empty: leave it out to match any")
				return false
			}
			for j, e := range l {
				if strings.TrimSpace(e) == "" {
					v.add(fmt.Sprintf("%s.%s[%d]", at, key, j), "is empty")
					return false
				}
			}
			return true
		}
		globs := func(key string, l []string, path bool) []Glob {
			if !list(key, l) {
				return nil
			}
			var out []Glob
			for j, e := range l {
				body, prefix := strings.CutSuffix(e, "*")
				if strings.Contains(body, "*") {
					v.add(fmt.Sprintf("%s.%s[%d]", at, key, j), "%q: \"*\" may only end an entry (a prefix)", e)
					continue
				}
				if path && !strings.HasPrefix(e, "/") {
					v.add(fmt.Sprintf("%s.%s[%d]", at, key, j), "%q must start with /", e)
					continue
				}
				out = append(out, Glob{S: body, Prefix: prefix})
			}
			return out
		}
		t.Users = globs("users", r.Users, false)
		t.Paths = globs("paths", r.Paths, true)
		if list("groups", r.Groups) {
			t.Groups = r.Groups
		}
		if list("auth", r.Auth) {
			for j, a := range r.Auth {
				if !slices.Contains(AccessAuth, a) {
					v.add(fmt.Sprintf("%s.auth[%d]", at, j), "must be one of %s, got %q", strings.Join(AccessAuth, ", "), a)
				}
			}
			t.Auth = r.Auth
		}
		if list("methods", r.Methods) {
			for j, m := range r.Methods {
				u := strings.ToUpper(m)
				if !slices.Contains(httpMethods, u) {
					v.add(fmt.Sprintf("%s.methods[%d]", at, j), "must be an HTTP method (%s), got %q", strings.Join(httpMethods, ", "), m)
					continue
				}
				t.Methods = append(t.Methods, u)
			}
		}
		if list("hosts", r.Hosts) {
			for j, h := range r.Hosts {
				h = strings.ToLower(h)
				if !validHostName(h) || h == "*" {
					v.add(fmt.Sprintf("%s.hosts[%d]", at, j), "must be a host name such as app.example.com, got %q", r.Hosts[j])
					continue
				}
				t.Hosts = append(t.Hosts, h)
			}
		}
		if list("tools", r.Tools) {
			for _, tool := range r.Tools {
				t.Tools = append(t.Tools, strings.TrimSpace(tool))
			}
		}
		switch {
		case r.Bypass && r.Action != "":
			v.add(at+".action", "a bypass rule takes no action (it answers without a credential)")
		case r.Bypass && (r.Users != nil || r.Groups != nil || r.Auth != nil || r.Tools != nil):
			v.add(at+".bypass", "a bypass rule answers without a credential, so it cannot name users, groups, auth or tools; match it on paths, methods and hosts")
		case r.Bypass:
			t.Bypass = true
		case r.Action == "allow":
		case r.Action == "deny":
			t.Deny = true
		case r.Action == "":
			v.add(at+".action", "is required: allow or deny (or bypass: true)")
		default:
			v.add(at+".action", "must be allow or deny, got %q", r.Action)
		}
		v.t.Access = append(v.t.Access, t)
	}
}

// forwardAuth validates gateway.forwardAuth. Runs after trust and admin.
func (v *validator) forwardAuth(g *Gateway) {
	fa := g.ForwardAuth
	if d := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(fa.CookieDomain), ".")); d != "" {
		if !validHostName(d) || !strings.Contains(d, ".") {
			v.add("gateway.forwardAuth.cookieDomain", "must be a domain such as example.com, got %q", fa.CookieDomain)
		} else {
			v.t.CookieDomain = d
		}
	}
	for i, h := range fa.Hosts {
		at := fmt.Sprintf("gateway.forwardAuth.hosts[%d]", i)
		h = strings.ToLower(strings.TrimSpace(h))
		name, port := h, ""
		if n, p, err := net.SplitHostPort(h); err == nil {
			name, port = n, p
			if pn, err := strconv.Atoi(p); err != nil || pn < 1 || pn > 65535 {
				v.add(at, "has a bad port: %q", fa.Hosts[i])
				continue
			}
		}
		if !validHostName(name) || name == "*" {
			v.add(at, "must be a host name such as app.example.com (a port only if the app is reached on one), got %q", fa.Hosts[i])
			continue
		}
		if slices.Contains(v.t.AllowedHosts, name) || name == v.t.AdminHost {
			v.add(at, "%q is the agent's or the console's name; an app protected by forward auth needs a name of its own", name)
			continue
		}
		// A browser never sends a domain cookie to a host outside the
		// domain: the one sign-in would silently not reach the app.
		if d := v.t.CookieDomain; d != "" && !underDomain(name, d) {
			v.add(at, "%q is not under gateway.forwardAuth.cookieDomain %q, so the browser never sends it the SSO cookie", name, d)
		}
		if !slices.Contains(v.t.ForwardNames, name) {
			v.t.ForwardNames = append(v.t.ForwardNames, name)
		}
		if port != "" {
			name = net.JoinHostPort(name, port)
		}
		v.t.ForwardHosts = append(v.t.ForwardHosts, name)
	}
	switch fa.DefaultAction {
	case "", "deny":
	case "allow":
		v.t.ForwardAllow = true
	default:
		v.add("gateway.forwardAuth.defaultAction", "must be deny or allow, got %q", fa.DefaultAction)
	}
	if len(fa.Hosts) > 0 && v.t.PublicURL == nil {
		v.add("gateway.forwardAuth.hosts", "need gateway.publicUrl: a person without a session is sent to the sign-in page there")
	}
	if d := v.t.CookieDomain; d != "" {
		// A browser refuses a cookie for a domain the setting host is
		// not under.
		if len(fa.Hosts) == 0 {
			v.add("gateway.forwardAuth.cookieDomain", "is set but gateway.forwardAuth.hosts is empty: the SSO cookie would protect nothing")
		}
		if v.t.PublicURL != nil && !underDomain(v.t.PublicURL.Hostname(), d) {
			v.add("gateway.forwardAuth.cookieDomain", "%q does not cover gateway.publicUrl's host %q, where people sign in and the cookie is set", d, v.t.PublicURL.Hostname())
		}
	}
	// Bypass rules answer forward auth without a credential; the agent
	// never bypasses, so a bypass rule naming the agent's host is a
	// misunderstanding worth refusing.
	for i, r := range v.t.Access {
		if !r.Bypass {
			continue
		}
		at := fmt.Sprintf("gateway.access[%d]", i)
		if len(v.t.ForwardHosts) == 0 {
			v.add(at+".bypass", "applies only to gateway.forwardAuth.hosts, and there are none")
		}
		for _, h := range r.Hosts {
			if !slices.Contains(v.t.ForwardNames, h) {
				v.add(at+".hosts", "%q is not in gateway.forwardAuth.hosts; bypass applies only there (the agent always needs a credential)", h)
			}
		}
	}
}

// underDomain reports whether host is domain or a name under it.
func underDomain(host, domain string) bool {
	host = strings.ToLower(host)
	return host == domain || strings.HasSuffix(host, "."+domain)
}
