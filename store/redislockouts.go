package store

import (
	"context"
	"hash/fnv"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisLockouts is Lockouts shared by every replica: a failure on one
// counts on all, a lock holds everywhere. The rules are the Limiter's
// (sliding window, a network counted as one once it holds MaxAttempts
// address buckets or half of DefaultLimiterCap buckets are counting, every
// address lock a failure of its network while it lasts), each step one Lua
// script on Redis's clock. Locks are keys that expire by themselves;
// nothing ever deletes one early (Redis must not evict keys under memory
// pressure: maxmemory-policy noeviction, see docs/replicas.md).
//
// Reservations are held in this replica's memory: before a credential is
// verified the replica reads the bucket's lock and shared failure count
// (one round trip) and reserves locally, so the attempts being verified
// plus the failures already counted never exceed MaxAttempts on one
// replica. A burst spread over N replicas can therefore have N times
// MaxAttempts guesses in flight before the lock engages; keeping the
// reservations in Redis instead would close that gap but make a busy
// client with the right credential wait on other replicas' round trips.
// A success where nothing was counted writes nothing.
//
// When Redis cannot be reached, this replica falls back to its own
// Limiter, which also remembers every lock Redis reported: the shared
// token must keep working during an outage, and it must stay guarded.
type redisLockouts struct {
	r        *redisConn
	checks   *checkBatcher
	mem      *Limiter
	lockouts atomic.Uint64

	mu       sync.Mutex
	inflight map[string]int // reservations, by the bucket's fail key
	// failGen counts failures recorded here, in stripes by fail key
	// (bounded whatever the number of clients; a shared stripe only
	// costs a re-read).
	failGen [1024]uint64
}

func stripe(key string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % 1024)
}

// nowMs is Redis's clock in milliseconds, inside a script.
const nowMs = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// Keys of one scope: lock:<p> (a lock, PX), fail:<p> (a ZSET of failures),
// fines:<network> (a ZSET of the network's fine buckets counting on their
// own, scored by their last failure), locks:<network> (a ZSET of the
// network's fine locks in force, scored by their end), and buckets (every
// bucket counting, for the half-full rule). See Limiter for the rules.

// checkScript: KEYS lockFine lockCoarse failFine failCoarse finesNet
// locksNet buckets; ARGV window halfcap max. Returns {left, which, n}: the
// longer lock's PTTL, the bucket that counts the client (fine 0, coarse 1:
// fine unless the network already counts as one, half the table is in
// use, or the network holds max fine buckets), and what counts against
// that bucket (its failures in the window, plus the network's fine locks
// for the coarse one).
//
// The common case (no lock, no failure counted for the client or its
// network's locks) is answered by four read-only calls: Redis's script
// call overhead is per call made, and this check runs before every
// counted credential.
var checkScript = redis.NewScript(nowMs + `
local window, half, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6]) == 0 then
  local since = '(' .. (now - window)
  if redis.call('ZCOUNT', KEYS[7], since, '+inf') >= half or redis.call('ZCOUNT', KEYS[5], since, '+inf') >= max then return {0, 1, 0} end
  return {0, 0, 0}
end
local left = math.max(redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2]))
if left > 0 then return {left, 0, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
local which = 0
if redis.call('EXISTS', KEYS[3]) == 0 then
  if redis.call('EXISTS', KEYS[4]) == 1 then which = 1
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - window)
    redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - window)
    if redis.call('ZCARD', KEYS[7]) >= half or redis.call('ZCARD', KEYS[5]) + redis.call('ZCARD', KEYS[6]) >= max then which = 1 end
  end
end
local fail = KEYS[3 + which]
redis.call('ZREMRANGEBYSCORE', fail, '-inf', now - window)
local n = redis.call('ZCARD', fail)
if which == 1 then n = n + redis.call('ZCARD', KEYS[6]) end
return {0, which, n}
`)

// failScript: KEYS fail lock buckets finesNet locksNet lockNet failNet;
// ARGV window max lockout member bucketName fine. Records a failure of the
// bucket (fine "1": an address; else the network); returns 1 when it
// engaged a lock. A fine lock is entered in locksNet for as long as it
// lasts, and locks the network when the network's own failures and its
// fine locks reach max.
var failScript = redis.NewScript(nowMs + `
local window, max, lockout = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local fine = ARGV[6] == '1'
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
redis.call('ZADD', KEYS[3], now, ARGV[5])
redis.call('PEXPIRE', KEYS[3], window)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
if fine then
  redis.call('ZADD', KEYS[4], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[4], window)
end
local n = redis.call('ZCARD', KEYS[1])
if not fine then n = n + redis.call('ZCARD', KEYS[5]) end
if n < max then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '1', 'PX', lockout)
if fine then
  redis.call('ZREM', KEYS[4], ARGV[5])
  redis.call('ZADD', KEYS[5], now + lockout, ARGV[5])
  redis.call('PEXPIRE', KEYS[5], lockout)
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - window)
  if redis.call('ZCARD', KEYS[7]) + redis.call('ZCARD', KEYS[5]) >= max then
    redis.call('DEL', KEYS[7])
    redis.call('SET', KEYS[6], '1', 'PX', lockout)
  end
end
return 1
`)

// lockedScript: KEYS lockFine lockCoarse. Returns the longer PTTL.
var lockedScript = redis.NewScript(`return math.max(redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2]))`)

func ms(d time.Duration) int64 { return d.Milliseconds() }

// bucketKeys returns the Redis keys of a client's fine and coarse buckets
// for one kind of item (lock, fail).
func (l *redisLockouts) bucketKeys(kind, scope string, fine, coarse netip.Prefix) (string, string) {
	return l.r.key(kind, scope, fine.String()), l.r.key(kind, scope, coarse.String())
}

