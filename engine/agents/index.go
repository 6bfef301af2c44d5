package agents

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// index keeps, per tenant, every agent the tenant may use — the declared
// ones visible to it and its live stored ones — by id, by name and in
// listing order, so that resolving a request's model is one map lookup,
// and a model that names no agent (a routed model called directly) is a
// miss in the same maps rather than a store read and a scan of the
// tenant's agents.
//
// A tenant's index is built from one ListAgents on first use and dropped
// by invalidate (the registry's writes; the store's change feed when
// hooked to it) or after ttl, the bound on how stale it can be for writes
// that reach the store some other way. Loads that raced an invalidation
// are not kept: a load notes its tenant's epoch before reading the store
// and installs its result only if no invalidation happened since.
type index struct {
	store    state.Store
	declared []*adapters.Agent
	now      func() time.Time
	ttl      time.Duration

	mu      sync.Mutex
	tenants *lru.Cache[string, *tenantIndex]
	seed    maphash.Seed
	epochs  [64]uint64 // per stripe of tenants, guarded by mu
	all     uint64     // invalidations of every tenant, guarded by mu
}

// tenantIndex is one tenant's agents at one moment. It is immutable once
// built; the agents it holds are never changed (callers get copies of
// stored ones).
type tenantIndex struct {
	// byID holds each id's agent: the declared one when the tenant sees
	// one with that id, else the live stored one.
	byID map[string]*adapters.Agent
	// byName holds, for each name, the agents of that name in precedence
	// order: declared (configuration order), then stored (creation order).
	byName map[string][]*adapters.Agent
	// ordered is every agent in listing order: declared, then stored.
	ordered []*adapters.Agent
	expires time.Time
}

const (
	defaultIndexTTL     = time.Minute
	defaultIndexTenants = 1024
)

func newIndex(store state.Store, declared []*adapters.Agent, now func() time.Time, ttl time.Duration, tenants int) (*index, error) {
	if ttl <= 0 {
		ttl = defaultIndexTTL
	}
	if tenants <= 0 {
		tenants = defaultIndexTenants
	}
	c, err := lru.New[string, *tenantIndex](tenants)
	if err != nil {
		return nil, err
	}
	return &index{store: store, declared: declared, now: now, ttl: ttl, tenants: c, seed: maphash.MakeSeed()}, nil
}

// epoch is the count of invalidations that concern tenant (mu held).
func (x *index) epoch(tenant string) uint64 {
	return x.all + x.epochs[maphash.String(x.seed, tenant)%uint64(len(x.epochs))]
}

// tenant returns tenant's index, reading the store when it has none that
// is fresh.
func (x *index) tenant(ctx context.Context, tenant string) (*tenantIndex, error) {
	x.mu.Lock()
	t, ok := x.tenants.Get(tenant)
	token := x.epoch(tenant)
	x.mu.Unlock()
	now := x.now()
	if ok && now.Before(t.expires) {
		return t, nil
	}
	stored, err := x.store.ListAgents(ctx, tenant)
	if err != nil {
		return nil, err
	}
	t = buildTenant(tenant, x.declared, stored, now.Add(x.ttl))
	x.mu.Lock()
	if x.epoch(tenant) == token {
		x.tenants.Add(tenant, t)
	}
	x.mu.Unlock()
	return t, nil
}

// invalidate drops tenant's index (every tenant's when tenant is empty).
func (x *index) invalidate(tenant string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if tenant == "" {
		x.all++
		x.tenants.Purge()
		return
	}
	x.epochs[maphash.String(x.seed, tenant)%uint64(len(x.epochs))]++
	x.tenants.Remove(tenant)
}

func buildTenant(tenant string, declared, stored []*adapters.Agent, expires time.Time) *tenantIndex {
	t := &tenantIndex{byID: make(map[string]*adapters.Agent, len(declared)+len(stored)),
		byName: make(map[string][]*adapters.Agent, len(declared)+len(stored)), expires: expires}
	add := func(a *adapters.Agent) {
		if _, taken := t.byID[a.ID]; !taken {
			t.byID[a.ID] = a
		}
		t.byName[a.Name] = append(t.byName[a.Name], a)
		t.ordered = append(t.ordered, a)
	}
	for _, a := range declared {
		if a.VisibleTo(tenant) {
			add(a)
		}
	}
	for _, a := range stored {
		if !a.Deleted() {
			add(a)
		}
	}
	return t
}

// find returns the agent key names for p: the agent of that id, else the
// first of that name, among those p may use; nil when none.
func (t *tenantIndex) find(p *adapters.Principal, key string) *adapters.Agent {
	if a := t.byID[key]; a != nil && (a.Declared || a.VisibleToPrincipal(p)) {
		return a
	}
	for _, a := range t.byName[key] {
		if a.Declared || a.VisibleToPrincipal(p) {
			return a
		}
	}
	return nil
}
