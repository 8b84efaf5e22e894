package auth

import (
	"net/http/httptest"
	"os"
	"path/filepath"
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

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		h        map[string]string
		want     string
		wantCred string
	}{
		{"header", "/", map[string]string{"Authorization": "Bearer abc"}, "abc", "authorization"},
		{"scheme case", "/", map[string]string{"Authorization": "bearer abc"}, "abc", "authorization"},
		{"basic is not bearer", "/", map[string]string{"Authorization": "Basic abc"}, "", "authorization"},
		{"query never", "/?token=abc&access_token=abc", nil, "", ""},
		{"ws protocol", "/", map[string]string{"Upgrade": "websocket", "Sec-WebSocket-Protocol": "chat, bearer.abc"}, "abc", "websocket-protocol"},
		{"protocol ignored without upgrade", "/", map[string]string{"Sec-WebSocket-Protocol": "bearer.abc"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.url, nil)
			for k, v := range tt.h {
				r.Header.Set(k, v)
			}
			got, cred := BearerToken(r)
			if got != tt.want || cred != tt.wantCred {
				t.Errorf("BearerToken = %q, %q; want %q, %q", got, cred, tt.want, tt.wantCred)
			}
		})
	}
}

func TestLoadOrCreateToken(t *testing.T) {
	dir := t.TempDir()
	t1, created, err := LoadOrCreateToken(dir)
	if err != nil || !created || len(t1) < 43 {
		t.Fatalf("first = %q, %v, %v", t1, created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, TokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode = %v, %v", fi.Mode(), err)
	}
	di, _ := os.Stat(filepath.Join(dir, "credentials"))
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("credentials dir mode = %v", di.Mode())
	}
	t2, created, err := LoadOrCreateToken(dir)
	if err != nil || created || t2 != t1 {
		t.Fatalf("second = %q, %v, %v; want same token, not created", t2, created, err)
	}
	if err := os.WriteFile(filepath.Join(dir, TokenFile), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateToken(dir); err == nil {
		t.Fatal("empty token file accepted")
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
