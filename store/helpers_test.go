package store

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Credential scopes as auth names them.
const (
	scopeToken    = "token"
	scopePassword = "password"
	scopeDevice   = "device"
)

// reserveOf is Reserve for a client that stays.
func reserveOf(l Lockouts, p LockoutPolicy, scope string, a netip.Addr) (Attempt, time.Duration) {
	att, left, err := l.Reserve(context.Background(), p, scope, a)
	if err != nil {
		panic(err)
	}
	return att, left
}

// lockedOf is Locked for a client that stays.
func lockedOf(l Lockouts, p LockoutPolicy, scope string, a netip.Addr) time.Duration {
	left, err := l.Locked(context.Background(), p, scope, a)
	if err != nil {
		panic(err)
	}
	return left
}
