// Package access decides what each person may do with the agent: the
// gateway.access rules (first match wins, no match allows), matched on who
// the identity is and on the request as the agent will read it (the path
// as it will route it, the tool an OpenClaw /tools/invoke body or a
// WebSocket tools.invoke call names). It reads the record; it never
// decides who someone is.
package access

import (
	"slices"
	"strings"

	"gateway/config"
	"gateway/request"
)

// Engine holds the rules of one configuration.
type Engine struct {
	rules []rule
	// paths: some rule names paths, so every request's path is read as
	// the upstream will route it (and ambiguous spellings refused).
	paths bool
	// tools: some rule names tools.
	tools bool
}

type rule struct {
	config.AccessRuleTyped
	index int
	// tools, folded as OpenClaw's tool policy folds names.
	tools []string
}

// New builds the engine of validated rules.
func New(rules []config.AccessRuleTyped) *Engine {
	e := &Engine{}
	for i, r := range rules {
		x := rule{AccessRuleTyped: r, index: i}
		for _, t := range r.Tools {
			x.tools = append(x.tools, NormalizeTool(t))
		}
		e.paths = e.paths || r.Paths != nil
		e.tools = e.tools || r.Tools != nil
		e.rules = append(e.rules, x)
	}
	return e
}

// Empty reports whether there are no rules (nothing to decide).
func (e *Engine) Empty() bool { return e == nil || len(e.rules) == 0 }

// Request is what a rule matches on, besides the identity.
type Request struct {
	// Method is the HTTP method; Path the path as the upstream routes it
	// (OpenClaw's capability prefix removed); Host the resolved host name.
	Method, Path, Host string
	// Tool is the OpenClaw tool named, folded; "" when none.
	Tool string
}

// Decision is what the rules say about a request.
type Decision struct {
	// Rule is the index of the rule that matched, -1 when none did.
	Rule int
	// Deny: the matching rule denies.
	Deny bool
}

// Decide runs the rules in order: the first that matches decides; none
// matching allows. It does not allocate.
func (e *Engine) Decide(id *request.Identity, q *Request) Decision {
	if e != nil {
		for i := range e.rules {
			r := &e.rules[i]
			if !r.Bypass && r.namesIdentity(id) && r.matches(q) {
				return Decision{Rule: r.index, Deny: r.Deny}
			}
		}
	}
	return Decision{Rule: -1}
}

// Forward decides a request to an app protected by forward auth: the
// rules as for the agent, except that a request no rule matches is
// denied unless allowByDefault (gateway.forwardAuth.defaultAction).
func (e *Engine) Forward(id *request.Identity, q *Request, allowByDefault bool) Decision {
	d := e.Decide(id, q)
	if d.Rule < 0 && !allowByDefault {
		d.Deny = true
	}
	return d
}

// Bypass returns the first bypass rule the request matches (an app's
// /health): such a request needs no credential. -1 when none does.
func (e *Engine) Bypass(q *Request) int {
	if e != nil {
		for i := range e.rules {
			if r := &e.rules[i]; r.Bypass && r.matches(q) {
				return r.index
			}
		}
	}
	return -1
}

// NamesTools reports whether a rule that names tools could apply to id:
// then a /tools/invoke body and the WebSocket's tools.invoke calls are
// read.
func (e *Engine) NamesTools(id *request.Identity) bool {
	if e == nil || !e.tools {
		return false
	}
	for i := range e.rules {
		if e.rules[i].tools != nil && e.rules[i].namesIdentity(id) {
			return true
		}
	}
	return false
}

// namesIdentity reports whether the rule's identity matchers (users,
// groups, auth) all match id.
func (r *rule) namesIdentity(id *request.Identity) bool {
	if r.Users != nil && !anyGlob(r.Users, id.User) {
		return false
	}
	if r.Groups != nil && !anyIn(r.Groups, id.Groups) {
		return false
	}
	if r.Auth != nil && !r.authMatches(id) {
		return false
	}
	return true
}

// authMatches: a session matches the method it was opened with, and
// "session" matches any session.
func (r *rule) authMatches(id *request.Identity) bool {
	for _, a := range r.Auth {
		if a == id.Method || (id.Method == request.MethodSession && a == id.OpenedWith) {
			return true
		}
	}
	return false
}

// matches reports whether the rule's request matchers all match q.
func (r *rule) matches(q *Request) bool {
	if r.Methods != nil && !slices.Contains(r.Methods, q.Method) {
		return false
	}
	if r.Hosts != nil && !slices.Contains(r.Hosts, q.Host) {
		return false
	}
	if r.Paths != nil && !anyGlob(r.Paths, q.Path) {
		return false
	}
	if r.tools != nil && (q.Tool == "" || !slices.Contains(r.tools, q.Tool)) {
		return false
	}
	return true
}

func anyGlob(gs []config.Glob, s string) bool {
	for _, g := range gs {
		if g.Match(s) {
			return true
		}
	}
	return false
}

func anyIn(want, have []string) bool {
	for _, h := range have {
		if slices.Contains(want, h) {
			return true
		}
	}
	return false
}

// toolAliases are OpenClaw 2026.9's tool name aliases
// (src/agents/tool-policy-shared.ts TOOL_NAME_ALIASES).
var toolAliases = map[string]string{"bash": "exec", "apply-patch": "apply_patch", "cron": "automations"}

// NormalizeTool folds a tool name as OpenClaw's tool policy does: trimmed,
// lower case, aliases resolved.
func NormalizeTool(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if a, ok := toolAliases[n]; ok {
		return a
	}
	return n
}

// hostName is a Host value's name, lower case, without the port.
func hostName(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	return strings.ToLower(strings.Trim(host, "[]"))
}

// Naming lists the rules whose identity matchers match id (auth aside when
// anyAuth: a person may come through several methods), for the console.
func (e *Engine) Naming(id *request.Identity, anyAuth bool) []int {
	var out []int
	if e == nil {
		return nil
	}
	for i := range e.rules {
		r := e.rules[i]
		if anyAuth {
			r.Auth = nil
		}
		if r.namesIdentity(id) {
			out = append(out, r.index)
		}
	}
	return out
}
