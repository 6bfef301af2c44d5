package bbolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/state"
)

// Long-term memory and agent statistics buckets (see layout.go).
var (
	bucketMemories    = []byte("memories")
	bucketAgentStats  = []byte("agentstats")
	bucketTurnRecords = []byte("turnrecs")
)

func init() {
	dataBuckets = append(dataBuckets, bucketMemories, bucketAgentStats, bucketTurnRecords)
}

// memoryCodecV1 is the version byte of a stored memory, whose embedding
// follows the JSON of its fields (vectorcodec.go).
const memoryCodecV1 = 1

var errMemoryCodec = errors.New("malformed memory item")

func encodeMemory(m *state.Memory) ([]byte, error) {
	return encodeWithVector(memoryCodecV1, m, m.Embedding)
}

func decodeMemory(b []byte, m *state.Memory) (err error) {
	m.Embedding, err = decodeWithVector(b, memoryCodecV1, m, errMemoryCodec)
	return err
}

// memoryPrefix is the key prefix of tenant's memories of agent.
func memoryPrefix(tenant, agent string) []byte { return append(join(tenant, agent), 0) }

// PutMemories creates or replaces memory items, all in one transaction
// shared with concurrent callers.
func (b *Store) PutMemories(ctx context.Context, items []*state.Memory) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if len(items) == 0 {
		return nil
	}
	keys := make([][]byte, len(items))
	vals := make([][]byte, len(items))
	for i, m := range items {
		if err := state.CheckMemory(m); err != nil {
			return err
		}
		v, err := encodeMemory(m)
		if err != nil {
			return fmt.Errorf("state: encode memory %q: %w", m.ID, err)
		}
		keys[i] = append(memoryPrefix(m.Tenant, m.AgentID), m.ID...)
		vals[i] = v
	}
	err := b.batch(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketMemories)
		for i := range keys {
			if err := bk.Put(keys[i], vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	publishMemories(b, items)
	return nil
}

// publishMemories tells of items written: one change per agent.
func publishMemories(b *Store, items []*state.Memory) {
	type agent struct{ tenant, id string }
	byAgent := map[agent][]string{}
	var order []agent
	for _, m := range items {
		k := agent{m.Tenant, m.AgentID}
		if _, ok := byAgent[k]; !ok {
			order = append(order, k)
		}
		byAgent[k] = append(byAgent[k], m.ID)
	}
	for _, k := range order {
		b.publish(state.Change{Kind: state.ChangeMemory, Tenant: k.tenant, ID: k.id, Items: byAgent[k]})
	}
}

// GetMemories returns those of tenant's memories of agentID with the
// given ids that exist.
func (b *Store) GetMemories(ctx context.Context, tenant, agentID string, ids []string) ([]*state.Memory, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidID(agentID) {
		return nil, nil
	}
	prefix := memoryPrefix(tenant, agentID)
	var list []*state.Memory
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketMemories)
		for _, id := range ids {
			if !state.ValidID(id) {
				continue
			}
			v := bk.Get(append(append([]byte(nil), prefix...), id...))
			if v == nil {
				continue
			}
			m := new(state.Memory)
			if err := decodeMemory(v, m); err != nil {
				return fmt.Errorf("state: decode memory %q: %w", id, err)
			}
			list = append(list, m)
		}
		return nil
	})
	return list, err
}

// ListMemories returns every memory of tenant's agent (all kinds, all end
// users), oldest first, then by id.
func (b *Store) ListMemories(ctx context.Context, tenant, agentID string) ([]*state.Memory, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidID(agentID) {
		return nil, nil
	}
	prefix := memoryPrefix(tenant, agentID)
	var list []*state.Memory
	err := b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMemories).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			m := new(state.Memory)
			if err := decodeMemory(v, m); err != nil {
				return fmt.Errorf("state: decode memory %q: %w", k[len(prefix):], err)
			}
			list = append(list, m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortOldestFirst(list, func(m *state.Memory) (time.Time, string) { return m.Created, m.ID })
	return list, nil
}

