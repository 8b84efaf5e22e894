package auth

import (
	"net/netip"
	"os"
	"testing"
	"time"
)

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLimiterBoundedAndLockedStaysLocked(t *testing.T) {
	clk := newClock()
	const cap = 1000
	l := NewLimiter(10, time.Minute, 5*time.Minute, cap, clk.Now)
	victim := netip.MustParseAddr("198.51.100.1")
	for range 10 {
		l.Fail(ScopeToken, victim)
	}
	if locked, _ := l.Locked(ScopeToken, victim); !locked {
		t.Fatal("victim not locked after 10 failures")
	}
	// 100k distinct attacking addresses, each failing once.
	base := netip.MustParseAddr("10.0.0.0").As4()
	for i := range 100_000 {
		b := base
		b[1], b[2], b[3] = byte(i>>16), byte(i>>8), byte(i)
		l.Fail(ScopeToken, netip.AddrFrom4(b))
	}
	counting, locked, _ := l.Stats()
	if counting > cap || locked > cap {
		t.Fatalf("tables grew past cap: counting=%d locked=%d", counting, locked)
	}
	if isLocked, _ := l.Locked(ScopeToken, victim); !isLocked {
		t.Fatal("address rotation unlocked the victim")
	}
	// Even 100k lockouts (every attacker fails 10 times) keep the cap and
	// do not free the earlier lockout.
	for i := range 2 * cap {
		clk.Advance(10 * time.Millisecond)
		b := base
		b[1], b[2], b[3] = 200, byte(i>>8), byte(i)
		for range 10 {
			l.Fail(ScopeToken, netip.AddrFrom4(b))
		}
	}
	_, locked, _ = l.Stats()
	if locked > cap {
		t.Fatalf("locked table grew past cap: %d", locked)
	}
	if isLocked, _ := l.Locked(ScopeToken, victim); !isLocked {
		t.Fatal("a flood of lockouts unlocked the earlier victim")
	}
	// Overflow fails closed: a fresh address is refused too.
	if !l.Saturated() {
		t.Fatal("overflow not reported")
	}
	if isLocked, _ := l.Locked(ScopeToken, netip.MustParseAddr("192.0.2.99")); !isLocked {
		t.Fatal("overflowed limiter let an untracked client through")
	}
}

func TestLimiterScopesWindowsAndV6(t *testing.T) {
	clk := newClock()
	l := NewLimiter(3, time.Minute, time.Minute, 0, clk.Now)
	a := netip.MustParseAddr("203.0.113.5")
	l.Fail(ScopeToken, a)
	l.Fail(ScopeToken, a)
	clk.Advance(2 * time.Minute) // window passes: count restarts
	l.Fail(ScopeToken, a)
	if locked, _ := l.Locked(ScopeToken, a); locked {
		t.Fatal("failures from an old window counted")
	}
	l.Fail(ScopeToken, a)
	l.Succeed(ScopeToken, a) // success resets
	l.Fail(ScopeToken, a)
	l.Fail(ScopeToken, a)
	if locked, _ := l.Locked(ScopeToken, a); locked {
		t.Fatal("success did not reset the count")
	}
	l.Fail(ScopeToken, a)
	if locked, _ := l.Locked(ScopeToken, a); !locked {
		t.Fatal("not locked after 3 failures")
	}
	if locked, _ := l.Locked(ScopeDevice, a); locked {
		t.Fatal("lockout leaked into another scope")
	}
	// IPv6 addresses in one /64 share a bucket.
	for i := range 3 {
		l.Fail(ScopeToken, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}))
	}
	if locked, _ := l.Locked(ScopeToken, netip.MustParseAddr("2001:db8::ffff")); !locked {
		t.Fatal("rotating within a /64 escaped the lockout")
	}
	// Disabled.
	off := NewLimiter(0, time.Minute, time.Minute, 0, clk.Now)
	for range 100 {
		off.Fail(ScopeToken, a)
	}
	if locked, _ := off.Locked(ScopeToken, a); locked {
		t.Fatal("maxAttempts 0 still locks")
	}
}
