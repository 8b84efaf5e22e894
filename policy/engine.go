package policy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"gateway/sender"
)

// Counters counts decisions by channel and action, for the metrics
// endpoint to read.
type Counters struct {
	mu sync.Mutex
	m  map[[2]string]uint64
}

// Inc adds one decision.
func (c *Counters) Inc(channel string, a Action) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[[2]string]uint64{}
	}
	c.m[[2]string{channel, string(a)}]++
	c.mu.Unlock()
}

// Count is one counter value.
type Count struct {
	Channel string
	Action  Action
	N       uint64
}

// Each calls yield with every counter, sorted (the metrics source).
func (c *Counters) Each(yield func(channel, action string, n uint64)) {
	for _, n := range c.Snapshot() {
		yield(n.Channel, string(n.Action), n.N)
	}
}

// Snapshot returns every counter, sorted.
func (c *Counters) Snapshot() []Count {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Count, 0, len(c.m))
	for k, n := range c.m {
		out = append(out, Count{Channel: k[0], Action: Action(k[1]), N: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Channel != out[j].Channel {
			return out[i].Channel < out[j].Channel
		}
		return out[i].Action < out[j].Action
	})
	return out
}

// Engine applies a configuration's channel policies with the store.
type Engine struct {
	Channels map[string]Channel
	Store    *Store
	Counters *Counters
}

// ErrUnknownChannel means the channel is not configured.
var ErrUnknownChannel = errors.New("unknown channel")

// Result is the outcome for one inbound message.
type Result struct {
	Decision
	// Code is the sender's pairing code when Action is Pairing.
	Code string
	// NewCode is true when the code was created by this message.
	NewCode bool
	// From is the normalised sender.
	From string
}

// Inbound decides one message. A store that cannot be read fails closed
// (the error is returned and nothing is delivered).
func (e *Engine) Inbound(ctx context.Context, channel string, from, chatType, groupID string) (Result, error) {
	ch, ok := e.Channels[channel]
	if !ok {
		return Result{}, ErrUnknownChannel
	}
	n, err := sender.Normalize(channel, from)
	if err != nil || n == sender.Wildcard {
		return Result{}, fmt.Errorf("%w: from", sender.ErrBadSender)
	}
	m := Message{From: n, ChatType: chatType, GroupID: groupID}
	var stored []string
	if chatType == ChatDirect {
		if stored, err = e.Store.AllowFrom(ctx, channel); err != nil {
			return Result{}, err
		}
	}
	res := Result{Decision: Decide(ch, stored, m), From: n}
	if res.Action == Pairing {
		code, created, err := e.Store.Request(ctx, channel, n)
		switch {
		case errors.Is(err, ErrPendingFull):
			res.Decision = Decision{Drop, "pairing queue full: the owner must approve or reject pending codes first"}
		case err != nil:
			return Result{}, err
		default:
			res.Code, res.NewCode = code, created
		}
	}
	if e.Counters != nil {
		e.Counters.Inc(channel, res.Action)
	}
	return res, nil
}
