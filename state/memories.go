package state

import (
	"context"
	"time"
)

// Memories keeps agents' long-term memory items, scoped to a tenant and
// an agent (and, within it, optionally to one end user).
type Memories interface {
	// PutMemories creates or replaces memory items in one transaction.
	PutMemories(ctx context.Context, items []*Memory) error
	// GetMemories returns those of tenant's memories of agentID with the
	// given ids that exist, in no particular order.
	GetMemories(ctx context.Context, tenant, agentID string, ids []string) ([]*Memory, error)
	// ListMemories returns every memory of tenant's agent (all kinds, all
	// end users), oldest first, then by id.
	ListMemories(ctx context.Context, tenant, agentID string) ([]*Memory, error)
	// DeleteMemories removes tenant's memories of agentID with the given
	// ids (all of them when ids is nil) and returns how many it removed.
	DeleteMemories(ctx context.Context, tenant, agentID string, ids []string) (int, error)
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

// CheckMemory reports why m cannot be stored, if it cannot.
func CheckMemory(m *Memory) error {
	switch {
	case !ValidName(m.Tenant):
		return InvalidID("tenant", m.Tenant)
	case !ValidID(m.AgentID):
		return InvalidID("agent id", m.AgentID)
	case !ValidID(m.ID):
		return InvalidID("memory id", m.ID)
	case !ValidMemoryKind(m.Kind):
		return InvalidID("memory kind", m.Kind)
	case !ValidName(m.UserID):
		return InvalidID("user id", m.UserID)
	}
	return nil
}

// Stats keeps the running statistics of tenants' use of their agents and
// the answered runs end users may rate. Concurrent writers' additions add
// up exactly.
type Stats interface {
	// RecordTurns adds answered runs to their agents' statistics and
	// keeps each run's record for feedback, in one transaction. A run
	// already recorded is not counted again.
	RecordTurns(ctx context.Context, recs []TurnRecord) error
	// AgentStats returns tenant's statistics of agentID (zero when none).
	AgentStats(ctx context.Context, tenant, agentID string) (AgentStats, error)
	// RateTurn records end-user feedback ("up" or "down") on tenant's
	// agent's answer runID, replacing an earlier vote; ErrNotFound when
	// the agent has no such answer.
	RateTurn(ctx context.Context, tenant, agentID, runID, rating string) error
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
