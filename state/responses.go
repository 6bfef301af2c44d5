package state

import (
	"context"
	"encoding/json"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// Responses keeps responses as nodes of conversation trees (a dialect
// walks a node's links to its context), so a client can fetch any of them
// again and continue from it.
type Responses interface {
	// PutResponse creates or replaces tenant's stored response r.ID. It is
	// durable when it returns.
	PutResponse(ctx context.Context, r *StoredResponse) error
	// GetResponse returns tenant's stored response id, or ErrNotFound.
	GetResponse(ctx context.Context, tenant, id string) (*StoredResponse, error)
	// DeleteResponse removes tenant's stored response id, or returns
	// ErrNotFound. Responses that continue it keep their own turns.
	DeleteResponse(ctx context.Context, tenant, id string) error
}

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
