// Package agents is the agent registry: the operator's declared agents
// and the agents tenants store through the APIs, found by id or by name
// (index.go: one lookup per request, misses included), created, changed
// and soft-deleted, and their published versions.
package agents

import (
	"context"
	"errors"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/cache"
)

// Config is what a Registry is built from.
type Config struct {
	Store state.Store
	// Declared are the operator's agents, in configuration order, already
	// checked (unique ids, routed models, valid settings) and marked
	// Declared.
	Declared []*adapters.Agent
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// IndexTTL bounds how long a tenant's index is used before it is read
	// again from the store: the staleness bound of writes that do not pass
	// through this registry (another instance's, without Invalidate
	// hooked to the store's changes). Default 1 minute.
	IndexTTL time.Duration
	// IndexTenants bounds the tenants whose index is kept, least recently
	// used first out; default 1024.
	IndexTenants int
}

// Registry is the agents of every tenant. It is safe for concurrent use;
// writes use the store's optimistic concurrency, so instances sharing a
// store need no lock between them.
type Registry struct {
	store         state.Store
	declared      map[string]*adapters.Agent
	declaredOrder []*adapters.Agent
	now           func() time.Time
	index         *index
	// unfollow stops following the store's changes.
	unfollow func()
}

// New returns the registry of cfg's declared agents and store.
func New(cfg Config) (*Registry, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	r := &Registry{store: cfg.Store, declared: make(map[string]*adapters.Agent, len(cfg.Declared)),
		declaredOrder: cfg.Declared, now: now}
	for _, a := range cfg.Declared {
		r.declared[a.ID] = a
	}
	var err error
	r.index, err = newIndex(cfg.Store, cfg.Declared, now, cfg.IndexTTL, cfg.IndexTenants)
	if err != nil {
		return nil, err
	}
	r.unfollow = cfg.Store.Subscribe(r.follow)
	return r, nil
}

// Close stops following the store's changes.
func (r *Registry) Close() { r.unfollow() }

// Invalidate drops what the registry knows of tenant's stored agents (of
// every tenant when tenant is empty), so the next lookup reads them from
// the store again. The registry calls it after its own writes and when
// the store tells of a write made elsewhere (follow).
func (r *Registry) Invalidate(tenant string) { r.index.invalidate(tenant) }

// follow drops the index of a tenant whose agents changed, through any
// instance sharing the store, and every index after a gap in the store's
// changes (the feed stopped, or came back).
func (r *Registry) follow(c state.Change) {
	switch c.Kind {
	case state.ChangeAgent:
		r.Invalidate(c.Tenant)
	case state.ChangeGap:
		r.Invalidate("")
	}
}

// Get returns the agent id (or, failing that, the agent named id) that p
// may use. Operator-declared agents are visible to every tenant they name
// (all when they name none); stored agents only to their own tenant.
// Soft-deleted agents, and agents of projects p's key may not use, are
// not found. It costs one lookup in the tenant's index, misses included.
func (r *Registry) Get(ctx context.Context, p *adapters.Principal, id string) (*adapters.Agent, error) {
	t, err := r.index.tenant(ctx, p.Tenant)
	if err != nil {
		return nil, err
	}
	if a := t.find(p, id); a != nil {
		return handOut(a), nil
	}
	return nil, agentNotFound(id)
}

func agentNotFound(id string) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindNotFound, Code: "agent_not_found", Param: "agent",
		Message: "agent " + adapters.Quote(id) + " not found"}
}

// List lists the agents p may use: declared ones first, in configuration
// order, then the tenant's own by creation time (those of projects p's
// key may not use left out).
func (r *Registry) List(ctx context.Context, p *adapters.Principal) ([]*adapters.Agent, error) {
	t, err := r.index.tenant(ctx, p.Tenant)
	if err != nil {
		return nil, err
	}
	out := make([]*adapters.Agent, 0, len(t.ordered))
	for _, a := range t.ordered {
		if a.Declared || a.VisibleToPrincipal(p) {
			out = append(out, handOut(a))
		}
	}
	return out, nil
}

// handOut is what callers get of an indexed agent: a declared agent as
// configured (shared, never changed), a stored one as a copy of its own,
// which the caller may change without touching the index.
func handOut(a *adapters.Agent) *adapters.Agent {
	if a.Declared {
		return a
	}
	return cache.CloneAgent(a)
}

// Create stores a new agent of a.Tenant. An id an operator declared, or
// one the tenant already uses, is a 409 naming "id"; the id of an agent
// the tenant deleted may be taken again (the new agent replaces the
// tombstone, and continues the sessions kept under that id).
func (r *Registry) Create(ctx context.Context, a *adapters.Agent) error {
	exists := &adapters.Error{Kind: adapters.KindConflict, Code: "agent_exists", Param: "id",
		Message: "agent " + adapters.Quote(a.ID) + " already exists"}
	if r.IsDeclared(a.ID) {
		exists.Message += " (declared in the gateway's configuration)"
		return exists
	}
	err := r.store.CreateAgent(ctx, a)
	r.Invalidate(a.Tenant)
	if !errors.Is(err, state.ErrExists) {
		return err
	}
	stored, err := r.change(ctx, a.Tenant, a.ID, func(prev *adapters.Agent) error {
		if !prev.Deleted() {
			return exists
		}
		rev := prev.Revision
		*prev = *a
		prev.Revision = rev
		return nil
	})
	if errors.Is(err, state.ErrNotFound) {
		return exists // the tombstone went between the two writes
	}
	if err != nil {
		return err
	}
	a.Revision = stored.Revision
	return nil
}

// Delete soft-deletes p's tenant's agent id: it disappears from every
// dialect, its system prompt is removed from storage, and its sessions and
// runs are kept. Declared agents cannot be deleted (403).
func (r *Registry) Delete(ctx context.Context, p *adapters.Principal, id string) error {
	if a, ok := r.declared[id]; ok && a.VisibleTo(p.Tenant) {
		return &adapters.Error{Kind: adapters.KindForbidden, Code: "agent_declared", Param: "agent",
			Message: "agent " + adapters.Quote(id) + " is declared in the gateway's configuration and cannot be deleted through the API"}
	}
	_, err := r.change(ctx, p.Tenant, id, func(a *adapters.Agent) error {
		if a.Deleted() || !a.VisibleToPrincipal(p) {
			return agentNotFound(id)
		}
		now := r.now()
		a.DeletedAt, a.UpdatedAt, a.SystemPrompt = now, now, ""
		return nil
	})
	if errors.Is(err, state.ErrNotFound) {
		return agentNotFound(id)
	}
	return err
}

// IsDeclared reports whether id names an operator-declared agent, whose id
// no API may take.
func (r *Registry) IsDeclared(id string) bool {
	_, ok := r.declared[id]
	return ok
}
