// Package config loads, substitutes, validates and types the gateway
// configuration. It fails closed: an unknown key, an invalid value or a
// missing ${VAR} is an error naming the key path, never a silent default.
package config

import (
	"net/netip"
	"net/url"
	"time"

	"gateway/request"
)

// Config is the whole configuration tree, the same for JSON5 and YAML. Raw
// fields mirror the file; Typed holds the values built from them by Validate.
type Config struct {
	Gateway  Gateway            `json:"gateway"`
	Logging  Logging            `json:"logging"`
	Channels map[string]Channel `json:"channels"`
	Audit    Audit              `json:"audit"`

	// Typed is filled by Validate. It is never read from a file.
	Typed Typed `json:"-"`
	// Source records where the configuration came from, for logs and the audit.
	Source Source `json:"-"`
}

// Gateway configures the listener, trust and authentication.
type Gateway struct {
	// Port is the TCP port to listen on. Default 18780.
	Port int `json:"port"`
	// Bind selects the listen address: "loopback" (default, 127.0.0.1 only),
	// "lan" (all interfaces: exposed) or "custom" (CustomBindHost).
	Bind string `json:"bind"`
	// CustomBindHost is the IP address to listen on when Bind is "custom".
	CustomBindHost string `json:"customBindHost"`
	// Upstream is the agent's base URL. Empty: the gateway serves only its
	// built-in status page.
	Upstream string `json:"upstream"`
	// TrustedProxies lists the addresses and CIDRs whose forwarding headers
	// are believed. By default no proxy is trusted: forwarding headers are
	// stripped, and refused from an unconfigured loopback proxy.
	TrustedProxies []string `json:"trustedProxies"`
	// AllowRealIPFallback uses X-Real-IP from a trusted proxy that sent no
	// X-Forwarded-For. Default false; dangerous when the proxy passes a
	// client-supplied X-Real-IP through.
	AllowRealIPFallback bool `json:"allowRealIpFallback"`
	// PreferForwarded resolves from the RFC 7239 Forwarded header when a
	// trusted proxy sends both it and X-Forwarded-For. Default false
	// (X-Forwarded-For wins), because most proxies only maintain XFF.
	PreferForwarded bool `json:"preferForwarded"`
	// AllowedHosts lists the Host names served besides "localhost" and IP
	// literals: the gateway's public name behind a proxy. Any other name
	// gets 421 host_not_allowed, which stops DNS rebinding (a web page on
	// an attacker's name that resolves to this machine). "*" serves every
	// name and gives that protection up. Default empty.
	AllowedHosts []string `json:"allowedHosts"`
	// UpstreamHeaders name the headers that hand the identity to the
	// upstream. Default {user: X-Gateway-User, method: X-Gateway-Auth}.
	UpstreamHeaders UpstreamHeaders `json:"upstreamHeaders"`
	// UpstreamIdleTimeout closes pooled upstream connections idle this
	// long, before the upstream closes them itself (Node closes idle
	// keep-alives after 5 s). Default "4s".
	UpstreamIdleTimeout string `json:"upstreamIdleTimeout"`
	// PreserveHost sends the client's Host to the upstream (OpenClaw checks
	// Origin against it). Default true.
	PreserveHost *bool `json:"preserveHost"`
	// AllowedOrigins lists the Origin values accepted on browser WebSocket
	// upgrades, besides the gateway's own origin. "*" accepts any origin
	// (the audit warns).
	AllowedOrigins []string `json:"allowedOrigins"`
	// RefuseInsecure makes any critical startup audit finding fatal.
	RefuseInsecure bool `json:"refuseInsecure"`
	// MaxBodyBytes caps request bodies proxied to the upstream. Default
	// 10 MiB; JSON endpoints of the gateway itself use a smaller fixed cap.
	MaxBodyBytes int64 `json:"maxBodyBytes"`
	// Auth selects and configures authentication.
	Auth Auth `json:"auth"`
	// Users are the people beyond the owner, by the name their method
	// reports (People).
	Users map[string]Person `json:"users"`
	// Groups are the provider groups whose members are admitted, and what
	// they get.
	Groups map[string]Group `json:"groups"`
	// Access are the rules for requests to the agent, first match wins;
	// no match = allowed (Capabilities).
	Access []AccessRule `json:"access"`
	// ForwardAuth protects other apps on the host through the proxy in
	// front (/auth/verify).
	ForwardAuth ForwardAuth `json:"forwardAuth"`
	// Store selects where shared state lives. Default "file" (the state dir).
	Store Store `json:"store"`
	// Admin says where the console and /admin/* answer browsers: an origin
	// the agent never serves (SPEC "The console lives apart from the
	// agent").
	Admin Admin `json:"admin"`
	// PublicURL is the URL people use to reach the agent
	// (https://agent.example.com[:port]): `openclaw check` compares
	// OpenClaw's allowed origins with it, device invitations point at it,
	// OIDC builds its callback from it. Default: none (invitations point
	// at the listener).
	PublicURL string `json:"publicUrl"`
	// SameHostClientAddress is the client address the upstream is told
	// for a person whose client the gateway resolved to loopback (the
	// person on the gateway's own host): OpenClaw takes a trusted-proxy
	// user only for a client attributed to a non-loopback address, and a
	// request with no forwarding header would be its "direct-local".
	// Default: the host's first non-loopback unicast address (192.0.2.1
	// when it has none). Never loopback.
	SameHostClientAddress string `json:"sameHostClientAddress"`
	// LocalUIDs are the Unix users whose loopback connections are local
	// (SPEC "Locality": silent pairing of a non-admin device, exemption
	// from the lockout, reading /metrics). Default: the gateway's own uid
	// only. Root is not implied: TCP forwarders (stunnel, socat, ssh -L)
	// often run as root, and what reaches the gateway through them is not
	// the owner at the keyboard.
	LocalUIDs []int `json:"localUids"`
	// Metrics configures /metrics.
	Metrics Metrics `json:"metrics"`
}

