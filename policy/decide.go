package policy

import (
	"slices"

	"gateway/config"
	"gateway/sender"
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
	AllowFrom      []string // normalised; may hold sender.Wildcard
	GroupAllowFrom []string // normalised group ids or senders; may hold sender.Wildcard
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

// Channels returns the configured channels' policies. config.Validate has
// already normalised every list entry and refused the ones that do not
// normalise, so this cannot fail.
func Channels(typed map[string]config.ChannelPolicy) map[string]Channel {
	out := make(map[string]Channel, len(typed))
	for name, c := range typed {
		out[name] = Channel{Name: name, DMPolicy: c.DMPolicy, GroupPolicy: c.GroupPolicy,
			AllowFrom: c.AllowFrom, GroupAllowFrom: c.GroupAllowFrom}
	}
	return out
}

func allowed(list []string, id string) bool {
	return id != "" && (slices.Contains(list, sender.Wildcard) || slices.Contains(list, id))
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
		if slices.Contains(ch.AllowFrom, sender.Wildcard) {
			return Decision{Deliver, "dm policy is open"}
		}
		// As OpenClaw: open requires "*" in allowFrom; without it the
		// configuration is invalid and direct messages are dropped, so a
		// half-done config never opens the door.
		return Decision{Drop, `dmPolicy open without "*" in allowFrom: direct messages are dropped`}
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
