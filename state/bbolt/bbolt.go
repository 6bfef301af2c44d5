// Package bbolt is the embedded store: every object in one bbolt file
// that one process holds (bbolt locks it), no server to run. It is
// agentgate's default backend, the Caddy module agentgate.storage.bbolt
// (module.go).
package bbolt

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

	"github.com/agentgate/agentgate/state"
)

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// LockTimeout bounds the wait for the file lock another process holds
	// (default 2s); past it Open fails with ErrLocked.
	LockTimeout time.Duration
}

// DefaultLockTimeout is Options.LockTimeout's default.
const DefaultLockTimeout = 2 * time.Second

// Store is the state.Store kept in one bbolt file. It is safe for
// concurrent use by one process; bbolt's file lock keeps other processes
// out, so the changes it tells of (state.Changes) are all its own. It
// keeps no clock: the times it stores are its callers'.
type Store struct {
	db   *bolt.DB
	path string
	key  string // in openFiles
	feed state.Feed
	// commits groups the writes that may share a transaction (batch).
	commits *committer
	// life is held shared by every call in flight and exclusively by
	// Close, which so waits for them.
	life   sync.RWMutex
	closed bool
}

var _ state.Store = (*Store)(nil)

// Open opens or creates the store at path, creating its directory (0700)
// when missing. It fails with ErrLocked when another process has the file
// open (after LockTimeout) or this one does (at once), ErrNotStore when
// the file is something else, ErrSchema when a newer agentgate wrote it,
// and ErrCorrupt when bbolt cannot read it.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
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
	b := &Store{db: db, path: path, key: key}
	if err := b.initSchema(); err != nil {
		_ = db.Close()
		releasePath(key)
		return nil, err
	}
	b.commits = newCommitter(db, path)
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
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  timeout,
		OpenFile: openFile,
		// Every commit would otherwise write the freelist out too: one
		// more page written and fsynced per agent turn. Without it bbolt
		// rebuilds the freelist at open by walking the tree (about 0.1s
		// for 100,000 sessions of 10 turns), as etcd runs it. The
		// commit's fdatasyncs are unchanged: a commit is as durable.
		// (Not etcd's map freelist: it hands out free pages in map
		// order, scattering a commit's pages over the file, and the
		// agent bench's latency tripled; the array freelist takes the
		// lowest free pages, so a commit's pages lie together.)
		NoFreelistSync: true,
	})
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
func (b *Store) Path() string { return b.path }

// Close waits for the calls in flight, then closes the file; later calls
// fail with state.ErrClosed. Closing twice is a no-op.
func (b *Store) Close() error {
	b.life.Lock()
	defer b.life.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.feed.Close()
	defer releasePath(b.key)
	return b.db.Close()
}

// Subscribe implements state.Changes: the store tells of its own writes,
// the only ones there are, once they committed.
func (b *Store) Subscribe(fn func(state.Change)) (cancel func()) { return b.feed.Subscribe(fn) }

// publish tells subscribers of a committed write.
func (b *Store) publish(c state.Change) {
	c.Local = true
	b.feed.Publish(c)
}

// enter starts a call: it fails when the store is closed or ctx is done,
// and otherwise holds off Close until the caller's deferred b.exit().
func (b *Store) enter(ctx context.Context) error {
	b.life.RLock()
	if b.closed {
		b.life.RUnlock()
		return state.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		b.life.RUnlock()
		return err
	}
	return nil
}

// exit ends a call begun by a successful enter.
func (b *Store) exit() { b.life.RUnlock() }

// view runs fn in a read transaction.
func (b *Store) view(fn func(*bolt.Tx) error) (err error) {
	defer recoverCorrupt(b.path, &err)
	return b.db.View(fn)
}

// update runs fn in a write transaction of its own.
func (b *Store) update(fn func(*bolt.Tx) error) (err error) {
	defer recoverCorrupt(b.path, &err)
	return b.db.Update(fn)
}

// batch runs fn in a write transaction it may share with concurrent
// callers (one fsync for all of them), committed as soon as the store's
// previous commit ended (commit.go). fn may run more than once.
func (b *Store) batch(fn func(*bolt.Tx) error) error {
	return b.commits.write(fn)
}
