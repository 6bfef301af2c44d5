package bbolt

import (
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/state"
)

// bucketObjects holds object id → ObjectOwner.
var bucketObjects = []byte("objects")

func init() { dataBuckets = append(dataBuckets, bucketObjects) }

// ClaimObjects implements state.Objects; concurrent calls are group-committed.
func (b *Store) ClaimObjects(ctx context.Context, tenant, provider string, ids []string, at time.Time) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !state.ValidName(tenant) {
		return state.InvalidID("tenant", tenant)
	}
	for _, id := range ids {
		if !state.ValidID(id) {
			return state.InvalidID("object id", id)
		}
	}
	v, err := json.Marshal(state.ObjectOwner{Tenant: tenant, Provider: provider, Created: at.UTC()})
	if err != nil {
		return err
	}
	return b.batch(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketObjects)
		for _, id := range ids {
			if bk.Get([]byte(id)) != nil {
				continue
			}
			if err := bk.Put([]byte(id), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// ObjectOwners implements state.Objects.
func (b *Store) ObjectOwners(ctx context.Context, ids []string) (map[string]state.ObjectOwner, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	out := make(map[string]state.ObjectOwner, len(ids))
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketObjects)
		for _, id := range ids {
			v := bk.Get([]byte(id))
			if v == nil {
				continue
			}
			var o state.ObjectOwner
			if err := decode(v, &o, "object owner", id); err != nil {
				return err
			}
			out[id] = o
		}
		return nil
	})
	return out, err
}

// ReleaseObject implements state.Objects.
func (b *Store) ReleaseObject(ctx context.Context, tenant, id string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	return b.batch(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketObjects)
		v := bk.Get([]byte(id))
		if v == nil {
			return nil
		}
		var o state.ObjectOwner
		if err := decode(v, &o, "object owner", id); err != nil {
			return err
		}
		if o.Tenant != tenant {
			return nil
		}
		return bk.Delete([]byte(id))
	})
}
