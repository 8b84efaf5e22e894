// Package openclaw reads an OpenClaw gateway's configuration, read-only, and
// says item by item whether OpenClaw will accept this gateway as the
// identity-aware proxy in front of it (OpenClaw's own trusted-proxy mode),
// and where it can be reached without passing through the gateway. It never
// writes anything of OpenClaw's: OpenClaw migrates or deletes files it does
// not know in ~/.openclaw.
package openclaw

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gateway/config"
	"gateway/request"
)

// DefaultPort is OpenClaw's default gateway port.
const DefaultPort = 18789

// DefaultConfigPath is where OpenClaw keeps its configuration for home.
func DefaultConfigPath(home string) string {
	return filepath.Join(home, ".openclaw", "openclaw.json")
}

// Config is what the checks read of OpenClaw's openclaw.json.
type Config struct {
	Path            string
	Port            int
	Bind            string
	CustomBindHost  string
	AuthMode        string
	TokenConfigured bool
	TrustedProxies  []string
	UserHeader      string
	RequiredHeaders []string
	AllowUsers      []string
	AllowLoopback   bool
	AllowedOrigins  []string
	ToolsAllow      []string
	// IdentityScopes is gateway.auth.identityScopes: the WebSocket scopes
	// OpenClaw grants each trusted-proxy user.
	IdentityScopes map[string][]string
}

// ErrNotFound means there is no OpenClaw configuration at the path.
var ErrNotFound = errors.New("no OpenClaw configuration")

// Load reads OpenClaw's configuration (JSON5) at path. It only reads.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("openclaw config: %w", err)
	}
	tree, err := config.ParseOpenClaw(data)
	if err != nil {
		return nil, fmt.Errorf("openclaw config %s: %w", path, err)
	}
	g := obj(tree, "gateway")
	a := obj(g, "auth")
	tp := obj(a, "trustedProxy")
	c := &Config{
		Path:            path,
		Port:            DefaultPort,
		Bind:            str(g, "bind", "loopback"),
		CustomBindHost:  str(g, "customBindHost", ""),
		AuthMode:        str(a, "mode", "token"),
		TokenConfigured: secretSet(a["token"]),
		TrustedProxies:  strs(g, "trustedProxies"),
		UserHeader:      strings.ToLower(str(tp, "userHeader", "")),
		RequiredHeaders: lower(strs(tp, "requiredHeaders")),
		AllowUsers:      strs(tp, "allowUsers"),
		AllowLoopback:   b(tp, "allowLoopback"),
		AllowedOrigins:  strs(obj(g, "controlUi"), "allowedOrigins"),
		ToolsAllow:      strs(obj(g, "tools"), "allow"),
	}
	c.IdentityScopes = map[string][]string{}
	for user := range obj(a, "identityScopes") {
		c.IdentityScopes[user] = strs(obj(a, "identityScopes"), user)
	}
	if n, ok := g["port"].(float64); ok && n > 0 && n < 65536 {
		c.Port = int(n)
	} else if n, ok := g["port"].(int); ok && n > 0 && n < 65536 {
		c.Port = n
	}
	return c, nil
}

func obj(m map[string]any, k string) map[string]any {
	v, _ := m[k].(map[string]any)
	if v == nil {
		return map[string]any{}
	}
	return v
}

func str(m map[string]any, k, def string) string {
	if v, ok := m[k].(string); ok && v != "" {
		return v
	}
	return def
}

func strs(m map[string]any, k string) []string {
	list, _ := m[k].([]any)
	var out []string
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// secretSet reports whether a secret is configured: a non-empty string or
// a SecretRef object.
func secretSet(v any) bool {
	switch x := v.(type) {
	case string:
		return x != ""
	case map[string]any:
		return len(x) > 0
	}
	return false
}

func b(m map[string]any, k string) bool {
	v, _ := m[k].(bool)
	return v
}

func lower(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ToLower(strings.TrimSpace(s))
	}
	return out
}

