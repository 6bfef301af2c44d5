package bbolt

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/state"
)

// PutTier creates or replaces a tier set at run time.
func (b *Store) PutTier(ctx context.Context, t *state.Tier) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !state.ValidID(t.Name) {
		return state.InvalidID("tier", t.Name)
	}
	v, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("state: encode tier %q: %w", t.Name, err)
	}
	if err := b.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketTiers).Put([]byte(t.Name), v) }); err != nil {
		return err
	}
	b.publish(state.Change{Kind: state.ChangeTier, ID: t.Name})
	return nil
}

// ListTiers returns the tiers set at run time, by name.
func (b *Store) ListTiers(ctx context.Context) ([]*state.Tier, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	var out []*state.Tier
	err := b.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTiers).ForEach(func(k, v []byte) error {
			t := new(state.Tier)
			if err := decode(v, t, "tier", string(k)); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// DeleteTier removes a tier set at run time, or returns state.ErrNotFound.
func (b *Store) DeleteTier(ctx context.Context, name string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	err := b.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketTiers)
		if bk.Get([]byte(name)) == nil {
			return fmt.Errorf("state: tier %q: %w", name, state.ErrNotFound)
		}
		return bk.Delete([]byte(name))
	})
	if err != nil {
		return err
	}
	b.publish(state.Change{Kind: state.ChangeTier, ID: name})
	return nil
}
