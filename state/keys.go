package state

import (
	"context"
	"time"
)

// Keys keeps API keys. Keys are global (each names its tenant); only the
// SHA-256 of a secret is stored, and one hash authenticates one key.
type Keys interface {
	// PutKey creates or replaces an API key record; ErrExists when
	// another key id already has k.Hash.
	PutKey(ctx context.Context, k *APIKey) error
	// KeyByHash returns the key whose secret hashes to hash, or ErrNotFound.
	KeyByHash(ctx context.Context, hash [32]byte) (*APIKey, error)
	// GetKey returns the key with this id, or ErrNotFound.
	GetKey(ctx context.Context, id string) (*APIKey, error)
	// ListKeys returns every key ordered by creation time, then id.
	ListKeys(ctx context.Context) ([]*APIKey, error)
	// DeleteKey removes a key, or returns ErrNotFound.
	DeleteKey(ctx context.Context, id string) error

	// DeclaredKeysSeen returns when each of ids (keys the configuration
	// declares) was first declared, recording at for the ids never seen
	// before; of instances recording one id at once, the first wins for
	// all. Such keys are never stored (their secret lives in the
	// configuration), so this first sighting is their creation time.
	DeclaredKeysSeen(ctx context.Context, ids []string, at time.Time) (map[string]time.Time, error)
}

// APIKey is a stored API key. The secret itself is never stored.
type APIKey struct {
	ID string `json:"id"`
	// Hash is the SHA-256 of the secret.
	Hash     [32]byte  `json:"hash"`
	Tenant   string    `json:"tenant"`
	Tier     string    `json:"tier"`
	Email    string    `json:"email,omitempty"`
	Projects []string  `json:"projects,omitempty"`
	Created  time.Time `json:"created_at"`
	// Prefix is the first characters of the secret, shown in listings so
	// operators can tell keys apart.
	Prefix string `json:"prefix"`
}