// Admin configures the admin origin.
type Admin struct {
	// Listen is the admin listener: "host:port" (default: loopback at
	// gateway.port + 1, 127.0.0.1:18781; ":0" picks a free port),
	// "unix:/path" (Linux: connections from a uid outside
	// gateway.localUids are closed; the recommended form, reached with
	// ssh -L 9000:/path), or "off". Reach it over ssh -L or a proxy: a
	// listener beyond loopback without TLS in front is critical
	// (admin.listen_exposed).
	Listen string `json:"listen"`
	// Host is a name the TLS proxy in front routes to the gateway's main
	// listener for the console (admin.example.com): requests for it are
	// the admin origin, nothing on it is proxied to the agent, and a
	// trusted-proxy identity is honoured there only from a trusted proxy
	// that is not on this host. Default none.
	Host string `json:"host"`
}

// Metrics configures /metrics.
type Metrics struct {
	// Token is a bearer that reads /metrics (for a Prometheus running as
	// another user, or on another host). Use ${VAR}. Default none.
	Token string `json:"token"`
}

// UpstreamHeaders name the identity headers sent to the upstream.
type UpstreamHeaders struct {
	// User carries the authenticated user. Default "X-Gateway-User".
	User string `json:"user"`
	// Method carries how they authenticated. Default "X-Gateway-Auth".
	Method string `json:"method"`
}

