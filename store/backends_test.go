package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"gateway/config"
	"gateway/store/redistest"
)

// replicas opens n stores over the same state: n processes on one state
// dir, or n replicas on one Redis.
type replicas func(t *testing.T, n int) []*Store

func backends(t *testing.T) map[string]replicas {
	return map[string]replicas{
		"file": func(t *testing.T, n int) []*Store {
			dir := t.TempDir()
			return openN(t, n, Options{Backend: BackendFile, Dir: dir})
		},
		"redis": func(t *testing.T, n int) []*Store {
			srv := redistest.Start(t, "")
			return openN(t, n, Options{Backend: BackendRedis, URL: srv.URL(), KeyPrefix: "test:"})
		},
	}
}

func openN(t *testing.T, n int, o Options) []*Store {
	t.Helper()
	out := make([]*Store, n)
	for i := range out {
		st, err := Open(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		out[i] = st
	}
	return out
}

// appendTo adds n to a JSON list document.
func appendTo(ctx context.Context, d Docs, name string, n int) error {
	return d.Update(ctx, name, func(old []byte) ([]byte, error) {
		var list []int
		if len(old) > 0 {
			if err := json.Unmarshal(old, &list); err != nil {
				return nil, err
			}
		}
		return json.Marshal(append(list, n))
	})
}

// TestDocsConcurrentWritersLoseNothing: two replicas appending to one
// document at once; every append survives. Eight are in flight at a time:
// enough to collide on most writes, few enough that a loaded test machine
// (make test runs the integration package beside this one) does not push
// one Redis round trip past the store's 300 ms I/O bound.
func TestDocsConcurrentWritersLoseNothing(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			rs := open(t, 2)
			var wg sync.WaitGroup
			errs := make(chan error, 100)
			slots := make(chan struct{}, 8)
			for i := range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					slots <- struct{}{}
					defer func() { <-slots }()
					errs <- appendTo(context.Background(), rs[i%2].Docs, "devices/list.json", i)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			data, err := Read(context.Background(), rs[0].Docs, "devices/list.json")
			if err != nil {
				t.Fatal(err)
			}
			var list []int
			if err := json.Unmarshal(data, &list); err != nil || len(list) != 100 {
				t.Fatalf("%d entries (%v), want 100", len(list), err)
			}
		})
	}
}

func TestDocsVersionsAndRefusals(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			rs := open(t, 2)
			ctx := context.Background()
			a, b := rs[0].Docs, rs[1].Docs
			data, ver, changed, err := a.Load(ctx, "credentials/x.json", "")
			if err != nil || !changed || data != nil {
				t.Fatalf("absent: %q %v %v", data, changed, err)
			}
			if _, _, changed, _ := a.Load(ctx, "credentials/x.json", ver); changed {
				t.Fatal("absent document changed by itself")
			}
			if err := b.Update(ctx, "credentials/x.json", func([]byte) ([]byte, error) { return []byte(`{"v":1}`), nil }); err != nil {
				t.Fatal(err)
			}
			data, ver2, changed, err := a.Load(ctx, "credentials/x.json", ver)
			if err != nil || !changed || string(data) != `{"v":1}` || ver2 == ver {
				t.Fatalf("after another replica wrote: %q %v %v", data, changed, err)
			}
			if _, _, changed, _ := a.Load(ctx, "credentials/x.json", ver2); changed {
				t.Fatal("unchanged document reloaded")
			}
			// A refusing fn changes nothing and its error comes back as is.
			refuse := errors.New("no such request")
			if err := a.Update(ctx, "credentials/x.json", func([]byte) ([]byte, error) { return nil, refuse }); err != refuse {
				t.Fatalf("refusal = %v", err)
			}
			if d, _ := Read(ctx, b, "credentials/x.json"); string(d) != `{"v":1}` {
				t.Fatalf("a refused update wrote %q", d)
			}
			if _, _, _, err := a.Load(ctx, "../outside", ""); name == "file" && err == nil {
				t.Fatal("a name outside the state dir was accepted")
			}
		})
	}
}

// TestCreateOnce: replicas starting at once agree on one document.
func TestCreateOnce(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			rs := open(t, 3)
			var wg sync.WaitGroup
			for i := range 30 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := rs[i%3].Docs.CreateOnce(context.Background(), "identity/keys.json", []byte(fmt.Sprintf(`{"by":%d}`, i))); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			first, _ := Read(context.Background(), rs[0].Docs, "identity/keys.json")
			for _, r := range rs[1:] {
				if d, _ := Read(context.Background(), r.Docs, "identity/keys.json"); string(d) != string(first) || len(d) == 0 {
					t.Fatalf("replicas disagree: %q vs %q", d, first)
				}
			}
		})
	}
}

var policy3 = LockoutPolicy{MaxAttempts: 3, Window: time.Minute, Lockout: 5 * time.Minute}

