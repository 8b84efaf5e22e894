package audit

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"gateway/access"
	"gateway/config"
	"gateway/request"
)

// dangerousTools is OpenClaw 2026.9's DEFAULT_GATEWAY_HTTP_TOOL_DENY
// (src/security/dangerous-tools.ts): the tools its HTTP endpoint refuses by
// default, which the README's family rule denies at the gateway.
var dangerousTools = []string{"exec", "spawn", "shell", "fs_write", "fs_delete", "fs_move", "apply_patch", "terminal", "portal",
	"sessions_spawn", "sessions_send", "conversations_list", "conversations_send", "conversations_turn", "automations", "gateway",
	"plugins", "nodes", "computer", "mobile_ui", "openclaw"}

// checkAccess: rules that can never apply, admin groups that admit too
// widely, and people who may run OpenClaw's dangerous tools.
func checkAccess(s *Snapshot) []Finding {
	c := s.Config
	if c == nil {
		return nil
	}
	var out []Finding
	rules := c.Typed.Access
	for j := range rules {
		for i := 0; i < j; i++ {
			if covers(rules[i], rules[j]) {
				out = append(out, f("access.rule_shadowed", Warn, fmt.Sprintf("gateway.access[%d] never applies", j),
					fmt.Sprintf("gateway.access[%d] matches every request gateway.access[%d] would, and comes first (first match wins): rule %d never decides anything.", i, j, j),
					fmt.Sprintf("Move gateway.access[%d] before gateway.access[%d], narrow rule %d, or remove rule %d.", j, i, i, j)))
				break
			}
		}
	}
	if c.Typed.OIDC != nil && len(c.Typed.People.Users) == 0 {
		for _, g := range slices.Sorted(maps.Keys(c.Typed.People.Groups)) {
			if c.Typed.People.Groups[g].Role == request.RoleAdmin {
				out = append(out, f("access.admin_group_broad", Warn, "A provider group makes its members admins",
					fmt.Sprintf("gateway.groups[%q] has role admin, OIDC is on and gateway.users is empty: whoever the identity provider puts in %q becomes an admin of the gateway, and nothing here names who that is.", g, g),
					"Name the admins in gateway.users with role: admin, and give groups the user role."))
			}
		}
	}
	if who := unrestricted(c); len(who) > 0 {
		out = append(out, f("access.tools_unrestricted", Info, "People who are not admins may invoke OpenClaw's dangerous tools",
			"No gateway.access rule denies OpenClaw's shell, file and control-plane tools ("+strings.Join(dangerousTools[:4], ", ")+", ...) on /tools/invoke for "+strings.Join(who, ", ")+
				". OpenClaw's own HTTP deny list may still refuse them; and whatever the rules say, anyone who may chat can ask the agent for any tool its OpenClaw agent allows.",
			"Add a deny rule for their group with tools: [exec, spawn, shell, ...] (see the README's Capabilities example); to limit chat, give them scopes without operator.write or an OpenClaw agent whose tool policy denies the tools."))
	}
	return out
}

// unrestricted names the non-admin people and groups a dangerous tool is
// allowed for.
func unrestricted(c *config.Config) []string {
	e := access.New(c.Typed.Access)
	p := viewOf(c)
	var who []string
	try := func(label string, id *request.Identity) {
		for _, tool := range dangerousTools {
			if d := e.Decide(id, &access.Request{Method: "POST", Path: access.ToolsInvokePath, Tool: tool}); !d.Deny {
				who = append(who, label)
				return
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Typed.People.Users)) {
		u := c.Typed.People.Users[name]
		if p.admin(u) {
			continue
		}
		try(name, &request.Identity{User: name, Method: p.method, Role: request.RoleUser, Groups: u.Groups})
	}
	for _, g := range slices.Sorted(maps.Keys(c.Typed.People.Groups)) {
		if c.Typed.People.Groups[g].Role == request.RoleAdmin {
			continue
		}
		try("group "+g, &request.Identity{User: "someone", Method: p.method, Role: request.RoleUser, Groups: []string{g}})
	}
	return who
}

// peopleView is how people authenticate in this configuration, for the
// rules' auth matcher, and who is an admin.
type peopleView struct {
	method string
	groups map[string]config.Group
}

func viewOf(c *config.Config) peopleView {
	m := c.Gateway.Auth.Mode
	switch {
	case c.Typed.Assertion != nil:
		m = request.MethodAssertion
	case c.Typed.OIDC != nil:
		m = request.MethodSession
	}
	return peopleView{method: m, groups: c.Typed.People.Groups}
}

func (p peopleView) admin(u config.Person) bool {
	if u.Role != "" {
		return u.Role == request.RoleAdmin
	}
	for _, g := range u.Groups {
		if p.groups[g].Role == request.RoleAdmin {
			return true
		}
	}
	return false
}

// covers reports whether every request rule b matches is matched by a.
func covers(a, b config.AccessRuleTyped) bool {
	return globsCover(a.Users, b.Users) && globsCover(a.Paths, b.Paths) && listCovers(a.Groups, b.Groups, same) &&
		listCovers(a.Auth, b.Auth, same) && listCovers(a.Methods, b.Methods, same) && listCovers(a.Hosts, b.Hosts, same) &&
		listCovers(a.Tools, b.Tools, func(x, y string) bool { return access.NormalizeTool(x) == access.NormalizeTool(y) })
}

func same(x, y string) bool { return x == y }

// listCovers: a matches any (nil), or every value of b is in a.
func listCovers(a, b []string, eq func(x, y string) bool) bool {
	if a == nil {
		return true
	}
	if b == nil {
		return false
	}
	for _, y := range b {
		if !slices.ContainsFunc(a, func(x string) bool { return eq(x, y) }) {
			return false
		}
	}
	return true
}

// globsCover: a matches any (nil), or each of b's globs is within one of a's.
func globsCover(a, b []config.Glob) bool {
	if a == nil {
		return true
	}
	if b == nil {
		return false
	}
	for _, y := range b {
		if !slices.ContainsFunc(a, func(x config.Glob) bool {
			if x.Prefix {
				return strings.HasPrefix(y.S, x.S)
			}
			return !y.Prefix && x.S == y.S
		}) {
			return false
		}
	}
	return true
}
