package bbolt

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/state"
)

// Totals implements state.Totals: the key counts of the agents and keys
// buckets (bbolt counts a bucket's keys page by page, without reading
// their values) and the sessions bucket's count of its sessions (its
// sequence: the bucket holds their turns too).
func (b *Store) Totals(ctx context.Context) (state.ObjectTotals, error) {
	if err := b.enter(ctx); err != nil {
		return state.ObjectTotals{}, err
	}
	defer b.exit()
	var t state.ObjectTotals
	err := b.view(func(tx *bolt.Tx) error {
		t.Agents = int64(tx.Bucket(bucketAgents).Stats().KeyN)
		t.Keys = int64(tx.Bucket(bucketKeys).Stats().KeyN)
		t.Sessions = int64(tx.Bucket(bucketSessions).Sequence())
		return nil
	})
	return t, err
}
