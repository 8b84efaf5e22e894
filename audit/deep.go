package audit

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gateway/config"
	"gateway/trust"
)

// DeepOptions configure the live probes.
type DeepOptions struct {
	// URL is the gateway's base URL, e.g. http://127.0.0.1:18780.
	URL string
	// Via is an optional public proxy URL in front of the gateway.
	Via string
	// Token is a bearer credential for probes that need an identity.
	Token string
	// Timeout is the whole probe budget (default 5 s).
	Timeout time.Duration
	// BindLoopback says the configuration binds to loopback only.
	BindLoopback bool
	// TrustedProxies are the configured trusted proxies.
	TrustedProxies []netip.Prefix
	// MaxAttempts is the configured lockout threshold (0: off).
	MaxAttempts int
	// AuthMode is the configured auth mode.
	AuthMode string
	// ProcNet is where tcp/tcp6 listening tables are read (default /proc/net).
	ProcNet string
	// OpenClawPort is the port of an OpenClaw behind the gateway on this
	// host (0: none); the probe reports it listening beyond loopback.
	OpenClawPort int
}

// DeepOptions returns the probe options for the snapshot's configuration:
// the target (url, or where the configuration listens), what the probes
// must expect (bind, trusted proxies, lockout, mode) and, when OpenClaw's
// configuration was found, its port.
func (s *Snapshot) DeepOptions(url string) DeepOptions {
	cfg := s.Config
	if url == "" {
		host := "127.0.0.1"
		if cfg.Gateway.Bind == config.BindCustom && cfg.Gateway.CustomBindHost != "" {
			host = cfg.Gateway.CustomBindHost
		}
		url = "http://" + net.JoinHostPort(host, strconv.Itoa(cfg.Gateway.Port))
	}
	do := DeepOptions{
		URL:          url,
		BindLoopback: cfg.Gateway.Bind == config.BindLoopback,
		MaxAttempts:  cfg.Gateway.Auth.RateLimit.MaxAttempts,
		AuthMode:     cfg.Gateway.Auth.Mode,
	}
	if !cfg.Typed.RateLimitOn {
		do.MaxAttempts = 0 // the probe's "off"
	}
	for _, p := range cfg.Gateway.TrustedProxies {
		if pr, err := config.ParsePrefix(p); err == nil {
			do.TrustedProxies = append(do.TrustedProxies, pr)
		}
	}
	if cfg.Gateway.Auth.Mode == config.ModeToken {
		do.Token = cfg.Gateway.Auth.Token
	}
	if s.OpenClaw != nil {
		do.OpenClawPort = s.OpenClaw.Port
	}
	return do
}

type prober struct {
	o      DeepOptions
	base   *url.URL
	report *DeepReport
	finds  []Finding
}

func (p *prober) result(id string, sev Severity, ok bool, skipped bool, title, detail, fix string) {
	status := "pass"
	switch {
	case skipped:
		status = "skipped"
	case !ok:
		status = "fail"
		p.finds = append(p.finds, Finding{CheckID: id, Severity: sev, Title: title, Detail: detail, Remediation: fix})
	}
	p.report.Probes = append(p.report.Probes, Probe{ID: id, Status: status, Detail: detail})
}

// Deep probes a live gateway the way an attacker would. It sends traffic
// only to the target (and --via); source addresses it binds are loopback
// only, and it never targets another address on its own.
func Deep(ctx context.Context, o DeepOptions) (*DeepReport, []Finding) {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	p := &prober{o: o, report: &DeepReport{Target: o.URL, Via: o.Via, Probes: []Probe{}}}
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" {
		p.result("gateway.probe_failed", Warn, false, false, "Live probe could not run", "bad target URL "+o.URL, "Pass --url http://host:port.")
		return p.report, p.finds
	}
	p.base = u
	resp, err := p.do(ctx, netip.Addr{}, "GET", "/healthz", nil)
	if err != nil {
		p.result("gateway.probe_failed", Warn, false, false, "Gateway not reachable for live probes",
			fmt.Sprintf("GET %s/healthz failed: %v", o.URL, err), "Start the gateway, or pass --url where it listens.")
		return p.report, p.finds
	}
	resp.Body.Close()
	p.probeUnauthHTTP(ctx)
	p.probeUnauthWS(ctx)
	p.probeXFFSpoof(ctx)
	p.probeExposed()
	p.probeOpenClawExposed()
	p.probeLockout(ctx)
	if o.Via != "" {
		p.probeVia(ctx)
	}
	return p.report, p.finds
}

