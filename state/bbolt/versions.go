package bbolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// versionPrefix is the key prefix of tenant's versions of agent id.
func versionPrefix(tenant, id string) []byte { return append(join(tenant, id), 0) }

// PublishVersion stores a snapshot of a as tenant's next version.
func (b *Store) PublishVersion(ctx context.Context, tenant string, a *adapters.Agent, declared bool, at time.Time) (*state.AgentVersion, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !state.ValidName(tenant) {
		return nil, state.InvalidID("tenant", tenant)
	}
	if !state.ValidID(a.ID) {
		return nil, state.InvalidID("agent id", a.ID)
	}
	snapshot, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("state: encode agent %q: %w", a.ID, err)
	}
	v := &state.AgentVersion{Tenant: tenant, AgentID: a.ID, Declared: declared, Created: at.UTC()}
	if err := json.Unmarshal(snapshot, &v.Agent); err != nil { // a deep copy
		return nil, err
	}
	prefix := versionPrefix(tenant, a.ID)
	err = b.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketVersions)
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
	b.publish(state.Change{Kind: state.ChangeAgent, Tenant: tenant, ID: a.ID})
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

// GetVersion returns version n of tenant's agent, or state.ErrNotFound.
func (b *Store) GetVersion(ctx context.Context, tenant, agentID string, n int) (*state.AgentVersion, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if n <= 0 || !state.ValidName(tenant) || !state.ValidID(agentID) {
		return nil, state.ErrNotFound
	}
	key := binary.BigEndian.AppendUint64(versionPrefix(tenant, agentID), uint64(n))
	var out *state.AgentVersion
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketVersions)
		val := bk.Get(key)
		if val == nil {
			return state.ErrNotFound
		}
		out = new(state.AgentVersion)
		return decode(val, out, "version of agent", agentID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LatestVersion returns the highest version of tenant's agent, or
// state.ErrNotFound.
func (b *Store) LatestVersion(ctx context.Context, tenant, agentID string) (*state.AgentVersion, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidID(agentID) {
		return nil, state.ErrNotFound
	}
	var out *state.AgentVersion
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketVersions)
		_, val := lastWithPrefix(bk.Cursor(), versionPrefix(tenant, agentID))
		if val == nil {
			return state.ErrNotFound
		}
		out = new(state.AgentVersion)
		return decode(val, out, "version of agent", agentID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListVersions returns tenant's versions of an agent, oldest first.
func (b *Store) ListVersions(ctx context.Context, tenant, agentID string) ([]*state.AgentVersion, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidID(agentID) {
		return nil, nil
	}
	prefix := versionPrefix(tenant, agentID)
	var out []*state.AgentVersion
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketVersions)
		c := bk.Cursor()
		for k, val := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, val = c.Next() {
			if len(k) != len(prefix)+8 {
				continue
			}
			v := new(state.AgentVersion)
			if err := decode(val, v, "version of agent", agentID); err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}
