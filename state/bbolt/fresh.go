package bbolt

import (
	"cmp"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// appendFill is the FillPercent of the buckets written in key order, a
// batch at a time (usage records and their ids, turn records): bbolt
// splits a page at half its size by default, which suits random inserts
// but leaves every page of an append-only bucket half empty, so a batch
// would write twice the pages it needs. A little room is left for the
// records that arrive late (the ids of long streams sort by when they
// began).
const appendFill = 0.9

// storedKeys reports which of keys bk holds already, or an earlier key of
// keys repeats (a batch that names an id twice adds it once); an empty key
// (a record without an id) is never stored. The keys are looked up in key
// order with one cursor, sought again only past the bucket's next key: a
// gateway's batch is of ids made in time order, new and sorting together,
// so it costs about one seek instead of a walk from the root for each
// key.
func storedKeys[K ~string | ~[]byte](bk *bolt.Bucket, keys []K) []bool {
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ka, kb := keys[a], keys[b]
		switch {
		case string(ka) < string(kb):
			return -1
		case string(ka) > string(kb):
			return 1
		}
		return cmp.Compare(a, b)
	})
	stored := make([]bool, len(keys))
	c := bk.Cursor()
	// next is bk's first key at or after the key last sought: no key of
	// bk lies between the two.
	var next []byte
	sought := false
	for j, i := range order {
		k := keys[i]
		switch {
		case len(k) == 0:
			continue
		case j > 0 && string(keys[order[j-1]]) == string(k):
			stored[i] = true
			continue
		case !sought || next != nil && string(next) < string(k):
			next, _ = c.Seek([]byte(k))
			sought = true
		}
		stored[i] = next != nil && string(next) == string(k)
	}
	return stored
}
