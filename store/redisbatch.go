package store

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Every credential check on Redis starts with a lockout check (one Lua
// script), which no cache may answer. Under load most of its cost is not
// the script but the round trip around it: a write and a read on each
// side, and a wake-up of the waiting goroutine. checkBatcher sends the
// checks that are waiting at the same moment as one pipeline, so 64
// concurrent requests cost a few round trips instead of 64. A check that
// finds nothing waiting goes out at once, alone: batching never makes a
// quiet gateway wait.
type checkBatcher struct {
	r  *redisConn
	in chan *checkCall
}

// checkWorkers is how many pipelines may be in flight at once; maxBatch
// bounds one pipeline.
const (
	checkWorkers = 4
	maxBatch     = 128
)

type checkCall struct {
	keys []string
	args []any
	res  []int64
	err  error
	done chan struct{}
}

func newCheckBatcher(r *redisConn) *checkBatcher {
	b := &checkBatcher{r: r, in: make(chan *checkCall, maxBatch*checkWorkers)}
	for range checkWorkers {
		go b.work(r.stop)
	}
	return b
}

// check runs checkScript on keys and args in the next pipeline. It returns
// ctx's error if the caller's context ends first (the pipeline still runs;
// its answer is dropped).
func (b *checkBatcher) check(ctx context.Context, keys []string, args ...any) ([]int64, error) {
	c := &checkCall{keys: keys, args: args, done: make(chan struct{})}
	select {
	case b.in <- c:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *checkBatcher) work(stop <-chan struct{}) {
	batch := make([]*checkCall, 0, maxBatch)
	for {
		select {
		case <-stop:
			return
		case c := <-b.in:
			batch = append(batch[:0], c)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case c := <-b.in:
				batch = append(batch, c)
			default:
				break more
			}
		}
		b.send(batch)
	}
}

// send runs one pipeline under the store's timeout, breaker and metrics,
// and hands each caller its answer.
func (b *checkBatcher) send(batch []*checkCall) {
	cmds := make([]*redis.Cmd, len(batch))
	err := b.r.do(context.Background(), "lockout.check", func(ctx context.Context) error {
		for try := 0; ; try++ {
			pipe := b.r.c.Pipeline()
			for i, c := range batch {
				cmds[i] = checkScript.EvalSha(ctx, pipe, c.keys, c.args...)
			}
			_, err := pipe.Exec(ctx)
			if err != nil && try == 0 && strings.HasPrefix(err.Error(), "NOSCRIPT") {
				// Redis restarted (or flushed its scripts): load
				// the script and send the batch again.
				if lerr := checkScript.Load(ctx, b.r.c).Err(); lerr != nil {
					return lerr
				}
				continue
			}
			if err != nil {
				// A command's own error (not an outage) is
				// reported to its caller below.
				var re redis.Error
				if errors.As(err, &re) {
					return nil
				}
			}
			return err
		}
	})
	for i, c := range batch {
		if err != nil {
			c.err = err
		} else {
			c.res, c.err = cmds[i].Int64Slice()
		}
		close(c.done)
	}
}
