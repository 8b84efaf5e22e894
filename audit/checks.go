package audit

import (
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"

	"gateway/config"
	"gateway/openclaw"
)

// check is one registered static check. Adding a check is adding an entry
// here and a test case.
type check struct {
	name string
	run  func(*Snapshot) []Finding
}

var checks = []check{
	{"config.invalid", checkConfigInvalid},
	{"gateway.bind_no_auth", checkNoAuth},
	{"gateway.trusted_proxies_missing", checkTrustedProxiesMissing},
	{"gateway.trusted_proxies_too_broad", checkTrustedProxiesTooBroad},
	{"gateway.real_ip_fallback_enabled", checkRealIPFallback},
	{"gateway.token_too_short", checkTokenTooShort},
	{"gateway.password_too_short", checkPasswordLength},
	{"gateway.password_weak", checkPasswordWeak},
	{"gateway.auth_no_rate_limit", checkNoRateLimit},
	{"gateway.trusted_proxy_*", checkTrustedProxyMode},
	{"gateway.control_ui.allowed_origins_wildcard", checkOriginsWildcard},
	{"gateway.control_ui.allowed_origins_required", checkOriginsRequired},
	{"gateway.allowed_hosts_wildcard", checkHostsWildcard},
	{"gateway.device_auto_approve_exposed", checkAutoApproveExposed},
	{"config.secrets.gateway_password_in_config", checkLiteralSecrets},
	{"logging.redact_off", checkRedactOff},
	{"channels.*", checkChannels},
	{"fs.state_dir.*", checkStateDir},
	{"fs.config.*", checkConfigFile},
	{"fs.credentials_dir.*", checkCredentialsDir},
	{"fs.auth_profiles.*", checkAuthProfiles},
	{"openclaw.*", checkOpenClaw},
	{"store.*", checkStore},
	{"openclaw.same_user", checkSameUser},
	{"admin.listen_exposed", checkAdminExposed},
	{"access.*", checkAccess},
}

// checkSameUser: the agent must run as another Unix user than the gateway.
// An agent with a shell running as the gateway's user reads the gateway's
// credentials (the token, the signing key) and is, in effect, the owner.
func checkSameUser(s *Snapshot) []Finding {
	if !s.UpstreamOwnerKnown || s.UpstreamOwner != s.GatewayUID {
		return nil
	}
	return []Finding{f("openclaw.same_user", Critical, "The agent runs as the gateway's own Unix user",
		fmt.Sprintf("The upstream %s listens on a socket owned by uid %d, the gateway's own: an agent with a shell (OpenClaw's exec tools) can read the gateway's state directory (its token, its device-token signing key, sessions) and act as the owner; and its connections count as local.",
			s.Config.Typed.Upstream.Host, s.UpstreamOwner),
		"Run the agent as a user of its own (systemd User=agent; see docs/openclaw.md) and keep the gateway's state directory 0700 under the gateway's user.")}
}

// checkAdminExposed: the admin listener serves the console without TLS; it
// belongs on loopback or a Unix socket, reached over ssh -L or a TLS proxy.
func checkAdminExposed(s *Snapshot) []Finding {
	if s.Config == nil || !s.Config.Typed.AdminExposed {
		return nil
	}
	return []Finding{f("admin.listen_exposed", Critical, "The console listens beyond loopback",
		"gateway.admin.listen is "+s.Config.Gateway.Admin.Listen+": the console and its sign-in are served in clear to the network.",
		"Listen on loopback (127.0.0.1:18781, the default) or a Unix socket (unix:/run/gateway/admin.sock) and reach it with ssh -L, or put a TLS proxy in front with gateway.admin.host.")}
}

