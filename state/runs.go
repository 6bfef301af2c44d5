package state

import (
	"context"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// Runs keeps agent runs paused before tools that need a person's
// confirmation, until they are committed or expire.
//
// A paused run is claimed exactly once: of concurrent ClaimRun calls on
// one run, on one instance or several, one gets the run and every other
// gets ErrConflict.
type Runs interface {
	// PutRun creates or replaces a run.
	PutRun(ctx context.Context, r *Run) error
	// GetRun returns tenant's run id, or ErrNotFound.
	GetRun(ctx context.Context, tenant, id string) (*Run, error)
	// ClaimRun atomically moves tenant's paused run id to status and
	// returns it as it was: ErrNotFound when there is no such run,
	// ErrConflict when it is no longer paused.
	ClaimRun(ctx context.Context, tenant, id, status string) (*Run, error)
	// SweepRuns removes the runs (of every tenant, paused or ended) whose
	// Expires is before t, and returns how many it removed.
	SweepRuns(ctx context.Context, t time.Time) (int, error)
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
