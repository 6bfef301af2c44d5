package agents

import (
	"context"
	"errors"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// Update changes p's tenant's stored agent id with change and stores it,
// stamping UpdatedAt. Concurrent updates, on this instance or another, do
// not lose each other's changes: each writes at the revision it read, and
// one that lost the race reads again and reapplies change (so change must
// depend only on the agent it is given). An agent the operator declared
// cannot be changed (403); a missing, deleted or other tenant's agent is a
// 404; an update that keeps losing races is a 409. An error from change is
// returned as is and nothing is stored.
func (r *Registry) Update(ctx context.Context, p *adapters.Principal, id string, change func(*adapters.Agent) error) (*adapters.Agent, error) {
	if a, ok := r.declared[id]; ok && a.VisibleTo(p.Tenant) {
		return nil, &adapters.Error{Kind: adapters.KindForbidden, Code: "agent_declared", Param: "agent",
			Message: "agent " + adapters.Quote(id) + " is declared in the gateway's configuration and cannot be changed through the API"}
	}
	a, err := r.change(ctx, p.Tenant, id, func(a *adapters.Agent) error {
		if a.Deleted() {
			return agentNotFound(id)
		}
		if err := change(a); err != nil {
			return err
		}
		a.ID, a.Tenant, a.UpdatedAt = id, p.Tenant, r.now()
		return nil
	})
	if errors.Is(err, state.ErrNotFound) {
		return nil, agentNotFound(id)
	}
	return a, err
}

// agentWriteAttempts bounds the tries of one agent write that keeps
// finding the agent changed by another writer since it read it.
const agentWriteAttempts = 8

// change reads tenant's stored agent id, applies change and writes it back
// at the revision it read; when another writer came first it reads again
// and retries. Errors of change and of the store (ErrNotFound for a
// missing agent) are returned as they are; a write that loses every race
// is a 409 the client may retry. The tenant's index is dropped after a
// write.
func (r *Registry) change(ctx context.Context, tenant, id string, change func(*adapters.Agent) error) (*adapters.Agent, error) {
	for range agentWriteAttempts {
		a, err := r.store.GetAgent(ctx, tenant, id)
		if err != nil {
			return nil, err
		}
		if err := change(a); err != nil {
			return nil, err
		}
		err = r.store.UpdateAgent(ctx, a)
		if errors.Is(err, state.ErrConflict) {
			continue
		}
		r.Invalidate(tenant)
		if err != nil {
			return nil, err
		}
		return a, nil
	}
	return nil, &adapters.Error{Kind: adapters.KindConflict, Code: "agent_conflict", Param: "agent",
		Message: "agent " + adapters.Quote(id) + " kept changing while this update was applied; retry it"}
}
