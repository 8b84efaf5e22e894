package state

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"time"
)

// Cached holds the decoded contents of one state file and re-reads the file
// only when it changed on disk, so a store sees what the CLI or another
// process wrote without parsing the file on every request. A change is a
// different mtime or size: mtime alone can hide a rewrite within the
// filesystem's timestamp granularity, and every state write is a rename,
// so the size usually differs too. A file that does not decode leaves the
// cache empty and every Get fails until it is fixed (fail closed).
type Cached[T any] struct {
	path   string
	decode func([]byte) (T, error)

	mu    sync.Mutex
	mod   time.Time
	size  int64
	valid bool
	val   T
}

// NewCached returns a cache of path, decoded by decode (which receives nil
// when the file does not exist).
func NewCached[T any](path string, decode func([]byte) (T, error)) *Cached[T] {
	return &Cached[T]{path: path, decode: decode}
}

// Get returns the file's current decoded value.
func (c *Cached[T]) Get() (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero T
	mod, size := time.Time{}, int64(-1)
	fi, err := os.Stat(c.path)
	switch {
	case err == nil:
		mod, size = fi.ModTime(), fi.Size()
	case !errors.Is(err, fs.ErrNotExist):
		return zero, err
	}
	if c.valid && mod.Equal(c.mod) && size == c.size {
		return c.val, nil
	}
	c.valid = false
	var data []byte
	if size >= 0 {
		if data, err = os.ReadFile(c.path); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				return zero, err
			}
			mod, size, data = time.Time{}, -1, nil
		}
	}
	v, err := c.decode(data)
	if err != nil {
		return zero, err
	}
	c.val, c.mod, c.size, c.valid = v, mod, size, true
	return v, nil
}

// Forget drops the cached value, so the next Get reads the file.
func (c *Cached[T]) Forget() {
	c.mu.Lock()
	c.valid = false
	c.mu.Unlock()
}