func (l *redisLockouts) Reserve(ctx context.Context, p LockoutPolicy, scope string, a netip.Addr) (Attempt, time.Duration, error) {
	if p.off() {
		return Attempt{}, 0, nil
	}
	fine, coarse := ClientBuckets(a)
	lockF, lockC := l.bucketKeys("lock", scope, fine, coarse)
	failF, failC := l.bucketKeys("fail", scope, fine, coarse)
	finesN, locksN := l.r.key("fines", scope, coarse.String()), l.r.key("locks", scope, coarse.String())
	buckets := l.r.key("buckets", scope)
	fallback := false
	var gone error
	att, left := waitWhileBusy(busyWait, func() (Attempt, time.Duration, bool) {
		// A failure recorded here while the count was being read makes
		// the count stale: read again.
		l.mu.Lock()
		genF, genC := l.failGen[stripe(failF)], l.failGen[stripe(failC)]
		l.mu.Unlock()
		res, err := l.checks.check(ctx, []string{lockF, lockC, failF, failC, finesN, locksN, buckets}, ms(p.Window), DefaultLimiterCap/2, p.MaxAttempts)
		if ctx.Err() != nil {
			// The client went away. Never fall back to this
			// replica's own count for it: a guess abandoned on
			// purpose must not escape the shared one.
			gone = ctx.Err()
			return Attempt{}, 0, false
		}
		if err != nil || len(res) != 3 {
			fallback = true
			return Attempt{}, 0, false
		}
		if res[0] > 0 {
			left := time.Duration(res[0]) * time.Millisecond
			l.mem.noteLock(scope, a, left)
			return Attempt{}, left, false
		}
		t := &redisAttempt{l: l, p: p, keys: [7]string{failF, lockF, buckets, finesN, locksN, lockC, failC}, bucket: fine.String(),
			fine: true, counted: int(res[2]), scope: scope, client: a}
		if res[1] == 1 {
			t.keys[0], t.keys[1], t.bucket, t.fine = failC, lockC, coarse.String(), false
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.failGen[stripe(failF)] != genF || l.failGen[stripe(failC)] != genC || t.counted+l.inflight[t.keys[0]] >= p.MaxAttempts {
			return Attempt{}, 0, true
		}
		l.inflight[t.keys[0]]++
		return Attempt{s: t}, 0, false
	})
	if gone != nil {
		return Attempt{}, 0, gone
	}
	if fallback {
		att, left := l.mem.reserve(p, scope, a)
		return att, left, nil
	}
	return att, left, nil
}

func (l *redisLockouts) Locked(ctx context.Context, p LockoutPolicy, scope string, a netip.Addr) (time.Duration, error) {
	if p.off() {
		return 0, nil
	}
	fine, coarse := ClientBuckets(a)
	lockF, lockC := l.bucketKeys("lock", scope, fine, coarse)
	var left int64
	err := l.r.do(ctx, "lockout.locked", func(ctx context.Context) error {
		var err error
		left, err = lockedScript.Run(ctx, l.r.c, []string{lockF, lockC}).Int64()
		return err
	})
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if err != nil {
		return l.mem.lockedFor(p, scope, a), nil
	}
	if left <= 0 {
		return 0, nil
	}
	return time.Duration(left) * time.Millisecond, nil
}

func (l *redisLockouts) Stats() (counting, locked int, lockouts uint64) {
	c, k, n := l.mem.Stats()
	return c, k, n + l.lockouts.Load()
}

// redisAttempt is an attempt reserved against a bucket counted in Redis.
type redisAttempt struct {
	l       *redisLockouts
	p       LockoutPolicy
	keys    [7]string // fail, lock, buckets, finesNet, locksNet, lockNet, failNet
	bucket  string
	fine    bool // the bucket is the address's, not the network's
	counted int  // failures in the window when reserved
	scope   string
	client  netip.Addr
}

// release ends the local reservation; failed says a failure was recorded
// for it (so reservations whose count was read before it read again).
func (t *redisAttempt) release(failed bool) {
	t.l.mu.Lock()
	if t.l.inflight[t.keys[0]]--; t.l.inflight[t.keys[0]] <= 0 {
		delete(t.l.inflight, t.keys[0])
	}
	if failed {
		t.l.failGen[stripe(t.keys[0])]++
	}
	t.l.mu.Unlock()
}

// fail and succeed run on their own context, never the request's: a
// client that hangs up right after a wrong guess must not take the count
// of it with it.
func (t *redisAttempt) fail() bool {
	defer t.release(true)
	var engaged int64
	err := t.l.r.do(context.Background(), "lockout.fail", func(ctx context.Context) error {
		var err error
		fine := "0"
		if t.fine {
			fine = "1"
		}
		engaged, err = failScript.Run(ctx, t.l.r.c, t.keys[:], ms(t.p.Window), t.p.MaxAttempts, ms(t.p.Lockout), randomVersion(), t.bucket, fine).Int64()
		return err
	})
	if err != nil {
		// Redis went away after the reservation: count it here.
		att, _ := t.l.mem.reserve(t.p, t.scope, t.client)
		return att.Fail()
	}
	if engaged == 1 {
		t.l.lockouts.Add(1)
		return true
	}
	return false
}

// succeed resets the bucket's failures, if it had any (a success where
// nothing was counted writes nothing).
func (t *redisAttempt) succeed() {
	defer t.release(false)
	if t.counted == 0 {
		return
	}
	_ = t.l.r.do(context.Background(), "lockout.reset", func(ctx context.Context) error {
		_, err := t.l.r.c.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.Del(ctx, t.keys[0])
			if t.fine {
				pipe.ZRem(ctx, t.keys[3], t.bucket)
			}
			return nil
		})
		return err
	})
}

func (t *redisAttempt) cancel() { t.release(false) }
