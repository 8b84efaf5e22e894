package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gateway/state"
)

// TokenFile is where a generated token is kept, relative to the state dir.
const TokenFile = "credentials/gateway-token"

// Token sources, as the startup log reports them.
const (
	TokenFromFile      = "file"
	TokenFromEnv       = "env"
	TokenFromStateDir  = "state"
	TokenFromGenerated = "generated"
)

// ResolveToken decides the shared token of a token-mode configuration: the
// configured one (file or environment), else the one stored in the state
// dir, else, when create is true, a new one stored there. generated is true
// only on that first start, so the caller prints it exactly once. Other
// modes have no token unless one is configured.
func ResolveToken(cfg *Config, stateDir string, create bool) (token, source string, generated bool, err error) {
	if t := cfg.Gateway.Auth.Token; t != "" {
		return t, cfg.Source.TokenSource, false, nil
	}
	if cfg.Gateway.Auth.Mode != ModeToken {
		return "", "", false, nil
	}
	token, generated, err = loadOrCreateToken(stateDir, create)
	if err != nil {
		return "", "", false, fmt.Errorf("token mode needs a token and none could be read or generated: %w", err)
	}
	if generated {
		return token, TokenFromGenerated, true, nil
	}
	return token, TokenFromStateDir, false, nil
}

// StoredToken returns the token kept in the state dir, if any.
func StoredToken(stateDir string) (string, bool) {
	t, _, err := loadOrCreateToken(stateDir, false)
	return t, err == nil
}

// loadOrCreateToken reads <stateDir>/credentials/gateway-token, creating it
// (32 random bytes, base64url, mode 0600 in a 0700 directory) when absent
// and create is true.
func loadOrCreateToken(stateDir string, create bool) (string, bool, error) {
	path := filepath.Join(stateDir, TokenFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		t := strings.TrimSpace(string(data))
		if t == "" {
			return "", false, fmt.Errorf("%s is empty; delete it to generate a new token", path)
		}
		return t, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("read token: %w", err)
	case !create:
		return "", false, fmt.Errorf("no token configured and none stored in %s", path)
	}
	if _, err := state.EnsureSubdir(stateDir, "credentials"); err != nil {
		return "", false, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, fmt.Errorf("random token: %w", err)
	}
	t := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := state.WriteFileAtomic(path, []byte(t+"\n"), state.FileMode); err != nil {
		return "", false, fmt.Errorf("store token: %w", err)
	}
	return t, true, nil
}
