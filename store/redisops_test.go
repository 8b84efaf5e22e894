package store

import (
	"context"
	"net/netip"
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
