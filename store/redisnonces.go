package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/netip"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisNonces is Nonces shared by every replica: a challenge issued by one
// is consumed, once, by any. A nonce is kept under the SHA-256 of its
// value (<prefix>nonce:<hash>, expiring with it); sorted sets per client
// bucket, per network bucket and in all hold the outstanding ones for the
// same bounds as MemNonces.
type redisNonces struct{ r *redisConn }

// issueScript: KEYS all fineSet coarseSet nonceKey; ARGV ttl maxAll
// maxFine maxCoarse member fineName coarseName. Returns the expiry in ms,
// or 0 past a bound.
var issueScript = redis.NewScript(nowMs + `
for i = 1, 3 do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now) end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) or redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3])
  or redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then return 0 end
local ttl = tonumber(ARGV[1])
local exp = now + ttl
redis.call('SET', KEYS[4], ARGV[6] .. '|' .. ARGV[7], 'PX', ttl)
for i = 1, 3 do
  redis.call('ZADD', KEYS[i], exp, ARGV[5])
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return exp
`)

// consumeScript: KEYS nonceKey all; ARGV member setPrefix. Returns 1 when
// the nonce was outstanding; it is gone either way.
var consumeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local sep = string.find(v, '|', 1, true)
if sep then
  redis.call('ZREM', ARGV[2] .. string.sub(v, 1, sep - 1), ARGV[1])
  redis.call('ZREM', ARGV[2] .. string.sub(v, sep + 1), ARGV[1])
end
return 1
`)

func nonceHash(n string) string {
	sum := sha256.Sum256([]byte(n))
	return hex.EncodeToString(sum[:])
}

func (n *redisNonces) Issue(ctx context.Context, client netip.Addr) (string, time.Time, error) {
	fine, coarse := ClientBuckets(client)
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, err
	}
	nonce := base64.RawURLEncoding.EncodeToString(b[:])
	h := nonceHash(nonce)
	var exp int64
	err := n.r.do(ctx, "nonce.issue", func(ctx context.Context) error {
		var err error
		exp, err = issueScript.Run(ctx, n.r.c,
			[]string{n.r.key("nonces"), n.r.key("nonces", fine.String()), n.r.key("nonces", coarse.String()), n.r.key("nonce", h)},
			NonceTTL.Milliseconds(), maxNonces, maxNoncesPerClient, maxNoncesPerNet, h, fine.String(), coarse.String()).Int64()
		return err
	})
	if err != nil {
		return "", time.Time{}, err
	}
	if exp == 0 {
		return "", time.Time{}, ErrTooManyChallenges
	}
	return nonce, time.UnixMilli(exp), nil
}

func (n *redisNonces) Consume(ctx context.Context, nonce string) (bool, error) {
	h := nonceHash(nonce)
	var ok int64
	err := n.r.do(ctx, "nonce.consume", func(ctx context.Context) error {
		var err error
		ok, err = consumeScript.Run(ctx, n.r.c, []string{n.r.key("nonce", h), n.r.key("nonces")}, h, n.r.key("nonces")+":").Int64()
		return err
	})
	return ok == 1, err
}
