package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gateway/state"
)

// stateSubdirs are created (0700) when the file backend opens, so their
// modes are right before the first write and the audit sees them.
var stateSubdirs = []string{"credentials", "devices", "identity"}

// fileDocs keeps documents as files in the state directory, written with
// state.Update (flock, temp file, fsync, rename).
type fileDocs struct {
	dir     string
	observe func(string, time.Duration, error)
}

func openFiles(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("store: the file backend needs a state directory")
	}
	if err := state.EnsureDir(o.Dir); err != nil {
		return nil, err
	}
	for _, d := range stateSubdirs {
		if _, err := state.EnsureSubdir(o.Dir, d); err != nil {
			return nil, err
		}
	}
	return &Store{
		Backend:  BackendFile,
		Docs:     &fileDocs{dir: o.Dir, observe: o.Observe},
		Lockouts: NewLimiter(DefaultLimiterCap, o.Now),
		Nonces:   NewNonces(o.Now),
		ready:    func(context.Context) error { return nil },
		close:    func() error { return nil },
	}, nil
}

// path maps a document name to its file, refusing names that would leave
// the state directory.
func (f *fileDocs) path(name string) (string, error) {
	clean := filepath.Clean(name)
	if name == "" || filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("store: bad document name %q", name)
	}
	return filepath.Join(f.dir, clean), nil
}

// version is a file's change marker: mtime and size (every write is a
// rename, so the size usually differs even within the filesystem's
// timestamp granularity). An absent file is "absent".
func version(fi fs.FileInfo) string {
	return strconv.FormatInt(fi.ModTime().UnixNano(), 36) + "." + strconv.FormatInt(fi.Size(), 36)
}

func (f *fileDocs) Load(_ context.Context, name, since string) (data []byte, ver string, changed bool, err error) {
	start := time.Now()
	defer func() { f.observe("load", time.Since(start), err) }()
	p, err := f.path(name)
	if err != nil {
		return nil, "", false, err
	}
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ver = "absent"
	case err != nil:
		return nil, "", false, err
	default:
		ver = version(fi)
	}
	if ver == since {
		return nil, ver, false, nil
	}
	if ver == "absent" {
		return nil, ver, true, nil
	}
	data, err = os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "absent", true, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	return data, ver, true, nil
}

func (f *fileDocs) Update(ctx context.Context, name string, fn func(old []byte) ([]byte, error)) (err error) {
	start := time.Now()
	var refused error // fn's own refusal is the caller's, not a store failure
	defer func() {
		if errors.Is(err, refused) {
			f.observe("update", time.Since(start), nil)
			return
		}
		f.observe("update", time.Since(start), err)
	}()
	p, err := f.path(name)
	if err != nil {
		return err
	}
	if _, err := state.EnsureSubdir(f.dir, filepath.Dir(filepath.Clean(name))); err != nil {
		return err
	}
	return state.Update(ctx, p, func(old []byte) ([]byte, error) {
		next, err := fn(old)
		refused = err
		return next, err
	})
}

func (f *fileDocs) CreateOnce(ctx context.Context, name string, data []byte) error {
	return f.Update(ctx, name, func(old []byte) ([]byte, error) {
		if len(old) > 0 {
			return old, nil
		}
		return data, nil
	})
}

func (f *fileDocs) Where(name string) string {
	if p, err := f.path(name); err == nil {
		return p
	}
	return name
}
