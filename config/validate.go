package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gateway/sender"
)

// Default returns the embedded defaults: loopback bind on 18780, token auth,
// no trusted proxies, no upstream, lockout on, redaction on.
func Default() *Config {
	return &Config{
		Gateway: Gateway{
			Port:                18780,
			Bind:                BindLoopback,
			MaxBodyBytes:        10 << 20,
			UpstreamIdleTimeout: "4s",
			Auth: Auth{
				Mode:      ModeToken,
				RateLimit: RateLimit{MaxAttempts: 10, WindowMs: 60_000, LockoutMs: 300_000},
				Device:    Device{TokenTTL: "24h"},
				Session:   Session{IdleTimeout: "24h", AbsoluteTimeout: "168h"},
			},
			Store: Store{Backend: BackendFile, KeyPrefix: "gateway:"},
		},
		Logging: Logging{RedactSensitive: "tools"},
		Source:  Source{Format: "defaults", Substituted: map[string]bool{}},
	}
}

// ChannelNamePattern is what a channel name may look like; it keeps channel
// names usable as file name parts with no path traversal.
var ChannelNamePattern = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// Validate checks every value and fills Typed. All problems are returned,
// joined, each naming its key path. The config is changed only when it is
// valid.
func (c *Config) Validate() error {
	v := &validator{}
	v.listener(&c.Gateway)
	v.trust(&c.Gateway)
	v.upstream(&c.Gateway)
	v.auth(&c.Gateway)
	v.storeBackend(&c.Gateway.Store)
	v.local(&c.Gateway)
	v.admin(&c.Gateway)
	v.sameHost(&c.Gateway)
	v.people(&c.Gateway)
	v.access(&c.Gateway)
	v.forwardAuth(&c.Gateway)
	switch c.Logging.RedactSensitive {
	case "tools", "off":
	default:
		v.add("logging.redactSensitive", "must be tools or off, got %q", c.Logging.RedactSensitive)
	}
	v.t.Channels = map[string]ChannelPolicy{}
	for _, name := range slices.Sorted(maps.Keys(c.Channels)) {
		if cp, ok := validateChannel(&v.errs, name, c.Channels[name]); ok {
			v.t.Channels[name] = cp
		}
	}
	if len(v.errs) > 0 {
		return errors.Join(v.errs...)
	}
	c.Typed = v.t
	return nil
}

// validator collects every problem and the typed values built so far.
type validator struct {
	errs []error
	t    Typed
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, keyErr(path, format, args...))
}

// listener: port and bind.
func (v *validator) listener(g *Gateway) {
	if g.Port < 1 || g.Port > 65535 {
		v.add("gateway.port", "must be between 1 and 65535, got %d", g.Port)
	}
	port := strconv.Itoa(g.Port)
	switch g.Bind {
	case BindLoopback:
		v.t.ListenAddr = net.JoinHostPort("127.0.0.1", port)
	case BindLAN:
		v.t.ListenAddr = net.JoinHostPort("", port)
		v.t.Exposed = true
	case BindCustom:
		a, err := netip.ParseAddr(g.CustomBindHost)
		if err != nil {
			v.add("gateway.customBindHost", "must be an IP address when bind is custom, got %q", g.CustomBindHost)
			return
		}
		a = a.Unmap()
		v.t.ListenAddr = net.JoinHostPort(a.String(), port)
		v.t.Exposed = !a.IsLoopback()
	default:
		v.add("gateway.bind", "must be loopback, lan or custom, got %q", g.Bind)
	}
}

// trust: the proxies believed, the Host names served, the origins accepted.
func (v *validator) trust(g *Gateway) {
	for i, s := range g.TrustedProxies {
		p, err := ParsePrefix(s)
		if err != nil {
			v.add(fmt.Sprintf("gateway.trustedProxies[%d]", i), "%v", err)
			continue
		}
		v.t.TrustedProxies = append(v.t.TrustedProxies, p)
	}
	for i, h := range g.AllowedHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "*":
			v.t.AllowAnyHost = true
		case !validHostName(h):
			v.add(fmt.Sprintf("gateway.allowedHosts[%d]", i), "must be a host name such as agent.example.com (no scheme, port or path), got %q", g.AllowedHosts[i])
		default:
			v.t.AllowedHosts = append(v.t.AllowedHosts, h)
		}
	}
	v.t.AllowedOrigins = map[string]bool{}
	for i, o := range g.AllowedOrigins {
		if o == "*" {
			v.t.AllowAnyOrigin = true
			continue
		}
		n, err := NormalizeOrigin(o)
		if err != nil {
			v.add(fmt.Sprintf("gateway.allowedOrigins[%d]", i), "%v", err)
			continue
		}
		v.t.AllowedOrigins[n] = true
	}
}

