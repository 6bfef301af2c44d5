package state

import (
	"context"
	"encoding/json"
	"time"
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

// SelectItems applies page to all of a conversation's items, oldest
// first; an After or Before item that does not exist selects nothing.
func SelectItems(all []ConversationItem, page ItemPage) ([]ConversationItem, bool) {
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
