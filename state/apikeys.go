package state

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// PutKey creates or replaces an API key record and its hash index entry.
// It fails with ErrExists when another key id already has k.Hash, since
// one secret must authenticate exactly one key.
func (b *Bolt) PutKey(ctx context.Context, k *APIKey) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !validID(k.ID) {
		return invalidID("key id", k.ID)
	}
	if !validName(k.Tenant) {
		return invalidID("tenant", k.Tenant)
	}
	v, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("state: encode key %q: %w", k.ID, err)
	}
	id := []byte(k.ID)
	stale := []string{keyHashCacheKey(k.Hash)}
	defer func() { b.cache.invalidate(stale...) }()
	return b.update(func(tx *bolt.Tx) error {
		keys, index := tx.Bucket(bucketKeys), tx.Bucket(bucketKeyHash)
		if owner := index.Get(k.Hash[:]); owner != nil && !bytes.Equal(owner, id) {
			return fmt.Errorf("state: key %q: hash already belongs to key %q: %w", k.ID, owner, ErrExists)
		}
		if old := keys.Get(id); old != nil {
			var prev APIKey
			if err := decode(old, &prev, "key", k.ID); err != nil {
				return err
			}
			if prev.Hash != k.Hash {
				if err := index.Delete(prev.Hash[:]); err != nil {
					return err
				}
				stale = append(stale, keyHashCacheKey(prev.Hash))
			}
		}
		if err := keys.Put(id, v); err != nil {
			return err
		}
		return index.Put(k.Hash[:], id)
	})
}

// KeyByHash returns the key whose secret hashes to hash, or ErrNotFound.
func (b *Bolt) KeyByHash(ctx context.Context, hash [32]byte) (*APIKey, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	ck := keyHashCacheKey(hash)
	if v, ok := b.cache.get(ck); ok {
		return cloneKey(v.(*APIKey)), nil
	}
	token := b.cache.begin(ck)
	var k *APIKey
	err := b.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketKeyHash).Get(hash[:])
		if id == nil {
			return ErrNotFound
		}
		var err error
		k, err = getKey(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	b.cache.fill(ck, token, k)
	return cloneKey(k), nil
}

// GetKey returns the key with this id, or ErrNotFound.
func (b *Bolt) GetKey(ctx context.Context, id string) (*APIKey, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !validID(id) {
		return nil, ErrNotFound
	}
	var k *APIKey
	err := b.view(func(tx *bolt.Tx) error {
		var err error
		k, err = getKey(tx, []byte(id))
		return err
	})
	return k, err
}

func getKey(tx *bolt.Tx, id []byte) (*APIKey, error) {
	v := tx.Bucket(bucketKeys).Get(id)
	if v == nil {
		return nil, ErrNotFound
	}
	k := new(APIKey)
	if err := decode(v, k, "key", string(id)); err != nil {
		return nil, err
	}
	return k, nil
}

// ListKeys returns every key ordered by creation time, then id.
func (b *Bolt) ListKeys(ctx context.Context) ([]*APIKey, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	var list []*APIKey
	err := b.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeys).ForEach(func(id, v []byte) error {
			k := new(APIKey)
			if err := decode(v, k, "key", string(id)); err != nil {
				return err
			}
			list = append(list, k)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(list, func(x, y *APIKey) int {
		return cmp.Or(x.Created.Compare(y.Created), cmp.Compare(x.ID, y.ID))
	})
	return list, nil
}

// DeleteKey removes a key and its hash index entry, or returns
// ErrNotFound.
func (b *Bolt) DeleteKey(ctx context.Context, id string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !validID(id) {
		return ErrNotFound
	}
	var stale []string
	defer func() { b.cache.invalidate(stale...) }()
	return b.update(func(tx *bolt.Tx) error {
		k, err := getKey(tx, []byte(id))
		if err != nil {
			return err
		}
		stale = append(stale, keyHashCacheKey(k.Hash))
		index := tx.Bucket(bucketKeyHash)
		if owner := index.Get(k.Hash[:]); bytes.Equal(owner, []byte(id)) {
			if err := index.Delete(k.Hash[:]); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketKeys).Delete([]byte(id))
	})
}