// checkStore looks at the Redis the replicas share: it holds the
// device-token signing keys, session hashes and lockouts, so whoever can
// talk to it can mint device tokens and unlock clients.
func checkStore(s *Snapshot) []Finding {
	if s.Config == nil || s.Config.Gateway.Store.Backend != config.BackendRedis {
		return nil
	}
	u, err := url.Parse(s.Config.Gateway.Store.URL)
	if err != nil {
		return nil // config validation already refused it
	}
	var out []Finding
	if pw, ok := u.User.Password(); !ok || pw == "" {
		out = append(out, f("store.redis_no_auth", Warn, "Redis without a password",
			"gateway.store.url names no password: anyone who can connect to that Redis can read the device-token signing key (and mint tokens), end sessions and lift lockouts.",
			"Set requirepass (or an ACL user) on Redis and put the password in the URL through ${VAR} or GATEWAY_REDIS_URL: redis://:${REDIS_PASSWORD}@host:6379/0."))
	}
	if config.RedisTLSUnverified(s.Config.Gateway.Store.URL) {
		out = append(out, f("store.redis_tls_unverified", Critical, "Redis over TLS without certificate checks",
			"gateway.store.url turns certificate checks off (skip_verify): anyone on the path can pose as Redis and read the password, the device-token signing key and every session check.",
			"Remove skip_verify and give Redis a certificate this host trusts (SSL_CERT_FILE=/path/ca.pem for a private CA); gateway.store.allowInsecureTls: true only accepts the risk."))
	}
	host := u.Hostname()
	a, ipErr := netip.ParseAddr(host)
	loopback := host == "localhost" || (ipErr == nil && a.IsLoopback())
	if u.Scheme == "redis" && !loopback {
		out = append(out, f("store.redis_plaintext_remote", Critical, "Redis over the network without TLS",
			"gateway.store.url is redis:// to "+host+": the password, the signing key and every session check cross the network in clear.",
			"Use rediss:// (Redis with tls-port, or a TLS tunnel such as stunnel), or run Redis on each host's loopback."))
	}
	return out
}

// literalURLPassword reports whether the file's gateway.store.url carries a
// password that is not a ${VAR}.
func literalURLPassword(tree map[string]any) bool {
	g, _ := tree["gateway"].(map[string]any)
	st, _ := g["store"].(map[string]any)
	raw, _ := st["url"].(string)
	u, err := url.Parse(raw)
	if raw == "" || strings.Contains(raw, "${") || err != nil {
		return false
	}
	pw, ok := u.User.Password()
	return ok && pw != ""
}

// checkOpenClaw reports, when an OpenClaw configuration was found, whether
// OpenClaw will accept this gateway and where it can be reached without it
// (the same items `gateway openclaw check` prints).
func checkOpenClaw(s *Snapshot) []Finding {
	if s.OpenClawErr != nil {
		return []Finding{f("openclaw.config_unreadable", Warn, "OpenClaw's configuration could not be read",
			s.OpenClawErr.Error()+": the openclaw.* checks did not run.",
			"Give the gateway's user read access to it (docs/openclaw.md: the copy the gateway's unit installs), or pass --openclaw-config with a readable path.")}
	}
	if s.OpenClawMissing != "" {
		// The checks cannot run; say so rather than vanish.
		if s.OpenClawExplicit {
			return []Finding{f("openclaw.config_unreadable", Warn, "OpenClaw's configuration could not be read",
				"There is no file at "+s.OpenClawMissing+" (--openclaw-config): the openclaw.* checks did not run.",
				"Pass --openclaw-config with the path of OpenClaw's openclaw.json.")}
		}
		if s.Config != nil && s.Config.Typed.Upstream != nil {
			return []Finding{f("openclaw.config_not_found", Info, "No OpenClaw configuration found",
				"There is no OpenClaw configuration at "+s.OpenClawMissing+" (the gateway's user's home): if the upstream is OpenClaw, the openclaw.* checks did not run.",
				"Pass --openclaw-config with the path of OpenClaw's openclaw.json (or a copy the gateway's user can read; see docs/openclaw.md).")}
		}
	}
	if s.OpenClaw == nil || s.Config == nil || s.ConfigErr != nil {
		return nil
	}
	g := openclaw.GatewayFrom(s.Config, func(string) string { return "" })
	g.EnvToken = s.OpenClawEnvToken
	var out []Finding
	for _, it := range openclaw.Check(s.OpenClaw, g) {
		if it.Severity == openclaw.OK {
			continue
		}
		out = append(out, f(it.ID, Severity(it.Severity), it.Title, it.Detail, it.Fix))
	}
	return out
}

