package store

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisLockouts is Lockouts shared by every replica: a failure on one
// counts on all, a lock holds everywhere. The rules are the Limiter's
// (sliding window, reservation before verification, coarse buckets once
// half of DefaultLimiterCap buckets are counting), each step one Lua
// script, on Redis's clock.
//
// When Redis cannot be reached, this replica falls back to its own
// Limiter, which also remembers every lock Redis reported: the shared
// token must keep working during an outage, and it must stay guarded.
type redisLockouts struct {
	r        *redisConn
	mem      *Limiter
	lockouts atomic.Uint64
}

// nowMs is Redis's clock in milliseconds, inside a script.
const nowMs = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// reserveScript: KEYS lockFine lockCoarse failFine failCoarse inflFine
// inflCoarse buckets; ARGV window max lockout halfcap fineName coarseName.
// Returns {1, which} (reserved in the fine (0) or coarse (1) bucket),
// {0, left} (locked) or {2, lockout} (reservations in flight reach the
// limit).
var reserveScript = redis.NewScript(nowMs + `
local window, max, lockout, half = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local left = math.max(redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2]))
if left > 0 then return {0, left} end
local which
if redis.call('EXISTS', KEYS[3], KEYS[5]) > 0 then which = 0
elseif redis.call('EXISTS', KEYS[4], KEYS[6]) > 0 then which = 1
else
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - window)
  if redis.call('ZCARD', KEYS[7]) >= half then which = 1 else which = 0 end
end
local fail, infl = KEYS[3 + which], KEYS[5 + which]
redis.call('ZREMRANGEBYSCORE', fail, '-inf', now - window)
local n = redis.call('ZCARD', fail) + tonumber(redis.call('GET', infl) or '0')
if n >= max then return {2, lockout} end
redis.call('INCR', infl)
redis.call('PEXPIRE', infl, 30000)
redis.call('ZADD', KEYS[7], now, ARGV[5 + which])
redis.call('PEXPIRE', KEYS[7], window)
return {1, which}
`)

// settleScript: KEYS fail infl lock; ARGV outcome (fail, succeed, cancel)
// window max lockout member. Returns 1 when a failure engaged the lock.
var settleScript = redis.NewScript(nowMs + `
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
if n > 1 then redis.call('DECR', KEYS[2]) elseif n == 1 then redis.call('DEL', KEYS[2]) end
if ARGV[1] == 'succeed' then redis.call('DEL', KEYS[1]) return 0 end
if ARGV[1] ~= 'fail' then return 0 end
local window, max, lockout = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], window)
if redis.call('ZCARD', KEYS[1]) >= max then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[3], '1', 'PX', lockout)
  return 1
end
return 0
`)

// lockedScript: KEYS lockFine lockCoarse. Returns the longer PTTL.
var lockedScript = redis.NewScript(`return math.max(redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2]))`)

func ms(d time.Duration) int64 { return d.Milliseconds() }

// bucketKeys returns the Redis keys of a client's fine and coarse buckets
// for one kind of item (lock, fail, infl).
func (l *redisLockouts) bucketKeys(kind, scope string, fine, coarse netip.Prefix) (string, string) {
	return l.r.key(kind, scope, fine.String()), l.r.key(kind, scope, coarse.String())
}

func (l *redisLockouts) Reserve(p LockoutPolicy, scope string, a netip.Addr) (Attempt, time.Duration) {
	if p.off() {
		return Attempt{}, 0
	}
	fine, coarse := ClientBuckets(a)
	lockF, lockC := l.bucketKeys("lock", scope, fine, coarse)
	failF, failC := l.bucketKeys("fail", scope, fine, coarse)
	inflF, inflC := l.bucketKeys("infl", scope, fine, coarse)
	var res []int64
	err := l.r.do(context.Background(), "lockout.reserve", func(ctx context.Context) error {
		var err error
		res, err = reserveScript.Run(ctx, l.r.c, []string{lockF, lockC, failF, failC, inflF, inflC, l.r.key("buckets", scope)},
			ms(p.Window), p.MaxAttempts, ms(p.Lockout), DefaultLimiterCap/2, fine.String(), coarse.String()).Int64Slice()
		return err
	})
	if err != nil || len(res) != 2 {
		return l.mem.Reserve(p, scope, a)
	}
	switch res[0] {
	case 0:
		left := time.Duration(res[1]) * time.Millisecond
		l.mem.noteLock(scope, a, left)
		return Attempt{}, left
	case 2:
		return Attempt{}, time.Duration(res[1]) * time.Millisecond
	}
	keys := [3]string{failF, inflF, lockF}
	if res[1] == 1 {
		keys = [3]string{failC, inflC, lockC}
	}
	return Attempt{s: &redisAttempt{l: l, p: p, scope: scope, client: a, keys: keys}}, 0
}

func (l *redisLockouts) Locked(p LockoutPolicy, scope string, a netip.Addr) time.Duration {
	if p.off() {
		return 0
	}
	fine, coarse := ClientBuckets(a)
	lockF, lockC := l.bucketKeys("lock", scope, fine, coarse)
	var left int64
	err := l.r.do(context.Background(), "lockout.locked", func(ctx context.Context) error {
		var err error
		left, err = lockedScript.Run(ctx, l.r.c, []string{lockF, lockC}).Int64()
		return err
	})
	if err != nil {
		return l.mem.Locked(p, scope, a)
	}
	if left <= 0 {
		return 0
	}
	return time.Duration(left) * time.Millisecond
}

func (l *redisLockouts) Stats() (counting, locked int, lockouts uint64) {
	c, k, n := l.mem.Stats()
	return c, k, n + l.lockouts.Load()
}

// redisAttempt is an attempt reserved in Redis. If Redis goes away before
// it is settled, a failure is recorded in this replica's own Limiter.
type redisAttempt struct {
	l      *redisLockouts
	p      LockoutPolicy
	scope  string
	client netip.Addr
	keys   [3]string // fail, infl, lock
}

func (t *redisAttempt) settle(outcome string) (int64, error) {
	var engaged int64
	err := t.l.r.do(context.Background(), "lockout."+outcome, func(ctx context.Context) error {
		var err error
		engaged, err = settleScript.Run(ctx, t.l.r.c, t.keys[:], outcome, ms(t.p.Window), t.p.MaxAttempts, ms(t.p.Lockout), randomVersion()).Int64()
		return err
	})
	return engaged, err
}

func (t *redisAttempt) fail() bool {
	engaged, err := t.settle("fail")
	if err != nil {
		att, _ := t.l.mem.Reserve(t.p, t.scope, t.client)
		return att.Fail()
	}
	if engaged == 1 {
		t.l.lockouts.Add(1)
		return true
	}
	return false
}

func (t *redisAttempt) succeed() { _, _ = t.settle("succeed") }
func (t *redisAttempt) cancel()  { _, _ = t.settle("cancel") }
