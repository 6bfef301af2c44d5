package agents

import (
	"context"
	"errors"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// Update changes p's tenant's stored agent id with change and stores it,
// stamping UpdatedAt, serialized with agent creation and deletion so
// concurrent updates do not lose each other's changes. An agent the
// operator declared cannot be changed (403); a missing, deleted or other
// tenant's agent is a 404. An error from change is returned as is and
// nothing is stored.
func (r *Registry) Update(ctx context.Context, p *adapters.Principal, id string, change func(*adapters.Agent) error) (*adapters.Agent, error) {
	if a, ok := r.declared[id]; ok && a.VisibleTo(p.Tenant) {
		return nil, &adapters.Error{Kind: adapters.KindForbidden, Code: "agent_declared", Param: "agent",
			Message: "agent " + adapters.Quote(id) + " is declared in the gateway's configuration and cannot be changed through the API"}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.Invalidate(p.Tenant)
	a, err := r.store.GetAgent(ctx, p.Tenant, id)
	if errors.Is(err, state.ErrNotFound) || err == nil && a.Deleted() {
		return nil, agentNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	if err := change(a); err != nil {
		return nil, err
	}
	a.ID, a.Tenant, a.UpdatedAt = id, p.Tenant, r.now()
	if err := r.store.PutAgent(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}