func f(id string, sev Severity, title, detail, fix string) Finding {
	return Finding{CheckID: id, Severity: sev, Title: title, Detail: detail, Remediation: fix}
}

func checkConfigInvalid(s *Snapshot) []Finding {
	if s.Config == nil || s.ConfigErr == nil {
		return nil
	}
	return []Finding{f("config.invalid", Critical, "The configuration does not validate",
		"The gateway refuses to start with this configuration: "+strings.ReplaceAll(s.ConfigErr.Error(), "\n", "; "),
		"Run `gateway config validate` and fix each key it names.")}
}

func checkNoAuth(s *Snapshot) []Finding {
	c := s.Config
	if c == nil || c.Gateway.Auth.Mode != config.ModeNone {
		return nil
	}
	// OpenClaw reports the HTTP APIs beside the bind finding: critical
	// when exposed, warn on loopback.
	httpSev := Warn
	if s.exposed() {
		httpSev = Critical
	}
	http := f("gateway.http.no_auth", httpSev, "The agent's HTTP APIs are reachable without auth",
		"gateway.auth.mode is none: /tools/invoke, the channel endpoints and everything proxied to the agent are callable without a credential by whoever counts as local.",
		"Set gateway.auth.mode to token (the default) or password.")
	if s.exposed() {
		return []Finding{f("gateway.bind_no_auth", Critical, "Gateway exposed without authentication",
			fmt.Sprintf("gateway.bind is %q and gateway.auth.mode is none: anyone who can reach the port controls the agent.", c.Gateway.Bind),
			"Set gateway.auth.mode to token (the default) or password, or bind to loopback."), http}
	}
	return []Finding{f("gateway.loopback_no_auth", Critical, "Gateway has no authentication",
		"gateway.auth.mode is none: every local process and user, and anything that can relay to 127.0.0.1 (a browser page, an SSRF), controls the agent.",
		"Set gateway.auth.mode to token (the default)."), http}
}

func checkTrustedProxiesMissing(s *Snapshot) []Finding {
	// As OpenClaw: only on a loopback bind, where a reverse proxy on this
	// host is the way in.
	if s.Config == nil || len(s.Config.Gateway.TrustedProxies) > 0 || s.exposed() {
		return nil
	}
	return []Finding{f("gateway.trusted_proxies_missing", Warn, "No trusted proxies configured",
		"gateway.trustedProxies is empty: behind a reverse proxy every request is refused as untrusted_proxy (same host) or attributed to the proxy's address (remote), so lockouts and logs see the proxy, not the client.",
		`If a reverse proxy is in front, add the address it connects from: gateway.trustedProxies: ["127.0.0.1"]. If not, this is informational.`)}
}

func checkTrustedProxiesTooBroad(s *Snapshot) []Finding {
	if s.Config == nil {
		return nil
	}
	var broad []string
	for _, e := range s.Config.Gateway.TrustedProxies {
		p, err := config.ParsePrefix(e)
		if err != nil {
			continue
		}
		if p.Bits() == 0 || (isPublic(p.Addr()) && ((p.Addr().Is4() && p.Bits() < 16) || (p.Addr().Is6() && p.Bits() < 32))) {
			broad = append(broad, e)
		}
	}
	if len(broad) == 0 {
		return nil
	}
	return []Finding{f("gateway.trusted_proxies_too_broad", Critical, "Trusted proxy range is too broad",
		"These gateway.trustedProxies entries trust forwarding headers from much of the internet, so anyone there can claim any client address: "+strings.Join(broad, ", "),
		"List only the addresses your proxies connect from (e.g. 127.0.0.1 or the proxy's private address).")}
}

