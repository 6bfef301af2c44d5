// Package cache wraps any state.Store with a read cache of what every
// request reads: API keys by hash, agents, their latest published
// version, and the tiers set at run time. On a hit a request reads none
// of these from the backend.
//
// The staleness bound: a write through this wrapper drops its entries
// before it returns (an instance reads its own writes), and a write
// through any other instance drops them when the backend's change feed
// (state.Changes: PostgreSQL LISTEN/NOTIFY) tells of it, normally within
// milliseconds. While the feed is down the cache is emptied and nothing
// is cached until it is back (and then emptied again, since changes may
// have been missed). Every entry also expires TTL after it was filled,
// whatever the feed did: a revoked key is refused by every instance
// within the feed's delay, and never later than TTL.
package cache

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// Options tunes Wrap. The zero value is ready to use.
type Options struct {
	// Size is how many objects of each kind the cache holds (default
	// DefaultSize).
	Size int
	// TTL is how long an entry is served at most; 0 means until a write
	// drops it (right for a backend no other process writes to).
	TTL time.Duration
	// Now is the clock entries expire by; nil means time.Now.
	Now func() time.Time
}

// DefaultSize is Options.Size's default.
const DefaultSize = 10000

// Store is a state.Store with a read cache in front. Every method it
// does not define goes straight to the backend.
type Store struct {
	state.Store
	ttl time.Duration
	now func() time.Time
	// gen moves on with every purge, so fills begun before one are
	// dropped; live is false while the change feed is down.
	gen  atomic.Uint64
	live atomic.Bool

	agents   *table[agentKey, agentEntry]
	lists    *table[string, []*adapters.Agent]
	versions *table[agentKey, versionEntry]
	keys     *table[[32]byte, keyEntry]
	tiers    *table[struct{}, []*state.Tier]

	// feed retells the backend's changes once apply has handled them, so
	// a subscriber that reads through the cache after a change reads
	// what the change made.
	feed   state.Feed
	cancel func()
}

var _ state.Store = (*Store)(nil)

type agentKey struct{ tenant, id string }

// Entries remember "not found" too: a client naming an agent by its name
// (looked up by id first) or an unknown key costs the backend nothing
// either.
type (
	agentEntry   struct{ a *adapters.Agent }
	versionEntry struct{ v *state.AgentVersion }
	keyEntry     struct{ k *state.APIKey }
)