// Exposed reports whether OpenClaw listens beyond loopback, where clients
// could reach it without passing through the gateway.
func (c *Config) Exposed() bool {
	switch c.Bind {
	case "loopback":
		return false
	case "custom":
		a, err := netip.ParseAddr(c.CustomBindHost)
		return err != nil || !a.IsLoopback()
	}
	return true // lan, tailnet, auto: any of them may listen beyond loopback
}

// Severity of a check item, with the audit's meaning.
type Severity string

// Severities.
const (
	OK       Severity = "ok"
	Info     Severity = "info"
	Warn     Severity = "warn"
	Critical Severity = "critical"
)

// Item is one result of Check, in the audit's field names.
type Item struct {
	// ID is the audit check id (openclaw.*).
	ID       string   `json:"checkId"`
	Severity Severity `json:"severity"`
	// Title says what was checked and found.
	Title string `json:"title"`
	// Detail explains it.
	Detail string `json:"detail,omitempty"`
	// Fix says what to change, when something must.
	Fix string `json:"remediation,omitempty"`
	// Accepted marks a risk the recipe cannot avoid (allowLoopback when
	// OpenClaw shares the gateway's host): shown, never a required change.
	Accepted bool `json:"accepted,omitempty"`
}

// Required reports whether the item asks for a change (exit status 1).
func (it Item) Required() bool { return it.Severity != OK && it.Severity != Info && !it.Accepted }

// OperatorScopes are every operator scope OpenClaw 2026.9 knows
// (src/gateway/operator-scopes.ts): the owner gets them all.
var OperatorScopes = []string{"operator.admin", "operator.read", "operator.write", "operator.sessions.read", "operator.sessions.write",
	"operator.approvals", "operator.questions", "operator.pairing", "operator.talk", "operator.talk.secrets"}

// Gateway is what Check needs to know of this gateway.
type Gateway struct {
	// Upstream is gateway.upstream (nil: none).
	UpstreamHost string
	UpstreamPort int
	// UserHeader and MethodHeader are the identity headers sent.
	UserHeader, MethodHeader string
	// People are the user names the gateway sends OpenClaw, each with
	// the widest operator scopes they may have there: the owner and
	// admins every scope; others users[u].scopes, else their groups',
	// else operator.read and operator.write. OpenClaw admits only the
	// users in its allowUsers and gives a WebSocket only the scopes in
	// its identityScopes, so both are generated from this.
	People map[string][]string
	// GroupAdmitted: gateway.groups admits people by their provider's
	// groups, whom OpenClaw cannot know by name.
	GroupAdmitted bool
	// AllowedHosts are the names the gateway serves browsers under.
	AllowedHosts []string
	// PublicURL is the origin people use (gateway.publicUrl or
	// --public-url: scheme, host and port), "" when unknown: then each
	// allowed host is taken as https://host.
	PublicURL string
	// EnvToken says OPENCLAW_GATEWAY_TOKEN is set in the environment.
	EnvToken bool
}

// GatewayFrom describes cfg for Check.
func GatewayFrom(cfg *config.Config, getenv func(string) string) Gateway {
	g := Gateway{
		UserHeader:    strings.ToLower(cfg.Typed.UpstreamUserHeader),
		MethodHeader:  strings.ToLower(cfg.Typed.UpstreamMethodHeader),
		People:        peopleScopes(cfg),
		GroupAdmitted: len(cfg.Typed.People.Groups) > 0,
		AllowedHosts:  cfg.Typed.AllowedHosts,
		EnvToken:      getenv("OPENCLAW_GATEWAY_TOKEN") != "",
	}
	if u := cfg.Typed.PublicURL; u != nil {
		g.PublicURL = u.String()
	}
	if u := cfg.Typed.Upstream; u != nil {
		g.UpstreamHost = u.Hostname()
		g.UpstreamPort, _ = strconv.Atoi(u.Port())
		if g.UpstreamPort == 0 {
			g.UpstreamPort = 80
			if u.Scheme == "https" {
				g.UpstreamPort = 443
			}
		}
	}
	return g
}

