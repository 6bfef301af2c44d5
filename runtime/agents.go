package runtime

import (
	"context"
	"errors"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// Agent returns the agent id (or, failing that, the agent named id) that p
// may use. Operator-declared agents are visible to every tenant they name
// (all when they name none); stored agents only to their own tenant.
// Soft-deleted agents, and agents of projects p's key may not use, are
// not found.
func (rt *Runtime) Agent(ctx context.Context, p *adapters.Principal, id string) (*adapters.Agent, error) {
	if a, ok := rt.declared[id]; ok && a.VisibleTo(p.Tenant) {
		return a, nil
	}
	a, err := rt.store.GetAgent(ctx, p.Tenant, id)
	if err == nil && !a.Deleted() && a.VisibleToPrincipal(p) {
		return a, nil
	}
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return nil, err
	}
	for _, d := range rt.declaredOrder {
		if d.Name == id && d.VisibleTo(p.Tenant) {
			return d, nil
		}
	}
	all, err := rt.store.ListAgents(ctx, p.Tenant)
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
		Message: "agent " + quote(id) + " not found"}
}

// Agents lists the agents p may use: declared ones first, in configuration
// order, then the tenant's own by creation time (those of projects p's
// key may not use left out).
func (rt *Runtime) Agents(ctx context.Context, p *adapters.Principal) ([]*adapters.Agent, error) {
	stored, err := rt.store.ListAgents(ctx, p.Tenant)
	if err != nil {
		return nil, err
	}
	out := make([]*adapters.Agent, 0, len(rt.declaredOrder)+len(stored))
	for _, a := range rt.declaredOrder {
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

// CreateAgent stores a new agent of a.Tenant. An id an operator declared,
// or one the tenant already uses, is a 409 naming "id"; the id of an
// agent the tenant deleted may be taken again (the new agent replaces the
// tombstone, and continues the sessions kept under that id).
func (rt *Runtime) CreateAgent(ctx context.Context, a *adapters.Agent) error {
	exists := &adapters.Error{Kind: adapters.KindConflict, Code: "agent_exists", Param: "id",
		Message: "agent " + quote(a.ID) + " already exists"}
	if rt.IsDeclared(a.ID) {
		exists.Message += " (declared in the gateway's configuration)"
		return exists
	}
	err := rt.store.CreateAgent(ctx, a)
	if !errors.Is(err, state.ErrExists) {
		return err
	}
	stored, err := rt.changeAgent(ctx, a.Tenant, a.ID, func(prev *adapters.Agent) error {
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

// DeleteAgent soft-deletes p's tenant's agent id: it disappears from every
// dialect, its system prompt is removed from storage, and its sessions and
// runs are kept. Declared agents cannot be deleted (403).
func (rt *Runtime) DeleteAgent(ctx context.Context, p *adapters.Principal, id string) error {
	if a, ok := rt.declared[id]; ok && a.VisibleTo(p.Tenant) {
		return &adapters.Error{Kind: adapters.KindForbidden, Code: "agent_declared", Param: "agent",
			Message: "agent " + quote(id) + " is declared in the gateway's configuration and cannot be deleted through the API"}
	}
	_, err := rt.changeAgent(ctx, p.Tenant, id, func(a *adapters.Agent) error {
		if a.Deleted() || !a.VisibleToPrincipal(p) {
			return agentNotFound(id)
		}
		now := rt.now()
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
func (rt *Runtime) IsDeclared(id string) bool {
	_, ok := rt.declared[id]
	return ok
}

func quote(s string) string {
	if len(s) > 128 {
		s = s[:128] + "…"
	}
	return "'" + s + "'"
}

// Passthrough returns an ad-hoc agent that calls model directly, for
// OpenAI-compatible clients that name an upstream model rather than an
// agent: no system prompt, no tools, no memory. The model must be routed
// explicitly and allowed by p's tier.
func (rt *Runtime) Passthrough(p *adapters.Principal, model string) (*adapters.Agent, error) {
	if _, _, ok := rt.router.Match(model); !ok {
		return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
			Message: "model " + quote(model) + " is neither an agent nor a routed model"}
	}
	if err := rt.checkModelAllowed(p, model); err != nil {
		return nil, err
	}
	return &adapters.Agent{Name: model, Model: model, Status: adapters.StatusActive}, nil
}

func (rt *Runtime) checkModelAllowed(p *adapters.Principal, model string) error {
	if tier, ok := rt.tiers.Get(p.Tier); ok && !tier.AllowsModel(model) {
		return &adapters.Error{Kind: adapters.KindForbidden, Code: "model_not_allowed", Param: "model",
			Message: "tier " + quote(p.Tier) + " may not call model " + quote(model) + " directly"}
	}
	return nil
}