// upstream: where requests go and what the upstream is told.
func (v *validator) upstream(g *Gateway) {
	if g.Upstream != "" {
		u, err := url.Parse(g.Upstream)
		switch {
		case err != nil:
			v.add("gateway.upstream", "not a URL: %v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			v.add("gateway.upstream", "scheme must be http or https, got %q", u.Scheme)
		case u.Host == "":
			v.add("gateway.upstream", "missing host")
		case u.User != nil:
			v.add("gateway.upstream", "must not contain credentials")
		case u.RawQuery != "" || u.Fragment != "":
			v.add("gateway.upstream", "must not contain a query or fragment")
		default:
			v.t.Upstream = u
		}
	}
	v.t.PreserveHost = g.PreserveHost == nil || *g.PreserveHost
	v.t.UpstreamIdleTimeout = duration(&v.errs, "gateway.upstreamIdleTimeout", g.UpstreamIdleTimeout)
	v.t.UpstreamUserHeader = upstreamHeader(&v.errs, "gateway.upstreamHeaders.user", g.UpstreamHeaders.User, "X-Gateway-User")
	v.t.UpstreamMethodHeader = upstreamHeader(&v.errs, "gateway.upstreamHeaders.method", g.UpstreamHeaders.Method, "X-Gateway-Auth")
	if v.t.UpstreamUserHeader != "" && v.t.UpstreamUserHeader == v.t.UpstreamMethodHeader {
		v.add("gateway.upstreamHeaders", "user and method must be different headers")
	}
	if g.MaxBodyBytes <= 0 {
		v.add("gateway.maxBodyBytes", "must be positive, got %d", g.MaxBodyBytes)
	}
}

// auth: the mode, its secret, the lockout, sessions and devices.
func (v *validator) auth(g *Gateway) {
	a := &g.Auth
	switch a.Mode {
	case ModeToken, ModePassword, ModeTrustedProxy:
	case ModeNone:
		if g.Bind != BindLoopback {
			v.add("gateway.auth.mode", "none is allowed only with bind: loopback (bind is %q)", g.Bind)
		}
	default:
		v.add("gateway.auth.mode", "must be token, password, trusted-proxy or none, got %q", a.Mode)
	}
	if a.Mode == ModePassword && a.Password == "" && a.PasswordHash == "" {
		v.add("gateway.auth.password", "password mode needs gateway.auth.password, gateway.auth.passwordHash or GATEWAY_PASSWORD")
	}
	if a.Mode == ModeTrustedProxy && strings.TrimSpace(a.TrustedProxy.UserHeader) == "" {
		v.add("gateway.auth.trustedProxy.userHeader", "is required in trusted-proxy mode (the header your identity-aware proxy sets, e.g. x-forwarded-user or remote-user); there is no default")
	}
	rl := a.RateLimit
	v.t.RateLimitOn = rl.Enabled == nil || *rl.Enabled
	switch {
	case rl.MaxAttempts == 0:
		v.add("gateway.auth.rateLimit.maxAttempts", "0 is refused: OpenClaw reads it as locked out after the first failure, earlier versions of this gateway as no limit; set 1 or more, or rateLimit.enabled: false to turn the lockout off")
	case rl.MaxAttempts < 0:
		v.add("gateway.auth.rateLimit.maxAttempts", "must be 1 or more, got %d", rl.MaxAttempts)
	}
	if rl.WindowMs <= 0 {
		v.add("gateway.auth.rateLimit.windowMs", "must be positive, got %d", rl.WindowMs)
	}
	if rl.LockoutMs <= 0 {
		v.add("gateway.auth.rateLimit.lockoutMs", "must be positive, got %d", rl.LockoutMs)
	}
	v.t.RateWindow = time.Duration(rl.WindowMs) * time.Millisecond
	v.t.Lockout = time.Duration(rl.LockoutMs) * time.Millisecond
	v.t.DeviceTokenTTL = duration(&v.errs, "gateway.auth.device.tokenTtl", a.Device.TokenTTL)
	v.t.SessionIdle = duration(&v.errs, "gateway.auth.session.idleTimeout", a.Session.IdleTimeout)
	v.t.SessionAbsolute = duration(&v.errs, "gateway.auth.session.absoluteTimeout", a.Session.AbsoluteTimeout)
	v.t.DeviceEnabled = a.Device.Enabled == nil || *a.Device.Enabled
	v.t.AutoApproveLocal = a.Device.AutoApproveLocal == nil || *a.Device.AutoApproveLocal
}

// store: where shared state lives.
func (v *validator) storeBackend(st *Store) {
	switch st.Backend {
	case BackendFile:
		if st.URL != "" {
			v.add("gateway.store.url", "is set (in the file or GATEWAY_REDIS_URL) but gateway.store.backend is file; set backend: redis to share state through it")
		}
	case BackendRedis:
		u, err := url.Parse(st.URL)
		switch {
		case st.URL == "":
			v.add("gateway.store.url", "is required with backend redis (redis://host:6379/0, or GATEWAY_REDIS_URL)")
		case err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "":
			// The URL may hold a password: never quote it.
			v.add("gateway.store.url", "must be a redis:// or rediss:// URL with a host")
		case RedisTLSUnverified(st.URL) && !st.AllowInsecureTLS:
			v.add("gateway.store.url", "turns TLS certificate checks off (skip_verify): anyone on the path can read the signing key and sessions; "+
				"give Redis a certificate this host trusts (SSL_CERT_FILE for a private CA), or set gateway.store.allowInsecureTls: true to accept the risk")
		}
		if st.KeyPrefix == "" || strings.ContainsAny(st.KeyPrefix, " \t\r\n") {
			v.add("gateway.store.keyPrefix", "must be a non-empty prefix without spaces, got %q", st.KeyPrefix)
		}
	default:
		v.add("gateway.store.backend", "must be file or redis, got %q", st.Backend)
	}
}

// admin: where the console answers, and the public URL.
func (v *validator) admin(g *Gateway) {
	l := strings.TrimSpace(g.Admin.Listen)
	switch {
	case l == "off":
	case l == "" && g.Port >= 65535:
		v.add("gateway.admin.listen", "the default (gateway.port + 1) is past 65535; set it (127.0.0.1:PORT, unix:/path or off)")
	case l == "":
		v.t.AdminNetwork, v.t.AdminAddr = "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(g.Port+1))
	case strings.HasPrefix(l, "unix:"):
		path := strings.TrimPrefix(l, "unix:")
		if !filepath.IsAbs(path) {
			v.add("gateway.admin.listen", "a unix socket needs an absolute path (unix:/run/gateway/admin.sock), got %q", l)
			break
		}
		v.t.AdminNetwork, v.t.AdminAddr = "unix", path
	default:
		host, port, err := net.SplitHostPort(l)
		a, aerr := netip.ParseAddr(host)
		if err != nil || aerr != nil {
			v.add("gateway.admin.listen", "must be ip:port (127.0.0.1:18781), unix:/path or off, got %q", l)
			break
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			v.add("gateway.admin.listen", "must be ip:port (127.0.0.1:18781), unix:/path or off, got %q", l)
			break
		}
		v.t.AdminNetwork, v.t.AdminAddr = "tcp", net.JoinHostPort(a.Unmap().String(), port)
		v.t.AdminExposed = !a.Unmap().IsLoopback()
	}
	if h := strings.ToLower(strings.TrimSpace(g.Admin.Host)); h != "" {
		if !validHostName(h) || h == "*" {
			v.add("gateway.admin.host", "must be a host name such as admin.example.com (no scheme, port or path), got %q", g.Admin.Host)
		} else {
			v.t.AdminHost = h
			for _, ah := range v.t.AllowedHosts {
				if ah == h {
					v.add("gateway.admin.host", "%q is also in gateway.allowedHosts; the admin host must be a name of its own, never the agent's", h)
				}
			}
		}
	}
	if g.PublicURL != "" {
		u, err := url.Parse(g.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			v.add("gateway.publicUrl", "must be the agent's public URL with scheme and host (https://agent.example.com[:port]), got %q", g.PublicURL)
		} else {
			v.t.PublicURL = &url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host)}
		}
	}
}

