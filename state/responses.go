package state

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Stored responses. Layout (the bucket is made by the first write, so
// stores written before it existed need no migration):
//
//	responses  tenant \0 session id → StoredResponse
var bucketResponses = []byte("responses")

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

// ResponseStore keeps the latest response of each conversation. Stores
// implement it beside Store.
type ResponseStore interface {
	// PutResponse creates or replaces tenant's stored response r.ID. It is
	// durable when it returns; concurrent calls are group-committed.
	PutResponse(ctx context.Context, r *StoredResponse) error
	// GetResponse returns tenant's stored response id, or ErrNotFound.
	GetResponse(ctx context.Context, tenant, id string) (*StoredResponse, error)
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
