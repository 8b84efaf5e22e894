package auth

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"gateway/config"
	"gateway/httperr"
	"gateway/request"
)

// Refusals of a person a method vouched for.
var (
	// ErrNotAdmitted is a person the configuration does not name.
	ErrNotAdmitted = errors.New("not admitted: not in gateway.users, in none of gateway.groups, and in no allowed domain")
	// ErrReservedName is a method reporting the owner's name or a name
	// with ':' (the gateway's own: devices, service tokens).
	ErrReservedName = errors.New("reserved user name")
)

// People decides who is admitted and with which role and groups, from
// gateway.users and gateway.groups. It is built with each configuration
// and consulted on every request (sessions store only who signed in), so
// removing someone from the file takes effect at once.
type People struct {
	users   map[string]config.Person
	groups  map[string]config.Group
	domains []string
	// allowUsers is trusted-proxy mode's allowUsers; while no people are
	// configured, those users are admins (configurations written before
	// people existed).
	allowUsers []string
}

// NewPeople returns the directory of one configuration.
func NewPeople(p config.People, allowUsers []string) *People {
	return &People{users: p.Users, groups: p.Groups, domains: p.AllowedDomains, allowUsers: allowUsers}
}

// Empty reports whether no people or groups are configured.
func (pp *People) Empty() bool { return len(pp.users) == 0 && len(pp.groups) == 0 }

// ImplicitAdmins reports whether trusted-proxy allowUsers are admins
// (the legacy rule: allowUsers set, and no people or groups).
func (pp *People) ImplicitAdmins() bool { return pp.Empty() && len(pp.allowUsers) > 0 }

// claim is what a method knows of a person.
type claim struct {
	method string
	// user is the name as the method reported it.
	user string
	// email is a verified address ("" when none or unverified).
	email string
	// groups are the provider's or proxy's groups; only those listed in
	// gateway.groups count.
	groups []string
	// service: the gateway itself named the user service:<common_name>
	// (a Cloudflare Access service token).
	service bool
}

// admit turns a method's claim into an identity, or refuses it: 403
// reserved_name for the owner's or the gateway's names, 403 not_admitted
// for someone the configuration does not name.
func (pp *People) admit(c claim) (*request.Identity, error) {
	why := config.ReservedName(c.user)
	if why == "" && strings.HasPrefix(c.user, config.ServicePrefix) && !c.service {
		why = "starts with service:, the gateway's name for service tokens"
	}
	if strings.TrimSpace(c.user) == "" {
		why = "is empty"
	}
	if why != "" {
		return nil, httperr.New(http.StatusForbidden, "reserved_name", "this user name cannot be used: it "+why, ErrReservedName)
	}
	key := config.NormalUser(c.user)
	person, listed := pp.users[key]
	var groups []string
	for _, g := range c.groups {
		if _, ok := pp.groups[g]; ok {
			groups = append(groups, g)
		}
	}
	groups = append(groups, person.Groups...)
	slices.Sort(groups)
	groups = slices.Compact(groups)
	// IdP groups that gateway.groups lists admit; groups given in
	// gateway.users only describe someone already listed.
	admitted := listed || anyListed(c.groups, pp.groups)
	switch c.method {
	case request.MethodTrustedProxy:
		if len(pp.allowUsers) == 0 || slices.Contains(pp.allowUsers, c.user) {
			admitted = true
		}
	case request.MethodOIDC:
		if !admitted && c.email != "" {
			_, domain, _ := strings.Cut(strings.ToLower(c.email), "@")
			admitted = slices.Contains(pp.domains, domain)
		}
	}
	if !admitted {
		return nil, httperr.New(http.StatusForbidden, "not_admitted", "you are signed in as "+c.user+", whom this gateway does not admit; the owner must add you to gateway.users", ErrNotAdmitted)
	}
	id := &request.Identity{User: c.user, Method: c.method, Groups: groups, Email: c.email, Role: request.RoleUser}
	if c.method == request.MethodOIDC || c.method == request.MethodAssertion {
		id.User = key
	}
	id.Scopes = person.Scopes
	if id.Scopes == nil {
		id.Scopes = pp.groupScopes(groups)
	}
	switch {
	case person.Role != "":
		id.Role = person.Role
	case pp.groupsAdmin(groups):
		id.Role = request.RoleAdmin
	case c.method == request.MethodTrustedProxy && pp.ImplicitAdmins() && slices.Contains(pp.allowUsers, c.user):
		id.Role = request.RoleAdmin
	}
	return id, nil
}

func anyListed(groups []string, listed map[string]config.Group) bool {
	for _, g := range groups {
		if _, ok := listed[g]; ok {
			return true
		}
	}
	return false
}

// groupScopes is the union of the scopes the groups give, nil when none
// of them says.
func (pp *People) groupScopes(groups []string) []string {
	defined := false
	out := []string{}
	for _, g := range groups {
		if s := pp.groups[g].Scopes; s != nil {
			defined = true
			out = append(out, s...)
		}
	}
	if !defined {
		return nil
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// groupsAdmin reports whether any of the groups gives the admin role.
func (pp *People) groupsAdmin(groups []string) bool {
	for _, g := range groups {
		if pp.groups[g].Role == request.RoleAdmin {
			return true
		}
	}
	return false
}
