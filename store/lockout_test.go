package store

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"gateway/store/redistest"
)

// fail records one settled failure, as a wrong credential does.
func fail(l *Limiter, p LockoutPolicy, scope string, a netip.Addr) {
	if att, left := l.reserve(p, scope, a); left == 0 {
		att.Fail()
	}
}

var tenPerMinute = LockoutPolicy{MaxAttempts: 10, Window: time.Minute, Lockout: 5 * time.Minute}

func TestLimiterBoundedAndLockedStaysLocked(t *testing.T) {
	clk := newClock()
	const cap = 1000
	l := NewLimiter(cap, clk.Now)
	victim := netip.MustParseAddr("198.51.100.1")
	for range 10 {
		fail(l, tenPerMinute, scopeToken, victim)
	}
	if l.lockedFor(tenPerMinute, scopeToken, victim) == 0 {
		t.Fatal("victim not locked after 10 failures")
	}
	// 100k distinct attacking addresses, each failing once.
	base := netip.MustParseAddr("10.0.0.0").As4()
	for i := range 100_000 {
		b := base
		b[1], b[2], b[3] = byte(i>>16), byte(i>>8), byte(i)
		fail(l, tenPerMinute, scopeToken, netip.AddrFrom4(b))
	}
	counting, locked, _ := l.Stats()
	if counting > cap || locked > cap {
		t.Fatalf("tables grew past cap: counting=%d locked=%d", counting, locked)
	}
	if l.lockedFor(tenPerMinute, scopeToken, victim) == 0 {
		t.Fatal("address rotation unlocked the victim")
	}
	// A fresh address elsewhere is not refused: the flood was coarsened
	// into its own networks instead of saturating everyone.
	if l.lockedFor(tenPerMinute, scopeToken, netip.MustParseAddr("192.0.2.99")) != 0 {
		t.Fatal("a flood locked out an uninvolved client")
	}
}

// TestLimiterCoarsensUnderPressure is the saturation attack: one wrong
// attempt from each of 10k IPv6 /64s of a single /48 must not fill the
// limiter and lock the owner out; once the table is under pressure the
// /48 is counted as one client and locked as one.
func TestLimiterCoarsensUnderPressure(t *testing.T) {
	clk := newClock()
	l := NewLimiter(DefaultLimiterCap, clk.Now)
	attack := netip.MustParsePrefix("2001:db8:bad::/48").Addr().As16()
	lockedAt := -1
	for i := range 10_000 {
		a := attack
		a[6], a[7] = byte(i>>8), byte(i) // a fresh /64 every time
		addr := netip.AddrFrom16(a)
		att, left := l.reserve(tenPerMinute, scopeToken, addr)
		if left > 0 {
			lockedAt = i
			break
		}
		att.Fail()
	}
	if lockedAt < 0 {
		t.Fatal("10k /64s of one /48 were never locked out")
	}
	owner := netip.MustParseAddr("2001:db8:600d::1")
	if l.lockedFor(tenPerMinute, scopeToken, owner) != 0 {
		t.Fatal("the owner in another /48 is locked out")
	}
	if _, left := l.reserve(tenPerMinute, scopeToken, owner); left != 0 {
		t.Fatal("the owner cannot attempt")
	}
	v4 := netip.MustParseAddr("203.0.113.200")
	if l.lockedFor(tenPerMinute, scopeToken, v4) != 0 {
		t.Fatal("an IPv4 client is locked out")
	}
	counting, locked, _ := l.Stats()
	t.Logf("locked after %d attempts; counting=%d locked=%d", lockedAt, counting, locked)
}

func TestLimiterScopesAndV6(t *testing.T) {
	clk := newClock()
	p := LockoutPolicy{MaxAttempts: 3, Window: time.Minute, Lockout: time.Minute}
	l := NewLimiter(0, clk.Now)
	a := netip.MustParseAddr("203.0.113.5")
	fail(l, p, scopeToken, a)
	att, _ := l.reserve(p, scopeToken, a)
	att.Succeed() // success resets
	fail(l, p, scopeToken, a)
	fail(l, p, scopeToken, a)
	if l.lockedFor(p, scopeToken, a) != 0 {
		t.Fatal("success did not reset the count")
	}
	fail(l, p, scopeToken, a)
	if l.lockedFor(p, scopeToken, a) == 0 {
		t.Fatal("not locked after 3 failures")
	}
	if l.lockedFor(p, scopeDevice, a) != 0 {
		t.Fatal("lockout leaked into another scope")
	}
	// IPv6 addresses in one /64 share a bucket.
	for i := range 3 {
		fail(l, p, scopeToken, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}))
	}
	if l.lockedFor(p, scopeToken, netip.MustParseAddr("2001:db8::ffff")) == 0 {
		t.Fatal("rotating within a /64 escaped the lockout")
	}
	// A cancelled attempt counts nothing.
	b := netip.MustParseAddr("203.0.113.6")
	for range 10 {
		att, _ := l.reserve(p, scopeToken, b)
		att.Cancel()
	}
	if l.lockedFor(p, scopeToken, b) != 0 {
		t.Fatal("cancelled attempts counted")
	}
	// Disabled.
	off := LockoutPolicy{}
	for range 100 {
		fail(l, off, scopeToken, a)
	}
	if l.lockedFor(off, scopeToken, netip.MustParseAddr("203.0.113.7")) != 0 {
		t.Fatal("maxAttempts 0 still locks")
	}
}

