package state

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/adapters"
)

// Stored responses. Layout (the bucket is made by the first write, so
// stores written before it existed need no migration):
//
//	responses  tenant \0 response node id (or, before nodes, session id) → StoredResponse
var bucketResponses = []byte("responses")

// StoredResponse is one response as a dialect answered it: a node of a
// conversation tree. Its conversation is the path from the tree's root to
// it: the context it was answered in (Previous, or Conversation, or
// Base), then its own Turn. Continuing from a response adds a child, so
// two continuations of one response are two branches that never see each
// other.
//
// Records written before responses were nodes (by agentgate before
// schema 2's responses gained Turn) are the latest response of the
// session of the same id: they have no Turn, and their conversation is
// that session.
type StoredResponse struct {
	// ID is the node's id (the response id without its "resp_").
	ID      string `json:"id"`
	Tenant  string `json:"tenant"`
	AgentID string `json:"agent_id"`
	// Version is the agent version the conversation runs at; 0 means the
	// agent's latest configuration.
	Version int `json:"version,omitempty"`
	// Body is the response as the dialect encoded it.
	Body    json.RawMessage `json:"body"`
	Updated time.Time       `json:"updated_at"`

	// Previous is the node this one continues, if any.
	Previous string `json:"previous,omitempty"`
	// Conversation is the conversation (Conversations) this response was
	// answered in and added its items to; its context is that
	// conversation's items up to ConversationSeq.
	Conversation    string `json:"conversation,omitempty"`
	ConversationSeq int64  `json:"conversation_seq,omitempty"`
	// Base is the context of a node that continues a conversation kept
	// elsewhere (another dialect's session), copied when it branched off.
	Base []adapters.Message `json:"base,omitempty"`
	// Turn is what this response added to its conversation: its input,
	// then the model's messages (tool calls, tool results, the answer).
	Turn []adapters.Message `json:"turn"`
	// InputItems are the request's input items as the dialect lists them.
	InputItems json.RawMessage `json:"input_items,omitempty"`
	Created    time.Time       `json:"created_at,omitzero"`
}

// Node reports whether r was stored as a node of a conversation tree (it
// has a turn), not as the latest response of a session (older stores).
func (r *StoredResponse) Node() bool { return r.Turn != nil }

// ResponseStore keeps the latest response of each conversation. Stores
// implement it beside Store.
type ResponseStore interface {
	// PutResponse creates or replaces tenant's stored response r.ID. It is
	// durable when it returns; concurrent calls are group-committed.
	PutResponse(ctx context.Context, r *StoredResponse) error
	// GetResponse returns tenant's stored response id, or ErrNotFound.
	GetResponse(ctx context.Context, tenant, id string) (*StoredResponse, error)
	// DeleteResponse removes tenant's stored response id, or returns
	// ErrNotFound. Responses that continue it keep their own turns.
	DeleteResponse(ctx context.Context, tenant, id string) error
}

var _ ResponseStore = (*Bolt)(nil)

// PutResponse creates or replaces a stored response.
func (b *Bolt) PutResponse(ctx context.Context, r *StoredResponse) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !validName(r.Tenant) {
		return invalidID("tenant", r.Tenant)
	}
	if !validID(r.ID) {
		return invalidID("response id", r.ID)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("state: encode response %q: %w", r.ID, err)
	}
	key := join(r.Tenant, r.ID)
	// Batch may run this more than once, in a new transaction each time.
	return b.batch(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucketResponses)
		if err != nil {
			return err
		}
		return bk.Put(key, v)
	})
}

// GetResponse returns tenant's stored response id, or ErrNotFound.
func (b *Bolt) GetResponse(ctx context.Context, tenant, id string) (*StoredResponse, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !validName(tenant) || !validID(id) {
		return nil, ErrNotFound
	}
	var out *StoredResponse
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketResponses)
		if bk == nil {
			return ErrNotFound
		}
		v := bk.Get(join(tenant, id))
		if v == nil {
			return ErrNotFound
		}
		out = new(StoredResponse)
		return decode(v, out, "response", id)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteResponse removes tenant's stored response id.
func (b *Bolt) DeleteResponse(ctx context.Context, tenant, id string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if !validName(tenant) || !validID(id) {
		return ErrNotFound
	}
	key := join(tenant, id)
	return b.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketResponses)
		if bk == nil || bk.Get(key) == nil {
			return ErrNotFound
		}
		return bk.Delete(key)
	})
}
