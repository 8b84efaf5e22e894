package store

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"gateway/store/redistest"
)

// countingOpen opens a Redis replica that counts its document loads.
func countingOpen(t *testing.T, url string) (*Store, *atomic.Int64) {
	t.Helper()
	var loads atomic.Int64
	st, err := Open(Options{Backend: BackendRedis, URL: url, KeyPrefix: "inv:", Observe: func(op string, _ time.Duration, _ error) {
		if op == "load" {
			loads.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, &loads
}

// trusted waits until the replica's cache may be trusted (subscribed, a
// heartbeat in).
func trusted(t *testing.T, st *Store) *invalidator {
	t.Helper()
	inv := st.Docs.(*redisDocs).inv
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := inv.stamp("x"); ok {
			return inv
		}
		if time.Now().After(deadline) {
			t.Fatal("the invalidation channel never came up")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// heardSince waits until a heartbeat this replica sent after the call came
// back: every change committed before the call has then been delivered.
func heardSince(t *testing.T, inv *invalidator) {
	t.Helper()
	from := int64(time.Since(inv.start))
	deadline := time.Now().Add(5 * time.Second)
	for inv.lastBeat.Load() < from {
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat came back")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRedisCacheInvalidation: a replica serves a document from memory
// while nothing changes (no round trip), sees another replica's write as
// soon as the write's message arrives (no later than the next heartbeat),
// its own write at once, and distrusts everything it holds when the
// subscription is lost or the channel stalls.
func TestRedisCacheInvalidation(t *testing.T) {
	srv := redistest.Start(t, "")
	a, _ := countingOpen(t, srv.URL())
	b, bLoads := countingOpen(t, srv.URL())
	ctx := context.Background()
	const doc = "devices/revoked.json"
	write := func(st *Store, v string) {
		t.Helper()
		if err := st.Docs.Update(ctx, doc, func([]byte) ([]byte, error) { return []byte(v), nil }); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "v1")
	decode := func(b []byte) (string, error) { return string(b), nil }
	ca, cb := NewCached(a.Docs, doc, decode), NewCached(b.Docs, doc, decode)
	invB := trusted(t, b)
	trusted(t, a)
	get := func(c *Cached[string]) string {
		t.Helper()
		v, err := c.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// Every message about the first write has arrived once two
	// heartbeats have (Redis delivers in order); then B loads once.
	heardSince(t, invB)
	if v := get(cb); v != "v1" {
		t.Fatalf("b: %q", v)
	}
	// A read is served from memory unless the cache was distrusted at
	// that moment (a heartbeat late on a loaded machine): those, and
	// only those, go to Redis.
	before, distrusted := bLoads.Load(), invB.distrusted.Load()
	for range 100 {
		if v := get(cb); v != "v1" {
			t.Fatalf("b: %q", v)
		}
	}
	if n, d := bLoads.Load()-before, invB.distrusted.Load()-distrusted; n > int64(d) || n > 50 {
		t.Fatalf("100 reads of an unchanged document cost %d round trips with the cache distrusted %d times", n, d)
	}
	// trustedGet reads while the cache is trusted, retrying a read that
	// found it distrusted.
	trustedGet := func(c *Cached[string]) string {
		t.Helper()
		for range 100 {
			trusted(t, b)
			d := invB.distrusted.Load()
			v := get(c)
			if invB.distrusted.Load() == d {
				return v
			}
		}
		t.Fatal("the cache was never trusted for one read")
		return ""
	}

	// The writer sees its own write at once.
	_ = get(ca)
	write(a, "v2")
	if v := get(ca); v != "v2" {
		t.Fatalf("the writing replica read %q right after its write", v)
	}
	// Another replica sees it once the message is in: at the latest
	// with the first heartbeat published after the write.
	start := time.Now()
	for get(cb) != "v2" {
		if time.Since(start) > 5*time.Second {
			t.Fatal("replica b never saw the write")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("replica b saw the write after %s", time.Since(start))
	write(a, "v3")
	heardSince(t, invB)
	if v := get(cb); v != "v3" {
		t.Fatalf("after a heartbeat published after the write, b read %q", v)
	}
	// Written behind the channel's back (as a FLUSHALL or an operator
	// would): invisible while the cache is trusted...
	if err := srv.Client().HSet(ctx, "inv:doc:"+doc, "data", "sneaky", "ver", "x").Err(); err != nil {
		t.Fatal(err)
	}
	if v := trustedGet(cb); v != "v3" {
		t.Fatalf("b read %q from a trusted cache: the write behind its back should be invisible", v)
	}
	// ...until the subscription is lost: then every copy is dropped.
	if err := srv.Client().Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	for get(cb) != "sneaky" {
		if time.Since(start) > 5*time.Second {
			t.Fatal("b kept its copy after losing the subscription")
		}
		time.Sleep(time.Millisecond)
	}
	trusted(t, b)

	// A stalled Redis: no heartbeat, so no trust; the read goes to
	// Redis and fails closed instead of answering from memory.
	srv.Pause()
	defer srv.Resume()
	time.Sleep(2 * heartbeatGrace)
	if _, err := cb.Get(ctx); !IsUnavailable(err) {
		t.Fatalf("Get with the channel stalled: %v, want unavailable", err)
	}
}
