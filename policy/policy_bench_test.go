package policy

import (
	"testing"

	"gateway/config"
)

// BenchmarkDecide is one direct-message decision with a normalised sender.
func BenchmarkDecide(b *testing.B) {
	ch, err := NewChannel("whatsapp", config.Channel{DMPolicy: "pairing", AllowFrom: []string{"+15551230001", "+15551230002", "+15551230003"}})
	if err != nil {
		b.Fatal(err)
	}
	stored := []string{"+15551230004", "+15551230005"}
	b.ReportAllocs()
	for b.Loop() {
		n, err := Normalize("whatsapp", "+1 555 123 0005")
		if err != nil {
			b.Fatal(err)
		}
		if d := Decide(ch, stored, Message{From: n, ChatType: ChatDirect}); d.Action != Deliver {
			b.Fatal(d)
		}
	}
}
