package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestResolveDir(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name string
		flag string
		env  map[string]string
		want string
	}{
		{"flag wins", "/tmp/a", map[string]string{EnvStateDir: "/tmp/b", "HOME": "/h"}, "/tmp/a"},
		{"env next", "", map[string]string{EnvStateDir: "/tmp/b", "HOME": "/h"}, "/tmp/b"},
		{"home default", "", map[string]string{"HOME": "/h"}, "/h/.gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveDir(tt.flag, env(tt.env))
			if err != nil || got != tt.want {
				t.Fatalf("ResolveDir = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestEnsureDirCreates0700(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "state")
	if err := EnsureDir(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != DirMode {
		t.Fatalf("mode = %o, want %o", got, DirMode)
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := EnsureDir(f); err == nil {
		t.Fatal("EnsureDir on a regular file: want error")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret")
	for i, data := range []string{"one", "two-longer"} {
		if err := WriteFileAtomic(p, []byte(data), FileMode); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != data {
			t.Fatalf("read = %q, %v; want %q", got, err, data)
		}
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != FileMode {
			t.Fatalf("mode = %o, want 600", fi.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x"), nil, FileMode); err == nil {
		t.Fatal("write into missing dir: want error")
	}
}

// appendNumber adds n to the JSON list in path under the lock.
func appendNumber(ctx context.Context, path string, n int) error {
	return Update(ctx, path, func(old []byte) ([]byte, error) {
		var list []int
		if old != nil {
			if err := json.Unmarshal(old, &list); err != nil {
				return nil, err
			}
		}
		list = append(list, n)
		return json.Marshal(list)
	})
}

// TestMain lets the test binary act as a second process for the lock test.
func TestMain(m *testing.M) {
	if p := os.Getenv("STATE_TEST_APPEND_PATH"); p != "" {
		base, _ := strconv.Atoi(os.Getenv("STATE_TEST_APPEND_BASE"))
		for i := range 20 {
			if err := appendNumber(context.Background(), p, base+i); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestUpdateConcurrentProcessesLoseNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "list.json")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	// Two child processes and two goroutines write at once.
	for p := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "STATE_TEST_APPEND_PATH="+path, "STATE_TEST_APPEND_BASE="+strconv.Itoa(1000*(p+1)))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("child: %v: %s", err, out)
			}
		}()
	}
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				if err := appendNumber(ctx, path, 10000*(g+1)+i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var list []int
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 80 {
		t.Fatalf("got %d entries, want 80 (a concurrent write was lost)", len(list))
	}
}

func TestAcquireHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	l, err := Acquire(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Release() }()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, path); err == nil {
		t.Fatal("second Acquire while held: want error after ctx deadline")
	}
}

func TestJSONStateFiles(t *testing.T) {
	type file struct {
		Version int      `json:"version"`
		Items   []string `json:"items"`
	}
	got, err := DecodeJSON[file](nil, "x.json")
	if err != nil || got.Version != 0 || got.Items != nil {
		t.Fatalf("empty data: %+v, %v", got, err)
	}
	b, err := EncodeJSON(file{Version: 1, Items: []string{"a"}})
	if err != nil || !strings.HasSuffix(string(b), "}\n") || !strings.Contains(string(b), "\n  \"version\": 1") {
		t.Fatalf("encode: %q, %v", b, err)
	}
	if got, err = DecodeJSON[file](b, "x.json"); err != nil || got.Version != 1 || got.Items[0] != "a" {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	_, err = DecodeJSON[file]([]byte("{nope"), "/state/x.json")
	var se *json.SyntaxError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &se) || !strings.Contains(err.Error(), "/state/x.json") {
		t.Fatalf("corrupt: %v", err)
	}
}

func TestLegacyNotice(t *testing.T) {
	home := t.TempDir()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	getenv := env(map[string]string{"HOME": home})
	if n := LegacyNotice("", getenv); n != "" {
		t.Fatalf("notice with no legacy files: %q", n)
	}
	old := filepath.Join(home, ".openclaw", "credentials")
	if err := os.MkdirAll(old, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "gateway-token"), []byte("t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// OpenClaw's own files are not ours to mention.
	_ = os.WriteFile(filepath.Join(old, "whatsapp-pairing.json"), []byte("{}"), 0o600)
	n := LegacyNotice("", getenv)
	if !strings.Contains(n, "mv "+filepath.Join(old, "gateway-token")+" "+filepath.Join(home, ".gateway", "credentials", "gateway-token")) || strings.Contains(n, "whatsapp") {
		t.Fatalf("notice = %q", n)
	}
	for name, fn := range map[string]func() string{
		"explicit flag": func() string { return LegacyNotice("/elsewhere", getenv) },
		"explicit env":  func() string { return LegacyNotice("", env(map[string]string{"HOME": home, EnvStateDir: "/x"})) },
		"already moved": func() string {
			_ = os.MkdirAll(filepath.Join(home, ".gateway"), 0o700)
			return LegacyNotice("", getenv)
		},
	} {
		if got := fn(); got != "" {
			t.Errorf("%s: notice %q", name, got)
		}
	}
	// Nothing in ~/.openclaw was touched.
	if _, err := os.Stat(filepath.Join(old, "gateway-token")); err != nil {
		t.Fatal(err)
	}
}
