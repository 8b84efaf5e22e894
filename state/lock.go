package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Lock is an exclusive inter-process lock (flock(2)) on a lock file. It
// serialises read-modify-write cycles on state files between the running
// server and CLI commands such as `gateway pairing approve`.
type Lock struct {
	f *os.File
}

// lockPoll is how often Acquire retries a busy lock. flock has no timeout of
// its own, and a blocking flock could not be cancelled by ctx.
const lockPoll = 5 * time.Millisecond

// Acquire takes the lock on path+".lock", creating the lock file (0600) if
// needed, and waits until it is free or ctx is done. The lock file is never
// removed: removing it would let two processes lock different inodes.
func Acquire(ctx context.Context, path string) (*Lock, error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}

// Release drops the lock. It is safe to call more than once.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	cerr := l.f.Close()
	l.f = nil
	return errors.Join(err, cerr)
}

// Update runs fn on the current contents of path (nil when the file does not
// exist) under the lock and atomically writes what fn returns with mode 0600.
// If fn returns an error nothing is written.
func Update(ctx context.Context, path string, fn func(old []byte) ([]byte, error)) error {
	l, err := Acquire(ctx, path)
	if err != nil {
		return err
	}
	defer func() { _ = l.Release() }()
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	next, err := fn(old)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, next, FileMode)
}