func isPublic(a netip.Addr) bool {
	return !(a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified())
}

func checkRealIPFallback(s *Snapshot) []Finding {
	if s.Config == nil || !s.Config.Gateway.AllowRealIPFallback {
		return nil
	}
	// Critical when exposed, or (as OpenClaw) when trusted-proxy auth
	// trusts a proxy off this host even on a loopback bind: that proxy's
	// clients then choose the address the gateway believes.
	sev := Warn
	if s.exposed() || (s.Config.Gateway.Auth.Mode == config.ModeTrustedProxy && trustsRemoteProxy(s.Config.Gateway.TrustedProxies)) {
		sev = Critical
	}
	return []Finding{f("gateway.real_ip_fallback_enabled", sev, "X-Real-IP fallback is enabled",
		"gateway.allowRealIpFallback believes X-Real-IP from a trusted proxy that sent no X-Forwarded-For; a proxy that passes a client's X-Real-IP through lets the client choose its address.",
		"Set gateway.allowRealIpFallback: false and have the proxy send X-Forwarded-For.")}
}

func checkTokenTooShort(s *Snapshot) []Finding {
	c := s.Config
	if c == nil || c.Gateway.Auth.Mode != config.ModeToken || c.Gateway.Auth.Token == "" || len(c.Gateway.Auth.Token) >= 24 {
		return nil
	}
	return []Finding{f("gateway.token_too_short", Warn, "Gateway token is short",
		fmt.Sprintf("The configured token has %d characters (fewer than 24): guessable with enough attempts.", len(c.Gateway.Auth.Token)),
		"Use a random token of 32 bytes or more, e.g. `openssl rand -base64 32`, or remove it to have one generated.")}
}

// commonPasswords are refused outright as weak; length does the rest.
var commonPasswords = []string{"password", "changeme", "admin", "letmein", "123456", "12345678", "qwerty", "openclaw"}

// trustsRemoteProxy reports whether any trusted proxy entry reaches beyond
// loopback (127.0.0.0/8 or ::1).
func trustsRemoteProxy(entries []string) bool {
	for _, e := range entries {
		p, err := config.ParsePrefix(e)
		if err != nil {
			return true // unparsable: assume the worst (validation refuses it anyway)
		}
		if a := p.Addr(); !a.IsLoopback() || (a.Is4() && p.Bits() < 8) || (a.Is6() && p.Bits() < 128) {
			return true
		}
	}
	return false
}

// checkPasswordLength is OpenClaw's password_too_short: a password of
// fewer than 24 characters (only a password the audit can see: a
// passwordHash has no length).
func checkPasswordLength(s *Snapshot) []Finding {
	c := s.Config
	if c == nil || c.Gateway.Auth.Mode != config.ModePassword || c.Gateway.Auth.Password == "" || len(c.Gateway.Auth.Password) >= 24 {
		return nil
	}
	return []Finding{f("gateway.password_too_short", Warn, "Gateway password looks short",
		fmt.Sprintf("The configured password has %d characters (fewer than 24): prefer a long passphrase.", len(c.Gateway.Auth.Password)),
		"Use a passphrase of 24 characters or more, stored as gateway.auth.passwordHash or in GATEWAY_PASSWORD.")}
}