// targetLoopback reports whether the target host is a loopback address; only
// then may the prober bind other loopback source addresses.
func (p *prober) targetLoopback() bool {
	h := p.base.Hostname()
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

func (p *prober) client(src netip.Addr) *http.Client {
	d := &net.Dialer{Timeout: 2 * time.Second}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext, Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (p *prober) do(ctx context.Context, src netip.Addr, method, path string, h http.Header) (*http.Response, error) {
	return p.doURL(ctx, src, method, strings.TrimSuffix(p.base.String(), "/")+path, h)
}

func (p *prober) doURL(ctx context.Context, src netip.Addr, method, u string, h http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	return p.client(src).Do(req)
}

func (p *prober) probeUnauthHTTP(ctx context.Context) {
	resp, err := p.do(ctx, netip.Addr{}, "GET", "/auth/whoami", nil)
	if err != nil {
		p.result("gateway.probe_unauth_http", Warn, false, false, "Unauthenticated HTTP probe failed", err.Error(), "Check the gateway is running.")
		return
	}
	resp.Body.Close()
	ok := resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden
	p.result("gateway.probe_unauth_http", Critical, ok, false, "Unauthenticated HTTP request was accepted",
		fmt.Sprintf("GET /auth/whoami without credentials got %d", resp.StatusCode),
		"Set gateway.auth.mode to token or password.")
}

func (p *prober) probeUnauthWS(ctx context.Context) {
	var key [16]byte
	_, _ = rand.Read(key[:])
	h := http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {hex.EncodeToString(key[:])[:22] + "=="}}
	resp, err := p.do(ctx, netip.Addr{}, "GET", "/", h)
	if err != nil {
		p.result("gateway.probe_unauth_ws", Warn, false, false, "Unauthenticated WebSocket probe failed", err.Error(), "Check the gateway is running.")
		return
	}
	resp.Body.Close()
	ok := resp.StatusCode != http.StatusSwitchingProtocols
	p.result("gateway.probe_unauth_ws", Critical, ok, false, "Unauthenticated WebSocket upgrade was accepted",
		fmt.Sprintf("a WebSocket upgrade without credentials got %d", resp.StatusCode),
		"Set gateway.auth.mode to token or password.")
}

// trusted reports whether the gateway trusts a as a proxy, by trust's own
// rule (IPv4-mapped and zoned forms included).
func (p *prober) trusted(a netip.Addr) bool {
	return trust.New(trust.Options{TrustedProxies: p.o.TrustedProxies}).Trusted(a)
}

// loopbackSource finds a loopback source address that is (or is not) a
// trusted proxy.
func (p *prober) loopbackSource(trusted bool) (netip.Addr, bool) {
	for i := 1; i <= 30; i++ {
		a := netip.AddrFrom4([4]byte{127, 0, 0, byte(i)})
		if p.trusted(a) == trusted {
			return a, true
		}
	}
	return netip.Addr{}, false
}

type whoamiBody struct {
	Client   string `json:"client"`
	Peer     string `json:"peer"`
	Local    bool   `json:"local"`
	ViaProxy bool   `json:"viaProxy"`
	Code     string `json:"code"`
}

func readWhoami(resp *http.Response) whoamiBody {
	var w whoamiBody
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&w)
	resp.Body.Close()
	return w
}

func (p *prober) auth() http.Header {
	if p.o.Token == "" {
		return http.Header{}
	}
	return http.Header{"Authorization": {"Bearer " + p.o.Token}}
}

func (p *prober) probeXFFSpoof(ctx context.Context) {
	const id = "gateway.probe_xff_spoof"
	if !p.targetLoopback() {
		p.result(id, Critical, true, true, "", "skipped: the target is not on loopback, so no untrusted local source can be used", "")
		return
	}
	src, ok := p.loopbackSource(false)
	if !ok {
		p.result(id, Critical, true, true, "", "skipped: every probe source address in 127.0.0.0/8 is a trusted proxy", "")
		return
	}
	h := p.auth()
	h.Set("X-Forwarded-For", "127.0.0.1")
	resp, err := p.do(ctx, src, "GET", "/auth/whoami", h)
	if err != nil {
		p.result(id, Warn, false, false, "Spoofing probe failed", err.Error(), "Check the gateway is running.")
		return
	}
	w := readWhoami(resp)
	switch {
	case resp.StatusCode == http.StatusForbidden && w.Code == "untrusted_proxy":
		p.result(id, Critical, true, false, "", fmt.Sprintf("a forged X-Forwarded-For: 127.0.0.1 from untrusted %s was refused (untrusted_proxy)", src), "")
	case resp.StatusCode == http.StatusOK:
		believed := w.Local || w.Client == "127.0.0.1"
		p.result(id, Critical, !believed, false, "A forged X-Forwarded-For was believed",
			fmt.Sprintf("from untrusted %s, X-Forwarded-For: 127.0.0.1 gave client=%s local=%v", src, w.Client, w.Local),
			"Only list real proxies in gateway.trustedProxies; upgrade the gateway.")
	default:
		p.result(id, Critical, true, true, "", fmt.Sprintf("inconclusive: got %d (pass --token so the probe can read /auth/whoami)", resp.StatusCode), "")
	}
}

