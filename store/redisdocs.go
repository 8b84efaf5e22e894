package store

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// errContention is an update that lost to other writers every time.
var errContention = errors.New("update: too much contention")

// redisDocs keeps each document in a hash <prefix>doc:<name> with the
// fields data and ver.
type redisDocs struct {
	r   *redisConn
	inv *invalidator
}

func (d *redisDocs) stamp(name string) (stamp, bool) { return d.inv.stamp(name) }

// loadScript returns {ver, 0} when the version is the caller's, else
// {ver, 1, data}: one round trip either way.
var loadScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'ver') or 'absent'
if v == ARGV[1] then return {v, 0} end
return {v, 1, redis.call('HGET', KEYS[1], 'data') or ''}
`)

// createScript stores a document unless one exists, and tells every
// replica (ARGV[3] the invalidation channel, ARGV[4] the name).
var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'ver', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`)

func (d *redisDocs) key(name string) string { return d.r.key("doc", name) }

func (d *redisDocs) Load(ctx context.Context, name, since string) (data []byte, ver string, changed bool, err error) {
	err = d.r.do(ctx, "load", func(ctx context.Context) error {
		res, err := loadScript.Run(ctx, d.r.c, []string{d.key(name)}, since).Slice()
		if err != nil {
			return err
		}
		if len(res) < 2 {
			return errors.New("load: short reply")
		}
		ver, _ = res[0].(string)
		flag, _ := res[1].(int64)
		if flag == 0 {
			return nil
		}
		changed = true
		if len(res) > 2 {
			if s, _ := res[2].(string); s != "" {
				data = []byte(s)
			}
		}
		return nil
	})
	return data, ver, changed, err
}

func (d *redisDocs) Update(ctx context.Context, name string, fn func(old []byte) ([]byte, error)) error {
	key := d.key(name)
	return d.r.do(ctx, "update", func(ctx context.Context) error {
		for range updateTries {
			err := d.r.c.Watch(ctx, func(tx *redis.Tx) error {
				old, err := tx.HGet(ctx, key, "data").Bytes()
				if errors.Is(err, redis.Nil) {
					old, err = nil, nil
				}
				if err != nil {
					return err
				}
				next, err := fn(old)
				if err != nil {
					return fnError{err}
				}
				_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.HSet(ctx, key, "data", next, "ver", randomVersion())
					// In the same transaction: no replica can miss
					// a write that happened.
					p.Publish(ctx, d.inv.channel, name)
					return nil
				})
				return err
			}, key)
			if !errors.Is(err, redis.TxFailedErr) {
				// Written or not, this replica's copy may be stale
				// now (a lost reply can hide a commit).
				d.inv.changed(name)
				return err
			}
			// Another replica wrote the document between our read and
			// our write: run fn again on what it wrote.
		}
		return errContention
	})
}

func (d *redisDocs) CreateOnce(ctx context.Context, name string, data []byte) error {
	return d.r.do(ctx, "create", func(ctx context.Context) error {
		err := createScript.Run(ctx, d.r.c, []string{d.key(name)}, data, randomVersion(), d.inv.channel, name).Err()
		d.inv.changed(name)
		return err
	})
}

func (d *redisDocs) Where(name string) string { return "redis key " + d.key(name) }
