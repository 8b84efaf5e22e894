package store

import (
	"container/list"
	"context"
	"net/netip"
	"sync"
	"time"
)

// DefaultLimiterCap bounds how many buckets the limiter counts in, and how
// many fine (per-address) locks it keeps before new locks take the whole
// network (see Limiter).
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
// Buckets. A client is counted by its address (IPv4 /32, IPv6 /64: the
// fine bucket, the unit an attacker is usually handed) inside its network
// (IPv4 /24, IPv6 /48: the coarse bucket). Rotating addresses inside one
// network never buys more guesses than one network is allowed:
//   - a network holds at most MaxAttempts fine buckets at a time (counting,
//     or locked); a new address in a network that has them all is counted
//     on the network's bucket instead; so is every new address once half
//     the counting table is in use (a botnet of many networks);
//   - every fine lock is also a failure of its network's bucket, counted
//     for as long as the lock lasts, so MaxAttempts locked addresses lock
//     the whole network;
//   - a lock on either bucket refuses.
//
// Memory is bounded. Counting buckets live in an LRU of at most cap entries
// (the least recently used count with nothing in flight is forgotten
// first). Locks live in their own table that is never emptied to make room:
// an active lock is never evicted, so flooding can never unlock anyone.
// Once cap locks are held, a new lock is placed on the network's bucket
// instead of the address's (one entry for the whole network), and a
// network never holds more than MaxAttempts fine locks anyway.
type Limiter struct {
	mu       sync.Mutex
	now      func() time.Time
	busyWait time.Duration
	cap      int
	counts   map[limKey]*list.Element // of *counter, fine and coarse
	lru      *list.List               // front = most recent
	locked   map[limKey]time.Time     // active locks, fine and coarse
	nets     map[limKey]*network      // by coarse key
	lockouts uint64
}

type limKey struct {
	scope  string
	client netip.Prefix
}

// counter is one bucket's failures. A fine counter belongs to its network.
type counter struct {
	key      limKey
	net      *network // nil for a coarse counter
	failures []time.Time
	inflight int // reserved attempts not yet settled
}

// network is what a coarse bucket knows of its fine buckets: those
// counting on their own, and the fine locks still in force (each one a
// failure of the network until it ends).
type network struct {
	key   limKey
	fines map[limKey]*counter
	locks map[limKey]time.Time
}

// NewLimiter returns an empty limiter (see Limiter for cap; 0 means
// DefaultLimiterCap). now may be nil.
func NewLimiter(cap int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	if cap <= 0 {
		cap = DefaultLimiterCap
	}
	return &Limiter{now: now, busyWait: busyWait, cap: cap, counts: map[limKey]*list.Element{}, lru: list.New(),
		locked: map[limKey]time.Time{}, nets: map[limKey]*network{}}
}

// buckets returns a client's fine and coarse bucket keys for scope.
func buckets(scope string, a netip.Addr) (fine, coarse limKey) {
	f, c := ClientBuckets(a)
	return limKey{scope, f}, limKey{scope, c}
}

// isFine reports whether k is an address bucket rather than a network's.
func isFine(k limKey) bool {
	return (k.client.Addr().Is4() && k.client.Bits() == 32) || (k.client.Addr().Is6() && k.client.Bits() == 64)
}

// coarseOf returns the network bucket of a fine bucket.
func coarseOf(k limKey) limKey {
	bits := 24
	if k.client.Addr().Is6() {
		bits = 48
	}
	p, _ := k.client.Addr().Prefix(bits)
	return limKey{k.scope, p}
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
		l.unlock(k)
		return 0
	}
	return left
}

// unlock forgets an expired lock, and its place in its network.
func (l *Limiter) unlock(k limKey) {
	delete(l.locked, k)
	if !isFine(k) {
		return
	}
	if n := l.nets[coarseOf(k)]; n != nil {
		delete(n.locks, k)
		l.dropIfEmpty(n)
	}
}

// Locked implements Lockouts.
func (l *Limiter) Locked(ctx context.Context, p LockoutPolicy, scope string, a netip.Addr) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return l.lockedFor(p, scope, a), nil
}

// lockedFor is Locked for this process's table.
func (l *Limiter) lockedFor(p LockoutPolicy, scope string, a netip.Addr) time.Duration {
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
	// An error means the caller's ctx ended first (the client went
	// away): nothing is reserved, and the caller answers nothing.
	Reserve(ctx context.Context, p LockoutPolicy, scope string, a netip.Addr) (Attempt, time.Duration, error)
	// Locked reports how much longer the client is locked out for scope;
	// 0 means it is not. An error: the caller's ctx ended first.
	Locked(ctx context.Context, p LockoutPolicy, scope string, a netip.Addr) (time.Duration, error)
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

// Cancel returns an attempt that was never verified (the server was busy,
// or the store could not answer).
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
func (l *Limiter) Reserve(ctx context.Context, p LockoutPolicy, scope string, a netip.Addr) (Attempt, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return Attempt{}, 0, err
	}
	att, left := l.reserve(p, scope, a)
	return att, left, nil
}

// reserve is Reserve in this process's table.
func (l *Limiter) reserve(p LockoutPolicy, scope string, a netip.Addr) (Attempt, time.Duration) {
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
	if l.weight(c, now)+c.inflight >= p.MaxAttempts {
		// Only reservations in flight can get here (recorded failures
		// reaching the limit engage the lock).
		return Attempt{}, 0, true
	}
	c.inflight++
	return Attempt{s: memAttempt{l: l, p: p, key: c.key}}, 0, false
}

