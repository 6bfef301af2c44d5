package state

import (
	"context"
	"encoding/json"
	"time"
)

// Responses keeps the latest response of each conversation, so a client
// can fetch it again and continue the conversation from it.
type Responses interface {
	// PutResponse creates or replaces tenant's stored response r.ID. It is
	// durable when it returns.
	PutResponse(ctx context.Context, r *StoredResponse) error
	// GetResponse returns tenant's stored response id, or ErrNotFound.
	GetResponse(ctx context.Context, tenant, id string) (*StoredResponse, error)
}

// StoredResponse is the latest response of a conversation (a session) as
// a dialect answered it, kept so a client can fetch it again and continue
// the conversation with the settings it pinned. There is one per session:
// each new response of the conversation replaces it.
type StoredResponse struct {
	// ID is the session id of the conversation.
	ID      string `json:"id"`
	Tenant  string `json:"tenant"`
	AgentID string `json:"agent_id"`
	// Version is the agent version the conversation runs at; 0 means the
	// agent's latest configuration.
	Version int `json:"version,omitempty"`
	// Body is the response as the dialect encoded it.
	Body    json.RawMessage `json:"body"`
	Updated time.Time       `json:"updated_at"`
}
