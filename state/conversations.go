package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Conversations keeps conversations as the OpenAI Conversations API has
// them: an id, metadata and an ordered list of items (messages, function
// calls and their outputs, as JSON), to which responses add theirs.
//
// Items keep their order: an item appended after another's append
// returned comes after it, and concurrent appends to one conversation
// each get their own places (none is lost or interleaved with another's
// items). Every read and write is scoped by tenant.
type Conversations interface {
	// CreateConversation stores a new conversation with its first items
	// (numbered 1…n); ErrExists if tenant has one with that id.
	CreateConversation(ctx context.Context, c *Conversation, items []ConversationItem) error
	// GetConversation returns tenant's conversation id, or ErrNotFound.
	GetConversation(ctx context.Context, tenant, id string) (*Conversation, error)
	// SetConversationMetadata replaces the metadata of tenant's
	// conversation id and returns it, or ErrNotFound.
	SetConversationMetadata(ctx context.Context, tenant, id string, metadata json.RawMessage) (*Conversation, error)
	// DeleteConversation removes tenant's conversation id and its items,
	// or returns ErrNotFound.
	DeleteConversation(ctx context.Context, tenant, id string) error
	// AppendConversationItems adds items at the end of tenant's
	// conversation id and returns them numbered, or ErrNotFound.
	AppendConversationItems(ctx context.Context, tenant, id string, items []ConversationItem) ([]ConversationItem, error)
	// ConversationItems returns a page of tenant's conversation's items
	// and whether more follow it, or ErrNotFound.
	ConversationItems(ctx context.Context, tenant, id string, page ItemPage) ([]ConversationItem, bool, error)
	// ConversationItem returns one item of tenant's conversation, or
	// ErrNotFound.
	ConversationItem(ctx context.Context, tenant, id, itemID string) (*ConversationItem, error)
	// DeleteConversationItem removes one item of tenant's conversation,
	// or returns ErrNotFound.
	DeleteConversationItem(ctx context.Context, tenant, id, itemID string) error
}