// DefaultScopes are what a person who is not an admin gets when neither
// gateway.users nor their groups say (SPEC "Capabilities").
var DefaultScopes = []string{"operator.read", "operator.write"}

// peopleScopes names everyone the gateway may send OpenClaw, with their
// widest scopes.
func peopleScopes(cfg *config.Config) map[string][]string {
	out := map[string][]string{}
	pp := cfg.Typed.People
	tp := cfg.Gateway.Auth.TrustedProxy.AllowUsers
	if cfg.Gateway.Auth.Mode == config.ModeTrustedProxy {
		for _, u := range tp {
			if len(pp.Users) == 0 && len(pp.Groups) == 0 {
				out[u] = OperatorScopes // allowUsers are admins while no people are configured
			} else {
				out[u] = DefaultScopes
			}
		}
	} else {
		out[request.Owner] = OperatorScopes
	}
	for name, p := range pp.Users {
		admin := p.Role == request.RoleAdmin
		var scopes []string
		for _, gname := range p.Groups {
			gr := pp.Groups[gname]
			admin = admin || (p.Role == "" && gr.Role == request.RoleAdmin)
			scopes = append(scopes, gr.Scopes...)
		}
		switch {
		case admin:
			out[name] = OperatorScopes
		case p.Scopes != nil:
			out[name] = p.Scopes
		case scopes != nil:
			slices.Sort(scopes)
			out[name] = slices.Compact(scopes)
		default:
			out[name] = DefaultScopes
		}
	}
	return out
}

// names are the people's names in order.
func (g Gateway) names() []string { return slices.Sorted(maps.Keys(g.People)) }

// sameHost reports whether the gateway reaches OpenClaw on loopback, i.e.
// connects to it from a loopback address.
func (g Gateway) sameHost() bool {
	if g.UpstreamHost == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(g.UpstreamHost)
	return err == nil && a.IsLoopback()
}

// dangerousTools are OpenClaw's /tools/invoke default deny list: exposing
// any of them over HTTP is remote code execution for every caller the
// gateway lets through.
var dangerousTools = map[string]bool{
	"exec": true, "spawn": true, "shell": true, "fs_write": true, "fs_delete": true, "fs_move": true,
	"apply_patch": true, "sessions_spawn": true, "sessions_send": true, "cron": true, "gateway": true, "nodes": true,
}