// Auth configures how callers prove who they are.
type Auth struct {
	// Mode is "token" (default), "password", "trusted-proxy" or "none".
	// "none" is refused unless Bind is "loopback".
	Mode string `json:"mode"`
	// Token is the shared bearer token. Use ${GATEWAY_TOKEN}; when no
	// token is configured anywhere, one is generated into the state dir.
	Token string `json:"token"`
	// Password is the login password (password mode). Prefer PasswordHash or
	// ${GATEWAY_PASSWORD}; a literal is flagged by the audit.
	Password string `json:"password"`
	// PasswordHash is an argon2id PHC string used instead of Password.
	PasswordHash string `json:"passwordHash"`
	// RateLimit bounds failed authentication attempts per client.
	RateLimit RateLimit `json:"rateLimit"`
	// TrustedProxy configures trusted-proxy mode.
	TrustedProxy TrustedProxy `json:"trustedProxy"`
	// Device configures device pairing auth.
	Device Device `json:"device"`
	// Session configures password sessions.
	Session Session `json:"session"`
	// OIDC signs people in with their own OpenID provider (People).
	OIDC *OIDC `json:"oidc"`
	// Assertion takes a signed identity from the proxy in front
	// (Cloudflare Access, Pomerium, Google IAP).
	Assertion *Assertion `json:"assertion"`
}

// OIDC configures sign-in with an OpenID provider.
type OIDC struct {
	// Issuer is the provider's issuer URL (https; http only on a
	// loopback host).
	Issuer string `json:"issuer"`
	// ClientID and ClientSecret are the gateway's client at the provider
	// (use ${VAR} for the secret).
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	// Name is what the sign-in page's button says: "Sign in with <name>".
	// Default: the issuer's host.
	Name string `json:"name"`
	// RedirectURL is the callback URL registered at the provider.
	// Default: gateway.publicUrl + /auth/oidc/callback.
	RedirectURL string `json:"redirectUrl"`
	// UserClaim names the person (default "email", which then must be
	// verified); GroupsClaim lists their groups (default none).
	UserClaim   string `json:"userClaim"`
	GroupsClaim string `json:"groupsClaim"`
	// Scopes asked for. Default [openid, email, profile].
	Scopes []string `json:"scopes"`
	// AllowedDomains admits anyone whose verified email is in one of
	// these domains, besides gateway.users and gateway.groups.
	AllowedDomains []string `json:"allowedDomains"`
	// MaxSessionAge ends a session opened this way. Default "12h".
	MaxSessionAge string `json:"maxSessionAge"`
}

// Assertion configures signed identity assertions from the proxy in front.
type Assertion struct {
	// Header carries the JWT. Default Cf-Access-Jwt-Assertion.
	Header string `json:"header"`
	// JWKSURL is where the signing keys are (https; http only on a
	// loopback host).
	JWKSURL string `json:"jwksUrl"`
	// Issuer and Audience must match the token's iss and aud.
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	// UserClaim names the person (default "email"); GroupsClaim lists
	// their groups.
	UserClaim   string `json:"userClaim"`
	GroupsClaim string `json:"groupsClaim"`
	// Proxies are the peers whose assertions are honoured. Default:
	// gateway.trustedProxies without loopback addresses (a local process
	// could replay a token it found); loopback only when listed here.
	Proxies []string `json:"proxies"`
	// Required refuses every request from those proxies without a valid
	// assertion.
	Required bool `json:"required"`
}

// Person is one entry of gateway.users: someone beyond the owner.
type Person struct {
	// Role is "admin" or "user" (default: the highest of their groups',
	// else user).
	Role string `json:"role"`
	// Groups the person is in, besides those their provider reports.
	Groups []string `json:"groups"`
	// Scopes are the OpenClaw operator scopes they get (default: their
	// groups', else operator.read and operator.write).
	Scopes []string `json:"scopes"`
}

// AccessRule is one entry of gateway.access. Every matcher present must
// match (a list matches when any entry does); a rule with none matches
// every request.
type AccessRule struct {
	// Users: exact names, or a prefix ending in "*" ("device:*").
	Users []string `json:"users"`
	// Groups the identity is in.
	Groups []string `json:"groups"`
	// Auth: the identity's method (token, password, device,
	// trusted-proxy, none, oidc, assertion; a session matches the
	// method it was opened with; "session" matches any session).
	Auth []string `json:"auth"`
	// Paths: exact, or a prefix ending in "*", on the path as the
	// upstream will route it.
	Paths []string `json:"paths"`
	// Methods: HTTP methods.
	Methods []string `json:"methods"`
	// Hosts: the resolved host name.
	Hosts []string `json:"hosts"`
	// Tools: OpenClaw tools named by a /tools/invoke body or a WebSocket
	// tools.invoke call.
	Tools []string `json:"tools"`
	// Action is allow or deny.
	Action string `json:"action"`
	// Bypass (forward auth only, without an action): a request it
	// matches needs no credential (an app's /health).
	Bypass bool `json:"bypass"`
}