// TestLockoutsAcrossReplicas: a failure on one replica counts on all, a
// lock holds everywhere, a success resets, and a concurrent burst across
// replicas never reserves more than the limit.
func TestLockoutsAcrossReplicas(t *testing.T) {
	for name, open := range backends(t) {
		if name == "file" {
			continue // one process's memory; replicas share only through Redis
		}
		t.Run(name, func(t *testing.T) {
			rs := open(t, 3)
			attacker := netip.MustParseAddr("203.0.113.9")
			for i := range 2 {
				att, left := reserveOf(rs[i].Lockouts, policy3, scopeToken, attacker)
				if left != 0 || att.Fail() {
					t.Fatalf("failure %d: left %v", i+1, left)
				}
			}
			att, left := reserveOf(rs[2].Lockouts, policy3, scopeToken, attacker)
			if left != 0 || !att.Fail() {
				t.Fatal("the third failure, on a third replica, did not engage the lock")
			}
			for i, r := range rs {
				if lockedOf(r.Lockouts, policy3, scopeToken, attacker) <= 4*time.Minute {
					t.Fatalf("replica %d does not see the lock", i)
				}
				if _, left := reserveOf(r.Lockouts, policy3, scopeToken, attacker); left == 0 {
					t.Fatalf("replica %d reserved for a locked client", i)
				}
			}
			// Another scope and another client are untouched.
			if _, left := reserveOf(rs[0].Lockouts, policy3, scopePassword, attacker); left != 0 {
				t.Fatal("the lock leaked into another scope")
			}
			// A success resets the count everywhere.
			owner := netip.MustParseAddr("198.51.100.1")
			a1, _ := reserveOf(rs[0].Lockouts, policy3, scopeToken, owner)
			a1.Fail()
			a2, _ := reserveOf(rs[1].Lockouts, policy3, scopeToken, owner)
			a2.Fail()
			a3, _ := reserveOf(rs[2].Lockouts, policy3, scopeToken, owner)
			a3.Succeed()
			for range 2 {
				a, left := reserveOf(rs[0].Lockouts, policy3, scopeToken, owner)
				if left != 0 {
					t.Fatal("count not reset by a success on another replica")
				}
				a.Fail()
			}
			// A burst of 60 concurrent guesses over three replicas for a
			// fresh client: each replica lets at most MaxAttempts be
			// verified at once (reservations are per replica), the
			// failures count on all, and the lock ends the burst.
			burst := netip.MustParseAddr("192.0.2.77")
			var mu sync.Mutex
			verified := 0
			var wg sync.WaitGroup
			for i := range 60 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if a, left := reserveOf(rs[i%3].Lockouts, policy3, scopeToken, burst); left == 0 {
						mu.Lock()
						verified++
						mu.Unlock()
						time.Sleep(5 * time.Millisecond) // a slow check keeps the reservation held
						a.Fail()
					}
				}()
			}
			wg.Wait()
			if verified > 3*policy3.MaxAttempts {
				t.Fatalf("%d of 60 concurrent guesses were verified, limit %d per replica", verified, policy3.MaxAttempts)
			}
			if lockedOf(rs[1].Lockouts, policy3, scopeToken, burst) == 0 {
				t.Fatal("the burst did not end in a lock")
			}
			t.Logf("a burst of 60 guesses over 3 replicas: %d verified before the lock (limit %d, %d per replica at most)", verified, policy3.MaxAttempts, policy3.MaxAttempts)
		})
	}
}

// TestNoncesAcrossReplicas: issued by one, consumed once by any; bounds
// hold across replicas.
func TestNoncesAcrossReplicas(t *testing.T) {
	for name, open := range backends(t) {
		if name == "file" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			rs := open(t, 2)
			client := netip.MustParseAddr("203.0.113.5")
			n, exp, err := rs[0].Nonces.Issue(context.Background(), client)
			if err != nil || time.Until(exp) <= 0 || time.Until(exp) > NonceTTL+time.Second {
				t.Fatalf("issue: %v %v", exp, err)
			}
			if ok, err := rs[1].Nonces.Consume(context.Background(), n); !ok || err != nil {
				t.Fatalf("consume on the other replica: %v %v", ok, err)
			}
			if ok, _ := rs[0].Nonces.Consume(context.Background(), n); ok {
				t.Fatal("a nonce was consumed twice")
			}
			if ok, _ := rs[0].Nonces.Consume(context.Background(), "never-issued"); ok {
				t.Fatal("a never-issued nonce was accepted")
			}
			// Concurrent consumption of one nonce: exactly one wins.
			n, _, _ = rs[0].Nonces.Issue(context.Background(), client)
			var wins sync.WaitGroup
			var mu sync.Mutex
			won := 0
			for i := range 20 {
				wins.Add(1)
				go func() {
					defer wins.Done()
					if ok, _ := rs[i%2].Nonces.Consume(context.Background(), n); ok {
						mu.Lock()
						won++
						mu.Unlock()
					}
				}()
			}
			wins.Wait()
			if won != 1 {
				t.Fatalf("%d consumers won one nonce", won)
			}
			// The per-client bound counts both replicas' challenges.
			flood := netip.MustParseAddr("198.51.100.66")
			issued := 0
			for i := range maxNoncesPerClient + 5 {
				if _, _, err := rs[i%2].Nonces.Issue(context.Background(), flood); err == nil {
					issued++
				} else if !errors.Is(err, ErrTooManyChallenges) {
					t.Fatal(err)
				}
			}
			if issued != maxNoncesPerClient {
				t.Fatalf("%d challenges for one client, bound %d", issued, maxNoncesPerClient)
			}
		})
	}
}

