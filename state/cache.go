package state

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultCacheSize is the number of objects Bolt's read cache holds when
// BoltOptions.CacheSize is zero.
const DefaultCacheSize = 10000

// readCache is a bounded LRU of decoded objects in front of bbolt: agents,
// keys by hash and session metadata share one capacity.
//
// Cached values are immutable: they are stored as decoded from the file
// and never handed out; readers get a deep copy (see clone.go), so callers
// cannot corrupt the cache.
//
// Consistency: a read that misses loads from a bbolt read transaction and
// then fills the cache; a write commits and then drops the entry.
// (Dropping rather than storing the written value keeps concurrent
// writers correct whatever order their post-commit steps run in; the next
// read refills.) A fill racing a write could put back the value from
// before the write, so fills are conditional: a reader notes its key's
// epoch before its read transaction starts and fills only if no write to
// a key of the same stripe happened since. Writers bump the epoch and
// drop the entry under mu, and fills check the epoch under mu, so a stale
// fill either lands before the write's drop or not at all.
type readCache struct {
	lru    *lru.Cache[string, any]
	mu     sync.Mutex
	seed   maphash.Seed
	epochs [64]atomic.Uint64
}

// newReadCache returns a cache of size entries, or nil (no caching) when
// size is negative.
func newReadCache(size int) (*readCache, error) {
	if size < 0 {
		return nil, nil
	}
	if size == 0 {
		size = DefaultCacheSize
	}
	l, err := lru.New[string, any](size)
	if err != nil {
		return nil, err
	}
	return &readCache{lru: l, seed: maphash.MakeSeed()}, nil
}

// Cache keys: one letter for the kind of object, then its key.
func agentCacheKey(tenant, id string) string { return "a" + tenant + "\x00" + id }
func sessionCacheKey(k SessionKey) string    { return "s" + string(sessionKey(k)) }
func keyHashCacheKey(h [32]byte) string      { return "h" + string(h[:]) }

func (c *readCache) epoch(k string) *atomic.Uint64 {
	return &c.epochs[maphash.String(c.seed, k)%uint64(len(c.epochs))]
}

// get returns the cached value of k.
func (c *readCache) get(k string) (any, bool) {
	if c == nil {
		return nil, false
	}
	return c.lru.Get(k)
}

// begin returns the token a reader passes to fill after loading k.
func (c *readCache) begin(k string) uint64 {
	if c == nil {
		return 0
	}
	return c.epoch(k).Load()
}

// fill caches v under k unless a write to k's stripe happened since begin
// returned token.
func (c *readCache) fill(k string, token uint64, v any) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if c.epoch(k).Load() == token {
		c.lru.Add(k, v)
	}
	c.mu.Unlock()
}

// invalidate drops k; writers call it after their transaction ends.
func (c *readCache) invalidate(keys ...string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	for _, k := range keys {
		c.epoch(k).Add(1)
		c.lru.Remove(k)
	}
	c.mu.Unlock()
}
