package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Replicas keep the documents every request reads (sessions, paired
// devices, revocations, channel lists) in memory and learn of every change
// from Redis itself: each write publishes the document's name on one
// pub/sub channel in the same MULTI (or script) that writes it, and every
// replica subscribes. Pub/sub rather than keyspace notifications because
// those need a server setting (notify-keyspace-events) an operator's Redis
// may not have, and rather than RESP3 client tracking because tracking
// invalidates per key read by a connection from go-redis's pool, which
// would tie the cache to pool internals; one channel we publish ourselves
// works on every Redis the gateway supports.
//
// A pub/sub message can be lost with its connection and a connection can
// stall without closing, so a cached copy is trusted only while the
// subscription is up and this replica's own heartbeat came back recently.
// Every heartbeatEvery the replica publishes one on the same channel,
// carrying the moment it was sent. Redis delivers one channel's messages
// in the order it ran the PUBLISHes, so when a heartbeat sent at S comes
// back, every change committed before S has been delivered too. Trust
// lasts heartbeatGrace from S (not from its arrival: a backlogged socket
// delivers old heartbeats late), so no change older than heartbeatGrace
// can be missed. Without it each read goes to Redis, as it would without
// the cache; on every (re)subscription every cached copy is dropped.
const (
	heartbeatEvery  = 10 * time.Millisecond
	heartbeatGrace  = 50 * time.Millisecond
	heartbeatPrefix = "\x00hb:" // never a document name
)

// stamp is what a cached copy was loaded under: it is still current while
// stamp returns the same value.
type stamp struct{ epoch, gen uint64 }

// watcher is implemented by Docs that tell their caches when a document
// changed.
type watcher interface {
	// stamp returns the current stamp of name, and whether a copy
	// loaded under the same stamp may be trusted now.
	stamp(name string) (stamp, bool)
}

// invalidator follows the invalidation channel of one Redis store.
type invalidator struct {
	r       *redisConn
	channel string
	start   time.Time // lastBeat counts from here, on the monotonic clock
	id      string    // this replica's heartbeats

	epoch    atomic.Uint64 // bumped on every (re)subscription and loss
	up       atomic.Bool   // subscribed
	lastBeat atomic.Int64  // when (nanoseconds after start) the last own heartbeat that came back was sent

	mu   sync.RWMutex
	gens map[string]*atomic.Uint64

	distrusted atomic.Uint64 // reads that found the cache untrusted (stats)
}

func newInvalidator(r *redisConn) *invalidator {
	return &invalidator{r: r, channel: r.key("invalidate"), start: time.Now(), id: randomVersion(), gens: map[string]*atomic.Uint64{}}
}

// gen returns the counter of name, creating it.
func (v *invalidator) gen(name string) *atomic.Uint64 {
	v.mu.RLock()
	g := v.gens[name]
	v.mu.RUnlock()
	if g != nil {
		return g
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if g = v.gens[name]; g == nil {
		g = new(atomic.Uint64)
		v.gens[name] = g
	}
	return g
}

func (v *invalidator) stamp(name string) (stamp, bool) {
	s := stamp{epoch: v.epoch.Load(), gen: v.gen(name).Load()}
	// A Redis the breaker holds for down vouches for nothing either:
	// the outage rules apply as they did before there was a cache.
	ok := v.up.Load() && !v.r.down.Load() && int64(time.Since(v.start))-v.lastBeat.Load() < int64(heartbeatGrace)
	if !ok {
		v.distrusted.Add(1)
	}
	return s, ok
}

// changed marks name changed (from the channel, or at once on the replica
// that wrote it). Only names a cache has asked about have a counter: a
// copy of any other is loaded after its stamp was read, so it needs no
// news, and the table stays bounded by the names the code reads whatever
// is published.
func (v *invalidator) changed(name string) {
	v.mu.RLock()
	g := v.gens[name]
	v.mu.RUnlock()
	if g != nil {
		g.Add(1)
	}
}

// lost drops trust in every cached copy until the next subscription.
func (v *invalidator) lost() {
	v.up.Store(false)
	v.epoch.Add(1)
}

// run subscribes and follows the channel until stop closes, subscribing
// again after any error.
func (v *invalidator) run(stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-stop; cancel() }()
	go v.beat(ctx)
	for ctx.Err() == nil {
		err := v.follow(ctx)
		v.lost()
		if ctx.Err() == nil {
			// In the store's error metrics (op "subscribe"): while
			// the subscription fails every read goes to Redis,
			// which works, and this is how an operator sees why.
			v.r.observe("subscribe", 0, fmt.Errorf("%w: redis subscribe: %v", ErrUnavailable, redactErr(err)))
		}
		select {
		case <-ctx.Done():
		case <-time.After(probeEvery):
		}
	}
}

// follow holds one subscription until it fails, and says why.
func (v *invalidator) follow(ctx context.Context) error {
	ps := v.r.c.Subscribe(ctx, v.channel)
	defer ps.Close()
	for {
		msg, err := ps.ReceiveTimeout(ctx, heartbeatGrace*4)
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				// Whatever was published while we were not
				// subscribed is unknown: start from nothing.
				v.epoch.Add(1)
				v.up.Store(true)
			}
		case *redis.Message:
			if rest, ok := strings.CutPrefix(m.Payload, heartbeatPrefix); ok {
				id, sent, _ := strings.Cut(rest, ":")
				if at, err := strconv.ParseInt(sent, 10, 64); err == nil && id == v.id && at > v.lastBeat.Load() {
					v.lastBeat.Store(at)
				}
				continue
			}
			v.changed(m.Payload)
		}
	}
}

// beat publishes this replica's heartbeat.
func (v *invalidator) beat(ctx context.Context) {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if v.r.down.Load() {
			continue
		}
		c, cancel := context.WithTimeout(ctx, opTimeout)
		msg := heartbeatPrefix + v.id + ":" + strconv.FormatInt(int64(time.Since(v.start)), 10)
		_ = v.r.c.Publish(c, v.channel, msg).Err()
		cancel()
	}
}
