package store

import (
	"context"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"gateway/store/redistest"
)

// TestCachedGetOnAGoneClient: a read for a client that went away ends
// with its context, and Redis is not marked down for it.
func TestCachedGetOnAGoneClient(t *testing.T) {
	srv := redistest.Start(t, "")
	st, _ := countingOpen(t, srv.URL())
	c := NewCached(st.Docs, "devices/paired.json", func(b []byte) (string, error) { return string(b), nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Get(ctx); err == nil || IsUnavailable(err) {
		t.Fatalf("Get on a cancelled context: %v, want the context's error", err)
	}
	if st.Docs.(*redisDocs).r.down.Load() {
		t.Fatal("a cancelled request marked Redis down")
	}
	if _, err := c.Get(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestReserveOnAGoneClient: a guess whose client hangs up before its
// reservation is answered is not reserved at all, and never falls back to
// this replica's own count (where a shared lock would not see it), and
// Redis is not marked down for it.
func TestReserveOnAGoneClient(t *testing.T) {
	srv := redistest.Start(t, "")
	st, _ := countingOpen(t, srv.URL())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := netip.MustParseAddr("203.0.113.9")
	if _, _, err := st.Lockouts.Reserve(ctx, policy3, scopeToken, a); err == nil {
		t.Fatal("Reserve on a cancelled context succeeded")
	}
	if _, err := st.Lockouts.Locked(ctx, policy3, scopeToken, a); err == nil {
		t.Fatal("Locked on a cancelled context answered")
	}
	if st.Docs.(*redisDocs).r.down.Load() {
		t.Fatal("a cancelled request marked Redis down")
	}
	if c, _, _ := st.Lockouts.(*redisLockouts).mem.Stats(); c != 0 {
		t.Fatalf("the local fallback counted %d buckets", c)
	}
	if _, left := reserveOf(st.Lockouts, policy3, scopeToken, a); left != 0 {
		t.Fatal("the client is locked")
	}
}

// TestLockoutChecksInOnePipeline: concurrent checks share pipelines and
// each gets its own answer; a Redis that lost its scripts (restarted,
// SCRIPT FLUSH) is given them again without failing anyone.
func TestLockoutChecksInOnePipeline(t *testing.T) {
	srv := redistest.Start(t, "")
	st, _ := countingOpen(t, srv.URL())
	locked := netip.MustParseAddr("203.0.113.50")
	for range 3 {
		att, _ := reserveOf(st.Lockouts, policy3, scopeToken, locked)
		att.Fail()
	}
	if err := srv.Client().Do(context.Background(), "SCRIPT", "FLUSH").Err(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
			if i%10 == 0 {
				a = locked
			}
			att, left, err := st.Lockouts.Reserve(context.Background(), policy3, scopeToken, a)
			switch {
			case err != nil:
				errs <- err.Error()
			case a == locked && left == 0:
				errs <- "the locked client got an attempt"
			case a != locked && left != 0:
				errs <- "a fresh client is locked"
			}
			att.Cancel()
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if st.Docs.(*redisDocs).r.down.Load() {
		t.Fatal("a flushed script marked Redis down")
	}
}

// TestDocumentedACLIsEnough: a Redis user with exactly the keys, channels
// and commands docs/replicas.md lists can do everything a replica does.
func TestDocumentedACLIsEnough(t *testing.T) {
	doc, err := os.ReadFile("../docs/replicas.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("the commands `([a-z ]+)`").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/replicas.md lists no commands")
	}
	srv := redistest.Start(t, "")
	args := []any{"ACL", "SETUSER", "gw", "on", ">gw-password", "~gateway:*", "&gateway:*"}
	for _, c := range strings.Fields(string(m[1])) {
		args = append(args, "+"+c)
	}
	if err := srv.Client().Do(context.Background(), args...).Err(); err != nil {
		t.Fatal(err)
	}
	st, err := Open(Options{Backend: BackendRedis, URL: "redis://gw:gw-password@" + srv.Addr + "/0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	if err := st.Docs.CreateOnce(ctx, "identity/keys.json", []byte("k")); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := appendTo(ctx, st.Docs, "devices/list.json", 1); err != nil {
		t.Fatalf("update: %v", err)
	}
	c := NewCached(st.Docs, "devices/list.json", func(b []byte) (string, error) { return string(b), nil })
	if v, err := c.Get(ctx); err != nil || v != "[1]" {
		t.Fatalf("get: %q %v", v, err)
	}
	trusted(t, st) // the subscription and the heartbeats work
	a := netip.MustParseAddr("203.0.113.77")
	for range 3 {
		att, left, err := st.Lockouts.Reserve(ctx, policy3, scopeToken, a)
		if err != nil || left != 0 {
			t.Fatalf("reserve: %v %v", left, err)
		}
		att.Fail()
	}
	if left, err := st.Lockouts.Locked(ctx, policy3, scopeToken, a); err != nil || left == 0 {
		t.Fatalf("locked: %v %v", left, err)
	}
	n, _, err := st.Nonces.Issue(ctx, a)
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	if ok, err := st.Nonces.Consume(ctx, n); !ok || err != nil {
		t.Fatalf("consume: %v %v", ok, err)
	}
	if st.Docs.(*redisDocs).r.down.Load() {
		t.Fatal("a refused command marked Redis down")
	}
}
