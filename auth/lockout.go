package auth

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// DefaultLimiterCap bounds how many clients the limiter tracks in each of
// its two tables (counting and locked).
const DefaultLimiterCap = 10_000

// Limiter counts failed authentication attempts per client and credential
// scope and locks a client out past the limit. Memory is bounded: partial
// counts live in an LRU that evicts the oldest, and lockouts live in a
// separate table that only expiry empties, so a flood of fresh addresses
// cannot push a locked client out and unlock it. If the locked table itself
// fills (thousands of addresses each failing maxAttempts times: a botnet),
// the limiter fails closed: every non-local client is refused until the
// newest lockout would have ended. Availability for remote users is traded
// for not letting the attack continue untracked.
type Limiter struct {
	mu       sync.Mutex
	now      func() time.Time
	max      int
	window   time.Duration
	lockout  time.Duration
	cap      int
	counts   map[limKey]*list.Element
	lru      *list.List // of *counter, front = most recent
	locked   map[limKey]time.Time
	lockouts uint64
	// saturatedUntil is set when the locked table overflows.
	saturatedUntil time.Time
}

type limKey struct {
	scope  string
	client netip.Prefix
}

type counter struct {
	key   limKey
	start time.Time
	n     int
}

// NewLimiter returns a limiter allowing max failures per window before a
// lockout of the given length. max 0 disables it. now may be nil.
func NewLimiter(max int, window, lockout time.Duration, cap int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	if cap <= 0 {
		cap = DefaultLimiterCap
	}
	return &Limiter{now: now, max: max, window: window, lockout: lockout, cap: cap,
		counts: map[limKey]*list.Element{}, lru: list.New(), locked: map[limKey]time.Time{}}
}

// Configure changes the limits (on config reload); state is kept.
func (l *Limiter) Configure(max int, window, lockout time.Duration) {
	l.mu.Lock()
	l.max, l.window, l.lockout = max, window, lockout
	l.mu.Unlock()
}

// clientKey groups IPv6 clients by /64, the unit an attacker is usually
// handed, so rotating through one's own /64 buys nothing.
func clientKey(scope string, a netip.Addr) limKey {
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return limKey{scope: scope, client: p}
}

// Locked reports whether the client is locked out for scope and, if so, for
// how much longer.
func (l *Limiter) Locked(scope string, a netip.Addr) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max <= 0 {
		return false, 0
	}
	k := clientKey(scope, a)
	now := l.now()
	if now.Before(l.saturatedUntil) {
		return true, l.saturatedUntil.Sub(now)
	}
	until, ok := l.locked[k]
	if !ok {
		return false, 0
	}
	left := until.Sub(now)
	if left <= 0 {
		delete(l.locked, k)
		return false, 0
	}
	return true, left
}

// Fail records a wrong credential and reports whether it locked the client.
func (l *Limiter) Fail(scope string, a netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max <= 0 {
		return false
	}
	now := l.now()
	k := clientKey(scope, a)
	if until, ok := l.locked[k]; ok && until.After(now) {
		return true
	}
	var c *counter
	if el, ok := l.counts[k]; ok {
		c = el.Value.(*counter)
		l.lru.MoveToFront(el)
		if now.Sub(c.start) > l.window {
			c.start, c.n = now, 0
		}
	} else {
		if l.lru.Len() >= l.cap {
			oldest := l.lru.Back()
			delete(l.counts, oldest.Value.(*counter).key)
			l.lru.Remove(oldest)
		}
		c = &counter{key: k, start: now}
		l.counts[k] = l.lru.PushFront(c)
	}
	c.n++
	if c.n < l.max {
		return false
	}
	l.lru.Remove(l.counts[k])
	delete(l.counts, k)
	l.lock(k, now.Add(l.lockout), now)
	return true
}

func (l *Limiter) lock(k limKey, until, now time.Time) {
	l.lockouts++
	if len(l.locked) >= l.cap {
		for kk, t := range l.locked {
			if !t.After(now) {
				delete(l.locked, kk)
			}
		}
	}
	if len(l.locked) >= l.cap {
		if until.After(l.saturatedUntil) {
			l.saturatedUntil = until
		}
		return
	}
	l.locked[k] = until
}

// Saturated reports whether the limiter is refusing everyone because its
// lockout table overflowed.
func (l *Limiter) Saturated() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now().Before(l.saturatedUntil)
}

// Succeed resets the client's count for scope.
func (l *Limiter) Succeed(scope string, a netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := clientKey(scope, a)
	if el, ok := l.counts[k]; ok {
		l.lru.Remove(el)
		delete(l.counts, k)
	}
}

// Stats reports the table sizes and the number of lockouts so far.
func (l *Limiter) Stats() (counting, locked int, lockouts uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len(), len(l.locked), l.lockouts
}