// Check compares OpenClaw's configuration with the gateway's. Every item
// is returned, passing ones with Severity OK, so `gateway openclaw check`
// can print the whole list.
func Check(oc *Config, g Gateway) []Item {
	var out []Item
	add := func(id string, sev Severity, title, detail, fix string) {
		out = append(out, Item{ID: id, Severity: sev, Title: title, Detail: detail, Fix: fix})
	}
	pass := func(id, title string) { add(id, OK, title, "", "") }

	switch oc.AuthMode {
	case "trusted-proxy":
		pass("openclaw.auth_mode", "OpenClaw runs in trusted-proxy mode")
	case "none":
		add("openclaw.auth_mode", Critical, "OpenClaw has no authentication",
			"gateway.auth.mode is none in "+oc.Path+": anything that reaches OpenClaw's port controls the agent, and the gateway's identity is ignored.",
			`Set gateway.auth.mode: "trusted-proxy" in OpenClaw's config (see the JSON below).`)
	default:
		add("openclaw.auth_mode", Warn, "OpenClaw does not take the gateway's identity",
			fmt.Sprintf("gateway.auth.mode is %q in %s: OpenClaw ignores the identity the gateway sends, and clients need OpenClaw's own credential too.", oc.AuthMode, oc.Path),
			`Set gateway.auth.mode: "trusted-proxy" in OpenClaw's config (see the JSON below).`)
	}
	switch {
	case oc.UserHeader == g.UserHeader:
		pass("openclaw.user_header", "OpenClaw reads the user from "+g.UserHeader)
	case oc.UserHeader == "":
		add("openclaw.user_header", Warn, "OpenClaw reads no user header",
			"OpenClaw's gateway.auth.trustedProxy.userHeader is not set; the gateway sends the user in "+g.UserHeader+".",
			fmt.Sprintf("Set gateway.auth.trustedProxy.userHeader: %q in OpenClaw's config.", g.UserHeader))
	default:
		add("openclaw.user_header", Warn, "OpenClaw reads the user from another header",
			fmt.Sprintf("OpenClaw's trustedProxy.userHeader is %q; the gateway sends the user in %q.", oc.UserHeader, g.UserHeader),
			fmt.Sprintf("Set gateway.auth.trustedProxy.userHeader: %q in OpenClaw's config, or gateway.upstreamHeaders.user here.", g.UserHeader))
	}
	sent := map[string]bool{g.UserHeader: true, g.MethodHeader: true}
	var unsent []string
	for _, h := range oc.RequiredHeaders {
		if !sent[h] {
			unsent = append(unsent, h)
		}
	}
	if len(unsent) == 0 {
		pass("openclaw.required_headers", "every header OpenClaw requires is sent")
	} else {
		add("openclaw.required_headers", Warn, "OpenClaw requires headers the gateway does not send",
			"OpenClaw's trustedProxy.requiredHeaders lists "+strings.Join(unsent, ", ")+"; every request would be refused.",
			fmt.Sprintf("Set requiredHeaders: [%q] in OpenClaw's config.", g.MethodHeader))
	}
	var missingUsers []string
	if len(oc.AllowUsers) > 0 {
		for _, u := range g.names() {
			if !contains(oc.AllowUsers, u) {
				missingUsers = append(missingUsers, u)
			}
		}
	}
	if len(missingUsers) == 0 {
		pass("openclaw.allow_users", "OpenClaw's allowUsers covers the users the gateway sends")
	} else {
		add("openclaw.allow_users", Warn, "OpenClaw refuses users the gateway sends",
			"OpenClaw's trustedProxy.allowUsers does not list "+strings.Join(missingUsers, ", ")+".",
			"Add them to gateway.auth.trustedProxy.allowUsers in OpenClaw's config.")
	}
	from := g.fromAddr()
	if trustedBy(oc.TrustedProxies, from) {
		pass("openclaw.trusted_proxies", "OpenClaw trusts the gateway's address "+from.String())
	} else {
		add("openclaw.trusted_proxies", Warn, "OpenClaw does not trust the gateway's address",
			fmt.Sprintf("the gateway connects to OpenClaw from %s, which is not in OpenClaw's gateway.trustedProxies %v: every request is refused (trusted_proxy_untrusted_source).", from, oc.TrustedProxies),
			fmt.Sprintf("Add %q to gateway.trustedProxies in OpenClaw's config.", from.String()))
	}
	switch {
	case g.sameHost() && !oc.AllowLoopback:
		add("openclaw.allow_loopback_required", Warn, "OpenClaw refuses its proxy on loopback",
			"the gateway reaches OpenClaw on loopback, and OpenClaw refuses a loopback proxy unless trustedProxy.allowLoopback is true (trusted_proxy_loopback_source).",
			"Set gateway.auth.trustedProxy.allowLoopback: true in OpenClaw's config, or run OpenClaw in its own network namespace or container and point gateway.upstream there.")
	case oc.AllowLoopback:
		add("openclaw.trusted_proxy_allow_loopback", Warn, "Any local process can claim a user at OpenClaw",
			"OpenClaw's trustedProxy.allowLoopback is true: a process on this host that connects to OpenClaw's port directly and sends "+g.UserHeader+" is taken for that user, without passing the gateway.",
			"Run OpenClaw in its own network namespace or container (reachable only from the gateway), then drop allowLoopback; until then keep untrusted users and software off this host.")
		// With OpenClaw on the gateway's host the recipe needs it: an
		// accepted risk, shown, never a required change.
		out[len(out)-1].Accepted = g.sameHost()
	default:
		pass("openclaw.allow_loopback", "OpenClaw does not take identities from other local processes")
	}
	var uncovered []string
	for _, o := range g.origins() {
		if !originCovers(oc.AllowedOrigins, o) {
			uncovered = append(uncovered, o)
		}
	}
	switch {
	case contains(oc.AllowedOrigins, "*"):
		sev := Warn
		if oc.Exposed() {
			sev = Critical
		}
		add("openclaw.control_ui.allowed_origins_wildcard", sev, "OpenClaw accepts any browser origin",
			`OpenClaw's gateway.controlUi.allowedOrigins contains "*": a page on any site can drive the agent over WebSocket with the browser's credentials.`,
			"List the exact origins, e.g. "+firstOr(g.origins(), "https://agent.example.com")+".")
	case len(uncovered) > 0:
		add("openclaw.control_ui.allowed_origins", Warn, "OpenClaw refuses the Control UI under the gateway's public address",
			"OpenClaw's gateway.controlUi.allowedOrigins has no origin "+strings.Join(uncovered, ", ")+" (scheme, host and port must match exactly; from gateway.publicUrl, or https:// and gateway.allowedHosts); browsers there get \"Browser origin not allowed\" (trusted_proxy_origin_not_allowed).",
			"Add "+uncovered[0]+" to gateway.controlUi.allowedOrigins in OpenClaw's config.")
	default:
		pass("openclaw.control_ui.allowed_origins", "OpenClaw accepts the Control UI at "+strings.Join(g.origins(), ", "))
	}
	var short []string
	for _, u := range g.names() {
		if missing := missingScopes(oc.IdentityScopes[u], g.People[u]); len(missing) > 0 {
			short = append(short, u+" lacks "+strings.Join(missing, ", "))
		}
	}
	if len(short) == 0 {
		pass("openclaw.identity_scopes", "OpenClaw grants each person their operator scopes on the WebSocket")
	} else {
		add("openclaw.identity_scopes", Warn, "OpenClaw withholds operator scopes from people the gateway sends",
			"OpenClaw's gateway.auth.identityScopes: "+strings.Join(short, "; ")+": OpenClaw grants a trusted-proxy user's WebSocket only these, so the owner cannot use the Control UI's admin pages or the CLI's devices and status commands (\"missing scope: operator.admin\"), and the others lack what gateway.users gives them.",
			"Give each person their scopes in gateway.auth.identityScopes (see the JSON below).")
	}
	if g.GroupAdmitted {
		add("openclaw.identity_scopes_missing", Info, "People admitted through a group get no WebSocket scopes at OpenClaw",
			"gateway.groups admits people by their provider's groups; OpenClaw grants WebSocket scopes only to the user names in its identityScopes (and admits only its allowUsers, when set), so someone admitted only through a group can use the agent's HTTP API but not its WebSocket (the Control UI).",
			"Name each such person in gateway.users (their scopes follow their groups), then apply the JSON below again.")
	}
	switch {
	case g.UpstreamPort == oc.Port:
		pass("openclaw.port", "gateway.upstream points at OpenClaw's port "+strconv.Itoa(oc.Port))
	case g.UpstreamPort == 0:
		add("openclaw.port", Warn, "gateway.upstream is not set",
			"the gateway proxies to nothing; OpenClaw listens on "+strconv.Itoa(oc.Port)+".",
			fmt.Sprintf("Set gateway.upstream: http://127.0.0.1:%d here.", oc.Port))
	default:
		add("openclaw.port", Warn, "gateway.upstream does not point at OpenClaw's port",
			fmt.Sprintf("OpenClaw listens on %d; gateway.upstream's port is %d.", oc.Port, g.UpstreamPort),
			fmt.Sprintf("Set gateway.upstream: http://127.0.0.1:%d here.", oc.Port))
	}
	if g.EnvToken || oc.TokenConfigured {
		add("openclaw.token_set", Warn, "OpenClaw has a shared token",
			"OPENCLAW_GATEWAY_TOKEN (or gateway.auth.token in OpenClaw's config) is set: OpenClaw refuses to start in trusted-proxy mode with a shared token.",
			"Unset OPENCLAW_GATEWAY_TOKEN for OpenClaw and remove gateway.auth.token from its config; the gateway has its own (GATEWAY_TOKEN).")
	} else {
		pass("openclaw.token_set", "OpenClaw has no shared token that would stop trusted-proxy mode")
	}
	if oc.Exposed() {
		add("openclaw.bypass_exposed", Critical, "OpenClaw is reachable without the gateway",
			fmt.Sprintf("OpenClaw's gateway.bind is %q: clients can reach port %d directly and skip the gateway.", oc.Bind, oc.Port),
			`Set gateway.bind: "loopback" in OpenClaw's config (the gateway reaches it on 127.0.0.1).`)
	} else {
		pass("openclaw.bypass_exposed", "OpenClaw listens on loopback only")
	}
	var risky []string
	for _, tool := range oc.ToolsAllow {
		if dangerousTools[tool] {
			risky = append(risky, tool)
		}
	}
	if len(risky) > 0 {
		add("openclaw.tools_invoke_dangerous", Critical, "OpenClaw's /tools/invoke exposes remote code execution",
			"OpenClaw's gateway.tools.allow removes "+strings.Join(risky, ", ")+" from the HTTP deny list: every caller the gateway lets through can run them.",
			"Remove them from gateway.tools.allow in OpenClaw's config.")
	} else {
		pass("openclaw.tools_invoke_dangerous", "/tools/invoke keeps OpenClaw's deny list")
	}
	return out
}

