package bbolt

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestStoredKeys: storedKeys finds what a Get per key would, and a key
// repeated in the batch after its first time, whatever the batch's order
// and wherever its keys fall among the bucket's.
func TestStoredKeys(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "keys.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := []string{"emb-1", "run-2", "run-4", "run-6", "tool-1"}
	if err := db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucket([]byte("ids"))
		if err != nil {
			return err
		}
		for _, k := range stored {
			if err := bk.Put([]byte(k), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		keys []string
		want []bool
	}{
		{"none", nil, []bool{}},
		{"new, after every key", []string{"zz-1", "zz-2", "zz-3"}, []bool{false, false, false}},
		{"new, before every key", []string{"a-2", "a-1"}, []bool{false, false}},
		{"new, between keys", []string{"run-3", "run-5", "run-7", "run-8"}, []bool{false, false, false, false}},
		{"stored", []string{"run-6", "emb-1", "tool-1"}, []bool{true, true, true}},
		{"mixed, out of order", []string{"run-5", "run-4", "run-3", "run-2", "fwd-1", "tool-1", "zz"}, []bool{false, true, false, true, false, true, false}},
		{"repeated in the batch", []string{"run-9", "run-8", "run-9", "run-9"}, []bool{false, false, true, true}},
		{"repeated and stored", []string{"run-4", "run-4"}, []bool{true, true}},
		{"no id", []string{"", "run-3", "", "run-2"}, []bool{false, false, false, true}},
		{"prefix of a stored key", []string{"run-", "run-22", "tool-"}, []bool{false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := db.View(func(tx *bolt.Tx) error {
				bk := tx.Bucket([]byte("ids"))
				byteKeys := make([][]byte, len(tc.keys))
				for i, k := range tc.keys {
					if k != "" {
						byteKeys[i] = []byte(k)
					}
				}
				for _, got := range [][]bool{storedKeys(bk, tc.keys), storedKeys(bk, byteKeys)} {
					if !slices.Equal(got, tc.want) {
						return fmt.Errorf("storedKeys(%q) = %v, want %v", tc.keys, got, tc.want)
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
