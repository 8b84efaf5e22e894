package policy

import (
	"fmt"
	"testing"

	"gateway/config"
	"gateway/sender"
)

func TestDecideMatrix(t *testing.T) {
	const (
		known    = "+15551230001" // in config allowFrom
		paired   = "+15551230002" // approved by pairing (stored)
		group    = "120363000000000001@g.us"
		gsender  = "+15551230003" // in groupAllowFrom
		stranger = "+15559999999"
	)
	stored := []string{paired}
	type want struct{ known, paired, stranger Action }
	dm := []struct {
		policy   string
		wildcard bool
		want     want
	}{
		{"pairing", false, want{Deliver, Deliver, Pairing}},
		{"pairing", true, want{Deliver, Deliver, Deliver}},
		{"allowlist", false, want{Deliver, Deliver, Drop}},
		{"allowlist", true, want{Deliver, Deliver, Deliver}},
		{"open", true, want{Deliver, Deliver, Deliver}},
		{"open", false, want{Drop, Drop, Drop}}, // open without "*" is invalid: dropped, as OpenClaw
		{"disabled", false, want{Drop, Drop, Drop}},
		{"disabled", true, want{Drop, Drop, Drop}},
		{"", false, want{Deliver, Deliver, Pairing}}, // default is pairing
	}
	for _, tt := range dm {
		for _, gp := range []string{"allowlist", "open", "disabled", ""} {
			allow := []string{known}
			if tt.wildcard {
				allow = append(allow, sender.Wildcard)
			}
			ch := newChannel(t, "whatsapp", config.Channel{DMPolicy: tt.policy, GroupPolicy: gp, AllowFrom: allow, GroupAllowFrom: []string{group, gsender}})
			name := fmt.Sprintf("dm=%s wildcard=%v group=%s", tt.policy, tt.wildcard, gp)
			for from, w := range map[string]Action{known: tt.want.known, paired: tt.want.paired, stranger: tt.want.stranger} {
				if got := Decide(ch, stored, Message{From: from, ChatType: ChatDirect}); got.Action != w {
					t.Errorf("%s: direct from %s = %v (%s), want %v", name, from, got.Action, got.Reason, w)
				}
			}
			// Group messages depend only on groupPolicy and groupAllowFrom.
			groupWant := func(inList bool) Action {
				switch gp {
				case "disabled":
					return Drop
				case "open":
					return Deliver
				}
				if inList {
					return Deliver
				}
				return Drop
			}
			cases := []struct {
				from, gid string
				in        bool
			}{
				{stranger, group, true},       // listed group
				{gsender, "other@g.us", true}, // listed sender
				{paired, "other@g.us", false}, // pairing never widens group access
				{known, "other@g.us", false},  // DM allowFrom does not either
				{stranger, "other@g.us", false},
			}
			for _, c := range cases {
				if got := Decide(ch, stored, Message{From: c.from, ChatType: ChatGroup, GroupID: c.gid}); got.Action != groupWant(c.in) {
					t.Errorf("%s: group %s from %s = %v, want %v", name, c.gid, c.from, got.Action, groupWant(c.in))
				}
			}
		}
	}
}

// newChannel builds a channel policy the way the gateway does: through
// config validation, which normalises and checks every list entry.
func newChannel(t testing.TB, name string, c config.Channel) Channel {
	t.Helper()
	cfg := config.Default()
	cfg.Channels = map[string]config.Channel{name: c}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return Channels(cfg.Typed.Channels)[name]
}
