package cache

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// table is one kind of object's cache: a bounded LRU whose entries expire
// after the TTL, filled only by reads that no write overtook. (Expiry is
// checked on read against the cache's clock: golang-lru's expirable LRU
// reads the wall clock and runs a goroutine per cache that never stops.)
//
// A read that misses loads from the backend and then fills; a write (or
// a change told by another instance) drops the entry. A fill racing a
// drop could put back the value from before the write, so fills are
// conditional: a reader takes a token (its key's stripe epoch and the
// cache-wide generation) before it reads the backend, and fills only if
// neither moved since. Drops bump the epoch and purges the generation
// under mu, and fills check them under mu, so a stale fill lands before
// the drop or not at all.
type table[K comparable, V any] struct {
	mu     sync.Mutex
	lru    *lru.Cache[K, entry[V]]
	seed   maphash.Seed
	epochs [64]atomic.Uint64
	// c is the cache the table belongs to: its generation and whether
	// filling is allowed at all.
	c *Store
}

type entry[V any] struct {
	v       V
	expires time.Time // zero: never
}

// token is what a reader takes before loading from the backend.
type token struct{ epoch, gen uint64 }

func newTable[K comparable, V any](c *Store, size int) *table[K, V] {
	l, _ := lru.New[K, entry[V]](size) // errs only for size <= 0, which New rules out
	return &table[K, V]{lru: l, seed: maphash.MakeSeed(), c: c}
}

func (t *table[K, V]) epoch(k K) *atomic.Uint64 {
	return &t.epochs[maphash.Comparable(t.seed, k)%uint64(len(t.epochs))]
}

// get returns the cached value of k, unless it expired.
func (t *table[K, V]) get(k K) (V, bool) {
	e, ok := t.lru.Get(k)
	if !ok || !e.expires.IsZero() && !t.c.now().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// begin returns the token a reader passes to fill after loading k.
func (t *table[K, V]) begin(k K) token {
	return token{epoch: t.epoch(k).Load(), gen: t.c.gen.Load()}
}

// fill caches v under k unless k was dropped, or the cache purged or
// stopped filling, since begin returned tok.
func (t *table[K, V]) fill(k K, tok token, v V) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c.live.Load() && t.epoch(k).Load() == tok.epoch && t.c.gen.Load() == tok.gen {
		e := entry[V]{v: v}
		if t.c.ttl > 0 {
			e.expires = t.c.now().Add(t.c.ttl)
		}
		t.lru.Add(k, e)
	}
}

// drop removes k.
func (t *table[K, V]) drop(k K) {
	t.mu.Lock()
	t.epoch(k).Add(1)
	t.lru.Remove(k)
	t.mu.Unlock()
}

// dropIf removes every entry match accepts.
func (t *table[K, V]) dropIf(match func(K, V) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range t.lru.Keys() {
		if e, ok := t.lru.Peek(k); ok && match(k, e.v) {
			t.epoch(k).Add(1)
			t.lru.Remove(k)
		}
	}
}

// purge removes every entry; the caller has bumped the generation.
func (t *table[K, V]) purge() {
	t.mu.Lock()
	t.lru.Purge()
	t.mu.Unlock()
}