// sameHost: the address a same-host person is attributed to upstream.
func (v *validator) sameHost(g *Gateway) {
	if g.SameHostClientAddress == "" {
		v.t.SameHostClient = DefaultSameHostClient()
		return
	}
	a, err := netip.ParseAddr(g.SameHostClientAddress)
	if err != nil || a.Unmap().IsLoopback() || a.IsUnspecified() || a.IsMulticast() {
		v.add("gateway.sameHostClientAddress", "must be a unicast IP address that is not loopback (the upstream refuses a loopback client through a proxy), got %q", g.SameHostClientAddress)
		return
	}
	v.t.SameHostClient = a.Unmap()
}

// fallbackSameHost is used when the host has no non-loopback address: a
// documentation address (RFC 5737) no real client has.
var fallbackSameHost = netip.MustParseAddr("192.0.2.1")

// DefaultSameHostClient is the host's first non-loopback unicast address
// (IPv4 first, in interface order; link-local skipped), else 192.0.2.1.
func DefaultSameHostClient() netip.Addr {
	ifs, err := net.Interfaces()
	if err != nil {
		return fallbackSameHost
	}
	var v6 netip.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := p.Addr().Unmap()
			if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
				continue
			}
			if ip.Is4() {
				return ip
			}
			if !v6.IsValid() {
				v6 = ip
			}
		}
	}
	if v6.IsValid() {
		return v6
	}
	return fallbackSameHost
}