// TestLimiterReservesBeforeVerifying: reservations in flight count, so N
// concurrent attempts cannot all be verified.
func TestLimiterReservesBeforeVerifying(t *testing.T) {
	l := NewLimiter(0, nil)
	l.busyWait = 0 // refuse at once instead of waiting for the held ones
	p := LockoutPolicy{MaxAttempts: 3, Window: time.Minute, Lockout: time.Minute}
	a := netip.MustParseAddr("203.0.113.5")
	var held []Attempt
	for i := range 5 {
		att, left := l.reserve(p, scopeToken, a)
		if (i < 3) != (left == 0) {
			t.Fatalf("reservation %d: left %v", i, left)
		}
		if left == 0 {
			held = append(held, att)
		}
	}
	engaged := false
	for _, att := range held {
		engaged = att.Fail() || engaged
	}
	if !engaged || l.lockedFor(p, scopeToken, a) == 0 {
		t.Fatal("three settled failures did not lock")
	}
}

// TestNetworkRules is the flood of the second attack round against both
// backends: rotating addresses inside one network never buys more than
// the network's own allowance, however the locks are paced, and nothing
// an attacker does unlocks a lock in force.
func TestNetworkRules(t *testing.T) {
	srv := redistest.Start(t, "")
	backends := map[string]func() Lockouts{
		"memory": func() Lockouts { return NewLimiter(0, nil) },
		"redis": func() Lockouts {
			return openN(t, 1, Options{Backend: BackendRedis, URL: srv.URL(), KeyPrefix: fmt.Sprintf("net%d:", time.Now().UnixNano())})[0].Lockouts
		},
	}
	addr := func(net, host int) netip.Addr {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(net >> 8), byte(net), 6: byte(host >> 8), 7: byte(host), 15: 1})
	}
	failN := func(l Lockouts, p LockoutPolicy, a netip.Addr, n int) (refused int) {
		for range n {
			att, left := reserveOf(l, p, scopeToken, a)
			if left > 0 {
				refused++
				continue
			}
			att.Fail()
		}
		return refused
	}
	for name, open := range backends {
		t.Run(name+"/one attempt: the first lock takes the network", func(t *testing.T) {
			l := open()
			p := LockoutPolicy{MaxAttempts: 1, Window: time.Minute, Lockout: time.Minute}
			failN(l, p, addr(1, 0), 1)
			for host := 1; host < 50; host++ {
				if _, left := reserveOf(l, p, scopeToken, addr(1, host)); left == 0 {
					t.Fatalf("/64 number %d of a locked /48 may guess", host)
				}
			}
			if lockedOf(l, p, scopeToken, addr(1, 0)) == 0 {
				t.Fatal("the first /64 is unlocked")
			}
			if lockedOf(l, p, scopeToken, addr(2, 0)) != 0 {
				t.Fatal("another /48 is locked")
			}
		})
		t.Run(name+"/paced locks still add up", func(t *testing.T) {
			l := open()
			// Locks placed further apart than the window: each still
			// counts against the network while it lasts.
			p := LockoutPolicy{MaxAttempts: 3, Window: 150 * time.Millisecond, Lockout: time.Minute}
			for host := range 3 {
				if refused := failN(l, p, addr(3, host), 3); refused != 0 {
					t.Fatalf("/64 %d refused before its own limit (%d)", host, refused)
				}
				if lockedOf(l, p, scopeToken, addr(3, host)) == 0 {
					t.Fatalf("/64 %d not locked", host)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if lockedOf(l, p, scopeToken, addr(3, 99)) == 0 {
				t.Fatal("three locked /64s did not lock their /48")
			}
		})
		t.Run(name+"/a network holds at most maxAttempts address buckets", func(t *testing.T) {
			l := open()
			p := LockoutPolicy{MaxAttempts: 3, Window: time.Minute, Lockout: time.Minute}
			for host := range 3 {
				failN(l, p, addr(4, host), 2) // two each: under their own limit
			}
			// A fourth /64 counts as the /48, which then locks after three.
			if refused := failN(l, p, addr(4, 3), 3); refused != 0 {
				t.Fatalf("refused early: %d", refused)
			}
			for host := range 6 {
				if _, left := reserveOf(l, p, scopeToken, addr(4, host)); left == 0 {
					t.Fatalf("/64 %d of the locked /48 may guess", host)
				}
			}
		})
	}
}

// TestLockNeverEvicted: a table full of locks takes new ones on their
// networks instead of evicting one in force.
func TestLockNeverEvicted(t *testing.T) {
	const cap = 50
	l := NewLimiter(cap, nil)
	p := LockoutPolicy{MaxAttempts: 2, Window: time.Minute, Lockout: time.Minute}
	victim := netip.MustParseAddr("198.51.100.7")
	fail(l, p, scopeToken, victim)
	fail(l, p, scopeToken, victim)
	if l.lockedFor(p, scopeToken, victim) == 0 {
		t.Fatal("not locked")
	}
	// Lock one address in each of 500 networks.
	for n := range 500 {
		a := netip.AddrFrom4([4]byte{10, byte(n >> 8), byte(n), 1})
		fail(l, p, scopeToken, a)
		fail(l, p, scopeToken, a)
		if l.lockedFor(p, scopeToken, a) == 0 {
			t.Fatalf("attacker %d not locked", n)
		}
	}
	if l.lockedFor(p, scopeToken, victim) == 0 {
		t.Fatal("the flood evicted a lock in force")
	}
	if _, locked, _ := l.Stats(); locked > 500+cap {
		t.Fatalf("%d locks held", locked)
	}
}
