package auth

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"gateway/request"
	"gateway/store"
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

// defaultOptions are the embedded defaults in token mode.
func defaultOptions() Options {
	return Options{
		Mode:     request.MethodToken,
		Token:    tok,
		Lockout:  LockoutPolicy{MaxAttempts: 10, Window: time.Minute, Lockout: 5 * time.Minute},
		Sessions: SessionPolicy{Idle: 24 * time.Hour, Absolute: 168 * time.Hour},
		Device:   DeviceOptions{Enabled: true, AutoApproveLocal: true, TokenTTL: 24 * time.Hour},
	}
}

// newAuth builds an Authenticator over a fresh state dir.
func newAuth(t *testing.T, mutate func(*Options), clk *clock) *Authenticator {
	t.Helper()
	if clk == nil {
		clk = newClock()
	}
	st, err := OpenStores(t.TempDir(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	o := defaultOptions()
	o.Stores = st
	if mutate != nil {
		mutate(&o)
	}
	a, err := NewAuthenticator(o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// from describes where a test request comes from, as trust would decide.
type from struct {
	peer    string // TCP peer
	trusted bool   // peer in trustedProxies
	client  string // resolved client ("" = the peer)
	// otherUser: the connecting socket belongs to another Unix user
	// than the gateway's.
	otherUser bool
	via       bool   // forwarding headers present
	cross     bool   // a browser page of another site sent it
	host      string // Host ("" = 127.0.0.1:18780)
}

// local is a clean request from this host.
var local = from{peer: "127.0.0.1:1"}

// remote is a stranger on the network.
func remote(peer string) from { return from{peer: peer} }

// proxied came through a trusted proxy on this host.
func proxied(client string) from {
	return from{peer: "127.0.0.1:1", trusted: true, client: client, via: true}
}

// req builds a request whose record is filled as the trust middleware
// would fill it (Local by the SPEC rule).
func req(method string, f from, h map[string]string) *http.Request {
	r := httptest.NewRequest(method, "http://gw/x", nil)
	for k, v := range h {
		r.Header.Set(k, v)
	}
	p := netip.MustParseAddrPort(f.peer)
	client := f.client
	if client == "" {
		client = p.Addr().String()
	}
	host := f.host
	if host == "" {
		host = "127.0.0.1:18780"
	}
	ctx, rec := request.NewContext(r.Context())
	rec.Upgrade = request.UpgradeOf(r)
	loopHost := host == "127.0.0.1:18780" || host == "localhost"
	rec.Trust = request.Trust{Peer: p, Client: netip.MustParseAddr(client), PeerTrusted: f.trusted, ViaProxy: f.via,
		CrossSite: f.cross, LoopbackClean: p.Addr().IsLoopback() && !f.via && !f.cross && loopHost, Proto: "http", Host: host}
	// The connecting socket's owner, as trust would find it: the
	// gateway's own user unless the test says another's.
	rec.SetLocalOwner(func() bool { return !f.otherUser })
	return r.WithContext(ctx)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fileDocs opens the file backend over a fresh state dir.
func fileDocs(tb testing.TB) store.Docs {
	tb.Helper()
	st, err := store.Open(store.Options{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	return st.Docs
}