// checkPasswordWeak is ours: a password from the common-password list,
// whatever its length.
func checkPasswordWeak(s *Snapshot) []Finding {
	c := s.Config
	if c == nil || c.Gateway.Auth.Mode != config.ModePassword || c.Gateway.Auth.Password == "" {
		return nil
	}
	if !slices.Contains(commonPasswords, strings.ToLower(c.Gateway.Auth.Password)) {
		return nil
	}
	return []Finding{f("gateway.password_weak", Warn, "Gateway password is a common password",
		"The configured password is on the list of common passwords: it is among the first guessed.",
		"Use a long random passphrase and store it as gateway.auth.passwordHash.")}
}

func checkNoRateLimit(s *Snapshot) []Finding {
	// Only enabled: false turns the lockout off. Read from the file's
	// own value, not the typed one: a config that failed validation
	// (maxAttempts: 0, say) has no typed values, and its lockout is not
	// off; config.invalid already says what is wrong with it.
	if s.Config == nil || !s.exposed() {
		return nil
	}
	if en := s.Config.Gateway.Auth.RateLimit.Enabled; en == nil || *en {
		return nil
	}
	return []Finding{f("gateway.auth_no_rate_limit", Warn, "Failed-login lockout is disabled",
		"gateway.auth.rateLimit.enabled is false on an exposed bind: credentials can be guessed without limit.",
		"Remove rateLimit.enabled (the lockout is on by default).")}
}

// checkOriginsRequired is OpenClaw's: on a non-loopback bind, browser
// WebSockets should come only from origins named in allowedOrigins, not
// from whatever Host the request carried.
func checkOriginsRequired(s *Snapshot) []Finding {
	if s.Config == nil || !s.exposed() || len(s.Config.Gateway.AllowedOrigins) > 0 {
		return nil
	}
	return []Finding{f("gateway.control_ui.allowed_origins_required", Critical, "Exposed gateway without explicit allowed origins",
		"The gateway binds beyond loopback and gateway.allowedOrigins is empty: browser WebSockets are accepted from the gateway's own origin as each request's Host names it (only Hosts in the allowlist), with no list of the origins you actually use.",
		"Set gateway.allowedOrigins to the full public origin of your UI, e.g. https://agent.example.com.")}
}

func checkTrustedProxyMode(s *Snapshot) []Finding {
	c := s.Config
	if c == nil || c.Gateway.Auth.Mode != config.ModeTrustedProxy {
		return nil
	}
	tp := c.Gateway.Auth.TrustedProxy
	out := []Finding{f("gateway.trusted_proxy_auth", Critical, "Authentication is delegated to a proxy",
		"gateway.auth.mode is trusted-proxy: whoever can reach the gateway from a trusted proxy address with the user header is in. Safe only if nothing else can connect from those addresses.",
		"Keep the gateway bound to loopback or a private interface reachable only by the proxy; suppress this finding once verified (audit.suppress).")}
	if len(c.Gateway.TrustedProxies) == 0 {
		out = append(out, f("gateway.trusted_proxy_no_proxies", Critical, "trusted-proxy mode without trusted proxies",
			"gateway.trustedProxies is empty: every request is refused.", "Add the identity proxy's address to gateway.trustedProxies."))
	}
	if strings.TrimSpace(tp.UserHeader) == "" {
		out = append(out, f("gateway.trusted_proxy_no_user_header", Critical, "trusted-proxy mode without a user header",
			"gateway.auth.trustedProxy.userHeader is empty.", "Set userHeader to the header your proxy sets, e.g. x-forwarded-user."))
	}
	if len(tp.AllowUsers) == 0 {
		out = append(out, f("gateway.trusted_proxy_no_allowlist", Warn, "Any user the proxy accepts may use the agent",
			"gateway.auth.trustedProxy.allowUsers is empty: every account the identity provider knows gets in (none as admin).",
			"List the users allowed to talk to the agent in allowUsers."))
	}
	if len(tp.AllowUsers) > 0 && len(c.Gateway.Users) == 0 && len(c.Gateway.Groups) == 0 {
		out = append(out, f("access.trusted_proxy_implicit_admin", Warn, "Every user in allowUsers is an admin",
			"gateway.users and gateway.groups are empty, so the users in gateway.auth.trustedProxy.allowUsers are admins (the rule from before people existed): each can use the admin API with a bearer and gets every OpenClaw operator scope.",
			"List the people in gateway.users with their roles (role: admin only for those who administer the gateway); allowUsers then only admits."))
	}
	if tp.AllowLoopback {
		out = append(out, f("gateway.trusted_proxy_allow_loopback", Warn, "Loopback may assert identities",
			"gateway.auth.trustedProxy.allowLoopback is true: any local process can send the user header and become that user.",
			"Set allowLoopback: false unless the proxy must run on this host and no other local process is untrusted."))
	}
	return out
}

