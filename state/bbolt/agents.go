package bbolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// CreateAgent stores a new agent at revision 1; state.ErrExists if its
// tenant already has one with that id.
func (b *Store) CreateAgent(ctx context.Context, a *adapters.Agent) error {
	return b.writeAgent(ctx, a, true)
}

// UpdateAgent replaces tenant's agent a.ID if it is still at a.Revision.
// (Agents stored before revisions existed are at revision 0.)
func (b *Store) UpdateAgent(ctx context.Context, a *adapters.Agent) error {
	return b.writeAgent(ctx, a, false)
}

// writeAgent creates a, or replaces it if it is at revision a.Revision.
func (b *Store) writeAgent(ctx context.Context, a *adapters.Agent, create bool) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if err := state.CheckAgent(a); err != nil {
		return err
	}
	from := a.Revision
	if create {
		from = 0
	}
	next := *a
	next.Revision = from + 1
	v, err := json.Marshal(&next)
	if err != nil {
		return fmt.Errorf("state: encode agent %q: %w", a.ID, err)
	}
	k := join(a.Tenant, a.ID)
	err = b.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketAgents)
		old := bk.Get(k)
		switch {
		case create && old != nil:
			return fmt.Errorf("state: agent %q of tenant %q: %w", a.ID, a.Tenant, state.ErrExists)
		case !create && old == nil:
			return fmt.Errorf("state: agent %q of tenant %q: %w", a.ID, a.Tenant, state.ErrNotFound)
		case !create:
			var prev adapters.Agent
			if err := decode(old, &prev, "agent", a.ID); err != nil {
				return err
			}
			if prev.Revision != from {
				return fmt.Errorf("state: agent %q is at revision %d, not %d: %w", a.ID, prev.Revision, from, state.ErrConflict)
			}
		}
		return bk.Put(k, v)
	})
	if err != nil {
		return err
	}
	a.Revision = next.Revision
	b.publish(state.Change{Kind: state.ChangeAgent, Tenant: a.Tenant, ID: a.ID})
	return nil
}

// GetAgent returns tenant's agent id, or state.ErrNotFound.
func (b *Store) GetAgent(ctx context.Context, tenant, id string) (*adapters.Agent, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidID(id) {
		return nil, state.ErrNotFound
	}
	var a *adapters.Agent
	err := b.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketAgents).Get(join(tenant, id))
		if v == nil {
			return state.ErrNotFound
		}
		a = new(adapters.Agent)
		return decode(v, a, "agent", id)
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// ListAgents returns tenant's agents ordered by creation time, then id.
func (b *Store) ListAgents(ctx context.Context, tenant string) ([]*adapters.Agent, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !state.ValidName(tenant) {
		return nil, nil
	}
	var list []*adapters.Agent
	err := b.view(func(tx *bolt.Tx) (err error) {
		list, err = decodeAll[adapters.Agent](tx.Bucket(bucketAgents), join(tenant, ""), "agent")
		return err
	})
	if err != nil {
		return nil, err
	}
	sortOldestFirst(list, func(a *adapters.Agent) (time.Time, string) { return a.CreatedAt, a.ID })
	return list, nil
}

// DeleteAgent removes tenant's agent id, or returns state.ErrNotFound.
func (b *Store) DeleteAgent(ctx context.Context, tenant, id string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidID(id) {
		return state.ErrNotFound
	}
	k := join(tenant, id)
	err := b.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketAgents)
		if bk.Get(k) == nil {
			return state.ErrNotFound
		}
		return bk.Delete(k)
	})
	if err != nil {
		return err
	}
	b.publish(state.Change{Kind: state.ChangeAgent, Tenant: tenant, ID: id})
	return nil
}

// decode unmarshals a stored value, naming the object on failure.
func decode(v []byte, into any, kind, id string) error {
	if err := json.Unmarshal(v, into); err != nil {
		return fmt.Errorf("state: decode %s %q: %w", kind, id, err)
	}
	return nil
}