// Conversation is a conversation's record; its items are kept apart.
type Conversation struct {
	ID       string          `json:"id"`
	Tenant   string          `json:"tenant"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
	Created  time.Time       `json:"created_at"`
	// LastSeq is the number of the last item appended (deleted or not).
	LastSeq int64 `json:"last_seq"`
}

// ConversationItem is one item of a conversation.
type ConversationItem struct {
	ID string `json:"id"`
	// Seq is the item's place: 1 for the first item ever appended.
	Seq int64 `json:"seq"`
	// Item is the item as the dialect shows it.
	Item json.RawMessage `json:"item"`
}

// ItemPage selects items of a conversation: in order (oldest first, or
// newest first with Desc), those after the item After and before the
// item Before (ids; empty means no bound), numbered at most UpTo (0 means
// any), at most Limit of them (0 means all).
type ItemPage struct {
	After, Before string
	UpTo          int64
	Limit         int
	Desc          bool
}

// Conversations. Layout:
//
//	conversations tenant \0 id → Conversation
//	convitems     tenant \0 conversation \0 seq (8-byte BE) → ConversationItem
var (
	bucketConversations = []byte("conversations")
	bucketConvItems     = []byte("convitems")
)

func init() { dataBuckets = append(dataBuckets, bucketConversations, bucketConvItems) }

var _ Conversations = (*Bolt)(nil)

func convItemPrefix(tenant, id string) []byte { return append(join(tenant, id), 0) }

func convItemKey(prefix []byte, seq int64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), uint64(seq))
}

func checkConversation(tenant, id string) error {
	if !validName(tenant) {
		return invalidID("tenant", tenant)
	}
	if !validID(id) {
		return invalidID("conversation id", id)
	}
	return nil
}

// putItems numbers items after c.LastSeq and writes them and c.
func putItems(tx *bolt.Tx, c *Conversation, items []ConversationItem) ([]ConversationItem, error) {
	out := make([]ConversationItem, len(items))
	prefix := convItemPrefix(c.Tenant, c.ID)
	bk := tx.Bucket(bucketConvItems)
	for i, it := range items {
		if !validID(it.ID) {
			return nil, invalidID("conversation item id", it.ID)
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

func getConversation(tx *bolt.Tx, tenant, id string) (*Conversation, error) {
	v := tx.Bucket(bucketConversations).Get(join(tenant, id))
	if v == nil {
		return nil, ErrNotFound
	}
	c := new(Conversation)
	return c, decode(v, c, "conversation", id)
}

// CreateConversation implements Conversations.
func (b *Bolt) CreateConversation(ctx context.Context, c *Conversation, items []ConversationItem) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if err := checkConversation(c.Tenant, c.ID); err != nil {
		return err
	}
	return b.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketConversations).Get(join(c.Tenant, c.ID)) != nil {
			return ErrExists
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

// GetConversation implements Conversations.
func (b *Bolt) GetConversation(ctx context.Context, tenant, id string) (*Conversation, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if checkConversation(tenant, id) != nil {
		return nil, ErrNotFound
	}
	var out *Conversation
	err := b.view(func(tx *bolt.Tx) (err error) {
		out, err = getConversation(tx, tenant, id)
		return err
	})
	return out, err
}

// SetConversationMetadata implements Conversations.
func (b *Bolt) SetConversationMetadata(ctx context.Context, tenant, id string, metadata json.RawMessage) (*Conversation, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if checkConversation(tenant, id) != nil {
		return nil, ErrNotFound
	}
	var out *Conversation
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

// DeleteConversation implements Conversations.
func (b *Bolt) DeleteConversation(ctx context.Context, tenant, id string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if checkConversation(tenant, id) != nil {
		return ErrNotFound
	}
	return b.update(func(tx *bolt.Tx) error {
		key := join(tenant, id)
		if tx.Bucket(bucketConversations).Get(key) == nil {
			return ErrNotFound
		}
		prefix := convItemPrefix(tenant, id)
		c := tx.Bucket(bucketConvItems).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketConversations).Delete(key)
	})
}

// AppendConversationItems implements Conversations; concurrent appends
// are serialized by bbolt's single writer.
func (b *Bolt) AppendConversationItems(ctx context.Context, tenant, id string, items []ConversationItem) ([]ConversationItem, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if checkConversation(tenant, id) != nil {
		return nil, ErrNotFound
	}
	var out []ConversationItem
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

// ConversationItems implements Conversations.
func (b *Bolt) ConversationItems(ctx context.Context, tenant, id string, page ItemPage) ([]ConversationItem, bool, error) {
	if err := b.enter(ctx); err != nil {
		return nil, false, err
	}
	defer b.exit()
	if checkConversation(tenant, id) != nil {
		return nil, false, ErrNotFound
	}
	var out []ConversationItem
	more := false
	err := b.view(func(tx *bolt.Tx) error {
		if _, err := getConversation(tx, tenant, id); err != nil {
			return err
		}
		all, err := scanItems(tx, tenant, id)
		if err != nil {
			return err
		}
		out, more = selectItems(all, page)
		return nil
	})
	return out, more, err
}

// scanItems reads every item of a conversation, oldest first.
func scanItems(tx *bolt.Tx, tenant, id string) ([]ConversationItem, error) {
	prefix := convItemPrefix(tenant, id)
	var all []ConversationItem
	c := tx.Bucket(bucketConvItems).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var it ConversationItem
		if err := decode(v, &it, "conversation item", id); err != nil {
			return nil, err
		}
		all = append(all, it)
	}
	return all, nil
}

// selectItems applies page to all of a conversation's items, oldest
// first; an After or Before item that does not exist selects nothing.
func selectItems(all []ConversationItem, page ItemPage) ([]ConversationItem, bool) {
	if page.UpTo > 0 {
		n := 0
		for n < len(all) && all[n].Seq <= page.UpTo {
			n++
		}
		all = all[:n]
	}
	if page.Desc {
		rev := make([]ConversationItem, len(all))
		for i, it := range all {
			rev[len(all)-1-i] = it
		}
		all = rev
	}
	find := func(id string) int {
		for i, it := range all {
			if it.ID == id {
				return i
			}
		}
		return -1
	}
	if page.After != "" {
		i := find(page.After)
		if i < 0 {
			return nil, false
		}
		all = all[i+1:]
	}
	if page.Before != "" {
		i := find(page.Before)
		if i < 0 {
			return nil, false
		}
		all = all[:i]
	}
	if page.Limit > 0 && len(all) > page.Limit {
		return all[:page.Limit], true
	}
	return all, false
}

// ConversationItem implements Conversations.
func (b *Bolt) ConversationItem(ctx context.Context, tenant, id, itemID string) (*ConversationItem, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if checkConversation(tenant, id) != nil {
		return nil, ErrNotFound
	}
	var out *ConversationItem
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
		return ErrNotFound
	})
	return out, err
}

// DeleteConversationItem implements Conversations.
func (b *Bolt) DeleteConversationItem(ctx context.Context, tenant, id, itemID string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if checkConversation(tenant, id) != nil {
		return ErrNotFound
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
		return fmt.Errorf("conversation item %q: %w", itemID, ErrNotFound)
	})
}