// TestRedisOutageAndRecovery: with Redis gone every operation fails at
// once with ErrUnavailable, lockouts fall back to this replica's memory
// (so the shared token stays usable and guarded), a cached document's
// last value stays readable through Last, and everything works again
// when Redis is back.
func TestRedisOutageAndRecovery(t *testing.T) {
	srv := redistest.Start(t, "")
	rs := openN(t, 1, Options{Backend: BackendRedis, URL: srv.URL()})
	st := rs[0]
	ctx := context.Background()
	if err := st.Docs.Update(ctx, "devices/revoked.json", func([]byte) ([]byte, error) { return []byte(`["t1"]`), nil }); err != nil {
		t.Fatal(err)
	}
	c := NewCached(st.Docs, "devices/revoked.json", func(b []byte) (string, error) { return string(b), nil })
	if v, err := c.Get(context.Background()); err != nil || v != `["t1"]` {
		t.Fatalf("get: %q %v", v, err)
	}
	client := netip.MustParseAddr("203.0.113.1")
	srv.Stop()

	var worst time.Duration
	timed := func(f func() error) error {
		start := time.Now()
		err := f()
		worst = max(worst, time.Since(start))
		return err
	}
	for i := range 5 {
		if err := timed(func() error { _, err := Read(ctx, st.Docs, "devices/revoked.json"); return err }); !IsUnavailable(err) {
			t.Fatalf("read %d during the outage: %v", i, err)
		}
		if err := timed(func() error { _, _, err := st.Nonces.Issue(context.Background(), client); return err }); !IsUnavailable(err) {
			t.Fatalf("challenge during the outage: %v", err)
		}
		if err := timed(func() error {
			return st.Docs.Update(ctx, "devices/paired.json", func([]byte) ([]byte, error) { return []byte("x"), nil })
		}); !IsUnavailable(err) {
			t.Fatalf("update during the outage: %v", err)
		}
	}
	if err := st.Ready(ctx); !IsUnavailable(err) {
		t.Fatalf("ready during the outage: %v", err)
	}
	if _, err := c.Get(context.Background()); !IsUnavailable(err) {
		t.Fatalf("Get during the outage: %v", err)
	}
	if v, err := c.Last(context.Background()); err != nil || v != `["t1"]` {
		t.Fatalf("Last during the outage: %q %v", v, err)
	}
	// Lockouts keep counting, in this replica's memory.
	for range 2 {
		att, left := reserveOf(st.Lockouts, policy3, scopeToken, client)
		if left != 0 {
			t.Fatal("reserve refused during the outage")
		}
		att.Fail()
	}
	att, _ := reserveOf(st.Lockouts, policy3, scopeToken, client)
	if !att.Fail() || lockedOf(st.Lockouts, policy3, scopeToken, client) == 0 {
		t.Fatal("no lock during the outage")
	}
	t.Logf("slowest operation while Redis was down: %v", worst)
	if worst > 2*time.Second {
		t.Fatalf("an operation hung for %v while Redis was down", worst)
	}

	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for st.Ready(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the store did not recover in 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, err := st.Nonces.Issue(context.Background(), client); err != nil {
		t.Fatalf("challenge after recovery: %v", err)
	}
	if err := appendTo(ctx, st.Docs, "devices/list.json", 1); err != nil {
		t.Fatalf("update after recovery: %v", err)
	}
}

// TestRedisThatNeverAnswers: a server that accepts connections and says
// nothing (a wedged Redis, a blackholing firewall) costs a request at
// most the operation timeout, never a hang.
func TestRedisThatNeverAnswers(t *testing.T) {
	srv := redistest.Start(t, "")
	st := openN(t, 1, Options{Backend: BackendRedis, URL: srv.URL()})[0]
	// At startup: a listener that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			_ = c.Close()
		}
		mu.Unlock()
	}()
	silent, err := Open(Options{Backend: BackendRedis, URL: "redis://" + ln.Addr().String() + "/0"})
	if err == nil {
		_ = silent.Close()
		t.Fatal("a Redis that never answers was accepted at startup")
	}
	if !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("startup error: %v", err)
	}
	// A store that was fine, then its Redis wedged: SIGSTOP the server.
	srv.Pause()
	defer srv.Resume()
	start := time.Now()
	_, err = Read(context.Background(), st.Docs, "devices/pending.json")
	took := time.Since(start)
	if !IsUnavailable(err) {
		t.Fatalf("read from a wedged Redis: %v", err)
	}
	t.Logf("a read from a wedged Redis failed after %v", took)
	if took > 2*time.Second {
		t.Fatalf("a read hung %v on a wedged Redis", took)
	}
}

