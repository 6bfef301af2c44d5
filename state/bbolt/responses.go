package bbolt

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/state"
)

// PutResponse creates or replaces a stored response. Concurrent calls
// share one transaction.
func (b *Store) PutResponse(ctx context.Context, r *state.StoredResponse) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !state.ValidName(r.Tenant) {
		return state.InvalidID("tenant", r.Tenant)
	}
	if !state.ValidID(r.ID) {
		return state.InvalidID("response id", r.ID)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("state: encode response %q: %w", r.ID, err)
	}
	key := join(r.Tenant, r.ID)
	// The commit may run this more than once, in a new transaction each time.
	return b.batch(func(tx *bolt.Tx) error { return tx.Bucket(bucketResponses).Put(key, v) })
}

// GetResponse returns tenant's stored response id, or state.ErrNotFound.
func (b *Store) GetResponse(ctx context.Context, tenant, id string) (*state.StoredResponse, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidID(id) {
		return nil, state.ErrNotFound
	}
	var out *state.StoredResponse
	err := b.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketResponses).Get(join(tenant, id))
		if v == nil {
			return state.ErrNotFound
		}
		out = new(state.StoredResponse)
		return decode(v, out, "response", id)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteResponse removes tenant's stored response id, or returns
// state.ErrNotFound.
func (b *Store) DeleteResponse(ctx context.Context, tenant, id string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidID(id) {
		return state.ErrNotFound
	}
	key := join(tenant, id)
	return b.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketResponses)
		if bk.Get(key) == nil {
			return state.ErrNotFound
		}
		return bk.Delete(key)
	})
}