// ForwardAuth configures /auth/verify for the apps behind the same proxy.
type ForwardAuth struct {
	// Hosts are the apps' host names (app.example.com, or with a port:
	// app.example.com:8443). Only /auth/* answers for them; nothing is
	// proxied to the agent.
	Hosts []string `json:"hosts"`
	// DefaultAction is what a request to those hosts no rule matches
	// gets: deny (default) or allow.
	DefaultAction string `json:"defaultAction"`
	// CookieDomain, when set, makes a sign-in on the agent origin also
	// set a domain-wide SSO cookie for it (accepted only by /auth/verify
	// and /auth/login).
	CookieDomain string `json:"cookieDomain"`
	// CompatHeaders adds oauth2-proxy's and Authelia's header names to
	// /auth/verify's answer.
	CompatHeaders bool `json:"compatHeaders"`
	// AllowPreflight answers a CORS preflight without a credential.
	AllowPreflight bool `json:"allowPreflight"`
}

// Group is one entry of gateway.groups: a group whose members are admitted.
type Group struct {
	// Role is "admin" or "user" (default user).
	Role string `json:"role"`
	// Scopes are the OpenClaw operator scopes members get.
	Scopes []string `json:"scopes"`
}

// RateLimit configures the failure lockout.
type RateLimit struct {
	// Enabled turns the lockout on (the default). false turns it off (the
	// audit warns when exposed).
	Enabled *bool `json:"enabled"`
	// MaxAttempts failures within WindowMs lock the client out. Default
	// 10; must be 1 or more (0 meant "off" here and "locked after the
	// first failure" in OpenClaw, so it is refused).
	MaxAttempts int `json:"maxAttempts"`
	// WindowMs is the counting window. Default 60000.
	WindowMs int `json:"windowMs"`
	// LockoutMs is how long a locked-out client is refused. Default 300000.
	LockoutMs int `json:"lockoutMs"`
}

// TrustedProxy configures identity taken from an identity-aware proxy.
type TrustedProxy struct {
	// UserHeader carries the authenticated user. Required in
	// trusted-proxy mode: there is no default, so a proxy that sets another
	// header never lets a client's own X-Forwarded-User through.
	UserHeader string `json:"userHeader"`
	// RequiredHeaders must all be present on a request from the proxy.
	RequiredHeaders []string `json:"requiredHeaders"`
	// AllowUsers, when set, restricts who may pass.
	AllowUsers []string `json:"allowUsers"`
	// AllowLoopback honours the header from a loopback peer. Default false:
	// any local process could otherwise forge it.
	AllowLoopback bool `json:"allowLoopback"`
	// GroupsHeader carries the user's groups, comma-separated (e.g.
	// Remote-Groups); only groups in gateway.groups count.
	GroupsHeader string `json:"groupsHeader"`
}

// Device configures device pairing auth.
type Device struct {
	// Enabled turns device auth on. Default true.
	Enabled *bool `json:"enabled"`
	// AutoApproveLocal silently approves pairing from clean local requests.
	// Default true; requests through a proxy are never local.
	AutoApproveLocal *bool `json:"autoApproveLocal"`
	// TokenTTL is the device token lifetime. Default "24h".
	TokenTTL string `json:"tokenTtl"`
}

// Session configures password sessions.
type Session struct {
	// IdleTimeout ends a session unused this long. Default "24h".
	IdleTimeout string `json:"idleTimeout"`
	// AbsoluteTimeout ends any session this long after login. Default "168h".
	AbsoluteTimeout string `json:"absoluteTimeout"`
}

