package server

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"gateway/access"
	"gateway/admin"
	"gateway/audit"
	"gateway/config"
	"gateway/httperr"
	"gateway/request"
	"gateway/sender"
	"gateway/web"
)

// console serves GET /admin/: the owner's page. It shows what the JSON
// admin endpoints return, and its forms post to the same endpoints.
type console struct {
	b          browser
	svc        *admin.Service
	channels   map[string]config.ChannelPolicy
	au         auditRoutes
	clock      func() time.Time
	devicesOff bool
}

var doneMessages = map[string]string{
	"approved":         "Device approved; it can connect now.",
	"rejected":         "Pairing request rejected.",
	"revoked":          "Device revoked; its tokens stopped working.",
	"pairing-approved": "Sender approved.",
	"pairing-rejected": "Pairing code rejected.",
	"session-revoked":  "Session signed out.",
	"sessions-revoked": "Every session signed out.",
}

var errorMessages = map[string]string{
	"role_confirmation_required": "That request asks for the admin role: tick the confirmation to approve it as admin, or approve it as operator.",
	"not_found":                  "Nothing to act on: it was handled already or expired.",
	"unknown_code":               "No such pending code (expired?).",
	"csrf":                       "The form expired; try again.",
	"cross_site":                 "That form came from another site and was refused.",
	"state_unreadable":           "The device store cannot be read; see the gateway log.",
	"state_corrupt":              "The pairing store cannot be read; see the gateway log.",
}

func (c console) page(w http.ResponseWriter, r *http.Request) { c.render(w, r, nil) }

// render writes the console; inv, when set, is an invitation just issued,
// shown once on this page.
func (c console) render(w http.ResponseWriter, r *http.Request, inv *inviteAnswer) {
	rec := request.FromContext(r.Context())
	now := c.clock()
	d := web.Console{CSRF: c.b.csrf.Token(w, r, https(r)), DevicesOff: c.devicesOff}
	if inv != nil {
		d.Invitation = &web.Invitation{Code: inv.Code, URL: inv.URL, Role: inv.Role, Expires: inv.ExpiresAt.UTC().Format(time.RFC3339)}
	}
	if m, ok := doneMessages[r.URL.Query().Get("done")]; ok {
		d.Flash = m
	}
	if code := r.URL.Query().Get("error"); code != "" {
		d.FlashError = errorMessages[code]
		if d.FlashError == "" {
			d.FlashError = "The action failed (" + sanitizeCode(code) + ")."
		}
	}
	id := rec.Identity
	d.You = web.You{User: id.User, Method: id.Method, Role: id.Role, Client: rec.Client.String(), Peer: rec.Peer.String(),
		Chain: rec.OutgoingForwardedFor(), Proto: rec.Proto, Host: rec.Host, ViaProxy: rec.ViaProxy, Local: rec.Local()}

	rep := audit.Run(audit.FromConfig(c.au.cfg, c.au.stateDir).AddOpenClaw(c.au.openClaw), now)
	d.Audit = web.Audit{Critical: rep.Summary.Critical, Warn: rep.Summary.Warn, Info: rep.Summary.Info}
	for _, f := range rep.Findings {
		d.Audit.Findings = append(d.Audit.Findings, web.Finding{Severity: string(f.Severity), CheckID: f.CheckID,
			Title: f.Title, Detail: f.Detail, Fix: f.Remediation, Suppressed: f.Suppressed})
	}

	d.SignOut = id.SessionID != ""
	d.People, d.Groups, d.Rules = peopleOf(c.au.cfg)
	// A part that cannot be read is shown as such, never as "nothing
	// there": an empty list would tell the owner nobody is waiting.
	unreadable := func(what string, err error) {
		if err == nil {
			return
		}
		d.Unreadable = append(d.Unreadable, what)
		if rec.Cause == nil {
			rec.Cause = httperr.New(http.StatusServiceUnavailable, "store_unavailable", "the gateway's state cannot be read",
				fmt.Errorf("console: %s: %w", what, err))
		}
	}

	pending, err := c.svc.Devices.Pending()
	unreadable("pending devices", err)
	if err == nil {
		for _, p := range pending {
			d.Pending = append(d.Pending, web.PendingDevice{RequestID: p.RequestID, DeviceID: short(p.DeviceID), Role: p.Role,
				Client: p.Client, ViaProxy: p.ViaProxy, Age: age(now, time.UnixMilli(p.CreatedAtMs))})
		}
	}
	paired, err := c.svc.Devices.Paired(r.Context())
	unreadable("paired devices", err)
	if err == nil {
		for _, p := range paired {
			d.Paired = append(d.Paired, web.PairedDevice{DeviceID: p.DeviceID, Role: p.Role,
				ApprovedAt: time.UnixMilli(p.ApprovedAtMs).UTC().Format(time.RFC3339), ApprovedBy: p.ApprovedBy})
		}
	}

	names := make([]string, 0, len(c.channels))
	for n := range c.channels {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ch := web.Channel{Name: n, DMPolicy: c.channels[n].DMPolicy}
		allow, err := c.svc.Pairing.AllowFrom(r.Context(), n)
		unreadable(n+" allowlist", err)
		ch.Allowed = len(allow)
		codes, err := c.svc.Pairing.Pending(n)
		unreadable(n+" pairing codes", err)
		if err == nil {
			for _, p := range codes {
				ch.Pending = append(ch.Pending, web.PairingCode{Code: p.Code, From: sender.Mask(p.ID), Age: age(now, p.CreatedAt)})
			}
		}
		d.Channels = append(d.Channels, ch)
	}

	sessions, err := c.svc.Sessions.List(r.Context(), c.svc.SessionPolicy)
	unreadable("sessions", err)
	if err == nil {
		for _, s := range sessions {
			d.Sessions = append(d.Sessions, web.Session{ID: s.ID, Short: s.ID[:12], Current: s.ID == id.SessionID,
				Origin: s.OriginName(), User: s.UserName(),
				Created: s.CreatedAt.UTC().Format(time.RFC3339), LastSeen: age(now, s.LastSeen) + " ago"})
		}
	}
	web.RenderConsole(w, d)
}

