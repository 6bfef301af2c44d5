package bbolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/state"
)

// chunkCodecV1 is the version byte of a stored chunk, whose vector
// follows the JSON of its fields (vectorcodec.go).
const chunkCodecV1 = 1

var errChunkCodec = errors.New("malformed chunk")

func encodeChunk(c *state.Chunk) ([]byte, error) { return encodeWithVector(chunkCodecV1, c, c.Vector) }

func decodeChunk(b []byte, c *state.Chunk) (err error) {
	c.Vector, err = decodeWithVector(b, chunkCodecV1, c, errChunkCodec)
	return err
}

// Key layout (see layout.go): docs tenant \0 id; chunks tenant \0 source \0
// doc \0 seq (4-byte BE); docsources tenant \0 source.

func chunkDocPrefix(tenant, source, doc string) []byte {
	return append(append(join(tenant, source), 0), append([]byte(doc), 0)...)
}

func chunkKey(prefix []byte, seq int) []byte {
	k := make([]byte, len(prefix), len(prefix)+4)
	copy(k, prefix)
	return binary.BigEndian.AppendUint32(k, uint32(seq))
}

// PutDocument creates or replaces a document and its chunks.
func (b *Store) PutDocument(ctx context.Context, d *state.Document, chunks []state.Chunk) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !state.ValidName(d.Tenant) {
		return state.InvalidID("tenant", d.Tenant)
	}
	if !state.ValidID(d.ID) {
		return state.InvalidID("document id", d.ID)
	}
	if !state.ValidID(d.Source) {
		return state.InvalidID("knowledge source", d.Source)
	}
	dv, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("state: encode document %q: %w", d.ID, err)
	}
	prefix := chunkDocPrefix(d.Tenant, d.Source, d.ID)
	keys := make([][]byte, len(chunks))
	vals := make([][]byte, len(chunks))
	for i := range chunks {
		c := &chunks[i]
		if c.DocID != d.ID {
			return fmt.Errorf("state: chunk %q belongs to document %q, not %q", c.ID, c.DocID, d.ID)
		}
		if vals[i], err = encodeChunk(c); err != nil {
			return fmt.Errorf("state: encode chunk %q: %w", c.ID, err)
		}
		keys[i] = chunkKey(prefix, c.Seq)
	}
	now := d.Updated
	return b.update(func(tx *bolt.Tx) error {
		docs, cb := tx.Bucket(bucketDocs), tx.Bucket(bucketChunks)
		dk := join(d.Tenant, d.ID)
		if old := docs.Get(dk); old != nil {
			var prev state.Document
			if err := decode(old, &prev, "document", d.ID); err != nil {
				return err
			}
			if _, err := deletePrefix(cb, chunkDocPrefix(d.Tenant, prev.Source, prev.ID)); err != nil {
				return err
			}
			if err := bumpSource(tx, d.Tenant, prev.Source, -1, -prev.Chunks, now); err != nil {
				return err
			}
		}
		if err := docs.Put(dk, dv); err != nil {
			return err
		}
		for i := range keys {
			if err := cb.Put(keys[i], vals[i]); err != nil {
				return err
			}
		}
		return bumpSource(tx, d.Tenant, d.Source, 1, len(chunks), now)
	})
}

// bumpSource adds to a source's counts and moves its revision on.
func bumpSource(tx *bolt.Tx, tenant, source string, docs, chunks int, now time.Time) error {
	bk := tx.Bucket(bucketDocSources)
	k := join(tenant, source)
	info := state.SourceInfo{Name: source}
	if v := bk.Get(k); v != nil {
		if err := decode(v, &info, "knowledge source", source); err != nil {
			return err
		}
	}
	info.Documents = max(info.Documents+docs, 0)
	info.Chunks = max(info.Chunks+chunks, 0)
	info.Revision++
	info.Updated = now
	v, err := json.Marshal(&info)
	if err != nil {
		return err
	}
	// The entry stays when the source empties, so its revision never
	// goes back to a value an index was built at.
	return bk.Put(k, v)
}

// GetDocument returns tenant's document id, or state.ErrNotFound.
func (b *Store) GetDocument(ctx context.Context, tenant, id string) (*state.Document, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidID(id) {
		return nil, state.ErrNotFound
	}
	var d *state.Document
	err := b.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDocs).Get(join(tenant, id))
		if v == nil {
			return state.ErrNotFound
		}
		d = new(state.Document)
		return decode(v, d, "document", id)
	})
	return d, err
}

// ListDocuments returns tenant's documents of source, or of every source.
func (b *Store) ListDocuments(ctx context.Context, tenant, source string) ([]*state.Document, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidName(source) {
		return nil, nil
	}
	var list []*state.Document
	err := b.view(func(tx *bolt.Tx) (err error) {
		list, err = decodeAll[state.Document](tx.Bucket(bucketDocs), join(tenant, ""), "document")
		return err
	})
	if err != nil {
		return nil, err
	}
	if source != "" {
		list = slices.DeleteFunc(list, func(d *state.Document) bool { return d.Source != source })
	}
	sortOldestFirst(list, func(d *state.Document) (time.Time, string) { return d.Created, d.ID })
	return list, nil
}

// DeleteDocument removes tenant's document id and its chunks.
func (b *Store) DeleteDocument(ctx context.Context, tenant, id string, at time.Time) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidID(id) {
		return state.ErrNotFound
	}
	return b.update(func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		dk := join(tenant, id)
		v := docs.Get(dk)
		if v == nil {
			return state.ErrNotFound
		}
		var d state.Document
		if err := decode(v, &d, "document", id); err != nil {
			return err
		}
		if _, err := deletePrefix(tx.Bucket(bucketChunks), chunkDocPrefix(tenant, d.Source, d.ID)); err != nil {
			return err
		}
		if err := docs.Delete(dk); err != nil {
			return err
		}
		return bumpSource(tx, tenant, d.Source, -1, -d.Chunks, at.UTC())
	})
}

// ListSources returns tenant's non-empty knowledge sources, by name.
func (b *Store) ListSources(ctx context.Context, tenant string) ([]state.SourceInfo, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !state.ValidName(tenant) {
		return nil, nil
	}
	prefix := join(tenant, "")
	var list []state.SourceInfo
	err := b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDocSources).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var info state.SourceInfo
			if err := decode(v, &info, "knowledge source", string(k[len(prefix):])); err != nil {
				return err
			}
			if info.Documents > 0 {
				list = append(list, info)
			}
		}
		return nil
	})
	return list, err
}

// SourceRevision returns the revision of tenant's source.
func (b *Store) SourceRevision(ctx context.Context, tenant, source string) (uint64, error) {
	if err := b.enter(ctx); err != nil {
		return 0, err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidID(source) {
		return 0, nil
	}
	var rev uint64
	err := b.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDocSources).Get(join(tenant, source))
		if v == nil {
			return nil
		}
		var info state.SourceInfo
		if err := decode(v, &info, "knowledge source", source); err != nil {
			return err
		}
		rev = info.Revision
		return nil
	})
	return rev, err
}

// ScanChunks calls fn with every chunk of tenant's source.
func (b *Store) ScanChunks(ctx context.Context, tenant, source string, fn func(*state.Chunk) error) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidID(source) {
		return nil
	}
	prefix := append(join(tenant, source), 0)
	return b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketChunks).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			ch := new(state.Chunk)
			if err := decodeChunk(v, ch); err != nil {
				return fmt.Errorf("state: decode chunk %q: %w", k[len(prefix):], err)
			}
			if err := fn(ch); err != nil {
				return err
			}
		}
		return nil
	})
}
