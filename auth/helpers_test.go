package auth

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"gateway/config"
	"gateway/trust"
)

// clock is an injectable, advanceable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newAuth builds an Authenticator over a fresh state dir.
func newAuth(t *testing.T, mutate func(*config.Config), clk *clock) (*Authenticator, *config.Config) {
	t.Helper()
	cfg := config.Default()
	cfg.Gateway.Auth.Token = tok
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if clk == nil {
		clk = newClock()
	}
	deps, err := NewDeps(t.TempDir(), cfg, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAuthenticator(Options{Config: cfg, Token: cfg.Gateway.Auth.Token, Deps: deps})
	if err != nil {
		t.Fatal(err)
	}
	return a, cfg
}

// req builds a request as the trust middleware would leave it.
type reqT = http.Request

func req(method, peer string, trusted, via bool, client string, h map[string]string) *http.Request {
	r := httptest.NewRequest(method, "http://gw/x", nil)
	for k, v := range h {
		r.Header.Set(k, v)
	}
	p := netip.MustParseAddrPort(peer)
	if client == "" {
		client = p.Addr().String()
	}
	res := &trust.Result{Peer: p, Client: netip.MustParseAddr(client), PeerTrusted: trusted, ViaProxy: via,
		Local: p.Addr().IsLoopback() && !via, Proto: "http", Host: "gw"}
	return r.WithContext(trust.WithResult(r.Context(), res))
}
