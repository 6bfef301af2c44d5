package bbolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/state"
)

// PutKey creates or replaces an API key record and its hash index entry.
// It fails with state.ErrExists when another key id already has k.Hash,
// since one secret must authenticate exactly one key.
func (b *Store) PutKey(ctx context.Context, k *state.APIKey) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !state.ValidID(k.ID) {
		return state.InvalidID("key id", k.ID)
	}
	if !state.ValidName(k.Tenant) {
		return state.InvalidID("tenant", k.Tenant)
	}
	v, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("state: encode key %q: %w", k.ID, err)
	}
	id := []byte(k.ID)
	hashes := [][32]byte{k.Hash}
	err = b.update(func(tx *bolt.Tx) error {
		keys, index := tx.Bucket(bucketKeys), tx.Bucket(bucketKeyHash)
		if owner := index.Get(k.Hash[:]); owner != nil && !bytes.Equal(owner, id) {
			return fmt.Errorf("state: key %q: hash already belongs to key %q: %w", k.ID, owner, state.ErrExists)
		}
		if old := keys.Get(id); old != nil {
			var prev state.APIKey
			if err := decode(old, &prev, "key", k.ID); err != nil {
				return err
			}
			if prev.Hash != k.Hash {
				if err := index.Delete(prev.Hash[:]); err != nil {
					return err
				}
				hashes = append(hashes, prev.Hash)
			}
		}
		if err := keys.Put(id, v); err != nil {
			return err
		}
		return index.Put(k.Hash[:], id)
	})
	if err != nil {
		return err
	}
	b.publish(state.Change{Kind: state.ChangeKey, ID: k.ID, Keys: hashes})
	return nil
}

// KeyByHash returns the key whose secret hashes to hash, or
// state.ErrNotFound.
func (b *Store) KeyByHash(ctx context.Context, hash [32]byte) (*state.APIKey, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	var k *state.APIKey
	err := b.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketKeyHash).Get(hash[:])
		if id == nil {
			return state.ErrNotFound
		}
		var err error
		k, err = getKey(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// GetKey returns the key with this id, or state.ErrNotFound.
func (b *Store) GetKey(ctx context.Context, id string) (*state.APIKey, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !state.ValidID(id) {
		return nil, state.ErrNotFound
	}
	var k *state.APIKey
	err := b.view(func(tx *bolt.Tx) error {
		var err error
		k, err = getKey(tx, []byte(id))
		return err
	})
	return k, err
}

func getKey(tx *bolt.Tx, id []byte) (*state.APIKey, error) {
	v := tx.Bucket(bucketKeys).Get(id)
	if v == nil {
		return nil, state.ErrNotFound
	}
	k := new(state.APIKey)
	if err := decode(v, k, "key", string(id)); err != nil {
		return nil, err
	}
	return k, nil
}

// ListKeys returns every key ordered by creation time, then id.
func (b *Store) ListKeys(ctx context.Context) ([]*state.APIKey, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	var list []*state.APIKey
	err := b.view(func(tx *bolt.Tx) (err error) {
		list, err = decodeAll[state.APIKey](tx.Bucket(bucketKeys), nil, "key")
		return err
	})
	if err != nil {
		return nil, err
	}
	sortOldestFirst(list, func(k *state.APIKey) (time.Time, string) { return k.Created, k.ID })
	return list, nil
}

// DeleteKey removes a key and its hash index entry, or returns
// state.ErrNotFound.
func (b *Store) DeleteKey(ctx context.Context, id string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !state.ValidID(id) {
		return state.ErrNotFound
	}
	var hash [32]byte
	err := b.update(func(tx *bolt.Tx) error {
		k, err := getKey(tx, []byte(id))
		if err != nil {
			return err
		}
		hash = k.Hash
		index := tx.Bucket(bucketKeyHash)
		if owner := index.Get(k.Hash[:]); bytes.Equal(owner, []byte(id)) {
			if err := index.Delete(k.Hash[:]); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketKeys).Delete([]byte(id))
	})
	if err != nil {
		return err
	}
	b.publish(state.Change{Kind: state.ChangeKey, ID: id, Keys: [][32]byte{hash}})
	return nil
}