// DeleteMemories removes tenant's memories of agentID with the given ids,
// or all of them when ids is nil, and returns how many it removed.
func (b *Store) DeleteMemories(ctx context.Context, tenant, agentID string, ids []string) (int, error) {
	if err := b.enter(ctx); err != nil {
		return 0, err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidID(agentID) {
		return 0, nil
	}
	prefix := memoryPrefix(tenant, agentID)
	var n int
	var removed []string
	err := b.update(func(tx *bolt.Tx) error {
		n, removed = 0, nil
		bk := tx.Bucket(bucketMemories)
		if ids == nil {
			keys, err := deletePrefix(bk, prefix)
			for _, k := range keys {
				removed = append(removed, string(k[len(prefix):]))
			}
			n = len(keys)
			return err
		}
		for _, id := range ids {
			if !state.ValidID(id) {
				continue
			}
			k := append(append([]byte(nil), prefix...), id...)
			if bk.Get(k) == nil {
				continue
			}
			if err := bk.Delete(k); err != nil {
				return err
			}
			removed = append(removed, id)
			n++
		}
		return nil
	})
	if err == nil && n > 0 {
		b.publish(state.Change{Kind: state.ChangeMemory, Tenant: tenant, ID: agentID, Items: removed})
	}
	return n, err
}

// turnKey of tenant's agent's run.
func turnRecordKey(tenant, agent, run string) []byte {
	return appendTurnRecordKey(make([]byte, 0, turnRecordKeySize(tenant, agent, run)), tenant, agent, run)
}

// appendTurnRecordKey appends turnRecordKey(tenant, agent, run) to dst.
func appendTurnRecordKey(dst []byte, tenant, agent, run string) []byte {
	dst = append(append(dst, tenant...), 0)
	dst = append(append(dst, agent...), 0)
	return append(dst, run...)
}

// turnRecordKeySize is the length of turnRecordKey(tenant, agent, run).
func turnRecordKeySize(tenant, agent, run string) int { return len(tenant) + len(agent) + len(run) + 2 }

// RecordTurns adds answered runs to their agents' statistics and keeps
// each run's record (for feedback), in one transaction shared with
// concurrent callers.
func (b *Store) RecordTurns(ctx context.Context, recs []state.TurnRecord) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if len(recs) == 0 {
		return nil
	}
	keys := make([][]byte, len(recs))
	vals := make([][]byte, len(recs))
	keySize := 0
	for i := range recs {
		r := &recs[i]
		switch {
		case !state.ValidName(r.Tenant):
			return state.InvalidID("tenant", r.Tenant)
		case !state.ValidID(r.AgentID):
			return state.InvalidID("agent id", r.AgentID)
		case r.RunID != "" && !state.ValidName(r.RunID):
			return state.InvalidID("run id", r.RunID)
		}
		if r.RunID != "" {
			keySize += turnRecordKeySize(r.Tenant, r.AgentID, r.RunID)
		}
	}
	// The batch's keys share one allocation (bbolt copies the keys it
	// is given).
	slab := make([]byte, 0, keySize)
	for i := range recs {
		if r := &recs[i]; r.RunID != "" { // a run without an id counts, and is not kept
			start := len(slab)
			slab = appendTurnRecordKey(slab, r.Tenant, r.AgentID, r.RunID)
			keys[i], vals[i] = slab[start:len(slab):len(slab)], encodeTurnRecord(r)
		}
	}
	return b.batch(func(tx *bolt.Tx) error {
		stats, turns := tx.Bucket(bucketAgentStats), tx.Bucket(bucketTurnRecords)
		turns.FillPercent = appendFill
		type agent struct{ tenant, id string }
		deltas := map[agent]*state.AgentStats{}
		var order []agent
		var last agent
		var d *state.AgentStats
		for i, stored := range storedKeys(turns, keys) {
			r := &recs[i]
			if stored {
				continue // recorded already: a retried batch
			}
			if a := (agent{r.Tenant, r.AgentID}); d == nil || a != last {
				if d = deltas[a]; d == nil {
					d = new(state.AgentStats)
					deltas[a] = d
					order = append(order, a)
				}
				last = a
			}
			if r.NewSession {
				d.Conversations++
			}
			d.Responses++
			d.ResponseMs += max(r.LatencyMs, 0)
			if keys[i] == nil {
				continue
			}
			if err := turns.Put(keys[i], vals[i]); err != nil {
				return err
			}
		}
		for _, a := range order {
			if err := addStats(stats, join(a.tenant, a.id), *deltas[a]); err != nil {
				return err
			}
		}
		return nil
	})
}

func addStats(bk *bolt.Bucket, key []byte, d state.AgentStats) error {
	var s state.AgentStats
	if v := bk.Get(key); v != nil {
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("state: decode agent statistics: %w", err)
		}
	}
	s.Conversations += d.Conversations
	s.Responses += d.Responses
	s.ResponseMs += d.ResponseMs
	s.Up += d.Up
	s.Down += d.Down
	v, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return bk.Put(key, v)
}

// AgentStats returns tenant's statistics of agentID; zero when it has none.
func (b *Store) AgentStats(ctx context.Context, tenant, agentID string) (state.AgentStats, error) {
	var s state.AgentStats
	if err := b.enter(ctx); err != nil {
		return s, err
	}
	defer b.exit()
	if !state.ValidName(tenant) || !state.ValidID(agentID) {
		return s, nil
	}
	err := b.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketAgentStats).Get(join(tenant, agentID)); v != nil {
			return decode(v, &s, "agent statistics", agentID)
		}
		return nil
	})
	return s, err
}

// RateTurn records an end user's feedback ("up" or "down") on tenant's
// agent's answer runID, replacing an earlier vote on it: state.ErrNotFound when
// the agent has no such answer.
func (b *Store) RateTurn(ctx context.Context, tenant, agentID, runID, rating string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if rating != "up" && rating != "down" {
		return fmt.Errorf("state: rating %q is neither up nor down", rating)
	}
	if !state.ValidName(tenant) || !state.ValidID(agentID) || !state.ValidID(runID) {
		return state.ErrNotFound
	}
	k := turnRecordKey(tenant, agentID, runID)
	return b.update(func(tx *bolt.Tx) error {
		turns := tx.Bucket(bucketTurnRecords)
		v := turns.Get(k)
		if v == nil {
			return state.ErrNotFound
		}
		var r state.TurnRecord
		if err := decodeTurnRecord(k, v, &r); err != nil {
			return fmt.Errorf("state: decode turn record %q: %w", runID, err)
		}
		if r.Rating == rating {
			return nil
		}
		var d state.AgentStats
		switch r.Rating {
		case "up":
			d.Up--
		case "down":
			d.Down--
		}
		if rating == "up" {
			d.Up++
		} else {
			d.Down++
		}
		r.Rating = rating
		if err := turns.Put(k, encodeTurnRecord(&r)); err != nil {
			return err
		}
		return addStats(tx.Bucket(bucketAgentStats), join(tenant, agentID), d)
	})
}
