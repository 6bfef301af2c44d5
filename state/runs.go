package state

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PutRun creates or replaces a run.
func (b *Bolt) PutRun(ctx context.Context, r *Run) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !validID(r.ID) || !validName(r.Tenant) {
		return invalidID("run", r.ID)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("state: encode run %q: %w", r.ID, err)
	}
	return b.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRuns).Put(join(r.Tenant, r.ID), v) })
}

// GetRun returns tenant's run id, or ErrNotFound.
func (b *Bolt) GetRun(ctx context.Context, tenant, id string) (*Run, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	var r *Run
	err := b.view(func(tx *bolt.Tx) error {
		var err error
		r, err = getRun(tx, tenant, id)
		return err
	})
	return r, err
}

func getRun(tx *bolt.Tx, tenant, id string) (*Run, error) {
	if !validID(id) || !validName(tenant) {
		return nil, ErrNotFound
	}
	v := tx.Bucket(bucketRuns).Get(join(tenant, id))
	if v == nil {
		return nil, ErrNotFound
	}
	r := new(Run)
	if err := decode(v, r, "run", id); err != nil {
		return nil, err
	}
	return r, nil
}

// ClaimRun atomically moves tenant's paused run to status.
func (b *Bolt) ClaimRun(ctx context.Context, tenant, id, status string) (*Run, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	var claimed *Run
	err := b.update(func(tx *bolt.Tx) error {
		r, err := getRun(tx, tenant, id)
		if err != nil {
			return err
		}
		if r.Status != RunPaused {
			return fmt.Errorf("state: run %q is %s: %w", id, r.Status, ErrConflict)
		}
		claimed = r
		next := *r
		next.Status = status
		v, err := json.Marshal(&next)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketRuns).Put(join(tenant, id), v)
	})
	return claimed, err
}