// fromAddr is the address the gateway connects to OpenClaw from: loopback
// when OpenClaw is on loopback; otherwise unknown, so the upstream host
// itself is reported.
func (g Gateway) fromAddr() netip.Addr {
	if g.sameHost() || g.UpstreamHost == "" {
		return netip.MustParseAddr("127.0.0.1")
	}
	if a, err := netip.ParseAddr(g.UpstreamHost); err == nil {
		return a
	}
	return netip.MustParseAddr("127.0.0.1")
}

func trustedBy(list []string, a netip.Addr) bool {
	for _, s := range list {
		p, err := config.ParsePrefix(s)
		if err == nil && p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// origins are the browser origins the Control UI is opened under: the
// public URL's (scheme, host and port), else https:// and each allowed
// host.
func (g Gateway) origins() []string {
	if g.PublicURL != "" {
		if n, err := config.NormalizeOrigin(g.PublicURL); err == nil {
			return []string{n}
		}
	}
	var out []string
	for _, h := range g.AllowedHosts {
		if n, err := config.NormalizeOrigin("https://" + h); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// originCovers reports whether an allowed origin is origin exactly
// (scheme, host and port, normalised: default ports and case).
func originCovers(origins []string, origin string) bool {
	want, err := config.NormalizeOrigin(origin)
	if err != nil {
		return false
	}
	for _, o := range origins {
		if n, err := config.NormalizeOrigin(o); err == nil && n == want {
			return true
		}
	}
	return false
}

// missingScopes lists the scopes of want that have lacks.
func missingScopes(have, want []string) []string {
	var out []string
	for _, w := range want {
		if !contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}

// snippet types keep OpenClaw's key order (encoding/json sorts map keys).
type snippetDoc struct {
	Gateway snippetGateway `json:"gateway"`
}

type snippetGateway struct {
	Mode           string      `json:"mode"`
	Bind           string      `json:"bind"`
	Port           int         `json:"port"`
	TrustedProxies []string    `json:"trustedProxies"`
	ControlUI      snippetUI   `json:"controlUi"`
	Auth           snippetAuth `json:"auth"`
}

type snippetUI struct {
	AllowedOrigins []string `json:"allowedOrigins"`
}

type snippetAuth struct {
	Mode           string              `json:"mode"`
	IdentityScopes map[string][]string `json:"identityScopes"`
	TrustedProxy   snippetTP           `json:"trustedProxy"`
}

type snippetTP struct {
	UserHeader        string          `json:"userHeader"`
	RequiredHeaders   []string        `json:"requiredHeaders"`
	AllowUsers        []string        `json:"allowUsers"`
	AllowLoopback     bool            `json:"allowLoopback,omitempty"`
	DeviceAutoApprove map[string]bool `json:"deviceAutoApprove"`
}

// Snippet is the OpenClaw configuration that makes it accept this gateway:
// the JSON to merge into ~/.openclaw/openclaw.json. oc, when known, is
// OpenClaw's current configuration: origins it already allows that are
// right are kept (a merge replaces the list).
func Snippet(g Gateway, oc *Config) string {
	origins := []string{}
	if oc != nil {
		for _, o := range oc.AllowedOrigins {
			if n, err := config.NormalizeOrigin(o); err == nil && !contains(origins, n) {
				origins = append(origins, n)
			}
		}
	}
	for _, o := range g.origins() {
		if !contains(origins, o) {
			origins = append(origins, o)
		}
	}
	users := g.names()
	scopes := g.People
	if len(users) == 0 {
		users, scopes = []string{request.Owner}, map[string][]string{request.Owner: OperatorScopes}
	}
	port := g.UpstreamPort
	if port == 0 {
		port = DefaultPort
	}
	doc := snippetDoc{Gateway: snippetGateway{
		Mode: "local", Bind: "loopback", Port: port,
		TrustedProxies: []string{g.fromAddr().String()},
		ControlUI:      snippetUI{AllowedOrigins: origins},
		Auth: snippetAuth{
			Mode:           "trusted-proxy",
			IdentityScopes: scopes,
			TrustedProxy: snippetTP{
				UserHeader: g.UserHeader, RequiredHeaders: []string{g.MethodHeader}, AllowUsers: users,
				AllowLoopback:     g.sameHost() || g.UpstreamHost == "",
				DeviceAutoApprove: map[string]bool{"enabled": true},
			},
		},
	}}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return string(b)
}

// Commands are OpenClaw CLI commands that apply Snippet to OpenClaw's
// configuration (openclaw config set/unset, which validate as they write),
// token removal first: OpenClaw refuses trusted-proxy mode beside a shared
// token.
func Commands(g Gateway, oc *Config) []string {
	var doc snippetDoc
	_ = json.Unmarshal([]byte(Snippet(g, oc)), &doc)
	js := func(v any) string {
		b, _ := json.Marshal(v)
		return "'" + string(b) + "'"
	}
	var out []string
	if oc == nil || oc.TokenConfigured {
		out = append(out, "openclaw config unset gateway.auth.token")
	}
	gw := doc.Gateway
	out = append(out,
		"openclaw config set gateway.mode local",
		"openclaw config set gateway.bind "+gw.Bind,
		"openclaw config set gateway.port "+strconv.Itoa(gw.Port)+" --strict-json",
		"openclaw config set gateway.trustedProxies --strict-json "+js(gw.TrustedProxies),
		"openclaw config set gateway.controlUi.allowedOrigins --strict-json "+js(gw.ControlUI.AllowedOrigins),
		"openclaw config set gateway.auth --strict-json "+js(gw.Auth),
	)
	return out
}
