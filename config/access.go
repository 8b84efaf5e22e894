package config

import (
	"fmt"
	"slices"
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
		switch r.Action {
		case "allow":
		case "deny":
			t.Deny = true
		case "":
			v.add(at+".action", "is required: allow or deny")
		default:
			v.add(at+".action", "must be allow or deny, got %q", r.Action)
		}
		v.t.Access = append(v.t.Access, t)
	}
}
