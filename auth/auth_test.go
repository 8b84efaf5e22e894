package auth

import (
	"net/http"
	"testing"
)

const tok = "s3cret-token-0123456789abcdefXYZ"

func TestTokenVerifier(t *testing.T) {
	v, err := NewTokenVerifier(tok)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want bool
	}{
		{tok, true},
		{tok + "x", false},
		{tok[:len(tok)-1], false},
		{"", false},
		{"S3cret-token-0123456789abcdefXYZ", false},
	}
	for _, tt := range tests {
		if got := v.Verify(tt.in); got != tt.want {
			t.Errorf("Verify(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if _, err := NewTokenVerifier(""); err == nil {
		t.Error("empty token accepted")
	}
}

func TestCredentialCarriers(t *testing.T) {
	tests := []struct {
		name string
		h    map[string]string
		want string // "" = no bearer found
	}{
		{"Authorization", map[string]string{"Authorization": "Bearer abc"}, "abc"},
		{"scheme case", map[string]string{"Authorization": "bearer abc"}, "abc"},
		{"Basic is not ours", map[string]string{"Authorization": "Basic abc"}, ""},
		{"empty bearer", map[string]string{"Authorization": "Bearer  "}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Bearer(tt.h["Authorization"])
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("bearer = %q %v, want %q", got, ok, tt.want)
			}
		})
	}
	h := http.Header{"Sec-Websocket-Protocol": {"chat, bearer.abc", "bearer.second"}}
	if got, ok := ProtocolToken(h); !ok || got != "abc" {
		t.Errorf("ProtocolToken = %q %v", got, ok)
	}
	if _, ok := ProtocolToken(http.Header{"Sec-Websocket-Protocol": {"bearer."}}); ok {
		t.Error("empty bearer. entry taken as a token")
	}
}

func BenchmarkTokenVerify(b *testing.B) {
	v, _ := NewTokenVerifier(tok)
	b.ReportAllocs()
	for b.Loop() {
		if !v.Verify(tok) {
			b.Fatal("verify failed")
		}
	}
}
