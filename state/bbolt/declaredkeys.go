package bbolt

import (
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/state"
)

// DeclaredKeysSeen implements state.Keys in one transaction, which
// writes only when some id is new.
func (b *Store) DeclaredKeysSeen(ctx context.Context, ids []string, at time.Time) (map[string]time.Time, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	for _, id := range ids {
		if !state.ValidID(id) {
			return nil, state.InvalidID("key id", id)
		}
	}
	out := make(map[string]time.Time, len(ids))
	var fresh []string
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketDeclaredKeys)
		for _, id := range ids {
			if v := bk.Get([]byte(id)); len(v) == 8 {
				out[id] = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
			} else {
				fresh = append(fresh, id)
			}
		}
		return nil
	})
	if err != nil || len(fresh) == 0 {
		return out, err
	}
	err = b.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketDeclaredKeys)
		for _, id := range fresh {
			// Another process cannot hold the file, but a reload provisions
			// the next config while the last still runs: keep a sighting
			// recorded in between.
			if v := bk.Get([]byte(id)); len(v) == 8 {
				out[id] = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
				continue
			}
			if err := bk.Put([]byte(id), binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))); err != nil {
				return err
			}
			out[id] = at.UTC()
		}
		return nil
	})
	return out, err
}
