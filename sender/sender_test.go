package sender

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		ch, in, want string
		err          bool
	}{
		{"whatsapp", "+15551234567", "+15551234567", false},
		{"whatsapp", "+1 555 123 4567", "+15551234567", false},
		{"whatsapp", "+1 (555) 123-4567", "+15551234567", false},
		{"whatsapp", "0015551234567", "+15551234567", false},
		{"whatsapp", "15551234567@s.whatsapp.net", "+15551234567", false},
		{"whatsapp", "15551234567:12@s.whatsapp.net", "+15551234567", false},
		{"signal", "+44 20 7946 0958", "+442079460958", false},
		{"whatsapp", "5551234567", "", true},        // national: ambiguous
		{"whatsapp", "+0123456789", "", true},       // no country code starts with 0
		{"whatsapp", "+1234567", "", true},          // too short
		{"whatsapp", "+1234567890123456", "", true}, // too long
		{"whatsapp", "+1555abc4567", "", true},
		{"whatsapp", "1+5551234567", "", true},
		{"telegram", "123456789", "123456789", false},
		{"telegram", "tg:123456789", "123456789", false},
		{"telegram", "-100123", "-100123", false},
		{"telegram", "00042", "42", false},
		{"telegram", "@alice", "", true},
		{"telegram", "12a", "", true},
		{"telegram", "0", "", true},
		{"discord", "  alice#1234 ", "alice#1234", false},
		{"whatsapp", "*", "*", false},
		{"whatsapp", "   ", "", true},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.ch, tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q err=%v", tt.ch, tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestMask(t *testing.T) {
	if got := Mask("+15551234567"); got != "+1555***4567" {
		t.Errorf("Mask = %q", got)
	}
	if got := Mask("123"); got != "***" {
		t.Errorf("Mask short = %q", got)
	}
}

// FuzzNormalize: never panics; normalising is idempotent; E.164 results
// are well formed.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"+15551234567", "0015551234567", "15551234567@s.whatsapp.net", "tg:42", "-100", "*", "+1 (555) 123-4567", "\u00a0+44"} {
		for _, ch := range []string{"whatsapp", "telegram", "discord"} {
			f.Add(ch, s)
		}
	}
	f.Fuzz(func(t *testing.T, ch, in string) {
		n, err := Normalize(ch, in)
		if err != nil {
			return
		}
		again, err := Normalize(ch, n)
		if err != nil || again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", in, n, again, err)
		}
		if (ch == "whatsapp" || ch == "signal") && n != Wildcard {
			if !strings.HasPrefix(n, "+") || len(n) < 9 || len(n) > 16 {
				t.Fatalf("bad E.164 %q from %q", n, in)
			}
		}
	})
}
