package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateToken(t *testing.T) {
	dir := t.TempDir()
	t1, created, err := loadOrCreateToken(dir, true)
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
	t2, created, err := loadOrCreateToken(dir, true)
	if err != nil || created || t2 != t1 {
		t.Fatalf("second = %q, %v, %v; want same token, not created", t2, created, err)
	}
	if err := os.WriteFile(filepath.Join(dir, TokenFile), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadOrCreateToken(dir, true); err == nil {
		t.Fatal("empty token file accepted")
	}
}

func TestResolveToken(t *testing.T) {
	dir := t.TempDir()
	cfg := Default()
	if _, _, _, err := ResolveToken(cfg, dir, false); err == nil {
		t.Fatal("token mode without a token and without creating: accepted")
	}
	tok, src, gen, err := ResolveToken(cfg, dir, true)
	if err != nil || src != TokenFromGenerated || !gen {
		t.Fatalf("first start: %q %q %v %v", tok, src, gen, err)
	}
	if again, src, gen, _ := ResolveToken(cfg, dir, true); again != tok || src != TokenFromStateDir || gen {
		t.Fatalf("second start: %q %q %v", again, src, gen)
	}
	cfg.Gateway.Auth.Token, cfg.Source.TokenSource = "configured-token-0123456789abcdef", TokenFromEnv
	if got, src, _, _ := ResolveToken(cfg, dir, true); got != cfg.Gateway.Auth.Token || src != TokenFromEnv {
		t.Fatalf("configured: %q %q", got, src)
	}
	pw := Default()
	pw.Gateway.Auth.Mode = ModePassword
	if got, _, _, err := ResolveToken(pw, t.TempDir(), true); got != "" || err != nil {
		t.Fatalf("password mode generated a token: %q %v", got, err)
	}
}
