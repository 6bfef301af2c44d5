package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/adapters"
)

// Published agent versions. Layout (the bucket is made by the first
// publish, so stores written before it existed need no migration):
//
//	versions  tenant \0 agent id \0 n (8-byte BE, 1-based) → AgentVersion
var bucketVersions = []byte("versions")

// AgentVersion is an immutable, numbered snapshot of an agent's
// configuration, published by one tenant. Versions of an agent are
// numbered 1, 2, … per tenant and agent id; a number is never reused.
type AgentVersion struct {
	Version int    `json:"version"`
	Tenant  string `json:"tenant"`
	AgentID string `json:"agent_id"`
	// Agent is the configuration as it was when published.
	Agent adapters.Agent `json:"agent"`
	// Declared marks a snapshot of an operator-declared agent.
	Declared bool      `json:"declared,omitempty"`
	Created  time.Time `json:"created_at"`
}

// VersionStore keeps published agent versions. Stores implement it beside
// Store; the runtime treats a store without it as one where nothing was
// ever published.
type VersionStore interface {
	// PublishVersion stores a snapshot of a as tenant's next version of
	// agent a.ID (1 for the first) and returns it.
	PublishVersion(ctx context.Context, tenant string, a *adapters.Agent, declared bool, at time.Time) (*AgentVersion, error)
	// GetVersion returns version n of tenant's agent, or ErrNotFound.
	GetVersion(ctx context.Context, tenant, agentID string, n int) (*AgentVersion, error)
	// LatestVersion returns the highest version of tenant's agent, or
	// ErrNotFound when none was published.
	LatestVersion(ctx context.Context, tenant, agentID string) (*AgentVersion, error)
	// ListVersions returns tenant's versions of an agent, oldest first.
	ListVersions(ctx context.Context, tenant, agentID string) ([]*AgentVersion, error)
}

var _ VersionStore = (*Bolt)(nil)

// versionPrefix is the key prefix of tenant's versions of agent id.
func versionPrefix(tenant, id string) []byte { return append(join(tenant, id), 0) }

// PublishVersion stores a snapshot of a as tenant's next version.
func (b *Bolt) PublishVersion(ctx context.Context, tenant string, a *adapters.Agent, declared bool, at time.Time) (*AgentVersion, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !validName(tenant) {
		return nil, invalidID("tenant", tenant)
	}
	if !validID(a.ID) {
		return nil, invalidID("agent id", a.ID)
	}
	v := &AgentVersion{Tenant: tenant, AgentID: a.ID, Agent: *cloneAgent(a), Declared: declared, Created: at.UTC()}
	prefix := versionPrefix(tenant, a.ID)
	err := b.update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucketVersions)
		if err != nil {
			return err
		}
		n := uint64(1)
		if k, _ := lastWithPrefix(bk.Cursor(), prefix); k != nil {
			n = binary.BigEndian.Uint64(k[len(prefix):]) + 1
		}
		v.Version = int(n)
		val, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("state: encode version of agent %q: %w", a.ID, err)
		}
		return bk.Put(binary.BigEndian.AppendUint64(bytes.Clone(prefix), n), val)
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// seekLast positions c on the last key before the keys starting with
// prefix end (the last of them, when there are any) and returns it.
func seekLast(c *bolt.Cursor, prefix []byte) ([]byte, []byte) {
	if k, _ := c.Seek(prefixEnd(prefix)); k == nil {
		return c.Last()
	}
	return c.Prev()
}

// lastWithPrefix returns the last key (and its value) starting with
// prefix, which must end in \0.
func lastWithPrefix(c *bolt.Cursor, prefix []byte) ([]byte, []byte) {
	k, v := seekLast(c, prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
		return nil, nil
	}
	return k, v
}

// GetVersion returns version n of tenant's agent, or ErrNotFound.
func (b *Bolt) GetVersion(ctx context.Context, tenant, agentID string, n int) (*AgentVersion, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if n <= 0 || !validName(tenant) || !validID(agentID) {
		return nil, ErrNotFound
	}
	key := binary.BigEndian.AppendUint64(versionPrefix(tenant, agentID), uint64(n))
	var out *AgentVersion
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketVersions)
		if bk == nil {
			return ErrNotFound
		}
		val := bk.Get(key)
		if val == nil {
			return ErrNotFound
		}
		out = new(AgentVersion)
		return decode(val, out, "version of agent", agentID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LatestVersion returns the highest version of tenant's agent, or
// ErrNotFound.
func (b *Bolt) LatestVersion(ctx context.Context, tenant, agentID string) (*AgentVersion, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !validName(tenant) || !validID(agentID) {
		return nil, ErrNotFound
	}
	var out *AgentVersion
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketVersions)
		if bk == nil {
			return ErrNotFound
		}
		_, val := lastWithPrefix(bk.Cursor(), versionPrefix(tenant, agentID))
		if val == nil {
			return ErrNotFound
		}
		out = new(AgentVersion)
		return decode(val, out, "version of agent", agentID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListVersions returns tenant's versions of an agent, oldest first.
func (b *Bolt) ListVersions(ctx context.Context, tenant, agentID string) ([]*AgentVersion, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !validName(tenant) || !validID(agentID) {
		return nil, nil
	}
	prefix := versionPrefix(tenant, agentID)
	var out []*AgentVersion
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketVersions)
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		for k, val := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, val = c.Next() {
			if len(k) != len(prefix)+8 {
				continue
			}
			v := new(AgentVersion)
			if err := decode(val, v, "version of agent", agentID); err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}