func short(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	return id
}

func age(now, t time.Time) string {
	return now.Sub(t).Round(time.Second).String()
}

// sanitizeCode keeps an error code from the query to [a-z_].
func sanitizeCode(s string) string {
	b := []byte{}
	for i := 0; i < len(s) && i < 40; i++ {
		if c := s[i]; c >= 'a' && c <= 'z' || c == '_' {
			b = append(b, c)
		}
	}
	return string(b)
}

// peopleOf lists gateway.users and gateway.groups with their role, their
// OpenClaw scopes and the access rules that apply to them, and the rules.
func peopleOf(cfg *config.Config) (people, groups []web.Person, rules []string) {
	pp := cfg.Typed.People
	e := access.New(cfg.Typed.Access)
	ruleList := func(idx []int) string {
		var s []string
		for _, i := range idx {
			s = append(s, fmt.Sprintf("#%d (%s)", i, cfg.Gateway.Access[i].Action))
		}
		return strings.Join(s, ", ")
	}
	scopes := func(admin bool, own []string, groups []string) string {
		switch {
		case admin:
			return "every scope (no cap)"
		case own != nil:
			return orNone(own)
		}
		var union []string
		defined := false
		for _, g := range groups {
			if s := pp.Groups[g].Scopes; s != nil {
				defined = true
				union = append(union, s...)
			}
		}
		if defined {
			slices.Sort(union)
			return orNone(slices.Compact(union))
		}
		return "operator.read, operator.write (default)"
	}
	for _, name := range slices.Sorted(maps.Keys(pp.Users)) {
		u := pp.Users[name]
		role := u.Role
		if role == "" {
			role = request.RoleUser
			for _, g := range u.Groups {
				if pp.Groups[g].Role == request.RoleAdmin {
					role = request.RoleAdmin
				}
			}
		}
		id := &request.Identity{User: name, Groups: u.Groups, Role: role}
		people = append(people, web.Person{Name: name, Groups: strings.Join(u.Groups, ", "), Role: role,
			Scopes: scopes(role == request.RoleAdmin, u.Scopes, u.Groups), Rules: ruleList(e.Naming(id, true))})
	}
	for _, name := range slices.Sorted(maps.Keys(pp.Groups)) {
		g := pp.Groups[name]
		role := g.Role
		if role == "" {
			role = request.RoleUser
		}
		id := &request.Identity{User: "", Groups: []string{name}, Role: role}
		groups = append(groups, web.Person{Name: name, Role: role, Scopes: scopes(role == request.RoleAdmin, nil, []string{name}),
			Rules: ruleList(e.Naming(id, true))})
	}
	for _, r := range cfg.Gateway.Access {
		rules = append(rules, describeRule(r))
	}
	return people, groups, rules
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// describeRule is one access rule on one line.
func describeRule(r config.AccessRule) string {
	var parts []string
	add := func(k string, v []string) {
		if v != nil {
			parts = append(parts, k+" ["+strings.Join(v, ", ")+"]")
		}
	}
	add("users", r.Users)
	add("groups", r.Groups)
	add("auth", r.Auth)
	add("methods", r.Methods)
	add("hosts", r.Hosts)
	add("paths", r.Paths)
	add("tools", r.Tools)
	if len(parts) == 0 {
		parts = append(parts, "every request")
	}
	return strings.Join(parts, " · ") + " → " + r.Action
}