// listeningAddrs reads the local addresses listening on port from
// /proc/net/tcp and tcp6, without sending any traffic.
func listeningAddrs(dir string, port int) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" { // 0A = LISTEN
				continue
			}
			host, portHex, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			pn, err := strconv.ParseUint(portHex, 16, 16)
			if err != nil || int(pn) != port {
				continue
			}
			if a, ok := procAddr(host); ok {
				out = append(out, a)
			}
		}
		_ = f.Close()
	}
	return out, nil
}

// procAddr decodes /proc/net's hex address: 32-bit words in host (little
// endian) order.
func procAddr(h string) (netip.Addr, bool) {
	b, err := hex.DecodeString(h)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.Addr{}, false
	}
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	a, ok := netip.AddrFromSlice(b)
	return a.Unmap(), ok
}

// listeningBeyondLoopback returns the non-loopback addresses listening on
// port, read from the listening sockets (ProcNet, default /proc/net).
func (p *prober) listeningBeyondLoopback(port int) ([]string, error) {
	dir := p.o.ProcNet
	if dir == "" {
		dir = "/proc/net"
	}
	addrs, err := listeningAddrs(dir, port)
	if err != nil {
		return nil, err
	}
	var open []string
	for _, a := range addrs {
		if !a.IsLoopback() {
			open = append(open, a.String())
		}
	}
	return open, nil
}

func (p *prober) probeExposed() {
	const id = "gateway.probe_exposed"
	if !p.o.BindLoopback {
		p.result(id, Critical, true, true, "", "skipped: the configuration does not bind to loopback", "")
		return
	}
	port, _ := strconv.Atoi(p.base.Port())
	if port == 0 {
		port = 80
	}
	open, err := p.listeningBeyondLoopback(port)
	if err != nil {
		p.result(id, Critical, true, true, "", "skipped: cannot read listening sockets: "+err.Error(), "")
		return
	}
	detail := fmt.Sprintf("port %d listens on loopback only", port)
	if len(open) > 0 {
		detail = fmt.Sprintf("bind is loopback, but port %d listens on %s", port, strings.Join(open, ", "))
	}
	p.result(id, Critical, len(open) == 0, false, "Port listens beyond loopback", detail,
		"Find what else listens on the port (ss -ltnp) or restart the gateway with bind: loopback.")
}

// probeOpenClawExposed reads the listening sockets for OpenClaw's port: if
// OpenClaw listens beyond loopback, clients can skip the gateway.
func (p *prober) probeOpenClawExposed() {
	const id = "openclaw.bypass_exposed"
	if p.o.OpenClawPort == 0 {
		return
	}
	open, err := p.listeningBeyondLoopback(p.o.OpenClawPort)
	if err != nil {
		p.result(id, Critical, true, true, "", "skipped: cannot read listening sockets: "+err.Error(), "")
		return
	}
	detail := fmt.Sprintf("OpenClaw's port %d listens on loopback only", p.o.OpenClawPort)
	if len(open) > 0 {
		detail = fmt.Sprintf("OpenClaw's port %d listens on %s: clients can reach it without the gateway", p.o.OpenClawPort, strings.Join(open, ", "))
	}
	p.result(id, Critical, len(open) == 0, false, "OpenClaw is reachable without the gateway", detail,
		`Set gateway.bind: "loopback" in OpenClaw's config, or firewall its port to everything but the gateway.`)
}

