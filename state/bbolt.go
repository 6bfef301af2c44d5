package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// BoltOptions tunes OpenBolt. The zero value is ready to use.
type BoltOptions struct {
	// LockTimeout bounds the wait for the file lock another process holds
	// (default 2s); past it OpenBolt fails with ErrLocked.
	LockTimeout time.Duration
	// CacheSize is the number of agents, keys and sessions the read cache
	// holds (default DefaultCacheSize); negative disables the cache.
	CacheSize int
}

// DefaultLockTimeout is BoltOptions.LockTimeout's default.
const DefaultLockTimeout = 2 * time.Second

// Bolt is the Store kept in one bbolt file, with an LRU read cache in
// front. It is safe for concurrent use by one process; bbolt's file lock
// keeps other processes out.
type Bolt struct {
	db    *bolt.DB
	path  string
	key   string // in openFiles
	cache *readCache
	// life is held shared by every call in flight and exclusively by
	// Close, which so waits for them.
	life   sync.RWMutex
	closed bool
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens or creates the store at path, creating its directory
// (0700) when missing. It fails with ErrLocked when another process has
// the file open (after LockTimeout) or this one does (at once), ErrNotStore when the file is something else, ErrSchema
// when a newer agentgate wrote it, and ErrCorrupt when bbolt cannot read
// it.
func OpenBolt(path string, opts BoltOptions) (*Bolt, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	cache, err := newReadCache(opts.CacheSize)
	if err != nil {
		return nil, fmt.Errorf("state: store %s: %w", path, err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("state: store %s: %w", path, err)
		}
	}
	key, ok := claimPath(path)
	if !ok {
		return nil, &lockedError{path: path, here: true}
	}
	db, err := openBoltFile(path, opts.LockTimeout)
	if err != nil {
		releasePath(key)
		return nil, err
	}
	b := &Bolt{db: db, path: path, key: key, cache: cache}
	if err := b.initSchema(); err != nil {
		_ = db.Close()
		releasePath(key)
		return nil, err
	}
	return b, nil
}

// openBoltFile opens the bbolt file, turning bbolt's errors and panics
// into ours.
func openBoltFile(path string, timeout time.Duration) (db *bolt.DB, err error) {
	// bbolt panics on some corrupt files (a bad freelist page, say) after
	// it has locked the file. Keep the file to close it then, so the lock
	// and the descriptor are not held until the garbage collector finds
	// them. (The mapping of the file, if made, leaks.)
	var file *os.File
	openFile := func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}
	defer func() {
		if p := recover(); p != nil {
			if file != nil {
				_ = file.Close()
			}
			db, err = nil, fmt.Errorf("state: store %s: %w: %v", path, ErrCorrupt, p)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, OpenFile: openFile})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, &lockedError{path: path}
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch),
		errors.Is(err, bolterrors.ErrChecksum):
		return nil, fmt.Errorf("state: %s is %w: not a bbolt database (%v)", path, ErrNotStore, err)
	default:
		return nil, fmt.Errorf("state: open store %s: %w", path, err)
	}
}

// recoverCorrupt turns a panic into ErrCorrupt in *err. bbolt panics on
// some inconsistent files rather than returning an error.
func recoverCorrupt(path string, err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("state: store %s: %w: %v", path, ErrCorrupt, p)
	}
}

// Path returns the file the store is kept in.
func (b *Bolt) Path() string { return b.path }

// Close waits for the calls in flight, then closes the file; later calls
// fail with ErrClosed. Closing twice is a no-op.
func (b *Bolt) Close() error {
	b.life.Lock()
	defer b.life.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	defer releasePath(b.key)
	return b.db.Close()
}

// enter starts a call: it fails when the store is closed or ctx is done,
// and otherwise holds off Close until the caller's deferred b.exit().
func (b *Bolt) enter(ctx context.Context) error {
	b.life.RLock()
	if b.closed {
		b.life.RUnlock()
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		b.life.RUnlock()
		return err
	}
	return nil
}

// exit ends a call begun by a successful enter.
func (b *Bolt) exit() { b.life.RUnlock() }

// view runs fn in a read transaction.
func (b *Bolt) view(fn func(*bolt.Tx) error) (err error) {
	defer recoverCorrupt(b.path, &err)
	return b.db.View(fn)
}

// update runs fn in a write transaction of its own.
func (b *Bolt) update(fn func(*bolt.Tx) error) (err error) {
	defer recoverCorrupt(b.path, &err)
	return b.db.Update(fn)
}

// batch runs fn in a write transaction it may share with concurrent
// callers (one fsync for all of them). fn may run more than once.
func (b *Bolt) batch(fn func(*bolt.Tx) error) (err error) {
	defer recoverCorrupt(b.path, &err)
	return b.db.Batch(fn)
}
