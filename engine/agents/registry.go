// Package agents is the agent registry: the operator's declared agents
// and the agents tenants store through the APIs, found by id or by name,
// created, changed and soft-deleted, and their published versions.
package agents

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
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
}

// Registry is the agents of every tenant. It is safe for concurrent use.
type Registry struct {
	store         state.Store
	declared      map[string]*adapters.Agent
	declaredOrder []*adapters.Agent
	now           func() time.Time
	// mu serializes agent creation, changes and deletion, which read then
	// write (taking the id of a deleted agent again).
	mu sync.Mutex
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
	return r, nil
}

// Get returns the agent id (or, failing that, the agent named id) that p
// may use. Operator-declared agents are visible to every tenant they name
// (all when they name none); stored agents only to their own tenant.
// Soft-deleted agents, and agents of projects p's key may not use, are
// not found.
func (r *Registry) Get(ctx context.Context, p *adapters.Principal, id string) (*adapters.Agent, error) {
	if a, ok := r.declared[id]; ok && a.VisibleTo(p.Tenant) {
		return a, nil
	}
	a, err := r.store.GetAgent(ctx, p.Tenant, id)
	if err == nil && !a.Deleted() && a.VisibleToPrincipal(p) {
		return a, nil
	}
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return nil, err
	}
	for _, d := range r.declaredOrder {
		if d.Name == id && d.VisibleTo(p.Tenant) {
			return d, nil
		}
	}
	all, err := r.store.ListAgents(ctx, p.Tenant)
	if err != nil {
		return nil, err
	}
	for _, a := range all {
		if a.Name == id && !a.Deleted() && a.VisibleToPrincipal(p) {
			return a, nil
		}
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
	stored, err := r.store.ListAgents(ctx, p.Tenant)
	if err != nil {
		return nil, err
	}
	out := make([]*adapters.Agent, 0, len(r.declaredOrder)+len(stored))
	for _, a := range r.declaredOrder {
		if a.VisibleTo(p.Tenant) {
			out = append(out, a)
		}
	}
	for _, a := range stored {
		if !a.Deleted() && a.VisibleToPrincipal(p) {
			out = append(out, a)
		}
	}
	return out, nil
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
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.store.CreateAgent(ctx, a)
	if !errors.Is(err, state.ErrExists) {
		return err
	}
	prev, gerr := r.store.GetAgent(ctx, a.Tenant, a.ID)
	if gerr != nil || !prev.Deleted() {
		return exists
	}
	return r.store.PutAgent(ctx, a)
}

// Delete soft-deletes p's tenant's agent id: it disappears from every
// dialect, its system prompt is removed from storage, and its sessions and
// runs are kept. Declared agents cannot be deleted (403).
func (r *Registry) Delete(ctx context.Context, p *adapters.Principal, id string) error {
	if a, ok := r.declared[id]; ok && a.VisibleTo(p.Tenant) {
		return &adapters.Error{Kind: adapters.KindForbidden, Code: "agent_declared", Param: "agent",
			Message: "agent " + adapters.Quote(id) + " is declared in the gateway's configuration and cannot be deleted through the API"}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	a, err := r.store.GetAgent(ctx, p.Tenant, id)
	if errors.Is(err, state.ErrNotFound) || (err == nil && (a.Deleted() || !a.VisibleToPrincipal(p))) {
		return agentNotFound(id)
	}
	if err != nil {
		return err
	}
	now := r.now()
	a.DeletedAt, a.UpdatedAt, a.SystemPrompt = now, now, ""
	return r.store.PutAgent(ctx, a)
}

// IsDeclared reports whether id names an operator-declared agent, whose id
// no API may take.
func (r *Registry) IsDeclared(id string) bool {
	_, ok := r.declared[id]
	return ok
}
