package store

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// DefaultLimiterCap bounds how many buckets the limiter tracks in each of
// its two tables (counting and locked).
const DefaultLimiterCap = 10_000

// LockoutPolicy is the failure rule of one configuration. It is passed with
// every call instead of being stored in the Limiter, so building a handler
// for a configuration that is then rejected changes nothing (a reload is
// validated first and committed in one step).
type LockoutPolicy struct {
	// MaxAttempts failures within Window engage the lockout. 0 turns the
	// limiter off.
	MaxAttempts int
	// Window is the sliding window failures are counted in.
	Window time.Duration
	// Lockout is how long an engaged lockout lasts.
	Lockout time.Duration
}

func (p LockoutPolicy) off() bool { return p.MaxAttempts <= 0 }

// Limiter counts failed authentication attempts per client bucket and
// credential scope in a sliding window, and locks a bucket out once
// MaxAttempts failures fall in the window (OpenClaw's semantics: the
// MaxAttempts-th failure is still answered 401 and engages the lockout; every
// later attempt is refused until it ends).
//
// An attempt is reserved before the credential is verified and the
// reservation counts against the limit, so a burst of concurrent guesses
// never verifies more than MaxAttempts credentials.
//
// Memory is bounded. Counting buckets live in an LRU of at most cap entries
// (the least recently used partial count is forgotten first); lockouts live
// in a separate table that address rotation cannot flush. A client is
// bucketed by its address (IPv4 /32, IPv6 /64, the unit an attacker is
// usually handed); once the counting table is half full, new buckets are
// coarse (IPv4 /24, IPv6 /48), so an attacker rotating through a /48 is
// counted as one client instead of filling the table and locking everyone
// else out. A lock on either the fine or the coarse bucket refuses.
type Limiter struct {
	mu       sync.Mutex
	now      func() time.Time
	busyWait time.Duration
	cap      int
	counts   map[limKey]*list.Element // of *counter
	lru      *list.List               // front = most recent
	locked   map[limKey]time.Time
	lockouts uint64
}

type limKey struct {
	scope  string
	client netip.Prefix
}

type counter struct {
	key      limKey
	failures []time.Time // oldest first, at most MaxAttempts
	inflight int         // reserved attempts not yet settled
}

// NewLimiter returns an empty limiter tracking at most cap buckets per
// table (0: DefaultLimiterCap). now may be nil.
func NewLimiter(cap int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	if cap <= 0 {
		cap = DefaultLimiterCap
	}
	return &Limiter{now: now, busyWait: busyWait, cap: cap, counts: map[limKey]*list.Element{}, lru: list.New(), locked: map[limKey]time.Time{}}
}

// buckets returns a client's fine and coarse bucket keys for scope.
func buckets(scope string, a netip.Addr) (fine, coarse limKey) {
	f, c := ClientBuckets(a)
	return limKey{scope, f}, limKey{scope, c}
}

// lockedLeft returns how long k stays locked, dropping an expired lock.
// Caller holds l.mu.
func (l *Limiter) lockedLeft(k limKey, now time.Time) time.Duration {
	until, ok := l.locked[k]
	if !ok {
		return 0
	}
	left := until.Sub(now)
	if left <= 0 {
		delete(l.locked, k)
		return 0
	}
	return left
}

// Locked implements Lockouts.
func (l *Limiter) Locked(p LockoutPolicy, scope string, a netip.Addr) time.Duration {
	if p.off() {
		return 0
	}
	fine, coarse := buckets(scope, a)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	return max(l.lockedLeft(fine, now), l.lockedLeft(coarse, now))
}

// Lockouts counts failed credential checks per client bucket and locks
// buckets out: Limiter in one process, redisLockouts across replicas.
type Lockouts interface {
	// Reserve claims one attempt for the client before its credential is
	// verified. It returns the remaining lockout when the client is
	// locked out, or when reserved and recorded attempts already reach
	// the limit (the attempt would be past it).
	Reserve(p LockoutPolicy, scope string, a netip.Addr) (Attempt, time.Duration)
	// Locked reports how much longer the client is locked out for scope;
	// 0 means it is not.
	Locked(p LockoutPolicy, scope string, a netip.Addr) time.Duration
	// Stats reports this process's table sizes and lockouts engaged.
	Stats() (counting, locked int, lockouts uint64)
}

// Attempt is a reserved credential check. Exactly one of Fail, Succeed or
// Cancel settles it; the zero Attempt (limiter off, local request) settles
// as a no-op.
type Attempt struct{ s settler }

// settler is a backend's reserved attempt.
type settler interface {
	fail() bool
	succeed()
	cancel()
}

// Fail records the attempt as a failure. It reports whether this failure
// engaged the lockout (the caller still answers it 401).
func (t Attempt) Fail() bool {
	if t.s == nil {
		return false
	}
	return t.s.fail()
}

// Succeed records a verified credential: the bucket's count is reset.
func (t Attempt) Succeed() {
	if t.s != nil {
		t.s.succeed()
	}
}

// Cancel returns an attempt that was never verified (the server was busy).
func (t Attempt) Cancel() {
	if t.s != nil {
		t.s.cancel()
	}
}

// memAttempt is an attempt reserved in a Limiter.
type memAttempt struct {
	l   *Limiter
	p   LockoutPolicy
	key limKey
}

// Reserve implements Lockouts.
func (l *Limiter) Reserve(p LockoutPolicy, scope string, a netip.Addr) (Attempt, time.Duration) {
	if p.off() {
		return Attempt{}, 0
	}
	return waitWhileBusy(l.busyWait, func() (Attempt, time.Duration, bool) { return l.reserveOnce(p, scope, a) })
}

