// Package tiers holds the service levels API keys are on: the
// configuration's tiers, overridden by those set at run time through the
// admin API. Admission (caddymodule) reads their limits; the engine reads
// which models a tier's keys may call directly.
package tiers

import (
	"context"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// Set is the set of service levels: the configuration's, overridden by
// tiers set at run time through the admin API (kept in the store, so they
// survive reloads and restarts until deleted).
type Set struct {
	mu        sync.RWMutex
	declared  map[string]state.Tier
	overrides map[string]state.Tier
	// changes counts this set's own changes (Put, Delete), so that a Load
	// that read the store before one of them does not undo it: the
	// change's own notification loads again.
	changes uint64
}

// New returns a set holding the configuration's tiers.
func New(tiers ...state.Tier) *Set {
	t := &Set{declared: make(map[string]state.Tier, len(tiers)), overrides: map[string]state.Tier{}}
	for _, tr := range tiers {
		t.declared[tr.Name] = tr
	}
	return t
}

// Load reads the run-time tiers from store, replacing those it had,
// unless the set changed a tier meanwhile (what it read may predate the
// change; the store's notification of the change loads again).
func (t *Set) Load(ctx context.Context, store state.Store) error {
	t.mu.RLock()
	changes := t.changes
	t.mu.RUnlock()
	list, err := store.ListTiers(ctx)
	if err != nil {
		return err
	}
	overrides := make(map[string]state.Tier, len(list))
	for _, tr := range list {
		overrides[tr.Name] = *tr
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.changes == changes {
		t.overrides = overrides
	}
	return nil
}

// Follow keeps the run-time tiers those of store: a tier set or deleted
// through any gateway instance sharing it is read again when the store
// tells of the change (and everything after a gap in its changes). It
// returns what stops following.
func (t *Set) Follow(store state.Store, log *zap.Logger) (cancel func()) {
	return store.Subscribe(func(c state.Change) {
		if c.Kind != state.ChangeTier && !(c.Kind == state.ChangeGap && c.Live) {
			return
		}
		ctx, done := context.WithTimeout(context.Background(), tierReloadTimeout)
		defer done()
		if err := t.Load(ctx, store); err != nil {
			log.Warn("reloading tiers after a change; keeping the tiers known so far", zap.Error(err))
		}
	})
}

// tierReloadTimeout bounds one reload of the tiers.
const tierReloadTimeout = 10 * time.Second

// Get returns the tier called name.
func (t *Set) Get(name string) (state.Tier, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if tr, ok := t.overrides[name]; ok {
		return tr, true
	}
	tr, ok := t.declared[name]
	return tr, ok
}

// Empty reports whether no tier exists: then nothing is limited.
func (t *Set) Empty() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.declared) == 0 && len(t.overrides) == 0
}

// Put creates or replaces a tier and stores it.
func (t *Set) Put(ctx context.Context, store state.Store, tr state.Tier) error {
	if err := store.PutTier(ctx, &tr); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.changes++
	t.overrides[tr.Name] = tr
	return nil
}

// List returns every tier by name.
func (t *Set) List() []state.Tier {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]state.Tier, 0, len(t.declared)+len(t.overrides))
	for name, tr := range t.declared {
		if _, over := t.overrides[name]; !over {
			out = append(out, tr)
		}
	}
	for _, tr := range t.overrides {
		out = append(out, tr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Delete removes a tier set at run time; the configuration's tier of that
// name, if any, applies again.
func (t *Set) Delete(ctx context.Context, store state.Store, name string) error {
	if err := store.DeleteTier(ctx, name); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.changes++
	delete(t.overrides, name)
	return nil
}

// CheckModel refuses (403) a model p's tier does not let its keys call
// directly (passthrough, embeddings, documents' embedding models).
func (t *Set) CheckModel(p *adapters.Principal, model string) error {
	if tier, ok := t.Get(p.Tier); ok && !tier.AllowsModel(model) {
		return &adapters.Error{Kind: adapters.KindForbidden, Code: "model_not_allowed", Param: "model",
			Message: "tier " + adapters.Quote(p.Tier) + " may not call model " + adapters.Quote(model) + " directly"}
	}
	return nil
}