func checkOriginsWildcard(s *Snapshot) []Finding {
	if s.Config == nil || !slices.Contains(s.Config.Gateway.AllowedOrigins, "*") {
		return nil
	}
	sev := Warn
	if s.exposed() {
		sev = Critical
	}
	return []Finding{f("gateway.control_ui.allowed_origins_wildcard", sev, "Any web page may open a WebSocket",
		`gateway.allowedOrigins contains "*": a page on any site the owner visits can drive the agent over WebSocket with the browser's credentials.`,
		"List the exact origins of your UI in gateway.allowedOrigins.")}
}

func checkHostsWildcard(s *Snapshot) []Finding {
	if s.Config == nil || !slices.Contains(s.Config.Gateway.AllowedHosts, "*") {
		return nil
	}
	return []Finding{f("gateway.allowed_hosts_wildcard", Warn, "Every Host name is served (DNS rebinding)",
		`gateway.allowedHosts contains "*": a web page on any name that resolves to this machine is same-origin with the gateway and can send it requests with the owner's browser.`,
		"List the names you serve (your public host name) in gateway.allowedHosts; loopback names and IP literals always pass.")}
}

func checkAutoApproveExposed(s *Snapshot) []Finding {
	c := s.Config
	if c == nil || !s.exposed() || c.Gateway.Auth.Mode == config.ModeTrustedProxy || c.Gateway.Auth.Mode == config.ModeNone {
		return nil
	}
	d := c.Gateway.Auth.Device
	if (d.Enabled != nil && !*d.Enabled) || (d.AutoApproveLocal != nil && !*d.AutoApproveLocal) {
		return nil
	}
	return []Finding{f("gateway.device_auto_approve_exposed", Warn, "Devices pair without the owner on an exposed gateway",
		fmt.Sprintf("gateway.bind is %q and gateway.auth.device.autoApproveLocal is on: every process of gateway.localUids on this host (and a same-host proxy of theirs that sends no forwarding header) pairs a non-admin device without asking.", c.Gateway.Bind),
		"Set gateway.auth.device.autoApproveLocal: false and approve devices with `gateway devices approve`.")}
}

// literalSecret reports whether the raw (unsubstituted) tree holds a
// literal value at gateway.auth.<key>.
func literalSecret(tree map[string]any, key string) bool {
	g, _ := tree["gateway"].(map[string]any)
	a, _ := g["auth"].(map[string]any)
	v, ok := a[key].(string)
	return ok && v != "" && !strings.Contains(v, "${")
}

func checkLiteralSecrets(s *Snapshot) []Finding {
	if s.Config == nil || s.Config.Source.Tree == nil {
		return nil
	}
	var keys []string
	for _, k := range []string{"password", "token"} {
		if literalSecret(s.Config.Source.Tree, k) {
			keys = append(keys, "gateway.auth."+k)
		}
	}
	if literalURLPassword(s.Config.Source.Tree) {
		keys = append(keys, "gateway.store.url (its Redis password)")
	}
	if len(keys) == 0 {
		return nil
	}
	return []Finding{f("config.secrets.gateway_password_in_config", Warn, "Secret written literally in the config file",
		"These keys hold a literal secret instead of ${VAR}; the file ends up in backups and screenshots: "+strings.Join(keys, ", "),
		"Use ${GATEWAY_TOKEN} / ${GATEWAY_PASSWORD} (or passwordHash), redis://:${REDIS_PASSWORD}@host in the URL (or GATEWAY_REDIS_URL), and keep the values in the environment.")}
}

