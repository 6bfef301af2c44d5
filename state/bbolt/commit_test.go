package bbolt

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func openCommitter(t *testing.T) (*bolt.DB, *committer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "commit.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	c := newCommitter(db, path)
	t.Cleanup(func() { db.Close() })
	return db, c
}

// TestCommitterGroups: the writes queued while a commit runs are
// committed together, in one transaction, as soon as it ends.
func TestCommitterGroups(t *testing.T) {
	db, c := openCommitter(t)
	entered, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- c.write(func(tx *bolt.Tx) error {
			close(entered)
			<-release // the commit is running: later writes must queue
			return tx.Bucket([]byte("b")).Put([]byte("first"), []byte("1"))
		})
	}()
	<-entered
	const n = 20
	var (
		mu  sync.Mutex
		txs = map[int]bool{}
		wg  sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			err := c.write(func(tx *bolt.Tx) error {
				mu.Lock()
				txs[tx.ID()] = true
				mu.Unlock()
				return tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "k%02d", i), []byte("v"))
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	// Every write is queued before the first commit ends.
	waitQueued(c, n)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(txs) != 1 {
		t.Errorf("the %d queued writes took %d transactions, want 1", n, len(txs))
	}
	err := db.View(func(tx *bolt.Tx) error {
		if got := tx.Bucket([]byte("b")).Stats().KeyN; got != n+1 {
			return fmt.Errorf("%d keys stored, want %d", got, n+1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCommitterFailedWrite: a write that fails, or panics, fails alone;
// the others of its group commit.
func TestCommitterFailedWrite(t *testing.T) {
	db, c := openCommitter(t)
	entered, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = c.write(func(*bolt.Tx) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	errBad := errors.New("bad write")
	writes := []func(*bolt.Tx) error{
		func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("a"), []byte("1")) },
		func(*bolt.Tx) error { return errBad },
		func(*bolt.Tx) error { panic("a bug") },
		func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("d"), []byte("4")) },
	}
	errs := make([]error, len(writes))
	var wg sync.WaitGroup
	for i, fn := range writes {
		wg.Go(func() { errs[i] = c.write(fn) })
	}
	waitQueued(c, len(writes))
	close(release)
	wg.Wait()
	if errs[0] != nil || errs[3] != nil {
		t.Errorf("good writes failed: %v, %v", errs[0], errs[3])
	}
	if !errors.Is(errs[1], errBad) {
		t.Errorf("failed write: %v, want its own error", errs[1])
	}
	if !errors.Is(errs[2], ErrCorrupt) {
		t.Errorf("panicking write: %v, want it reported (as bbolt's panics are: ErrCorrupt)", errs[2])
	}
	_ = db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("b"))
		if bk.Get([]byte("a")) == nil || bk.Get([]byte("d")) == nil {
			t.Error("the good writes of the group were not committed")
		}
		return nil
	})
}

// TestCommitterHandsOverTheLead: more writes than one group takes, queued
// behind a running commit, commit in as many groups as they fill, each
// led by a writer of its own; then no one leads, and a lone write leads
// (and commits) at once.
func TestCommitterHandsOverTheLead(t *testing.T) {
	db, c := openCommitter(t)
	entered, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- c.write(func(*bolt.Tx) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	const n = maxGroup + 5
	var (
		mu  sync.Mutex
		txs = map[int]int{}
		wg  sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			err := c.write(func(tx *bolt.Tx) error {
				mu.Lock()
				txs[tx.ID()]++
				mu.Unlock()
				return tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "k%04d", i), []byte("v"))
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(c, n)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(txs) != 2 {
		t.Errorf("the %d queued writes took %d transactions (%v), want 2", n, len(txs), txs)
	}
	c.mu.Lock()
	leading := c.leading
	c.mu.Unlock()
	if leading {
		t.Fatal("a writer still leads with nothing queued")
	}
	if err := c.write(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("last"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	err := db.View(func(tx *bolt.Tx) error {
		if got := tx.Bucket([]byte("b")).Stats().KeyN; got != n+1 {
			return fmt.Errorf("%d keys stored, want %d", got, n+1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitQueued waits until n writes are queued behind c's running commit.
func waitQueued(c *committer, n int) {
	for {
		c.mu.Lock()
		queued := len(c.queue)
		c.mu.Unlock()
		if queued == n {
			return
		}
		runtime.Gosched()
	}
}
