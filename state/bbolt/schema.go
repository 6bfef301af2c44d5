package bbolt

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// initSchema checks that the file is an agentgate store this build reads,
// makes an empty file one, and migrates a store of an older schema
// version, all in one transaction. It writes nothing to a file it rejects.
func (b *Store) initSchema() error {
	var (
		fresh   bool
		missing bool
		version uint64
	)
	err := b.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			var foreign []string
			_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				foreign = append(foreign, fmt.Sprintf("%q", name))
				return nil
			})
			if len(foreign) > 0 {
				return fmt.Errorf("state: %s is %w: a bbolt database of another program (buckets %v)", b.path, ErrNotStore, foreign)
			}
			fresh, version = true, schemaVersion
			return nil
		}
		if magic := meta.Get(metaMagicKey); !bytes.Equal(magic, metaMagic) {
			return fmt.Errorf("state: %s is %w: meta bucket has magic %q", b.path, ErrNotStore, magic)
		}
		v := meta.Get(metaSchemaKey)
		if len(v) != 8 {
			return fmt.Errorf("state: %s: %w: bad schema version %x", b.path, ErrSchema, v)
		}
		switch version = binary.BigEndian.Uint64(v); {
		case version > schemaVersion:
			return fmt.Errorf("state: %s: %w: schema version %d, this build reads %d (written by a newer agentgate?)", b.path, ErrSchema, version, schemaVersion)
		case version == 0:
			return fmt.Errorf("state: %s: %w: schema version 0", b.path, ErrSchema)
		}
		for _, name := range dataBuckets {
			if tx.Bucket(name) == nil {
				missing = true
			}
		}
		return nil
	})
	if err != nil || !(fresh || missing || version < schemaVersion) {
		return err
	}
	err = b.update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(metaMagicKey, metaMagic); err != nil {
			return err
		}
		for v := version; v < schemaVersion; v++ {
			if err := migrations[v-1](tx); err != nil {
				return fmt.Errorf("migrate schema version %d to %d: %w", v, v+1, err)
			}
		}
		if err := meta.Put(metaSchemaKey, binary.BigEndian.AppendUint64(nil, schemaVersion)); err != nil {
			return err
		}
		for _, name := range dataBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: initialize store %s: %w", b.path, err)
	}
	return nil
}
