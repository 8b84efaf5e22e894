package policy

import (
	"fmt"
	"slices"

	"gateway/config"
)

// Action is what happens to an inbound message.
type Action string

// Actions.
const (
	Deliver Action = "deliver"
	Pairing Action = "pairing"
	Drop    Action = "drop"
)

// Chat types.
const (
	ChatDirect = "direct"
	ChatGroup  = "group"
)

// DM and group policies.
const (
	DMPairing   = "pairing"
	DMAllowlist = "allowlist"
	DMOpen      = "open"
	DMDisabled  = "disabled"

	GroupAllowlist = "allowlist"
	GroupOpen      = "open"
	GroupDisabled  = "disabled"
)

// Channel is one channel's policy with its lists normalised.
type Channel struct {
	Name           string
	DMPolicy       string
	GroupPolicy    string
	AllowFrom      []string // normalised; may hold Wildcard
	GroupAllowFrom []string // normalised group ids or senders; may hold Wildcard
}

// Message is an inbound chat message, sender already normalised.
type Message struct {
	From     string
	ChatType string
	GroupID  string
}

// Decision is the verdict on a message. Pairing means the sender should
// get (or be reminded of) a pairing code; the message is not delivered.
type Decision struct {
	Action Action
	Reason string
}

// NewChannel builds a Channel from config, normalising every list entry. A
// list entry that cannot be normalised is an error naming it: a typo in an
// allowlist must not silently lock someone out or let someone else in.
func NewChannel(name string, c config.Channel) (Channel, error) {
	ch := Channel{Name: name, DMPolicy: c.DMPolicy, GroupPolicy: c.GroupPolicy}
	if ch.DMPolicy == "" {
		ch.DMPolicy = DMPairing
	}
	if ch.GroupPolicy == "" {
		ch.GroupPolicy = GroupAllowlist
	}
	for i, id := range c.AllowFrom {
		n, err := Normalize(name, id)
		if err != nil {
			return Channel{}, fmt.Errorf("channels.%s.allowFrom[%d]: %w", name, i, err)
		}
		ch.AllowFrom = append(ch.AllowFrom, n)
	}
	for i, id := range c.GroupAllowFrom {
		n, err := normalizeGroupEntry(name, id)
		if err != nil {
			return Channel{}, fmt.Errorf("channels.%s.groupAllowFrom[%d]: %w", name, i, err)
		}
		ch.GroupAllowFrom = append(ch.GroupAllowFrom, n)
	}
	return ch, nil
}

// normalizeGroupEntry accepts a group id (kept exact) or a sender id
// (normalised like allowFrom), since groupAllowFrom may name either.
func normalizeGroupEntry(channel, id string) (string, error) {
	if n, err := Normalize(channel, id); err == nil {
		return n, nil
	}
	return Normalize("", id)
}

// Channels builds every configured channel.
func Channels(cfg *config.Config) (map[string]Channel, error) {
	out := map[string]Channel{}
	for name, c := range cfg.Channels {
		ch, err := NewChannel(name, c)
		if err != nil {
			return nil, err
		}
		out[name] = ch
	}
	return out, nil
}

func allowed(list []string, id string) bool {
	return id != "" && (slices.Contains(list, Wildcard) || slices.Contains(list, id))
}

// Decide is the whole policy. stored is the channel's approved allowFrom
// (from pairing); it applies to direct messages only.
func Decide(ch Channel, stored []string, m Message) Decision {
	if m.ChatType == ChatGroup {
		switch ch.GroupPolicy {
		case GroupDisabled:
			return Decision{Drop, "group messages are disabled"}
		case GroupOpen:
			return Decision{Deliver, "group policy is open"}
		}
		// Pairing approvals (stored) never widen group access.
		if allowed(ch.GroupAllowFrom, m.GroupID) || allowed(ch.GroupAllowFrom, m.From) {
			return Decision{Deliver, "group or sender in groupAllowFrom"}
		}
		return Decision{Drop, "group not in groupAllowFrom"}
	}
	switch ch.DMPolicy {
	case DMDisabled:
		return Decision{Drop, "direct messages are disabled"}
	case DMOpen:
		if slices.Contains(ch.AllowFrom, Wildcard) {
			return Decision{Deliver, "dm policy is open"}
		}
		// open without "*" in allowFrom is treated as allowlist, so a
		// half-done config never opens the door.
		fallthrough
	case DMAllowlist:
		if allowed(ch.AllowFrom, m.From) || slices.Contains(stored, m.From) {
			return Decision{Deliver, "sender in allowFrom"}
		}
		return Decision{Drop, "sender not in allowFrom"}
	}
	// pairing (the default)
	if allowed(ch.AllowFrom, m.From) || slices.Contains(stored, m.From) {
		return Decision{Deliver, "sender in allowFrom"}
	}
	return Decision{Pairing, "unknown sender: pairing required"}
}
