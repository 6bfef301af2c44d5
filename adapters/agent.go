package adapters

import (
	"encoding/json"
	"time"
)

// Agent statuses. Only active agents can be invoked.
const (
	StatusActive   = "active"
	StatusInactive = "inactive"
	StatusDraft    = "draft"
)

// Agent is the canonical agent every dialect is a view of. Fields one
// dialect documents and another lacks live here, not in dialect-private
// tables, so an agent made through one API is usable through all of them.
type Agent struct {
	ID string `json:"id"`
	// Tenant owns the agent; empty means every tenant (operator-declared).
	Tenant string `json:"tenant,omitempty"`
	// Project scopes the agent within its tenant (Tenzro projects).
	Project     string `json:"project,omitempty"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// SystemPrompt is the agent's instructions (v2 "template").
	SystemPrompt string `json:"system_prompt,omitempty"`
	// Model is the model name the router resolves to a provider.
	Model string `json:"model"`
	// Provider pins the provider instance; empty lets routing decide.
	Provider string `json:"provider,omitempty"`
	// Fallbacks are models tried in order, routed by name (possibly to
	// other providers), when Model's retries are exhausted.
	Fallbacks []string `json:"fallbacks,omitempty"`
	Sampling  Sampling `json:"sampling,omitempty"`
	// Tools names the tools and toolkits the agent may use.
	Tools []string `json:"tools,omitempty"`
	// Reasoning is the agent's thinking default, overridable per request.
	Reasoning bool `json:"reasoning,omitempty"`
	// ReasoningEffort is the effort asked for when reasoning is on.
	ReasoningEffort string `json:"reasoning_effort,omitempty"`
	// MaxIterations bounds the model calls of one run's tool loop; 0
	// means the runtime's default.
	MaxIterations int `json:"max_iterations,omitempty"`
	// Pattern is how the agent orchestrates its SubAgents (PatternSingle,
	// PatternSequential, PatternParallel, PatternHierarchical); empty
	// means PatternSingle. See engine/orchestrate.go.
	Pattern string `json:"pattern,omitempty"`
	// SubAgents are the ids of the agents an orchestrating agent runs, in
	// order.
	SubAgents []string `json:"sub_agents,omitempty"`
	// HistoryTurns is how many earlier turns of a session are replayed.
	HistoryTurns int `json:"history_turns,omitempty"`
	// NoHistory keeps a session's earlier turns out of the context: every
	// call sees only its own messages (turns are still stored).
	NoHistory bool `json:"no_history,omitempty"`
	// ReasoningMinSteps and ReasoningMaxSteps bound the explicit reasoning
	// steps asked of a model that cannot think natively (v2
	// reasoning_min_steps/reasoning_max_steps); 0 means unbounded.
	ReasoningMinSteps int          `json:"reasoning_min_steps,omitempty"`
	ReasoningMaxSteps int          `json:"reasoning_max_steps,omitempty"`
	Memory            MemoryConfig `json:"memory,omitempty"`
	Status            string       `json:"status,omitempty"`
	Tags              []string     `json:"tags,omitempty"`
	Version           string       `json:"version,omitempty"`
	// Extensions holds dialect-documented settings with no behaviour in the
	// runtime yet (v2 worker_config, …), kept so they read back as written.
	Extensions map[string]json.RawMessage `json:"extensions,omitempty"`
	CreatedAt  time.Time                  `json:"created_at"`
	UpdatedAt  time.Time                  `json:"updated_at"`
	// DeletedAt marks a soft-deleted agent: no dialect lists or invokes
	// it, but its sessions and runs are kept.
	DeletedAt time.Time `json:"deleted_at,omitzero"`
	// Guardrails are the agent's input and output rules; nil means none.
	Guardrails *Guardrails `json:"guardrails,omitempty"`
	// Knowledge attaches knowledge sources (RAG); nil means none.
	Knowledge *Knowledge `json:"knowledge,omitempty"`
	// Declared marks agents from the operator's configuration, which no
	// API can change or delete.
	Declared bool `json:"-"`
	// Revision is the stored agent's revision, set by the store: an
	// update names the revision it read and fails when another writer
	// moved it on (optimistic concurrency; see state.Agents).
	Revision int64 `json:"revision,omitempty"`
}

// MemoryConfig selects the kinds of long-term memory an agent keeps.
type MemoryConfig struct {
	Semantic   bool `json:"semantic,omitempty"`
	Episodic   bool `json:"episodic,omitempty"`
	Procedural bool `json:"procedural,omitempty"`
	// EmbeddingModel embeds the agent's memories and recall queries;
	// empty means the gateway's embedding_model, and without one recall
	// ranks by keywords (BM25).
	EmbeddingModel string `json:"embedding_model,omitempty"`
	// Model runs the memory manager (fact and instruction extraction after
	// each turn); empty means the gateway's memory model, else the
	// agent's own.
	Model string `json:"model,omitempty"`
}

// Enabled reports whether the agent keeps any kind of long-term memory.
func (m MemoryConfig) Enabled() bool { return m.Semantic || m.Episodic || m.Procedural }

// DefaultHistoryTurns is how many earlier turns a session replays when the
// agent does not say.
const DefaultHistoryTurns = 10

// Active reports whether the agent can be invoked.
func (a *Agent) Active() bool { return a.Status == "" || a.Status == StatusActive }

// ValidStatus reports whether s is an agent status a client or the
// operator may set.
func ValidStatus(s string) bool {
	return s == StatusActive || s == StatusInactive || s == StatusDraft
}

// NotActive is the error of a request that invokes an agent whose status
// is not active (draft or inactive): a 400 naming param, the field that
// chose the agent.
func NotActive(a *Agent, param string) *Error {
	return &Error{Kind: KindInvalidRequest, Code: "agent_not_active", Param: param,
		Message: "agent '" + a.ID + "' is not active (status " + a.Status + ")"}
}

// Deleted reports whether the agent was (soft) deleted.
func (a *Agent) Deleted() bool { return !a.DeletedAt.IsZero() }

// VisibleTo reports whether tenant may use the agent.
func (a *Agent) VisibleTo(tenant string) bool { return a.Tenant == "" || a.Tenant == tenant }

// Principal is the authenticated caller of a request.
type Principal struct {
	KeyID  string
	Tenant string
	Tier   string
	Email  string
	// Projects limits the key to these projects; empty means all of the
	// tenant's projects.
	Projects []string
}
