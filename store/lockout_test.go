package store

import (
	"net/netip"
	"testing"
	"time"
)

// fail records one settled failure, as a wrong credential does.
func fail(l *Limiter, p LockoutPolicy, scope string, a netip.Addr) {
	if att, left := l.Reserve(p, scope, a); left == 0 {
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
	if l.Locked(tenPerMinute, scopeToken, victim) == 0 {
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
	if l.Locked(tenPerMinute, scopeToken, victim) == 0 {
		t.Fatal("address rotation unlocked the victim")
	}
	// A fresh address elsewhere is not refused: the flood was coarsened
	// into its own networks instead of saturating everyone.
	if l.Locked(tenPerMinute, scopeToken, netip.MustParseAddr("192.0.2.99")) != 0 {
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
		att, left := l.Reserve(tenPerMinute, scopeToken, addr)
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
	if l.Locked(tenPerMinute, scopeToken, owner) != 0 {
		t.Fatal("the owner in another /48 is locked out")
	}
	if _, left := l.Reserve(tenPerMinute, scopeToken, owner); left != 0 {
		t.Fatal("the owner cannot attempt")
	}
	v4 := netip.MustParseAddr("203.0.113.200")
	if l.Locked(tenPerMinute, scopeToken, v4) != 0 {
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
	att, _ := l.Reserve(p, scopeToken, a)
	att.Succeed() // success resets
	fail(l, p, scopeToken, a)
	fail(l, p, scopeToken, a)
	if l.Locked(p, scopeToken, a) != 0 {
		t.Fatal("success did not reset the count")
	}
	fail(l, p, scopeToken, a)
	if l.Locked(p, scopeToken, a) == 0 {
		t.Fatal("not locked after 3 failures")
	}
	if l.Locked(p, scopeDevice, a) != 0 {
		t.Fatal("lockout leaked into another scope")
	}
	// IPv6 addresses in one /64 share a bucket.
	for i := range 3 {
		fail(l, p, scopeToken, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}))
	}
	if l.Locked(p, scopeToken, netip.MustParseAddr("2001:db8::ffff")) == 0 {
		t.Fatal("rotating within a /64 escaped the lockout")
	}
	// A cancelled attempt counts nothing.
	b := netip.MustParseAddr("203.0.113.6")
	for range 10 {
		att, _ := l.Reserve(p, scopeToken, b)
		att.Cancel()
	}
	if l.Locked(p, scopeToken, b) != 0 {
		t.Fatal("cancelled attempts counted")
	}
	// Disabled.
	off := LockoutPolicy{}
	for range 100 {
		fail(l, off, scopeToken, a)
	}
	if l.Locked(off, scopeToken, netip.MustParseAddr("203.0.113.7")) != 0 {
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
		att, left := l.Reserve(p, scopeToken, a)
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
	if !engaged || l.Locked(p, scopeToken, a) == 0 {
		t.Fatal("three settled failures did not lock")
	}
}
