package state

import (
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DeclaredKeys remembers when the gateway first ran with each API key its
// configuration declares. Such keys are never stored (their secret lives
// in the configuration and they authenticate only while it names them),
// so this first sighting is their creation time: what `key list` shows,
// the same across restarts and reloads.
type DeclaredKeys interface {
	// DeclaredKeysSeen returns when each of ids was first declared,
	// recording at for the ids never seen before.
	DeclaredKeysSeen(ctx context.Context, ids []string, at time.Time) (map[string]time.Time, error)
}

var _ DeclaredKeys = (*Bolt)(nil)

// bucketDeclaredKeys holds key id → first sighting (8-byte BE unix nanos).
var bucketDeclaredKeys = []byte("declaredkeys")

func init() { dataBuckets = append(dataBuckets, bucketDeclaredKeys) }

// DeclaredKeysSeen implements DeclaredKeys in one transaction, which
// writes only when some id is new.
func (b *Bolt) DeclaredKeysSeen(ctx context.Context, ids []string, at time.Time) (map[string]time.Time, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	for _, id := range ids {
		if !validID(id) {
			return nil, invalidID("key id", id)
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
