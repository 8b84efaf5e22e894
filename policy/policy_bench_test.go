package policy

import (
	"testing"

	"gateway/config"
	"gateway/sender"
)

// BenchmarkDecide is one direct-message decision with a normalised sender.
func BenchmarkDecide(b *testing.B) {
	ch := newChannel(b, "whatsapp", config.Channel{DMPolicy: "pairing", AllowFrom: []string{"+15551230001", "+15551230002", "+15551230003"}})
	stored := []string{"+15551230004", "+15551230005"}
	b.ReportAllocs()
	for b.Loop() {
		n, err := sender.Normalize("whatsapp", "+1 555 123 0005")
		if err != nil {
			b.Fatal(err)
		}
		if d := Decide(ch, stored, Message{From: n, ChatType: ChatDirect}); d.Action != Deliver {
			b.Fatal(d)
		}
	}
}