// Store selects the shared state backend.
type Store struct {
	// Backend is "file" (default: the state dir) or "redis" (replicas).
	Backend string `json:"backend"`
	// URL is the Redis URL: redis:// or rediss://, with the password
	// (through ${VAR} or GATEWAY_REDIS_URL) and the db number.
	URL string `json:"url"`
	// KeyPrefix starts every Redis key. Default "gateway:".
	KeyPrefix string `json:"keyPrefix"`
	// AllowInsecureTLS accepts a rediss:// URL with skip_verify=true.
	// Default false: such a URL is a config error, because without
	// certificate checks anyone on the path reads the signing key and the
	// sessions (the audit reports store.redis_tls_unverified, critical).
	AllowInsecureTLS bool `json:"allowInsecureTls"`
}

// Logging configures log redaction.
type Logging struct {
	// RedactSensitive is "tools" (default: no message text, masked sender
	// ids) or "off". Secrets are redacted either way.
	RedactSensitive string `json:"redactSensitive"`
}

// Channel is one chat channel's policy.
type Channel struct {
	// DMPolicy is "pairing" (default), "allowlist", "open" or "disabled".
	DMPolicy string `json:"dmPolicy"`
	// AllowFrom lists senders allowed to send direct messages.
	AllowFrom []string `json:"allowFrom"`
	// GroupPolicy is "allowlist" (default), "open" or "disabled".
	GroupPolicy string `json:"groupPolicy"`
	// GroupAllowFrom lists groups (or group senders) allowed.
	GroupAllowFrom []string `json:"groupAllowFrom"`
}

// Audit configures the security audit.
type Audit struct {
	// Suppress lists check ids accepted as known risks; they stay in the
	// report, marked suppressed.
	Suppress []string `json:"suppress"`
}

// Auth modes: the primary method's name (request.Method*).
const (
	ModeToken        = request.MethodToken
	ModePassword     = request.MethodPassword
	ModeTrustedProxy = request.MethodTrustedProxy
	ModeNone         = request.MethodNone
)

// Store backends (gateway.store.backend).
const (
	BackendFile  = "file"
	BackendRedis = "redis"
)

// Bind values.
const (
	BindLoopback = "loopback"
	BindLAN      = "lan"
	BindCustom   = "custom"
)

// Typed holds values parsed once from the raw fields by Validate.
type Typed struct {
	// ListenAddr is the host:port to listen on.
	ListenAddr string
	// Exposed is true when Bind is not loopback.
	Exposed bool
	// TrustedProxies are the parsed, masked, unmapped prefixes.
	TrustedProxies []netip.Prefix
	// Upstream is nil when no upstream is configured.
	Upstream *url.URL
	// AllowAnyOrigin is true when AllowedOrigins contains "*".
	AllowAnyOrigin bool
	// AllowedOrigins holds normalised "scheme://host[:port]" origins.
	AllowedOrigins map[string]bool
	// AllowedHosts holds the lower-case names of gateway.allowedHosts;
	// AllowAnyHost is true when it contains "*".
	AllowedHosts []string
	AllowAnyHost bool
	// PreserveHost resolves the optional boolean.
	PreserveHost bool
	// UpstreamIdleTimeout comes from gateway.upstreamIdleTimeout.
	UpstreamIdleTimeout time.Duration
	// UpstreamUserHeader and UpstreamMethodHeader are canonical names.
	UpstreamUserHeader, UpstreamMethodHeader string
	// Channels are the channel policies with defaults filled in and every
	// list entry normalised.
	Channels map[string]ChannelPolicy
	// RateLimitOn is rateLimit.enabled (default true).
	RateLimitOn bool
	// RateWindow and Lockout come from RateLimit.
	RateWindow, Lockout time.Duration
	// DeviceTokenTTL, SessionIdle and SessionAbsolute come from their strings.
	DeviceTokenTTL, SessionIdle, SessionAbsolute time.Duration
	// DeviceEnabled and AutoApproveLocal resolve the optional booleans.
	DeviceEnabled, AutoApproveLocal bool
	// LocalUIDs is gateway.localUids, or the gateway's own uid.
	LocalUIDs []int
	// AdminNetwork and AdminAddr are where the admin listener listens:
	// ("tcp", "127.0.0.1:18781"), ("unix", "/run/gateway/admin.sock"), or
	// ("", "") when it is off.
	AdminNetwork, AdminAddr string
	// AdminExposed is true when the admin listener is TCP beyond loopback.
	AdminExposed bool
	// AdminHost is gateway.admin.host, lower case, without a port.
	AdminHost string
	// PublicURL is gateway.publicUrl parsed (nil when unset): scheme,
	// host and port, no path.
	PublicURL *url.URL
	// SameHostClient is gateway.sameHostClientAddress, or the default.
	SameHostClient netip.Addr
	// People are gateway.users and gateway.groups, names normalised.
	People People
	// OIDC is the validated gateway.auth.oidc, nil when unset.
	OIDC *OIDCTyped
	// Assertion is the validated gateway.auth.assertion, nil when unset.
	Assertion *AssertionTyped
	// Access are the validated gateway.access rules.
	Access []AccessRuleTyped
	// ForwardHosts are gateway.forwardAuth.hosts: lower-case names
	// (a port only when the entry names one).
	ForwardHosts []string
	// ForwardNames are the names of ForwardHosts without their ports,
	// each once (what the Host allowlist, cookie domain and bypass
	// rules compare).
	ForwardNames []string
	// ForwardAllow is forwardAuth.defaultAction allow.
	ForwardAllow bool
	// CookieDomain is forwardAuth.cookieDomain, lower case, no dot first.
	CookieDomain string
}

