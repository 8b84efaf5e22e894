// Package sender normalises chat sender ids per channel, so the same person
// matches however a connector, the config or a pairing file spells them. It
// is used by config (to validate allowFrom lists at load time) and by policy
// (for every inbound message); it never guesses a country code.
package sender

import (
	"errors"
	"fmt"
	"strings"
)

// Wildcard in an allowFrom list matches every sender. It is only ever
// configured, never persisted by pairing.
const Wildcard = "*"

// ErrBadSender means a sender id cannot be normalised for its channel.
var ErrBadSender = errors.New("sender id cannot be normalised")

// Normalize returns the canonical form of a sender id on a channel, so the
// same person matches however the connector or the config spells them:
//
//   - whatsapp, signal: E.164. Spaces, dashes, dots and parentheses are
//     removed; a leading "00" becomes "+"; a WhatsApp JID
//     ("15551234567@s.whatsapp.net") is its number with "+". The result is
//     "+" and 8 to 15 digits, the first not 0. A number without "+", "00"
//     or a JID is national and ambiguous: refused.
//   - telegram: a decimal user id (a leading "-" for group chats allowed).
//   - any other channel: the id trimmed of surrounding space, exact match.
func Normalize(channel, id string) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return "", fmt.Errorf("%w: empty", ErrBadSender)
	}
	if id == Wildcard {
		return Wildcard, nil
	}
	switch channel {
	case "whatsapp", "signal":
		return normalizeE164(id)
	case "telegram":
		return normalizeTelegram(id)
	}
	if len(id) > 256 {
		return "", fmt.Errorf("%w: too long", ErrBadSender)
	}
	return id, nil
}

func normalizeE164(id string) (string, error) {
	s := id
	jid := false
	if at := strings.IndexByte(s, '@'); at >= 0 {
		s, jid = s[:at], true
		// Multi-device JIDs carry ":device" after the number.
		if c := strings.IndexByte(s, ':'); c >= 0 {
			s = s[:c]
		}
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '\u00a0':
		default:
			return "", fmt.Errorf("%w: %q is not a phone number", ErrBadSender, id)
		}
	}
	n := b.String()
	switch {
	case strings.HasPrefix(n, "+"):
	case strings.HasPrefix(n, "00"):
		n = "+" + n[2:]
	case jid:
		n = "+" + n
	default:
		return "", fmt.Errorf("%w: %q has no country code (write it as +<country><number>)", ErrBadSender, id)
	}
	digits := n[1:]
	if len(digits) < 8 || len(digits) > 15 || digits[0] == '0' || strings.Contains(digits, "+") {
		return "", fmt.Errorf("%w: %q is not a valid E.164 number", ErrBadSender, id)
	}
	return n, nil
}

func normalizeTelegram(id string) (string, error) {
	s := strings.TrimPrefix(id, "tg:")
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || len(digits) > 20 {
		return "", fmt.Errorf("%w: %q is not a numeric Telegram id", ErrBadSender, id)
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return "", fmt.Errorf("%w: %q is not a numeric Telegram id", ErrBadSender, id)
		}
	}
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return "", fmt.Errorf("%w: %q is not a valid Telegram id", ErrBadSender, id)
	}
	if neg {
		return "-" + digits, nil
	}
	return digits, nil
}

// NormalizeGroupEntry accepts a group id (kept exact) or a sender id
// (normalised like allowFrom), since groupAllowFrom may name either.
func NormalizeGroupEntry(channel, id string) (string, error) {
	if n, err := Normalize(channel, id); err == nil {
		return n, nil
	}
	return Normalize("", id)
}

// Mask hides the middle of a sender id for logs: "+1555***4567".
func Mask(id string) string {
	if len(id) <= 6 {
		return "***"
	}
	head := 5
	if len(id) < 11 {
		head = 2
	}
	return id[:head] + "***" + id[len(id)-4:]
}