// Wrap returns inner with a read cache in front; closing it closes inner.
func Wrap(inner state.Store, opts Options) *Store {
	if opts.Size <= 0 {
		opts.Size = DefaultSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Store{Store: inner, ttl: opts.TTL, now: opts.Now}
	c.live.Store(true)
	c.agents = newTable[agentKey, agentEntry](c, opts.Size)
	c.lists = newTable[string, []*adapters.Agent](c, opts.Size)
	c.versions = newTable[agentKey, versionEntry](c, opts.Size)
	c.keys = newTable[[32]byte, keyEntry](c, opts.Size)
	c.tiers = newTable[struct{}, []*state.Tier](c, 1)
	c.cancel = inner.Subscribe(c.apply)
	return c
}

// Close stops following the backend's changes and closes it.
func (c *Store) Close() error {
	c.cancel()
	c.feed.Close()
	return c.Store.Close()
}

// Subscribe implements state.Changes: changes come after the cache
// dropped what they made stale.
func (c *Store) Subscribe(fn func(state.Change)) (cancel func()) { return c.feed.Subscribe(fn) }

// apply drops what a change made stale. Changes the backend marks local
// were written through this wrapper, which dropped their entries when it
// wrote (dropping them again would only cost a read).
func (c *Store) apply(ch state.Change) {
	defer c.feed.Publish(ch)
	if ch.Local && ch.Kind != state.ChangeGap {
		return
	}
	switch ch.Kind {
	case state.ChangeKey:
		for _, h := range ch.Keys {
			c.keys.drop(h)
		}
		if ch.ID != "" {
			c.dropKeyID(ch.ID)
		}
	case state.ChangeAgent:
		c.dropAgent(ch.Tenant, ch.ID)
	case state.ChangeTier:
		c.tiers.drop(struct{}{})
	case state.ChangeGap:
		c.live.Store(ch.Live)
		c.purge()
	}
}

// purge empties every table; fills begun before it are dropped.
func (c *Store) purge() {
	c.gen.Add(1)
	c.agents.purge()
	c.lists.purge()
	c.versions.purge()
	c.keys.purge()
	c.tiers.purge()
}

func (c *Store) dropAgent(tenant, id string) {
	c.agents.drop(agentKey{tenant, id})
	c.versions.drop(agentKey{tenant, id})
	c.lists.drop(tenant)
}

func (c *Store) dropKeyID(id string) {
	c.keys.dropIf(func(_ [32]byte, e keyEntry) bool { return e.k != nil && e.k.ID == id })
}

// GetAgent implements state.Agents from the cache.
func (c *Store) GetAgent(ctx context.Context, tenant, id string) (*adapters.Agent, error) {
	k := agentKey{tenant, id}
	if e, ok := c.agents.get(k); ok {
		if e.a == nil {
			return nil, state.ErrNotFound
		}
		return cloneAgent(e.a), nil
	}
	tok := c.agents.begin(k)
	a, err := c.Store.GetAgent(ctx, tenant, id)
	switch {
	case err == nil:
		c.agents.fill(k, tok, agentEntry{a})
		return cloneAgent(a), nil
	case errors.Is(err, state.ErrNotFound):
		c.agents.fill(k, tok, agentEntry{})
	}
	return nil, err
}

// ListAgents implements state.Agents from the cache.
func (c *Store) ListAgents(ctx context.Context, tenant string) ([]*adapters.Agent, error) {
	if list, ok := c.lists.get(tenant); ok {
		return cloneAgents(list), nil
	}
	tok := c.lists.begin(tenant)
	list, err := c.Store.ListAgents(ctx, tenant)
	if err != nil {
		return nil, err
	}
	c.lists.fill(tenant, tok, list)
	return cloneAgents(list), nil
}

func cloneAgents(list []*adapters.Agent) []*adapters.Agent {
	out := make([]*adapters.Agent, len(list))
	for i, a := range list {
		out[i] = cloneAgent(a)
	}
	return out
}

// CreateAgent implements state.Agents, dropping what it makes stale.
func (c *Store) CreateAgent(ctx context.Context, a *adapters.Agent) error {
	defer c.dropAgent(a.Tenant, a.ID)
	return c.Store.CreateAgent(ctx, a)
}

// UpdateAgent implements state.Agents. A conflict drops the entry too:
// the caller's retry must read what the other writer wrote.
func (c *Store) UpdateAgent(ctx context.Context, a *adapters.Agent) error {
	defer c.dropAgent(a.Tenant, a.ID)
	return c.Store.UpdateAgent(ctx, a)
}

// DeleteAgent implements state.Agents.
func (c *Store) DeleteAgent(ctx context.Context, tenant, id string) error {
	defer c.dropAgent(tenant, id)
	return c.Store.DeleteAgent(ctx, tenant, id)
}

// LatestVersion implements state.Versions from the cache: every call of
// an agent asks which version it runs at.
func (c *Store) LatestVersion(ctx context.Context, tenant, agentID string) (*state.AgentVersion, error) {
	k := agentKey{tenant, agentID}
	if e, ok := c.versions.get(k); ok {
		if e.v == nil {
			return nil, state.ErrNotFound
		}
		return cloneVersion(e.v), nil
	}
	tok := c.versions.begin(k)
	v, err := c.Store.LatestVersion(ctx, tenant, agentID)
	switch {
	case err == nil:
		c.versions.fill(k, tok, versionEntry{v})
		return cloneVersion(v), nil
	case errors.Is(err, state.ErrNotFound):
		c.versions.fill(k, tok, versionEntry{})
	}
	return nil, err
}

// PublishVersion implements state.Versions.
func (c *Store) PublishVersion(ctx context.Context, tenant string, a *adapters.Agent, declared bool, at time.Time) (*state.AgentVersion, error) {
	defer c.dropAgent(tenant, a.ID)
	return c.Store.PublishVersion(ctx, tenant, a, declared, at)
}

// KeyByHash implements state.Keys from the cache.
func (c *Store) KeyByHash(ctx context.Context, hash [32]byte) (*state.APIKey, error) {
	if e, ok := c.keys.get(hash); ok {
		if e.k == nil {
			return nil, state.ErrNotFound
		}
		return cloneKey(e.k), nil
	}
	tok := c.keys.begin(hash)
	k, err := c.Store.KeyByHash(ctx, hash)
	switch {
	case err == nil:
		c.keys.fill(hash, tok, keyEntry{k})
		return cloneKey(k), nil
	case errors.Is(err, state.ErrNotFound):
		c.keys.fill(hash, tok, keyEntry{})
	}
	return nil, err
}

// PutKey implements state.Keys: the key's new hash and every entry of
// its id (its old hash) are dropped.
func (c *Store) PutKey(ctx context.Context, k *state.APIKey) error {
	defer func() {
		c.keys.drop(k.Hash)
		c.dropKeyID(k.ID)
	}()
	return c.Store.PutKey(ctx, k)
}

// DeleteKey implements state.Keys.
func (c *Store) DeleteKey(ctx context.Context, id string) error {
	defer c.dropKeyID(id)
	return c.Store.DeleteKey(ctx, id)
}

// ListTiers implements state.Tiers from the cache.
func (c *Store) ListTiers(ctx context.Context) ([]*state.Tier, error) {
	if list, ok := c.tiers.get(struct{}{}); ok {
		return cloneTiers(list), nil
	}
	tok := c.tiers.begin(struct{}{})
	list, err := c.Store.ListTiers(ctx)
	if err != nil {
		return nil, err
	}
	c.tiers.fill(struct{}{}, tok, list)
	return cloneTiers(list), nil
}

func cloneTiers(list []*state.Tier) []*state.Tier {
	out := slices.Clone(list)
	for i, t := range out {
		out[i] = cloneTier(t)
	}
	return out
}

// PutTier implements state.Tiers.
func (c *Store) PutTier(ctx context.Context, t *state.Tier) error {
	defer c.tiers.drop(struct{}{})
	return c.Store.PutTier(ctx, t)
}

// DeleteTier implements state.Tiers.
func (c *Store) DeleteTier(ctx context.Context, name string) error {
	defer c.tiers.drop(struct{}{})
	return c.Store.DeleteTier(ctx, name)
}

// Import implements state.Snapshots: everything cached may be stale.
func (c *Store) Import(ctx context.Context, recs []*state.Record) error {
	defer c.purge()
	return c.Store.Import(ctx, recs)
}
