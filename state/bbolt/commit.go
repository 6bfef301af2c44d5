package bbolt

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds the writes one commit takes: a group that large is
// already one fsync for a thousand callers, and a bounded transaction
// keeps the time a failed write's group is replayed bounded too.
const maxGroup = 1000

// committer groups concurrent writes into shared transactions without
// waiting on a timer (bbolt's own Batch makes the first writer of a group
// wait up to MaxBatchDelay, 10ms, for others) and without a goroutine of
// its own: a writer that finds no commit running leads, committing the
// queue in its own goroutine, so a lone write costs no hand-off to another
// goroutine and back. A group is every write queued while the previous
// group's transaction and fsync ran; when the leader's own write is
// durable and others are queued, it hands the lead to the first of them,
// so a busy store commits once per fsync, each caller answered when its
// group is durable.
type committer struct {
	db   *bolt.DB
	path string

	mu      sync.Mutex
	queue   []*pendingWrite
	spare   []*pendingWrite // the previous group's slice, reused
	leading bool            // a writer is committing the queue
}

// pendingWrite is one caller's write waiting for its group's commit.
type pendingWrite struct {
	fn  func(*bolt.Tx) error
	err chan error
}

// errSolo tells a caller whose write failed in a group to run it in a
// transaction of its own: its error is then its own, and the rest of the
// group commits without it. errLead tells a queued caller that it leads
// now: the queue is its to commit.
var (
	errSolo = errors.New("bbolt: run the write alone")
	errLead = errors.New("bbolt: lead the commits")
)

var pendingPool = sync.Pool{New: func() any { return &pendingWrite{err: make(chan error, 1)} }}

func newCommitter(db *bolt.DB, path string) *committer {
	return &committer{db: db, path: path}
}

// write runs fn in a transaction it may share with concurrent writers and
// returns once that transaction committed (or fn's error). fn may run
// more than once, each time in a new transaction, so it must change
// nothing outside the transaction but what the run that commits sets.
func (c *committer) write(fn func(*bolt.Tx) error) error {
	p := pendingPool.Get().(*pendingWrite)
	p.fn = fn
	c.mu.Lock()
	c.queue = append(c.queue, p)
	lead := !c.leading
	c.leading = true
	c.mu.Unlock()
	var err error
	if !lead {
		err = <-p.err
	}
	if lead || err == errLead {
		err = c.lead(p)
	}
	p.fn = nil
	pendingPool.Put(p)
	if err == errSolo {
		return c.solo(fn)
	}
	return err
}

// lead commits the queue, a group at a time, until own's group has
// committed, and returns own's outcome. It then hands the lead to the
// first write still queued, or gives it up when there is none.
func (c *committer) lead(own *pendingWrite) error {
	for {
		// The queue and the spare swap slices: writers append to one
		// while the other is committed.
		c.mu.Lock()
		group := c.queue
		if len(group) > maxGroup {
			group, c.queue = group[:maxGroup:maxGroup], append(c.spare[:0], group[maxGroup:]...)
		} else {
			c.queue = c.spare[:0]
		}
		c.spare = nil
		c.mu.Unlock()
		c.commit(group) // answers every write of the group, own's too if in it
		clear(group)
		c.mu.Lock()
		c.spare = group[:0]
		select {
		case err := <-own.err:
			if len(c.queue) == 0 {
				c.leading = false
			} else {
				c.queue[0].err <- errLead
			}
			c.mu.Unlock()
			return err
		default: // own is in a later group (more than maxGroup were queued)
			c.mu.Unlock()
		}
	}
}

// solo runs fn in a transaction of its own.
func (c *committer) solo(fn func(*bolt.Tx) error) (err error) {
	defer recoverCorrupt(c.path, &err)
	return c.db.Update(fn)
}

// commit runs the group's writes in one transaction. A write that fails
// is taken out and told to run alone, and the rest are run again in a new
// transaction, as bbolt's Batch does.
func (c *committer) commit(group []*pendingWrite) {
	for len(group) > 0 {
		failed, err := c.update(group)
		if failed >= 0 {
			group[failed].err <- errSolo
			group = append(group[:failed], group[failed+1:]...)
			continue
		}
		for _, p := range group {
			p.err <- err
		}
		return
	}
}

// update runs the writes in one transaction and returns the index of the
// one that failed (-1: none), or the error bbolt returned committing,
// which is every writer's.
func (c *committer) update(group []*pendingWrite) (failed int, err error) {
	failed = -1
	defer recoverCorrupt(c.path, &err)
	err = c.db.Update(func(tx *bolt.Tx) error {
		for i, p := range group {
			if ferr := safeWrite(p.fn, tx); ferr != nil {
				failed = i
				return ferr
			}
		}
		return nil
	})
	return failed, err
}

// safeWrite runs fn, turning a panic into an error so that one caller's
// bug fails that caller (on its solo run) rather than the committer.
func safeWrite(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in a store write: %v", p)
		}
	}()
	return fn(tx)
}
