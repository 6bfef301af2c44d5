package bbolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/state"
)

// Conversations. Layout:
//
//	conversations tenant \0 id → state.Conversation
//	convitems     tenant \0 conversation \0 seq (8-byte BE) → state.ConversationItem
var (
	bucketConversations = []byte("conversations")
	bucketConvItems     = []byte("convitems")
)

func init() { dataBuckets = append(dataBuckets, bucketConversations, bucketConvItems) }

func convItemPrefix(tenant, id string) []byte { return append(join(tenant, id), 0) }

func convItemKey(prefix []byte, seq int64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), uint64(seq))
}

func checkConversation(tenant, id string) error {
	if !state.ValidName(tenant) {
		return state.InvalidID("tenant", tenant)
	}
	if !state.ValidID(id) {
		return state.InvalidID("conversation id", id)
	}
	return nil
}

// putItems numbers items after c.LastSeq and writes them and c.
func putItems(tx *bolt.Tx, c *state.Conversation, items []state.ConversationItem) ([]state.ConversationItem, error) {
	out := make([]state.ConversationItem, len(items))
	prefix := convItemPrefix(c.Tenant, c.ID)
	bk := tx.Bucket(bucketConvItems)
	for i, it := range items {
		if !state.ValidID(it.ID) {
			return nil, state.InvalidID("conversation item id", it.ID)
		}
		c.LastSeq++
		it.Seq = c.LastSeq
		v, err := json.Marshal(it)
		if err != nil {
			return nil, err
		}
		if err := bk.Put(convItemKey(prefix, it.Seq), v); err != nil {
			return nil, err
		}
		out[i] = it
	}
	v, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return out, tx.Bucket(bucketConversations).Put(join(c.Tenant, c.ID), v)
}

func getConversation(tx *bolt.Tx, tenant, id string) (*state.Conversation, error) {
	v := tx.Bucket(bucketConversations).Get(join(tenant, id))
	if v == nil {
		return nil, state.ErrNotFound
	}
	c := new(state.Conversation)
	return c, decode(v, c, "conversation", id)
}

// CreateConversation implements state.Conversations.
func (b *Store) CreateConversation(ctx context.Context, c *state.Conversation, items []state.ConversationItem) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if err := checkConversation(c.Tenant, c.ID); err != nil {
		return err
	}
	return b.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketConversations).Get(join(c.Tenant, c.ID)) != nil {
			return state.ErrExists
		}
		rec := *c
		rec.LastSeq = 0
		if _, err := putItems(tx, &rec, items); err != nil {
			return err
		}
		c.LastSeq = rec.LastSeq
		return nil
	})
}

// GetConversation implements state.Conversations.
func (b *Store) GetConversation(ctx context.Context, tenant, id string) (*state.Conversation, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if checkConversation(tenant, id) != nil {
		return nil, state.ErrNotFound
	}
	var out *state.Conversation
	err := b.view(func(tx *bolt.Tx) (err error) {
		out, err = getConversation(tx, tenant, id)
		return err
	})
	return out, err
}

// SetConversationMetadata implements state.Conversations.
func (b *Store) SetConversationMetadata(ctx context.Context, tenant, id string, metadata json.RawMessage) (*state.Conversation, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if checkConversation(tenant, id) != nil {
		return nil, state.ErrNotFound
	}
	var out *state.Conversation
	err := b.update(func(tx *bolt.Tx) error {
		c, err := getConversation(tx, tenant, id)
		if err != nil {
			return err
		}
		c.Metadata = metadata
		v, err := json.Marshal(c)
		if err != nil {
			return err
		}
		out = c
		return tx.Bucket(bucketConversations).Put(join(tenant, id), v)
	})
	return out, err
}

// DeleteConversation implements state.Conversations.
func (b *Store) DeleteConversation(ctx context.Context, tenant, id string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if checkConversation(tenant, id) != nil {
		return state.ErrNotFound
	}
	return b.update(func(tx *bolt.Tx) error {
		key := join(tenant, id)
		if tx.Bucket(bucketConversations).Get(key) == nil {
			return state.ErrNotFound
		}
		if _, err := deletePrefix(tx.Bucket(bucketConvItems), convItemPrefix(tenant, id)); err != nil {
			return err
		}
		return tx.Bucket(bucketConversations).Delete(key)
	})
}

// AppendConversationItems implements state.Conversations; concurrent appends
// are serialized by bbolt's single writer.
func (b *Store) AppendConversationItems(ctx context.Context, tenant, id string, items []state.ConversationItem) ([]state.ConversationItem, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if checkConversation(tenant, id) != nil {
		return nil, state.ErrNotFound
	}
	var out []state.ConversationItem
	err := b.update(func(tx *bolt.Tx) error {
		c, err := getConversation(tx, tenant, id)
		if err != nil {
			return err
		}
		out, err = putItems(tx, c, items)
		return err
	})
	return out, err
}

// ConversationItems implements state.Conversations.
func (b *Store) ConversationItems(ctx context.Context, tenant, id string, page state.ItemPage) ([]state.ConversationItem, bool, error) {
	if err := b.enter(ctx); err != nil {
		return nil, false, err
	}
	defer b.exit()
	if checkConversation(tenant, id) != nil {
		return nil, false, state.ErrNotFound
	}
	var out []state.ConversationItem
	more := false
	err := b.view(func(tx *bolt.Tx) error {
		if _, err := getConversation(tx, tenant, id); err != nil {
			return err
		}
		all, err := scanItems(tx, tenant, id)
		if err != nil {
			return err
		}
		out, more = state.SelectItems(all, page)
		return nil
	})
	return out, more, err
}

// scanItems reads every item of a conversation, oldest first.
func scanItems(tx *bolt.Tx, tenant, id string) ([]state.ConversationItem, error) {
	prefix := convItemPrefix(tenant, id)
	var all []state.ConversationItem
	c := tx.Bucket(bucketConvItems).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var it state.ConversationItem
		if err := decode(v, &it, "conversation item", id); err != nil {
			return nil, err
		}
		all = append(all, it)
	}
	return all, nil
}

// ConversationItem implements state.Conversations.
func (b *Store) ConversationItem(ctx context.Context, tenant, id, itemID string) (*state.ConversationItem, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if checkConversation(tenant, id) != nil {
		return nil, state.ErrNotFound
	}
	var out *state.ConversationItem
	err := b.view(func(tx *bolt.Tx) error {
		all, err := scanItems(tx, tenant, id)
		if err != nil {
			return err
		}
		for _, it := range all {
			if it.ID == itemID {
				out = &it
				return nil
			}
		}
		return state.ErrNotFound
	})
	return out, err
}

// DeleteConversationItem implements state.Conversations.
func (b *Store) DeleteConversationItem(ctx context.Context, tenant, id, itemID string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if checkConversation(tenant, id) != nil {
		return state.ErrNotFound
	}
	return b.update(func(tx *bolt.Tx) error {
		all, err := scanItems(tx, tenant, id)
		if err != nil {
			return err
		}
		for _, it := range all {
			if it.ID == itemID {
				return tx.Bucket(bucketConvItems).Delete(convItemKey(convItemPrefix(tenant, id), it.Seq))
			}
		}
		return fmt.Errorf("conversation item %q: %w", itemID, state.ErrNotFound)
	})
}
