package state

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PutTier creates or replaces a tier set at run time.
func (b *Bolt) PutTier(ctx context.Context, t *Tier) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !validID(t.Name) {
		return invalidID("tier", t.Name)
	}
	v, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("state: encode tier %q: %w", t.Name, err)
	}
	return b.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketTiers).Put([]byte(t.Name), v) })
}

// ListTiers returns the tiers set at run time, by name.
func (b *Bolt) ListTiers(ctx context.Context) ([]*Tier, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	var out []*Tier
	err := b.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTiers).ForEach(func(k, v []byte) error {
			t := new(Tier)
			if err := decode(v, t, "tier", string(k)); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// DeleteTier removes a tier set at run time, or returns ErrNotFound.
func (b *Bolt) DeleteTier(ctx context.Context, name string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	return b.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketTiers)
		if bk.Get([]byte(name)) == nil {
			return fmt.Errorf("state: tier %q: %w", name, ErrNotFound)
		}
		return bk.Delete([]byte(name))
	})
}
