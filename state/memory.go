package state

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
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

// The kinds of long-term memory an agent keeps.
const (
	// MemorySemantic items are facts: what the agent knows about its user
	// or its domain (extracted from conversations, or added through an API).
	MemorySemantic = "semantic"
	// MemoryEpisodic items are past exchanges: what was asked, what was
	// answered, when.
	MemoryEpisodic = "episodic"
	// MemoryProcedural items are standing instructions and preferences
	// ("always answer in French") that shape the system prompt.
	MemoryProcedural = "procedural"
)

// ValidMemoryKind reports whether k is one of the memory kinds.
func ValidMemoryKind(k string) bool {
	return k == MemorySemantic || k == MemoryEpisodic || k == MemoryProcedural
}

// Memory is one item of an agent's long-term memory, scoped to a tenant,
// an agent and, when UserID is set, one end user of that agent. It is a
// generic retrievable item (kind, content, embedding, metadata), so other
// retrieval features can keep their items the same way.
type Memory struct {
	ID      string `json:"id"`
	Tenant  string `json:"tenant"`
	AgentID string `json:"agent_id"`
	// UserID is the end user the item belongs to; empty means the agent
	// as a whole.
	UserID string `json:"user_id,omitempty"`
	// SessionID is the conversation the item came from, if any.
	SessionID string `json:"session_id,omitempty"`
	// Kind is MemorySemantic, MemoryEpisodic or MemoryProcedural.
	Kind    string `json:"kind"`
	Content string `json:"content"`
	// Source says where the item came from: "api" (added by a client),
	// "conversation" (an episode) or "manager" (extracted after a turn).
	Source string `json:"source,omitempty"`
	// EmbeddingModel is the model Embedding was computed with; empty when
	// the item has no embedding (keyword recall only).
	EmbeddingModel string    `json:"embedding_model,omitempty"`
	Embedding      []float32 `json:"-"`
	// Metadata holds free-form attributes (the exchange of an episode, the
	// caller's tags of a knowledge item).
	Metadata map[string]string `json:"metadata,omitempty"`
	Created  time.Time         `json:"created_at"`
	Updated  time.Time         `json:"updated_at"`
}

// AgentStats are the running counters of one tenant's use of one agent.
type AgentStats struct {
	// Conversations counts the sessions started with the agent.
	Conversations int64 `json:"conversations"`
	// Responses counts the runs that answered, and ResponseMs sums their
	// latency.
	Responses  int64 `json:"responses"`
	ResponseMs int64 `json:"response_ms"`
	// Up and Down count end users' feedback on the agent's answers (one
	// vote per answer; a changed vote moves from one count to the other).
	Up   int64 `json:"up"`
	Down int64 `json:"down"`
}

// TurnRecord is one answered run of an agent, for its statistics and so
// that end users can rate the answer later.
type TurnRecord struct {
	Tenant  string `json:"tenant"`
	AgentID string `json:"agent_id"`
	// RunID identifies the answer (feedback names it).
	RunID     string `json:"run_id"`
	SessionID string `json:"session_id,omitempty"`
	// NewSession marks the first turn of a session: a new conversation.
	NewSession bool      `json:"new_session,omitempty"`
	LatencyMs  int64     `json:"latency_ms"`
	Time       time.Time `json:"time"`
	// Rating is the end user's feedback: "", "up" or "down".
	Rating string `json:"rating,omitempty"`
}

// memoryCodecV1 is the version byte of a stored memory: then a uvarint
// length and the JSON of the item's fields, then its embedding as
// little-endian float32s (4 bytes each, to the end of the value). Binary
// embeddings are a fifth of their JSON and decode without parsing, which
// matters when an agent's 100k memories load into the recall index.
const memoryCodecV1 = 1

var errMemoryCodec = errors.New("malformed memory item")

func encodeMemory(m *Memory) ([]byte, error) {
	meta, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(meta)+4*len(m.Embedding))
	b = append(b, memoryCodecV1)
	b = binary.AppendUvarint(b, uint64(len(meta)))
	b = append(b, meta...)
	for _, f := range m.Embedding {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b, nil
}

func decodeMemory(b []byte, m *Memory) error {
	if len(b) == 0 || b[0] != memoryCodecV1 {
		return errMemoryCodec
	}
	l, n := binary.Uvarint(b[1:])
	if n <= 0 || uint64(len(b)-1-n) < l {
		return errMemoryCodec
	}
	body := b[1+n:]
	if err := json.Unmarshal(body[:l], m); err != nil {
		return err
	}
	vec := body[l:]
	if len(vec)%4 != 0 {
		return errMemoryCodec
	}
	m.Embedding = nil
	if len(vec) > 0 {
		m.Embedding = make([]float32, len(vec)/4)
		for i := range m.Embedding {
			m.Embedding[i] = math.Float32frombits(binary.LittleEndian.Uint32(vec[4*i:]))
		}
	}
	return nil
}

// memoryPrefix is the key prefix of tenant's memories of agent.
func memoryPrefix(tenant, agent string) []byte { return append(join(tenant, agent), 0) }

