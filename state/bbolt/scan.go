package bbolt

import (
	"bytes"
	"cmp"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// decodeAll decodes every JSON record of bk whose key starts with prefix,
// in key order; in errors, kind names the record and the rest of its key
// its id.
func decodeAll[T any](bk *bolt.Bucket, prefix []byte, kind string) ([]*T, error) {
	var list []*T
	c := bk.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		r := new(T)
		if err := decode(v, r, kind, string(k[len(prefix):])); err != nil {
			return nil, err
		}
		list = append(list, r)
	}
	return list, nil
}

// deletePrefix deletes every key of bk that starts with prefix and
// returns them. The keys are gathered first: deleting under a cursor
// moves it.
func deletePrefix(bk *bolt.Bucket, prefix []byte) ([][]byte, error) {
	var keys [][]byte
	c := bk.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := bk.Delete(k); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// sortOldestFirst puts list in the order the store's lists promise:
// by creation time, then id (created gives both). Keys order records by
// id alone.
func sortOldestFirst[T any](list []*T, created func(*T) (time.Time, string)) {
	slices.SortStableFunc(list, func(x, y *T) int {
		tx, idx := created(x)
		ty, idy := created(y)
		return cmp.Or(tx.Compare(ty), cmp.Compare(idx, idy))
	})
}