func (p *prober) probeLockout(ctx context.Context) {
	const id = "gateway.probe_no_lockout"
	if p.o.AuthMode == "none" || p.o.AuthMode == "trusted-proxy" {
		p.result(id, Warn, true, true, "", "skipped: no credentials to guess in "+p.o.AuthMode+" mode", "")
		return
	}
	if p.o.MaxAttempts <= 0 {
		p.result(id, Warn, false, false, "Lockout is disabled",
			"gateway.auth.rateLimit.maxAttempts is 0: wrong credentials can be tried without limit", "Remove maxAttempts (default 10).")
		return
	}
	if !p.targetLoopback() {
		p.result(id, Warn, true, true, "", "skipped: the target is not on loopback", "")
		return
	}
	// A clean local request is exempt from the lockout, so the probe comes
	// through a trusted loopback address as a made-up remote client (a
	// documentation address, only ever written in a header): the
	// throwaway key that keeps the operator from being locked out.
	src, ok := p.loopbackSource(true)
	if !ok {
		p.result(id, Warn, true, true, "", "skipped: no loopback address is a trusted proxy, so a non-local client cannot be simulated from here", "")
		return
	}
	var r [2]byte
	_, _ = rand.Read(r[:])
	fake := fmt.Sprintf("203.0.113.%d", 1+int(r[0])%250)
	var last int
	for i := 0; i <= p.o.MaxAttempts; i++ {
		h := http.Header{"Authorization": {"Bearer audit-probe-wrong-" + hex.EncodeToString(r[:])}, "X-Forwarded-For": {fake}}
		resp, err := p.do(ctx, src, "GET", "/auth/whoami", h)
		if err != nil {
			p.result(id, Warn, false, false, "Lockout probe failed", err.Error(), "Check the gateway is running.")
			return
		}
		resp.Body.Close()
		last = resp.StatusCode
		if last == http.StatusTooManyRequests {
			break
		}
	}
	detail := fmt.Sprintf("%d wrong credentials from one client did not trigger a lockout (last status %d)", p.o.MaxAttempts+1, last)
	if last == http.StatusTooManyRequests {
		detail = fmt.Sprintf("wrong credentials from one non-local client were locked out (429) within %d attempts", p.o.MaxAttempts+1)
	}
	p.result(id, Warn, last == http.StatusTooManyRequests, false, "Failed logins are not locked out", detail,
		"Check gateway.auth.rateLimit.")
}

func (p *prober) probeVia(ctx context.Context) {
	canary := "192.0.2.66"
	h := p.auth()
	h.Set("X-Forwarded-For", canary)
	// Come to the proxy as an outsider would: from a source that is not a
	// trusted proxy itself, or the gateway would rightly skip it and the
	// canary would look like the client. Only loopback sources are bound.
	var src netip.Addr
	if vu, err := url.Parse(p.o.Via); err == nil {
		if a, err := netip.ParseAddr(vu.Hostname()); (err == nil && a.IsLoopback()) || vu.Hostname() == "localhost" {
			src, _ = p.loopbackSource(false)
		}
	}
	resp, err := p.doURL(ctx, src, "GET", strings.TrimSuffix(p.o.Via, "/")+"/auth/whoami", h)
	if err != nil {
		// Unreachable, or its TLS failed: the probe could not run, which
		// says nothing about whether the proxy is trusted.
		p.result("gateway.probe_failed", Warn, false, false, "The --via URL could not be reached", err.Error(),
			"Check --via (scheme, host, port). For a proxy whose certificate is signed by a private CA, point SSL_CERT_FILE at the CA's PEM.")
		return
	}
	w := readWhoami(resp)
	switch {
	case resp.StatusCode == http.StatusForbidden && w.Code == "untrusted_proxy":
		p.result("gateway.probe_proxy_untrusted", Warn, false, false, "The proxy is not trusted by the gateway",
			"a request through "+p.o.Via+" was refused as untrusted_proxy",
			"Add the address the proxy connects from to gateway.trustedProxies.")
	case resp.StatusCode != http.StatusOK:
		p.result("gateway.probe_proxy_untrusted", Warn, true, true, "", fmt.Sprintf("inconclusive: got %d through the proxy (pass --token)", resp.StatusCode), "")
	case w.ViaProxy && w.Client == w.Peer:
		// The gateway saw the proxy's forwarding headers and believed
		// none of them: the client it resolved is the proxy itself. A
		// remote proxy that is not trusted looks exactly like this.
		p.result("gateway.probe_proxy_untrusted", Warn, false, false, "The proxy is not trusted by the gateway",
			"through "+p.o.Via+" the gateway resolved the client to the proxy's own address "+w.Peer+": its forwarding headers were ignored",
			"Add the address the proxy connects from ("+w.Peer+") to gateway.trustedProxies.")
	case !w.ViaProxy:
		p.result("gateway.probe_proxy_header_missing", Warn, false, false, "The proxy sends no forwarding header",
			"through "+p.o.Via+" the gateway saw no forwarding header, so every client looks like the proxy",
			"Have the proxy send X-Forwarded-For (see docs/proxies/).")
	case w.Client == canary:
		p.result("gateway.probe_proxy_appends_client_xff", Critical, false, false, "A client-supplied X-Forwarded-For is believed through the proxy",
			"the canary X-Forwarded-For: "+canary+" sent to "+p.o.Via+" came out as the client address: the proxy forwards the client's header as its own",
			"Make the proxy append the peer ($proxy_add_x_forwarded_for) or overwrite the header.")
	default:
		p.result("gateway.probe_proxy_untrusted", Warn, true, false, "", "through "+p.o.Via+": trusted, client "+w.Client, "")
	}
}
