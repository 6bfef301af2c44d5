// Package state defines the Store that keeps agentgate's durable objects
// (agents, API keys, sessions, usage records and counters) and its embedded
// bbolt implementation. It knows nothing of HTTP or Caddy.
package state

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// ErrNotFound is returned when an object does not exist or belongs to
// another tenant; callers cannot tell the two apart, by design.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when creating an object whose id is taken.
var ErrExists = errors.New("already exists")

// ErrConflict is returned when an object is not in the state an operation
// needs (a paused run already committed).
var ErrConflict = errors.New("conflict")

// Store is the persistence contract every backend implements and the
// contract test suite (storetest) checks. Every read and write of tenant
// data is scoped by tenant.
type Store interface {
	// CreateAgent stores a new agent; ErrExists if tenant already has one
	// with that id.
	CreateAgent(ctx context.Context, a *adapters.Agent) error
	// PutAgent creates or replaces an agent.
	PutAgent(ctx context.Context, a *adapters.Agent) error
	// GetAgent returns tenant's agent id, or ErrNotFound.
	GetAgent(ctx context.Context, tenant, id string) (*adapters.Agent, error)
	// ListAgents returns tenant's agents ordered by creation time, then id.
	ListAgents(ctx context.Context, tenant string) ([]*adapters.Agent, error)
	// DeleteAgent removes tenant's agent id, or returns ErrNotFound.
	DeleteAgent(ctx context.Context, tenant, id string) error

	// PutKey creates or replaces an API key record.
	PutKey(ctx context.Context, k *APIKey) error
	// KeyByHash returns the key whose secret hashes to hash, or ErrNotFound.
	KeyByHash(ctx context.Context, hash [32]byte) (*APIKey, error)
	// GetKey returns the key with this id, or ErrNotFound.
	GetKey(ctx context.Context, id string) (*APIKey, error)
	// ListKeys returns every key ordered by creation time.
	ListKeys(ctx context.Context) ([]*APIKey, error)
	// DeleteKey removes a key, or returns ErrNotFound.
	DeleteKey(ctx context.Context, id string) error

	// GetSession returns the session k names, or ErrNotFound. The same id
	// under another tenant, agent or project names another session.
	GetSession(ctx context.Context, k SessionKey) (*Session, error)
	// AppendTurn adds one turn's messages to the session s.Key() names,
	// creating it when it does not exist. It is durable when it returns;
	// concurrent calls are group-committed.
	AppendTurn(ctx context.Context, s *Session, msgs []adapters.Message) error
	// RecentTurns returns the messages of the last n turns of the session
	// k names, oldest first (n <= 0 means none).
	RecentTurns(ctx context.Context, k SessionKey, n int) ([]adapters.Message, error)

	// AppendUsage stores usage records in one transaction and adds their
	// tokens to the monthly counters of their key and tenant.
	AppendUsage(ctx context.Context, recs []UsageRecord) error
	// ListUsage returns tenant's most recent usage records, newest first.
	ListUsage(ctx context.Context, tenant string, limit int) ([]UsageRecord, error)
	// MonthlyTokens returns the tokens recorded for a counter scope
	// ("key:<id>" or "tenant:<name>") in the calendar month (UTC) of t.
	MonthlyTokens(ctx context.Context, scope string, t time.Time) (int64, error)

	// PutRun creates or replaces a run.
	PutRun(ctx context.Context, r *Run) error
	// GetRun returns tenant's run id, or ErrNotFound.
	GetRun(ctx context.Context, tenant, id string) (*Run, error)
	// ClaimRun atomically moves tenant's paused run id to status and
	// returns it as it was: ErrNotFound when there is no such run,
	// ErrConflict when it is no longer paused. A run is committed once.
	ClaimRun(ctx context.Context, tenant, id, status string) (*Run, error)

	// PutTier creates or replaces a tier set at run time.
	PutTier(ctx context.Context, t *Tier) error
	// ListTiers returns the tiers set at run time, by name.
	ListTiers(ctx context.Context) ([]*Tier, error)
	// DeleteTier removes a tier set at run time, or returns ErrNotFound.
	DeleteTier(ctx context.Context, name string) error

	// Documents keeps knowledge documents and their chunks (documents.go).
	Documents

	// Objects records the owners of objects made upstream through the
	// passthrough (objects.go).
	Objects

	// ResponseStore keeps responses as nodes of conversation trees, and
	// Conversations the conversations of the Conversations API
	// (responses.go, conversations.go).
	ResponseStore
	Conversations

	// PutMemories creates or replaces long-term memory items in one
	// transaction.
	PutMemories(ctx context.Context, items []*Memory) error
	// ListMemories returns every memory of tenant's agent (all kinds, all
	// end users), oldest first, then by id.
	ListMemories(ctx context.Context, tenant, agentID string) ([]*Memory, error)
	// DeleteMemories removes tenant's memories of agentID with the given
	// ids (all of them when ids is nil) and returns how many it removed.
	DeleteMemories(ctx context.Context, tenant, agentID string, ids []string) (int, error)

	// RecordTurns adds answered runs to their agents' statistics and
	// keeps each run's record for feedback, in one transaction.
	RecordTurns(ctx context.Context, recs []TurnRecord) error
	// AgentStats returns tenant's statistics of agentID (zero when none).
	AgentStats(ctx context.Context, tenant, agentID string) (AgentStats, error)
	// RateTurn records end-user feedback ("up" or "down") on tenant's
	// agent's answer runID, replacing an earlier vote; ErrNotFound when
	// the agent has no such answer.
	RateTurn(ctx context.Context, tenant, agentID, runID, rating string) error

	// Close releases the backend. The store must not be used afterwards.
	Close() error
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

// Session is a stored conversation's metadata; its messages are read with
// RecentTurns. Tenant, AgentID, Project and ID are its key.
type Session struct {
	ID      string `json:"id"`
	Tenant  string `json:"tenant"`
	AgentID string `json:"agent_id"`
	// Project is the project the session belongs to (Tenzro projects);
	// empty for dialects without projects.
	Project string    `json:"project,omitempty"`
	Turns   int       `json:"turns"`
	Created time.Time `json:"created_at"`
	Updated time.Time `json:"updated_at"`
}

// SessionKey names a session: a conversation id is scoped to the tenant,
// the agent it talks to and the project (where the dialect has projects),
// so an id that is new to an agent starts a new conversation with it.
type SessionKey struct {
	Tenant, AgentID, Project, ID string
}

// Key returns the key that names s.
func (s *Session) Key() SessionKey {
	return SessionKey{Tenant: s.Tenant, AgentID: s.AgentID, Project: s.Project, ID: s.ID}
}

// UsageRecord is one model call's usage log entry.
type UsageRecord struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"created_at"`
	Tenant    string    `json:"tenant"`
	KeyID     string    `json:"key_id"`
	Dialect   string    `json:"dialect"`
	AgentID   string    `json:"agent_id"`
	Model     string    `json:"model_id"`
	Provider  string    `json:"provider"`
	SessionID string    `json:"session_id,omitempty"`
	// ParentID links sub-calls (fallback attempts, sub-agents, memory
	// steps) to the run they belong to.
	ParentID        string `json:"parent_id,omitempty"`
	InputTokens     int    `json:"input_tokens"`
	OutputTokens    int    `json:"output_tokens"`
	ReasoningTokens int    `json:"reasoning_tokens"`
	CachedTokens    int    `json:"cached_tokens"`
	// Estimated marks token counts the gateway estimated.
	Estimated bool  `json:"estimated"`
	LatencyMs int64 `json:"latency_ms"`
	// Status is "ok" or the error code the call ended with.
	Status string `json:"status"`
}

// Run statuses.
const (
	RunPaused    = "paused"
	RunResuming  = "resuming"
	RunCompleted = "completed"
	RunCancelled = "cancelled"
)

// Run is an agent run kept beyond its request: a run paused before tools
// that need a person's confirmation, with everything needed to resume it.
type Run struct {
	ID        string `json:"id"`
	Tenant    string `json:"tenant"`
	AgentID   string `json:"agent_id"`
	SessionID string `json:"session_id,omitempty"`
	Dialect   string `json:"dialect"`
	Status    string `json:"status"`
	// Model is the model the run used (a request's override included).
	Model  string `json:"model"`
	System string `json:"system,omitempty"`
	// Tools are the names of the runtime tools the run may call.
	Tools []string `json:"tools,omitempty"`
	// Messages is the conversation to resume from: history, the new turn
	// and the assistant message that asked for the pending calls.
	Messages []adapters.Message `json:"messages"`
	// Turn is what the session gains when the run completes.
	Turn []adapters.Message `json:"turn,omitempty"`
	// Pending are the tool calls waiting for a decision.
	Pending    []PendingCall  `json:"pending"`
	Usage      adapters.Usage `json:"usage"`
	Iterations int            `json:"iterations"`
	Created    time.Time      `json:"created_at"`
	Expires    time.Time      `json:"expires_at"`
}

// PendingCall is a tool call of a paused run.
type PendingCall struct {
	adapters.ToolCall
	Toolkit              string `json:"toolkit,omitempty"`
	RequiresConfirmation bool   `json:"requires_confirmation"`
}

// Tier is a service level: what a key on it may spend. Zero means
// unlimited for every limit.
type Tier struct {
	Name string `json:"name"`
	// MonthlyTokens caps the tokens a key spends per calendar month (UTC).
	MonthlyTokens int64 `json:"monthly_tokens"`
	// TenantMonthlyTokens caps the tokens all of a tenant's keys on this
	// tier spend per month together.
	TenantMonthlyTokens int64 `json:"tenant_monthly_tokens,omitempty"`
	// RPM and TPM cap requests and tokens per minute per key.
	RPM int64 `json:"rpm"`
	TPM int64 `json:"tpm"`
	// Concurrent caps a key's requests in flight (streams included).
	Concurrent int64 `json:"concurrent"`
	// Models limits the models a key on this tier may call directly
	// (model passthrough, embeddings) to these names or prefixes ending
	// in "*"; empty allows every routed model. Agents are not affected.
	Models []string `json:"models,omitempty"`
}

// AllowsModel reports whether t lets a key call model directly.
func (t Tier) AllowsModel(model string) bool {
	if len(t.Models) == 0 {
		return true
	}
	for _, m := range t.Models {
		if p, ok := strings.CutSuffix(m, "*"); ok && strings.HasPrefix(model, p) || m == model {
			return true
		}
	}
	return false
}

// MonthKey formats the calendar month (UTC) of t as counters use it.
func MonthKey(t time.Time) string { return t.UTC().Format("2006-01") }