// reserveOnce tries one reservation; busy means attempts in flight reach
// the limit.
func (l *Limiter) reserveOnce(p LockoutPolicy, scope string, a netip.Addr) (Attempt, time.Duration, bool) {
	fine, coarse := buckets(scope, a)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if left := max(l.lockedLeft(fine, now), l.lockedLeft(coarse, now)); left > 0 {
		return Attempt{}, left, false
	}
	c := l.counter(fine, coarse, now, p)
	if len(c.failures)+c.inflight >= p.MaxAttempts {
		// Only reservations in flight can get here (recorded failures
		// reaching the limit engage the lock).
		return Attempt{}, 0, true
	}
	c.inflight++
	return Attempt{s: memAttempt{l: l, p: p, key: c.key}}, 0, false
}

// busyWait bounds how long a reservation waits while the client's attempts
// in flight reach the limit.
const busyWait = time.Second

// busyRetryAfter is what a client that waited busyWait in vain is told.
const busyRetryAfter = time.Second

// waitWhileBusy retries a reservation while the client's attempts in
// flight reach the limit: they settle in microseconds (a token compare) to
// milliseconds (a password hash, a Redis round trip). If they were
// failures, the lock engages and the waiter is refused; if they were
// successes (a busy client with the right token, 64 connections behind a
// proxy), the waiter goes ahead. Either way no more than MaxAttempts
// credentials are ever being verified or counted at once, and a legitimate
// burst is served instead of refused.
func waitWhileBusy(wait time.Duration, try func() (Attempt, time.Duration, bool)) (Attempt, time.Duration) {
	deadline := time.Now().Add(wait)
	pause := 50 * time.Microsecond
	for {
		att, left, busy := try()
		if !busy {
			return att, left
		}
		if !time.Now().Before(deadline) {
			return Attempt{}, busyRetryAfter
		}
		time.Sleep(pause)
		pause = min(2*pause, 5*time.Millisecond)
	}
}

// counter finds the client's counting bucket, creating it (coarse under
// pressure) when it has none. Caller holds l.mu.
func (l *Limiter) counter(fine, coarse limKey, now time.Time, p LockoutPolicy) *counter {
	el, ok := l.counts[fine]
	if !ok {
		el, ok = l.counts[coarse]
	}
	if !ok {
		key := fine
		if l.lru.Len() >= l.cap/2 {
			key = coarse
		}
		l.evict()
		el = l.lru.PushFront(&counter{key: key})
		l.counts[key] = el
	}
	l.lru.MoveToFront(el)
	c := el.Value.(*counter)
	c.trim(now, p.Window)
	return c
}

// evict makes room for one counting bucket by forgetting the least recently
// used one that has no attempt in flight.
func (l *Limiter) evict() {
	for el := l.lru.Back(); el != nil && l.lru.Len() >= l.cap; {
		prev := el.Prev()
		if c := el.Value.(*counter); c.inflight == 0 {
			delete(l.counts, c.key)
			l.lru.Remove(el)
		}
		el = prev
	}
}

// trim drops failures that slid out of the window.
func (c *counter) trim(now time.Time, window time.Duration) {
	i := 0
	for i < len(c.failures) && now.Sub(c.failures[i]) >= window {
		i++
	}
	c.failures = c.failures[i:]
}

func (t memAttempt) fail() bool {
	l := t.l
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.counts[t.key]
	if !ok {
		return false
	}
	c := el.Value.(*counter)
	c.inflight--
	now := l.now()
	c.trim(now, t.p.Window)
	c.failures = append(c.failures, now)
	if len(c.failures) < t.p.MaxAttempts {
		return false
	}
	c.failures = c.failures[:0]
	if c.inflight == 0 {
		delete(l.counts, t.key)
		l.lru.Remove(el)
	}
	l.lock(t.key, now.Add(t.p.Lockout), now)
	return true
}

func (t memAttempt) succeed() {
	l := t.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.counts[t.key]; ok {
		c := el.Value.(*counter)
		c.inflight--
		c.failures = c.failures[:0]
		if c.inflight == 0 {
			delete(l.counts, t.key)
			l.lru.Remove(el)
		}
	}
}

func (t memAttempt) cancel() {
	l := t.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.counts[t.key]; ok {
		el.Value.(*counter).inflight--
	}
}

// lock engages a lockout. When the lockout table is full even after
// dropping expired entries (a botnet with more buckets than the table
// holds), the lock that ends soonest makes room: one attacker bucket gets
// its next guesses a little early, instead of every client being refused.
func (l *Limiter) lock(k limKey, until, now time.Time) {
	l.lockouts++
	l.place(k, until, now)
}

// noteLock records a lock the shared store reported for the client, so it
// still holds here if the store goes away. It is not a new lockout.
func (l *Limiter) noteLock(scope string, a netip.Addr, left time.Duration) {
	fine, _ := buckets(scope, a)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if until := now.Add(left); until.After(l.locked[fine]) {
		l.place(fine, until, now)
	}
}

// place puts a lock in the table, making room as lock describes.
func (l *Limiter) place(k limKey, until, now time.Time) {
	if _, ok := l.locked[k]; !ok && len(l.locked) >= l.cap {
		var soonest limKey
		var soonestAt time.Time
		for kk, t := range l.locked {
			if !t.After(now) {
				delete(l.locked, kk)
				continue
			}
			if soonestAt.IsZero() || t.Before(soonestAt) {
				soonest, soonestAt = kk, t
			}
		}
		if len(l.locked) >= l.cap {
			delete(l.locked, soonest)
		}
	}
	l.locked[k] = until
}

// Stats reports the table sizes and the number of lockouts so far.
func (l *Limiter) Stats() (counting, locked int, lockouts uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len(), len(l.locked), l.lockouts
}
