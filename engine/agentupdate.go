package engine

import (
	"context"
	"errors"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// UpdateAgent changes p's tenant's stored agent id with change and stores
// it, stamping UpdatedAt, serialized with agent creation and deletion so
// concurrent updates do not lose each other's changes. An agent the
// operator declared cannot be changed (403); a missing, deleted or other
// tenant's agent is a 404. An error from change is returned as is and
// nothing is stored.
func (rt *Runtime) UpdateAgent(ctx context.Context, p *adapters.Principal, id string, change func(*adapters.Agent) error) (*adapters.Agent, error) {
	if a, ok := rt.declared[id]; ok && a.VisibleTo(p.Tenant) {
		return nil, &adapters.Error{Kind: adapters.KindForbidden, Code: "agent_declared", Param: "agent",
			Message: "agent " + quote(id) + " is declared in the gateway's configuration and cannot be changed through the API"}
	}
	rt.agentsMu.Lock()
	defer rt.agentsMu.Unlock()
	a, err := rt.store.GetAgent(ctx, p.Tenant, id)
	if errors.Is(err, state.ErrNotFound) || err == nil && a.Deleted() {
		return nil, agentNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	if err := change(a); err != nil {
		return nil, err
	}
	a.ID, a.Tenant, a.UpdatedAt = id, p.Tenant, rt.now()
	if err := rt.store.PutAgent(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}