// weight is what counts against a bucket's limit: its failures in the
// window and, for a network's bucket, the fine locks in force in it.
// Caller holds l.mu.
func (l *Limiter) weight(c *counter, now time.Time) int {
	w := len(c.failures)
	if c.net == nil {
		if n := l.nets[c.key]; n != nil {
			w += l.activeLocks(n, now)
		}
	}
	return w
}

// activeLocks counts a network's fine locks in force, forgetting ended
// ones. Caller holds l.mu.
func (l *Limiter) activeLocks(n *network, now time.Time) int {
	for k, until := range n.locks {
		if !until.After(now) {
			delete(n.locks, k)
			delete(l.locked, k)
		}
	}
	return len(n.locks)
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

// counter finds the client's counting bucket, creating one when it has
// none: its own, unless its network already holds MaxAttempts fine buckets
// or the table is half full, in which case the network's. Caller holds
// l.mu.
func (l *Limiter) counter(fine, coarse limKey, now time.Time, p LockoutPolicy) *counter {
	el, ok := l.counts[fine]
	if !ok {
		el, ok = l.counts[coarse]
	}
	if !ok {
		// Make room first: eviction may forget the network's last
		// counter, and with it the network.
		l.evict()
		n := l.nets[coarse]
		key := fine
		if l.lru.Len() >= l.cap/2 || (n != nil && l.pressure(n, now, p) >= p.MaxAttempts) {
			key = coarse
		}
		c := &counter{key: key}
		if key == fine {
			n = l.nets[coarse] // pressure forgets a network left empty
			if n == nil {
				n = &network{key: coarse, fines: map[limKey]*counter{}, locks: map[limKey]time.Time{}}
				l.nets[coarse] = n
			}
			c.net = n
			n.fines[fine] = c
		}
		el = l.lru.PushFront(c)
		l.counts[key] = el
	}
	l.lru.MoveToFront(el)
	c := el.Value.(*counter)
	c.trim(now, p.Window)
	return c
}

// pressure is how many fine buckets a network holds: those counting (with
// a failure in the window or an attempt in flight) and those locked.
// Counters with nothing left are forgotten on the way. Caller holds l.mu.
func (l *Limiter) pressure(n *network, now time.Time, p LockoutPolicy) int {
	for k, c := range n.fines {
		c.trim(now, p.Window)
		if len(c.failures) == 0 && c.inflight == 0 {
			l.remove(l.counts[k])
		}
	}
	return len(n.fines) + l.activeLocks(n, now)
}

// remove forgets a counter.
func (l *Limiter) remove(el *list.Element) {
	if el == nil {
		return
	}
	c := el.Value.(*counter)
	delete(l.counts, c.key)
	l.lru.Remove(el)
	if c.net != nil {
		delete(c.net.fines, c.key)
		l.dropIfEmpty(c.net)
	}
}

// dropIfEmpty forgets a network that holds nothing any more.
func (l *Limiter) dropIfEmpty(n *network) {
	if len(n.fines) == 0 && len(n.locks) == 0 {
		delete(l.nets, n.key)
	}
}

// evict makes room for one counting bucket by forgetting the least recently
// used one that has no attempt in flight.
func (l *Limiter) evict() {
	for el := l.lru.Back(); el != nil && l.lru.Len() >= l.cap; {
		prev := el.Prev()
		if c := el.Value.(*counter); c.inflight == 0 {
			l.remove(el)
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
	if l.weight(c, now) < t.p.MaxAttempts {
		return false
	}
	c.failures = c.failures[:0]
	if c.inflight == 0 {
		l.remove(el)
	}
	l.lockouts++
	l.lock(t.key, now.Add(t.p.Lockout), now, t.p)
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
			l.remove(el)
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

// lock engages a lockout on k. A fine lock is also a failure of its
// network for as long as it lasts: when the network's own failures and
// its fine locks reach MaxAttempts, the network is locked too. Caller
// holds l.mu.
func (l *Limiter) lock(k limKey, until, now time.Time, p LockoutPolicy) {
	k = l.place(k, until, now)
	if !isFine(k) {
		return
	}
	ck := coarseOf(k)
	n := l.nets[ck]
	if n == nil {
		n = &network{key: ck, fines: map[limKey]*counter{}, locks: map[limKey]time.Time{}}
		l.nets[ck] = n
	}
	n.locks[k] = until
	own := 0
	if el, ok := l.counts[ck]; ok {
		c := el.Value.(*counter)
		c.trim(now, p.Window)
		own = len(c.failures)
	}
	if own+l.activeLocks(n, now) >= p.MaxAttempts {
		if el, ok := l.counts[ck]; ok && el.Value.(*counter).inflight == 0 {
			l.remove(el)
		}
		l.place(ck, until, now)
	}
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

// place puts a lock in the table and returns the key it was placed on.
// Nothing in force is ever removed to make room: when the table holds cap
// locks even after the ended ones are dropped, a fine lock is placed on
// its network's bucket instead (coarsening, not eviction, bounds the
// table). Caller holds l.mu.
func (l *Limiter) place(k limKey, until, now time.Time) limKey {
	if _, ok := l.locked[k]; !ok && len(l.locked) >= l.cap {
		for kk, t := range l.locked {
			if !t.After(now) {
				l.unlock(kk)
			}
		}
		if len(l.locked) >= l.cap && isFine(k) {
			k = coarseOf(k)
		}
	}
	if until.After(l.locked[k]) {
		l.locked[k] = until
	}
	return k
}

// Stats reports the table sizes and the number of lockouts so far.
func (l *Limiter) Stats() (counting, locked int, lockouts uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len(), len(l.locked), l.lockouts
}