// TestOpenRefusesWhatItCannotUse: unknown backends and unreachable Redis
// stop startup with a clear error that never quotes a password.
func TestOpenRefusesWhatItCannotUse(t *testing.T) {
	if _, err := Open(Options{Backend: "etcd"}); err == nil {
		t.Fatal("unknown backend accepted")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	_ = ln.Close()
	_, err := Open(Options{Backend: BackendRedis, URL: "redis://:hunter2@" + addr + "/0"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("unreachable redis: %v", err)
	}
	srv := redistest.Start(t, "right-password")
	_, err = Open(Options{Backend: BackendRedis, URL: "redis://:wrong-password@" + srv.Addr + "/0"})
	if err == nil || strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("wrong password: %v", err)
	}
	st, err := Open(Options{Backend: BackendRedis, URL: srv.URL()})
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	_ = st.Close()
	// An ACL user with the keys but not the channels could write
	// nothing (every write publishes in its transaction): refused at
	// once, saying what to grant.
	if err := srv.Client().Do(context.Background(), "ACL", "SETUSER", "nochannels", "on", ">its-password", "~gateway:*", "+@all", "resetchannels").Err(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{Backend: BackendRedis, URL: "redis://nochannels:its-password@" + srv.Addr + "/0"})
	if err == nil || !strings.Contains(err.Error(), "&gateway:*") || strings.Contains(err.Error(), "its-password") {
		t.Fatalf("a user without channels: %v", err)
	}
	if err := srv.Client().Do(context.Background(), "ACL", "SETUSER", "withchannels", "on", ">its-password", "~gateway:*", "&gateway:*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	st, err = Open(Options{Backend: BackendRedis, URL: "redis://withchannels:its-password@" + srv.Addr + "/0"})
	if err != nil {
		t.Fatalf("a user with the keys and the channels: %v", err)
	}
	_ = st.Close()
}

// TestBusyClientWithTheRightCredential: 64 concurrent checks from one
// client that all succeed (an API client behind a proxy with the shared
// token) are all let through: reservations past the limit wait for the
// ones in flight instead of being refused.
func TestBusyClientWithTheRightCredential(t *testing.T) {
	lockouts := map[string]Lockouts{"memory": NewLimiter(0, nil)}
	srv := redistest.Start(t, "")
	lockouts["redis"] = openN(t, 1, Options{Backend: BackendRedis, URL: srv.URL()})[0].Lockouts
	for name, l := range lockouts {
		t.Run(name, func(t *testing.T) {
			client := netip.MustParseAddr("198.51.100.99")
			var wg sync.WaitGroup
			var mu sync.Mutex
			refused := 0
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 20 {
						att, left := reserveOf(l, policy3, scopeToken, client)
						if left > 0 {
							mu.Lock()
							refused++
							mu.Unlock()
							continue
						}
						att.Succeed()
					}
				}()
			}
			wg.Wait()
			if refused > 0 {
				t.Fatalf("%d of 1280 checks with the right credential were refused", refused)
			}
		})
	}
}

// TestTLSUnverifiedAgreesWithGoRedis: the config's reading of a Redis URL
// (which refuses skip_verify at load and feeds the audit) is what go-redis
// itself does with it, and Open refuses what go-redis would not verify.
func TestTLSUnverifiedAgreesWithGoRedis(t *testing.T) {
	for _, u := range []string{
		"rediss://:pw@redis.example:6380/0?skip_verify=true",
		"rediss://:pw@redis.example:6380/0?skip_verify=1",
		"rediss://:pw@redis.example:6380/0?skip_verify=false",
		"rediss://:pw@redis.example:6380/0",
	} {
		opt, err := redisOptions(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		goRedis := opt.TLSConfig != nil && opt.TLSConfig.InsecureSkipVerify
		if got := config.RedisTLSUnverified(u); got != goRedis {
			t.Errorf("%s: config says unverified=%v, go-redis %v", u, got, goRedis)
		}
		_, err = Open(Options{Backend: BackendRedis, URL: u})
		if goRedis != errors.Is(err, ErrTLSUnverified) {
			t.Errorf("%s: Open: %v", u, err)
		}
	}
}
