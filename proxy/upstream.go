package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Upstream is the agent: where it listens and how to reach it, decided
// once from gateway.upstream, and used by everything that connects to it:
// readiness, the WebSocket handshake and the HTTP transport.
type Upstream struct {
	// URL is the agent's base URL (http or https).
	URL *url.URL
	// Addr is host:port, with the scheme's default port when the URL
	// names none.
	Addr string
	// tls is the client configuration for an https upstream (nil for
	// http): the URL's host name verified, TLS 1.2 at least.
	tls *tls.Config
}

// upstreamDialTimeout bounds connection setup to the agent.
const upstreamDialTimeout = 5 * time.Second

// NewUpstream returns the Upstream of u.
func NewUpstream(u *url.URL) *Upstream {
	up := &Upstream{URL: u, Addr: addrOf(u)}
	if u.Scheme == "https" {
		up.tls = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	}
	return up
}

// addrOf is host:port of u, the port defaulting by scheme. The one place
// the default port is decided (the transport's pool keys use it too).
func addrOf(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// TLSConfig returns a copy of the client TLS configuration (nil for http).
func (u *Upstream) TLSConfig() *tls.Config {
	if u.tls == nil {
		return nil
	}
	return u.tls.Clone()
}

func (u *Upstream) dialer() *net.Dialer {
	return &net.Dialer{Timeout: upstreamDialTimeout, KeepAlive: 30 * time.Second}
}

// Dial connects to the agent, over TLS for https (handshake included).
func (u *Upstream) Dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, upstreamDialTimeout)
	defer cancel()
	if u.tls == nil {
		return u.dialer().DialContext(ctx, "tcp", u.Addr)
	}
	return (&tls.Dialer{NetDialer: u.dialer(), Config: u.tls.Clone()}).DialContext(ctx, "tcp", u.Addr)
}

// Reachable reports whether the agent accepts TCP connections (readiness:
// no TLS handshake, no request).
func (u *Upstream) Reachable(ctx context.Context) error {
	c, err := u.dialer().DialContext(ctx, "tcp", u.Addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// Transport returns the upstream transport for u: the lean pooled path for
// plain HTTP, the standard transport (with u's TLS settings) for https and
// upgrades. idle is gateway.upstreamIdleTimeout (0: DefaultIdleTimeout).
func (u *Upstream) Transport(idle time.Duration) *LeanTransport {
	t := NewLeanTransport(idle)
	t.Fallback.(*http.Transport).TLSClientConfig = u.TLSConfig()
	return t
}
