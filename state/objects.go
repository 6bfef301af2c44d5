package state

import (
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Objects records which tenant made each object an upstream keeps (files,
// batches, vector stores, uploads, fine-tuning jobs, …) through the
// gateway's passthrough, and at which provider, so a tenant reaches only
// its own: the upstream account is shared, its ids are not.
//
// Ownership is first come: an id a tenant owns is never given to another.
type Objects interface {
	// ClaimObjects records tenant as the owner of ids at provider, in one
	// transaction; ids owned already (by anyone) keep their owner.
	ClaimObjects(ctx context.Context, tenant, provider string, ids []string, at time.Time) error
	// ObjectOwners returns the owners of those of ids that have one.
	ObjectOwners(ctx context.Context, ids []string) (map[string]ObjectOwner, error)
	// ReleaseObject forgets id if tenant owns it (the upstream deleted it).
	ReleaseObject(ctx context.Context, tenant, id string) error
}

// ObjectOwner is who made an upstream object, where and when.
type ObjectOwner struct {
	Tenant   string    `json:"tenant"`
	Provider string    `json:"provider"`
	Created  time.Time `json:"created_at"`
}

// bucketObjects holds object id → ObjectOwner.
var bucketObjects = []byte("objects")

func init() { dataBuckets = append(dataBuckets, bucketObjects) }

var _ Objects = (*Bolt)(nil)

// ClaimObjects implements Objects; concurrent calls are group-committed.
func (b *Bolt) ClaimObjects(ctx context.Context, tenant, provider string, ids []string, at time.Time) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !validName(tenant) {
		return invalidID("tenant", tenant)
	}
	for _, id := range ids {
		if !validID(id) {
			return invalidID("object id", id)
		}
	}
	v, err := json.Marshal(ObjectOwner{Tenant: tenant, Provider: provider, Created: at.UTC()})
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

// ObjectOwners implements Objects.
func (b *Bolt) ObjectOwners(ctx context.Context, ids []string) (map[string]ObjectOwner, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	out := make(map[string]ObjectOwner, len(ids))
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketObjects)
		for _, id := range ids {
			v := bk.Get([]byte(id))
			if v == nil {
				continue
			}
			var o ObjectOwner
			if err := decode(v, &o, "object owner", id); err != nil {
				return err
			}
			out[id] = o
		}
		return nil
	})
	return out, err
}

// ReleaseObject implements Objects.
func (b *Bolt) ReleaseObject(ctx context.Context, tenant, id string) error {
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
		var o ObjectOwner
		if err := decode(v, &o, "object owner", id); err != nil {
			return err
		}
		if o.Tenant != tenant {
			return nil
		}
		return bk.Delete([]byte(id))
	})
}
