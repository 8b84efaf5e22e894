package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Redis timeouts. Every operation, its round trips and a dial included, is
// bounded by opTimeout, so a dead or blackholed Redis answers a request
// with 503 in well under a second instead of hanging it.
const (
	opTimeout    = 500 * time.Millisecond
	dialTimeout  = 250 * time.Millisecond
	ioTimeout    = 300 * time.Millisecond
	probeEvery   = 100 * time.Millisecond
	updateTries  = 50
	defaultRedis = "gateway:"
)

// redisOptions turns a redis:// or rediss:// URL into client options with
// the gateway's timeouts.
func redisOptions(rawURL string) (*redis.Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return nil, errors.New("must be a redis:// or rediss:// URL with a host")
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		// go-redis quotes the URL, password included: say what is wrong
		// without it.
		return nil, errors.New("not a valid Redis URL (redis://[:password@]host:port/db)")
	}
	opt.DialTimeout = dialTimeout
	opt.DialerRetries = 1
	opt.ReadTimeout = ioTimeout
	opt.WriteTimeout = ioTimeout
	opt.PoolTimeout = ioTimeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1 // the breaker and the caller's 503 decide, not blind retries
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return opt, nil
}

// redisConn is the client with the gateway's outage rule: the first
// failure to reach Redis marks it down, every operation then fails at once
// with ErrUnavailable (no request waits on a dead Redis twice), and a
// background probe marks it up again as soon as a PING answers.
type redisConn struct {
	c       *redis.Client
	prefix  string
	observe func(string, time.Duration, error)

	down    atomic.Bool
	probing atomic.Bool
	stop    chan struct{}
	stopped sync.Once
}

// quietLogger silences go-redis's own log, which is process-wide: its lines
// (dial failures, on every attempt) would bypass the access log that
// records each refusal with its cause. Done when the first Redis store is
// opened, not at import.
var quietLogger sync.Once

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// ErrTLSUnverified refuses a rediss:// URL whose certificate checks are
// off, unless Options.AllowInsecureTLS.
var ErrTLSUnverified = errors.New("turns TLS certificate checks off (skip_verify); set gateway.store.allowInsecureTls: true to accept that")

func openRedis(o Options) (*Store, error) {
	opt, err := redisOptions(o.URL)
	if err != nil {
		return nil, fmt.Errorf("store: gateway.store.url: %w", err)
	}
	if opt.TLSConfig != nil && opt.TLSConfig.InsecureSkipVerify && !o.AllowInsecureTLS {
		return nil, fmt.Errorf("store: gateway.store.url: %w", ErrTLSUnverified)
	}
	prefix := o.KeyPrefix
	if prefix == "" {
		prefix = defaultRedis
	}
	quietLogger.Do(func() { redis.SetLogger(quiet{}) })
	r := &redisConn{c: redis.NewClient(opt), prefix: prefix, observe: o.Observe, stop: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.c.Ping(ctx).Err(); err != nil {
		_ = r.c.Close()
		return nil, fmt.Errorf("store: redis at %s does not answer: %w", opt.Addr, redactErr(err))
	}
	inv := newInvalidator(r)
	// Every write publishes on the invalidation channel in its own
	// transaction, so a user who may not publish could write nothing:
	// say so now, not at the first sign-in.
	if err := r.c.Publish(ctx, inv.channel, heartbeatPrefix+"start").Err(); err != nil {
		_ = r.c.Close()
		return nil, fmt.Errorf("store: redis at %s refuses PUBLISH on %s (an ACL user needs the channels &%s*): %w", opt.Addr, inv.channel, prefix, redactErr(err))
	}
	mem := NewLimiter(DefaultLimiterCap, o.Now)
	go inv.run(r.stop)
	return &Store{
		Backend:  BackendRedis,
		Docs:     &redisDocs{r: r, inv: inv},
		Lockouts: &redisLockouts{r: r, checks: newCheckBatcher(r), mem: mem, inflight: map[string]int{}},
		Nonces:   &redisNonces{r: r},
		ready: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, opTimeout)
			defer cancel()
			if err := r.c.Ping(ctx).Err(); err != nil {
				r.markDown()
				return fmt.Errorf("%w: %v", ErrUnavailable, redactErr(err))
			}
			return nil
		},
		close: func() error {
			r.stopped.Do(func() { close(r.stop) })
			return r.c.Close()
		},
	}, nil
}

// key returns the Redis key of one of the gateway's items.
func (r *redisConn) key(parts ...string) string { return r.prefix + strings.Join(parts, ":") }

// do runs one operation under the timeout, the breaker and the metrics.
// Errors that mean "Redis did not answer" come back wrapping
// ErrUnavailable; fn's own errors come back as they are.
func (r *redisConn) do(ctx context.Context, op string, fn func(context.Context) error) error {
	if r.down.Load() {
		err := fmt.Errorf("%w: redis is not answering (probing in the background)", ErrUnavailable)
		r.observe(op, 0, err)
		return err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	if err != nil && parent.Err() != nil {
		// The caller's context ended (the client went away): Redis
		// is not to blame, and nothing is marked down.
		r.observe(op, time.Since(start), nil)
		return fmt.Errorf("redis %s: %w", op, parent.Err())
	}
	var fe fnError
	var failed error // the store's own failure, for the metrics
	switch {
	case err == nil, errors.Is(err, redis.Nil):
	case errors.As(err, &fe):
		err = fe.err
	default:
		if outage(err) && !errors.Is(err, errContention) {
			r.markDown()
		}
		err = fmt.Errorf("%w: redis %s: %v", ErrUnavailable, op, redactErr(err))
		failed = err
	}
	r.observe(op, time.Since(start), failed)
	return err
}

// fnError carries an error of the caller's own function (a rule refusing
// an update) through a Redis transaction unchanged.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// outage reports whether err means Redis itself is unreachable or not
// serving, as opposed to refusing one command.
func outage(err error) bool {
	var re redis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		for _, p := range []string{"LOADING", "MASTERDOWN", "BUSY", "NOAUTH", "WRONGPASS", "READONLY", "TRYAGAIN"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true
}

// redactErr strips anything URL-shaped (a password could be in it) from a
// client error.
func redactErr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) {
		return ne
	}
	msg := err.Error()
	if i := strings.Index(msg, "redis://"); i >= 0 {
		msg = msg[:i] + "<url>"
	}
	if i := strings.Index(msg, "rediss://"); i >= 0 {
		msg = msg[:i] + "<url>"
	}
	return errors.New(msg)
}

func (r *redisConn) markDown() {
	r.down.Store(true)
	if r.probing.CompareAndSwap(false, true) {
		go r.probe()
	}
}

// probe pings until Redis answers, then lets operations through again.
func (r *redisConn) probe() {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			r.probing.Store(false)
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := r.c.Ping(ctx).Err()
		cancel()
		if err == nil {
			// probing first: a failure after this starts a new probe.
			r.probing.Store(false)
			r.down.Store(false)
			return
		}
	}
}

// randomVersion is a document version: random, so a Redis that restarted
// empty never hands out a version a replica still holds for other bytes.
func randomVersion() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
