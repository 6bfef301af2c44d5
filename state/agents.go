package state

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/adapters"
)

// CreateAgent stores a new agent; ErrExists if its tenant already has one
// with that id.
func (b *Bolt) CreateAgent(ctx context.Context, a *adapters.Agent) error {
	return b.putAgent(ctx, a, true)
}

// PutAgent creates or replaces an agent.
func (b *Bolt) PutAgent(ctx context.Context, a *adapters.Agent) error {
	return b.putAgent(ctx, a, false)
}

func (b *Bolt) putAgent(ctx context.Context, a *adapters.Agent, create bool) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !validName(a.Tenant) {
		return invalidID("tenant", a.Tenant)
	}
	if !validID(a.ID) {
		return invalidID("agent id", a.ID)
	}
	v, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("state: encode agent %q: %w", a.ID, err)
	}
	k := join(a.Tenant, a.ID)
	defer b.cache.invalidate(agentCacheKey(a.Tenant, a.ID))
	return b.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketAgents)
		if create && bk.Get(k) != nil {
			return fmt.Errorf("state: agent %q of tenant %q: %w", a.ID, a.Tenant, ErrExists)
		}
		return bk.Put(k, v)
	})
}

// GetAgent returns tenant's agent id, or ErrNotFound.
func (b *Bolt) GetAgent(ctx context.Context, tenant, id string) (*adapters.Agent, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !validName(tenant) || !validID(id) {
		return nil, ErrNotFound
	}
	ck := agentCacheKey(tenant, id)
	if v, ok := b.cache.get(ck); ok {
		return cloneAgent(v.(*adapters.Agent)), nil
	}
	token := b.cache.begin(ck)
	var a *adapters.Agent
	err := b.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketAgents).Get(join(tenant, id))
		if v == nil {
			return ErrNotFound
		}
		a = new(adapters.Agent)
		return decode(v, a, "agent", id)
	})
	if err != nil {
		return nil, err
	}
	b.cache.fill(ck, token, a)
	return cloneAgent(a), nil
}

// ListAgents returns tenant's agents ordered by creation time, then id.
func (b *Bolt) ListAgents(ctx context.Context, tenant string) ([]*adapters.Agent, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !validName(tenant) {
		return nil, nil
	}
	var list []*adapters.Agent
	prefix := join(tenant, "")
	err := b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAgents).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			a := new(adapters.Agent)
			if err := decode(v, a, "agent", string(k[len(prefix):])); err != nil {
				return err
			}
			list = append(list, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(list, func(x, y *adapters.Agent) int {
		return cmp.Or(x.CreatedAt.Compare(y.CreatedAt), cmp.Compare(x.ID, y.ID))
	})
	return list, nil
}

// DeleteAgent removes tenant's agent id, or returns ErrNotFound.
func (b *Bolt) DeleteAgent(ctx context.Context, tenant, id string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !validName(tenant) || !validID(id) {
		return ErrNotFound
	}
	k := join(tenant, id)
	defer b.cache.invalidate(agentCacheKey(tenant, id))
	return b.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketAgents)
		if bk.Get(k) == nil {
			return ErrNotFound
		}
		return bk.Delete(k)
	})
}

// decode unmarshals a stored value, naming the object on failure.
func decode(v []byte, into any, kind, id string) error {
	if err := json.Unmarshal(v, into); err != nil {
		return fmt.Errorf("state: decode %s %q: %w", kind, id, err)
	}
	return nil
}
