// Package state owns the gateway's state directory: where it is, its
// permissions, atomic file writes and the inter-process lock. It never writes
// a secret-bearing file with a mode wider than 0600 or a directory wider than
// 0700.
package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// EnvStateDir names the environment variable that selects the state directory
// when no --state-dir flag is given.
const EnvStateDir = "GATEWAY_STATE_DIR"

// DefaultDirName is the state directory's name under the home directory.
const DefaultDirName = ".gateway"

// DirMode and FileMode are the only modes the gateway creates state with.
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// ResolveDir picks the state directory: the flag value, else the
// GATEWAY_STATE_DIR value, else ~/.gateway (never OpenClaw's ~/.openclaw:
// OpenClaw migrates or deletes files it does not know there). getenv is
// injected so tests and
// callers never depend on the process environment implicitly.
func ResolveDir(flagValue string, getenv func(string) string) (string, error) {
	if flagValue != "" {
		return filepath.Abs(flagValue)
	}
	if v := getenv(EnvStateDir); v != "" {
		return filepath.Abs(v)
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("state dir: no --state-dir, no %s and no home directory: %w", EnvStateDir, err)
		}
		home = h
	}
	return filepath.Join(home, DefaultDirName), nil
}

// EnsureDir creates dir (and missing parents) with mode 0700 when it does not
// exist. An existing directory keeps its mode: tightening it is the audit's
// --fix job, which reports what it changed. A path that exists but is not a
// directory is an error.
func EnsureDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil:
		if !fi.IsDir() {
			return fmt.Errorf("state dir %s: not a directory", dir)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("create state dir %s: %w", dir, err)
	}
	// MkdirAll is subject to the umask; make the mode exact.
	if err := os.Chmod(dir, DirMode); err != nil {
		return fmt.Errorf("chmod state dir %s: %w", dir, err)
	}
	return nil
}

// EnsureSubdir creates dir/name with mode 0700 if missing and returns its path.
func EnsureSubdir(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	if err := EnsureDir(p); err != nil {
		return "", err
	}
	return p, nil
}
