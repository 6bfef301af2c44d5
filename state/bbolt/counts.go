package bbolt

import (
	"bytes"
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/state"
)

// AddCount adds delta to tenant's counter name and returns its new value.
func (b *Store) AddCount(ctx context.Context, tenant, name string, delta int64) (int64, error) {
	if err := b.enter(ctx); err != nil {
		return 0, err
	}
	defer b.exit()
	if !state.ValidName(tenant) {
		return 0, state.InvalidID("tenant", tenant)
	}
	if !state.ValidID(name) {
		return 0, state.InvalidID("counter", name)
	}
	k := join(tenant, name)
	var n int64
	// The commit may run this more than once, each time in a new transaction:
	// n is set from the committed transaction's value.
	err := b.batch(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketCounts)
		n = decodeInt64(bk.Get(k)) + delta
		return bk.Put(k, encodeInt64(n))
	})
	return n, err
}

// CountsWithPrefix returns tenant's counters whose names start with
// prefix.
func (b *Store) CountsWithPrefix(ctx context.Context, tenant, prefix string) (map[string]int64, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	out := map[string]int64{}
	if !state.ValidName(tenant) || !state.ValidName(prefix) {
		return out, nil
	}
	tp := join(tenant, "")
	start := join(tenant, prefix)
	err := b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketCounts).Cursor()
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, start); k, v = c.Next() {
			out[string(k[len(tp):])] = decodeInt64(v)
		}
		return nil
	})
	return out, err
}