// PutMemories creates or replaces memory items, all in one transaction
// shared with concurrent callers.
func (b *Bolt) PutMemories(ctx context.Context, items []*Memory) error {
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
		if !validName(m.Tenant) {
			return invalidID("tenant", m.Tenant)
		}
		if !validID(m.AgentID) {
			return invalidID("agent id", m.AgentID)
		}
		if !validID(m.ID) {
			return invalidID("memory id", m.ID)
		}
		if !ValidMemoryKind(m.Kind) {
			return fmt.Errorf("state: %w: memory kind %q", ErrInvalidID, m.Kind)
		}
		v, err := encodeMemory(m)
		if err != nil {
			return fmt.Errorf("state: encode memory %q: %w", m.ID, err)
		}
		keys[i] = append(memoryPrefix(m.Tenant, m.AgentID), m.ID...)
		vals[i] = v
	}
	return b.batch(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketMemories)
		for i := range keys {
			if err := bk.Put(keys[i], vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListMemories returns every memory of tenant's agent (all kinds, all end
// users), oldest first, then by id.
func (b *Bolt) ListMemories(ctx context.Context, tenant, agentID string) ([]*Memory, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	defer b.exit()
	if !validName(tenant) || !validID(agentID) {
		return nil, nil
	}
	prefix := memoryPrefix(tenant, agentID)
	var list []*Memory
	err := b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMemories).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			m := new(Memory)
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
	slices.SortStableFunc(list, func(x, y *Memory) int {
		return cmp.Or(x.Created.Compare(y.Created), cmp.Compare(x.ID, y.ID))
	})
	return list, nil
}

// DeleteMemories removes tenant's memories of agentID with the given ids,
// or all of them when ids is nil, and returns how many it removed.
func (b *Bolt) DeleteMemories(ctx context.Context, tenant, agentID string, ids []string) (int, error) {
	if err := b.enter(ctx); err != nil {
		return 0, err
	}
	defer b.exit()
	if !validName(tenant) || !validID(agentID) {
		return 0, nil
	}
	prefix := memoryPrefix(tenant, agentID)
	var n int
	err := b.update(func(tx *bolt.Tx) error {
		n = 0
		bk := tx.Bucket(bucketMemories)
		if ids == nil {
			var keys [][]byte
			c := bk.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				keys = append(keys, append([]byte(nil), k...))
			}
			for _, k := range keys {
				if err := bk.Delete(k); err != nil {
					return err
				}
			}
			n = len(keys)
			return nil
		}
		for _, id := range ids {
			if !validID(id) {
				continue
			}
			k := append(append([]byte(nil), prefix...), id...)
			if bk.Get(k) == nil {
				continue
			}
			if err := bk.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// turnKey of tenant's agent's run.
func turnRecordKey(tenant, agent, run string) []byte {
	return append(append(join(tenant, agent), 0), run...)
}

// RecordTurns adds answered runs to their agents' statistics and keeps
// each run's record (for feedback), in one transaction shared with
// concurrent callers.
func (b *Bolt) RecordTurns(ctx context.Context, recs []TurnRecord) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		if !validName(r.Tenant) {
			return invalidID("tenant", r.Tenant)
		}
		if !validID(r.AgentID) {
			return invalidID("agent id", r.AgentID)
		}
		if r.RunID != "" && !validName(r.RunID) {
			return invalidID("run id", r.RunID)
		}
	}
	return b.batch(func(tx *bolt.Tx) error {
		stats, turns := tx.Bucket(bucketAgentStats), tx.Bucket(bucketTurnRecords)
		deltas := map[string]*AgentStats{}
		var order []string
		for i := range recs {
			r := &recs[i]
			k := string(join(r.Tenant, r.AgentID))
			d := deltas[k]
			if d == nil {
				d = new(AgentStats)
				deltas[k] = d
				order = append(order, k)
			}
			if r.NewSession {
				d.Conversations++
			}
			d.Responses++
			d.ResponseMs += max(r.LatencyMs, 0)
			if r.RunID == "" {
				continue
			}
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := turns.Put(turnRecordKey(r.Tenant, r.AgentID, r.RunID), v); err != nil {
				return err
			}
		}
		for _, k := range order {
			if err := addStats(stats, []byte(k), *deltas[k]); err != nil {
				return err
			}
		}
		return nil
	})
}

func addStats(bk *bolt.Bucket, key []byte, d AgentStats) error {
	var s AgentStats
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
func (b *Bolt) AgentStats(ctx context.Context, tenant, agentID string) (AgentStats, error) {
	var s AgentStats
	if err := b.enter(ctx); err != nil {
		return s, err
	}
	defer b.exit()
	if !validName(tenant) || !validID(agentID) {
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
// agent's answer runID, replacing an earlier vote on it: ErrNotFound when
// the agent has no such answer.
func (b *Bolt) RateTurn(ctx context.Context, tenant, agentID, runID, rating string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	defer b.exit()
	if rating != "up" && rating != "down" {
		return fmt.Errorf("state: rating %q is neither up nor down", rating)
	}
	if !validName(tenant) || !validID(agentID) || !validID(runID) {
		return ErrNotFound
	}
	k := turnRecordKey(tenant, agentID, runID)
	return b.update(func(tx *bolt.Tx) error {
		turns := tx.Bucket(bucketTurnRecords)
		v := turns.Get(k)
		if v == nil {
			return ErrNotFound
		}
		var r TurnRecord
		if err := decode(v, &r, "turn record", runID); err != nil {
			return err
		}
		if r.Rating == rating {
			return nil
		}
		var d AgentStats
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
		nv, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		if err := turns.Put(k, nv); err != nil {
			return err
		}
		return addStats(tx.Bucket(bucketAgentStats), join(tenant, agentID), d)
	})
}