// local: who is local.
func (v *validator) local(g *Gateway) {
	v.t.LocalUIDs = nil
	for i, uid := range g.LocalUIDs {
		if uid < 0 {
			v.add(fmt.Sprintf("gateway.localUids[%d]", i), "must be a uid (0 or more), got %d", uid)
		}
		v.t.LocalUIDs = append(v.t.LocalUIDs, uid)
	}
	if len(g.LocalUIDs) == 0 {
		v.t.LocalUIDs = []int{os.Getuid()}
	}
}

// RedisTLSUnverified reports whether a rediss:// URL turns certificate
// checks off: go-redis reads skip_verify=true (or 1) as InsecureSkipVerify.
// (A test in store holds this to what go-redis itself does.)
func RedisTLSUnverified(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "rediss" {
		return false
	}
	v := u.Query().Get("skip_verify")
	return v == "true" || v == "1"
}

func duration(errs *[]error, path, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		*errs = append(*errs, keyErr(path, "must be a positive duration such as 24h, got %q", s))
		return 0
	}
	return d
}

// ParsePrefix parses a trusted proxy entry: an address (a single-host
// prefix) or a CIDR. IPv4-mapped IPv6 forms are unmapped and host bits are
// masked, so comparisons against unmapped peers are exact.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not an address or CIDR: %q", s)
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("zones are not allowed in CIDRs: %q", s)
		}
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return netip.Prefix{}, fmt.Errorf("IPv4-mapped CIDR shorter than /96: %q", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an address or CIDR: %q", s)
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// NormalizeOrigin turns "HTTPS://Example.com:443/" into "https://example.com".
func NormalizeOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("not an origin (scheme://host[:port]): %q", s)
	}
	if u.Path != "" && u.Path != "/" {
		return "", fmt.Errorf("an origin has no path: %q", s)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return strings.ToLower(u.Scheme) + "://" + host, nil
}

// validateChannel checks one channel and normalises its lists. A list entry
// that cannot be normalised is an error naming it: a typo in an allowlist
// must not silently lock someone out or let someone else in.
func validateChannel(errs *[]error, name string, ch Channel) (ChannelPolicy, bool) {
	n := len(*errs)
	add := func(err error) { *errs = append(*errs, err) }
	p := "channels." + name
	if !ChannelNamePattern.MatchString(name) {
		add(keyErr(p, "channel names must match [a-z0-9_-]{1,64}"))
	}
	cp := ChannelPolicy{DMPolicy: ch.DMPolicy, GroupPolicy: ch.GroupPolicy}
	switch cp.DMPolicy {
	case "":
		cp.DMPolicy = "pairing"
	case "pairing", "allowlist", "open", "disabled":
	default:
		add(keyErr(p+".dmPolicy", "must be pairing, allowlist, open or disabled, got %q", ch.DMPolicy))
	}
	switch cp.GroupPolicy {
	case "":
		cp.GroupPolicy = "allowlist"
	case "allowlist", "open", "disabled":
	default:
		add(keyErr(p+".groupPolicy", "must be allowlist, open or disabled, got %q", ch.GroupPolicy))
	}
	for i, id := range ch.AllowFrom {
		s, err := sender.Normalize(name, id)
		if err != nil {
			add(keyErr(fmt.Sprintf("%s.allowFrom[%d]", p, i), "%v", err))
			continue
		}
		cp.AllowFrom = append(cp.AllowFrom, s)
	}
	for i, id := range ch.GroupAllowFrom {
		s, err := sender.NormalizeGroupEntry(name, id)
		if err != nil {
			add(keyErr(fmt.Sprintf("%s.groupAllowFrom[%d]", p, i), "%v", err))
			continue
		}
		cp.GroupAllowFrom = append(cp.GroupAllowFrom, s)
	}
	return cp, len(*errs) == n
}

// validHostName accepts a DNS name or an IP literal, lower case, with no
// port, scheme or path.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// upstreamHeader validates an identity header name: an HTTP token without
// "_" (the gateway drops such names on the way out, as nginx does), and
// none of the headers the gateway manages itself.
func upstreamHeader(errs *[]error, path, v, def string) string {
	if v == "" {
		v = def
	}
	canon := http.CanonicalHeaderKey(strings.TrimSpace(v))
	ok := canon != "" && !strings.ContainsRune(canon, '_')
	for i := 0; ok && i < len(canon); i++ {
		c := canon[i]
		ok = c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	switch canon {
	case "Host", "Authorization", "Proxy-Authorization", "Cookie", "Connection", "Upgrade", "Content-Length",
		"Transfer-Encoding", "Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip":
		ok = false
	}
	if !ok {
		*errs = append(*errs, keyErr(path, "must be a header name of letters, digits and '-' that the gateway does not manage itself, got %q", v))
		return ""
	}
	return canon
}