func checkRedactOff(s *Snapshot) []Finding {
	if s.Config == nil || s.Config.Logging.RedactSensitive != "off" {
		return nil
	}
	return []Finding{f("logging.redact_off", Warn, "Log redaction is off",
		"logging.redactSensitive is off: chat message text and full sender ids are written to the logs.",
		"Set logging.redactSensitive: tools (the default).")}
}

func checkChannels(s *Snapshot) []Finding {
	if s.Config == nil {
		return nil
	}
	names := make([]string, 0, len(s.Config.Channels))
	for n := range s.Config.Channels {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Finding
	for _, n := range names {
		ch := s.Config.Channels[n]
		p := "channels." + n
		switch ch.DMPolicy {
		case "open":
			// As OpenClaw: open is critical whatever allowFrom says, and
			// open without "*" is also inconsistent (its DMs are dropped).
			out = append(out, f(p+".dm.open", Critical, "Direct messages are open on "+n,
				p+`.dmPolicy is open: with "*" in allowFrom any stranger can talk to an agent with shell access; without it every direct message is dropped.`,
				"Use dmPolicy: pairing (the default) or allowlist."))
			if !slices.Contains(ch.AllowFrom, "*") {
				out = append(out, f(p+".dm.open_invalid", Warn, "dmPolicy open without a wildcard on "+n,
					p+`.dmPolicy is open but `+p+`.allowFrom has no "*": open requires it, so direct messages on this channel are dropped.`,
					"Use dmPolicy: allowlist or pairing (or add \"*\" to allowFrom if you really mean open)."))
			}
		case "disabled":
			out = append(out, f(p+".dm.disabled", Info, "Direct messages disabled on "+n, p+".dmPolicy is disabled.", "None needed."))
		}
		if ch.GroupPolicy == "open" {
			out = append(out, f(p+".groups.open", Warn, "Any group can reach the agent on "+n,
				p+".groupPolicy is open: anyone who adds the account to a group can talk to the agent.",
				"Use groupPolicy: allowlist with groupAllowFrom (the fix does this)."))
		}
		if ch.GroupPolicy == "open" || (ch.GroupPolicy != "disabled" && slices.Contains(ch.GroupAllowFrom, "*")) {
			out = append(out, f(p+".groups.allowFrom.missing", Critical, "Group messages on "+n+" have no sender allowlist",
				p+`.groupPolicy is open (which delivers every group message) or groupAllowFrom holds "*": any member of any group the account is in can drive the agent.`,
				"Use groupPolicy: allowlist and list the groups or senders in groupAllowFrom, without \"*\"."))
		}
	}
	return out
}

func otherBits(m uint32) (groupW, worldW, groupR, worldR bool) {
	return m&0o020 != 0, m&0o002 != 0, m&0o040 != 0, m&0o004 != 0
}

func checkStateDir(s *Snapshot) []Finding {
	if s.StateLstat == nil {
		return []Finding{f("fs.state_dir.missing", Info, "State directory does not exist",
			s.StateDir+" does not exist yet; the gateway creates it (0700) on first start.", "None needed.")}
	}
	if s.StateLstat.Mode()&fs.ModeSymlink != 0 {
		return []Finding{f("fs.state_dir.symlink", Warn, "State directory is a symlink",
			s.StateDir+" is a symlink: its permissions are those of the target, which the audit does not follow.",
			"Point GATEWAY_STATE_DIR at the real directory.")}
	}
	// One permission finding per path, the strongest (OpenClaw's order).
	gw, ww, gr, wr := otherBits(uint32(s.StateLstat.Mode().Perm()))
	fix := "chmod 700 " + s.StateDir + " (the fix does this)."
	switch {
	case ww:
		return []Finding{f("fs.state_dir.perms_world_writable", Critical, "State directory is world-writable",
			s.StateDir+" can be written by every user: they can replace tokens, keys and allowlists.", fix)}
	case gw:
		return []Finding{f("fs.state_dir.perms_group_writable", Warn, "State directory is group-writable",
			s.StateDir+" can be written by its group.", fix)}
	case gr || wr:
		return []Finding{f("fs.state_dir.perms_readable", Warn, "State directory is readable by others",
			s.StateDir+" can be listed by other users.", fix)}
	}
	return nil
}

func checkConfigFile(s *Snapshot) []Finding {
	if s.ConfigLstat == nil {
		return nil
	}
	if s.ConfigLstat.Mode()&fs.ModeSymlink != 0 {
		return []Finding{f("fs.config.symlink", Warn, "Config file is a symlink",
			s.ConfigPath+" is a symlink; the audit does not follow it and --fix will not chmod it.", "Use the real file path.")}
	}
	// One permission finding per path, the strongest (OpenClaw's order).
	gw, ww, gr, wr := otherBits(uint32(s.ConfigLstat.Mode().Perm()))
	fix := "chmod 600 " + s.ConfigPath + " (the fix does this)."
	switch {
	case gw || ww:
		return []Finding{f("fs.config.perms_writable", Critical, "Config file is writable by others",
			s.ConfigPath+" can be changed by other users: they can turn authentication off.", fix)}
	case wr:
		return []Finding{f("fs.config.perms_world_readable", Critical, "Config file is world-readable",
			s.ConfigPath+" can be read by every user, with any secret in it.", fix)}
	case gr:
		return []Finding{f("fs.config.perms_group_readable", Warn, "Config file is group-readable",
			s.ConfigPath+" can be read by its group.", fix)}
	}
	return nil
}

// treePerms reports writable and readable-by-others entries in a subtree.
func treePerms(files []File) (writable, readable []string) {
	for _, fl := range files {
		if fl.IsSymlink() {
			continue
		}
		gw, ww, gr, wr := otherBits(uint32(fl.Mode.Perm()))
		if gw || ww {
			writable = append(writable, fl.Rel)
		} else if gr || wr {
			readable = append(readable, fl.Rel)
		}
	}
	return writable, readable
}

func listPaths(p []string) string {
	if len(p) > 10 {
		return strings.Join(p[:10], ", ") + fmt.Sprintf(" and %d more", len(p)-10)
	}
	return strings.Join(p, ", ")
}

// permFindings turns a subtree's loose modes into the writable (critical)
// and readable (warn) findings of one check family.
func permFindings(family, what string, files []File, fix string) []Finding {
	w, r := treePerms(files)
	var out []Finding
	if len(w) > 0 {
		out = append(out, f(family+".perms_writable", Critical, what+" are writable by others",
			"Other users can change these: "+listPaths(w), fix))
	}
	if len(r) > 0 {
		out = append(out, f(family+".perms_readable", Warn, what+" are readable by others",
			"Other users can read these: "+listPaths(r), fix))
	}
	return out
}

func checkCredentialsDir(s *Snapshot) []Finding {
	return permFindings("fs.credentials_dir", "Credentials (tokens, sessions, allowlists)", s.under("credentials"),
		"Directories 0700, files 0600 under credentials/ (the fix does this).")
}

func checkAuthProfiles(s *Snapshot) []Finding {
	var files []File
	for _, fl := range s.under("agents") {
		if strings.HasSuffix(fl.Rel, "/agent/auth-profiles.json") {
			files = append(files, fl)
		}
	}
	return permFindings("fs.auth_profiles", "Agent auth profiles (provider API keys)", files, "chmod 600 (the fix does this).")
}
