package store

import (
	"context"
	"sync"
)

// Docs keeps named JSON documents. A name is the document's path relative
// to the state directory ("devices/paired.json"), in both backends, so the
// formats and the names are the same whether the state is in files or in
// Redis.
type Docs interface {
	// Load returns the document's bytes (nil when it does not exist) and
	// its version, unless the version is since, in which case changed is
	// false and data is nil: a reader that holds version since already has
	// the document and pays one small round trip (a stat, a short Lua
	// call) to learn so.
	Load(ctx context.Context, name, since string) (data []byte, version string, changed bool, err error)
	// Update replaces the document with what fn returns, atomically: fn
	// sees the current bytes (nil when absent), and if anything else
	// changed the document meanwhile, fn runs again on the new bytes. If
	// fn returns an error nothing is written and Update returns it.
	Update(ctx context.Context, name string, fn func(old []byte) ([]byte, error)) error
	// CreateOnce stores data under name unless the document exists: of
	// several replicas starting at once, exactly one creates it and every
	// one then reads the same document.
	CreateOnce(ctx context.Context, name string, data []byte) error
	// Where names the document for messages: its file path, or its
	// Redis key.
	Where(name string) string
}

// Read returns a document's current bytes (nil when absent).
func Read(ctx context.Context, d Docs, name string) ([]byte, error) {
	data, _, _, err := d.Load(ctx, name, "")
	return data, err
}

// Cached holds one document decoded. On Redis it is served from memory
// while the store's invalidation channel vouches for it (see
// invalidator), so a request that changes nothing costs no round trip;
// otherwise (files, or Redis without a fresh heartbeat) each Get asks
// whether the version changed and decodes only when it did. A document
// that does not decode leaves the cache empty and every Get fails until it
// is fixed (fail closed). Loads run outside the lock: concurrent readers
// never queue behind one another's round trip.
type Cached[T any] struct {
	docs   Docs
	w      watcher // nil: ask the store every time
	name   string
	decode func([]byte) (T, error)

	mu    sync.Mutex
	ver   string
	valid bool
	st    stamp
	val   T
}

// NewCached returns a cache of the document name, decoded by decode (which
// receives nil when the document does not exist).
func NewCached[T any](docs Docs, name string, decode func([]byte) (T, error)) *Cached[T] {
	w, _ := docs.(watcher)
	return &Cached[T]{docs: docs, w: w, name: name, decode: decode}
}

// Get returns the document's current decoded value.
func (c *Cached[T]) Get(ctx context.Context) (T, error) {
	var zero T
	var st stamp
	trusted := false
	if c.w != nil {
		// Read before the load: a change announced while loading
		// moves the stamp on, and the next Get loads again.
		st, trusted = c.w.stamp(c.name)
	}
	c.mu.Lock()
	if trusted && c.valid && c.st == st {
		v := c.val
		c.mu.Unlock()
		return v, nil
	}
	since := ""
	if c.valid {
		since = c.ver
	}
	c.mu.Unlock()

	data, ver, changed, err := c.docs.Load(ctx, c.name, since)
	if err != nil {
		return zero, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !changed {
		if c.valid && c.ver == ver {
			c.st = st
			return c.val, nil
		}
		// Someone replaced the copy meanwhile: load it all.
		c.mu.Unlock()
		data, ver, _, err = c.docs.Load(ctx, c.name, "")
		c.mu.Lock()
		if err != nil {
			return zero, err
		}
	}
	v, err := c.decode(data)
	if err != nil {
		c.valid = false
		return zero, err
	}
	c.val, c.ver, c.st, c.valid = v, ver, st, true
	return v, nil
}

// Last is Get, except that when the store cannot be reached it returns
// the last value it did load (if any): device tokens stay checkable
// against the last revocation list seen during an outage, in which no
// revocation can be written anyway. A document that does not decode is
// still an error.
func (c *Cached[T]) Last(ctx context.Context) (T, error) {
	v, err := c.Get(ctx)
	if err != nil && IsUnavailable(err) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.valid {
			return c.val, nil
		}
	}
	return v, err
}

// Forget drops the cached value, so the next Get reloads the document.
func (c *Cached[T]) Forget() {
	c.mu.Lock()
	c.valid = false
	c.mu.Unlock()
}