// Glob is an exact string, or a prefix when Prefix (written "prefix*").
type Glob struct {
	S      string
	Prefix bool
}

// Match reports whether s matches the glob.
func (g Glob) Match(s string) bool {
	if g.Prefix {
		return len(s) >= len(g.S) && s[:len(g.S)] == g.S
	}
	return s == g.S
}

// AccessRuleTyped is one validated rule; nil lists mean "any".
type AccessRuleTyped struct {
	Users, Paths          []Glob
	Groups, Auth, Methods []string
	Hosts                 []string // lower case
	Tools                 []string // trimmed; the access package folds them as OpenClaw does
	// Deny: the rule denies; Bypass: it answers forward auth without a
	// credential.
	Deny, Bypass bool
}

// People are the validated gateway.users and gateway.groups.
type People struct {
	// Users by name (lower case when the name has an '@').
	Users  map[string]Person
	Groups map[string]Group
	// AllowedDomains are gateway.auth.oidc.allowedDomains, lower case.
	AllowedDomains []string
}

// OIDCTyped is gateway.auth.oidc with defaults applied.
type OIDCTyped struct {
	Issuer, ClientID, ClientSecret, Name string
	// RedirectURL is the callback URL.
	RedirectURL            *url.URL
	UserClaim, GroupsClaim string
	Scopes                 []string
	MaxSessionAge          time.Duration
}

// AssertionTyped is gateway.auth.assertion with defaults applied.
type AssertionTyped struct {
	// Header is canonical.
	Header, JWKSURL, Issuer, Audience, UserClaim, GroupsClaim string
	Proxies                                                   []netip.Prefix
	Required                                                  bool
}

// ChannelPolicy is one channel's validated policy.
type ChannelPolicy struct {
	DMPolicy, GroupPolicy     string
	AllowFrom, GroupAllowFrom []string
}

// Source says where a configuration came from.
type Source struct {
	// Path is the config file, or "" for embedded defaults.
	Path string
	// Format is "json5", "yaml" or "defaults".
	Format string
	// Text is the file's raw content (for the audit); nil for defaults.
	Text []byte
	// Tree is the parsed file before ${VAR} substitution (for the audit,
	// which must see literals and must never write secrets back).
	Tree map[string]any
	// Substituted lists the key paths whose value came from ${VAR}.
	Substituted map[string]bool
	// TokenSource and PasswordSource are "file", "env" or "" (unset).
	TokenSource, PasswordSource string
}
