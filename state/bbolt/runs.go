package bbolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/state"
)

// PutRun creates or replaces a run.
func (b *Store) PutRun(ctx context.Context, r *state.Run) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !state.ValidID(r.ID) || !state.ValidName(r.Tenant) {
		return state.InvalidID("run", r.ID)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("state: encode run %q: %w", r.ID, err)
	}
	return b.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRuns).Put(join(r.Tenant, r.ID), v) })
}

// GetRun returns tenant's run id, or state.ErrNotFound.
func (b *Store) GetRun(ctx context.Context, tenant, id string) (*state.Run, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	var r *state.Run
	err := b.view(func(tx *bolt.Tx) error {
		var err error
		r, err = getRun(tx, tenant, id)
		return err
	})
	return r, err
}

func getRun(tx *bolt.Tx, tenant, id string) (*state.Run, error) {
	if !state.ValidID(id) || !state.ValidName(tenant) {
		return nil, state.ErrNotFound
	}
	v := tx.Bucket(bucketRuns).Get(join(tenant, id))
	if v == nil {
		return nil, state.ErrNotFound
	}
	r := new(state.Run)
	if err := decode(v, r, "run", id); err != nil {
		return nil, err
	}
	return r, nil
}

// ClaimRun atomically moves tenant's paused run to status: bbolt's one
// writer at a time makes the check and the write one step.
func (b *Store) ClaimRun(ctx context.Context, tenant, id, status string) (*state.Run, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	var claimed *state.Run
	err := b.update(func(tx *bolt.Tx) error {
		r, err := getRun(tx, tenant, id)
		if err != nil {
			return err
		}
		if r.Status != state.RunPaused {
			return fmt.Errorf("state: run %q is %s: %w", id, r.Status, state.ErrConflict)
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

// SweepRuns removes the runs that expired before t. It reads every run:
// a store holds the runs of the last TTL only, since sweeps keep it so.
func (b *Store) SweepRuns(ctx context.Context, t time.Time) (int, error) {
	if err := b.enter(ctx); err != nil {
		return 0, err
	}
	defer b.exit()
	var n int
	err := b.update(func(tx *bolt.Tx) error {
		n = 0
		bk := tx.Bucket(bucketRuns)
		var expired [][]byte
		err := bk.ForEach(func(k, v []byte) error {
			var r struct {
				Expires time.Time `json:"expires_at"`
			}
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("state: decode run %q: %w", k, err)
			}
			if r.Expires.Before(t) {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		n = len(expired)
		return nil
	})
	return n, err
}
