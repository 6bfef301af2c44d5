package state

import (
	"context"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// Agents keeps tenants' agents (operator-declared agents live in the
// configuration, not here).
//
// Writes are optimistic: every stored agent has a revision, which the
// store sets (1 on creation) and moves on with each update. An update
// names the revision it read; when another writer (on this instance or
// another) updated the agent since, the update fails with ErrConflict and
// the caller reads again and retries, or tells its client. No lock is
// held between a read and the write that follows it.
type Agents interface {
	// CreateAgent stores a new agent at revision 1 (set in a.Revision);
	// ErrExists if tenant already has one with that id.
	CreateAgent(ctx context.Context, a *adapters.Agent) error
	// UpdateAgent replaces tenant's agent a.ID if its stored revision is
	// a.Revision, and sets a.Revision to the new one: ErrConflict when it
	// moved on, ErrNotFound when there is no such agent.
	UpdateAgent(ctx context.Context, a *adapters.Agent) error
	// GetAgent returns tenant's agent id, or ErrNotFound.
	GetAgent(ctx context.Context, tenant, id string) (*adapters.Agent, error)
	// ListAgents returns tenant's agents ordered by creation time, then id.
	ListAgents(ctx context.Context, tenant string) ([]*adapters.Agent, error)
	// DeleteAgent removes tenant's agent id, or returns ErrNotFound.
	DeleteAgent(ctx context.Context, tenant, id string) error
}

// CheckAgent reports which part of a's key cannot be stored, if one
// cannot.
func CheckAgent(a *adapters.Agent) error {
	if !ValidName(a.Tenant) {
		return InvalidID("tenant", a.Tenant)
	}
	if !ValidID(a.ID) {
		return InvalidID("agent id", a.ID)
	}
	return nil
}

// Versions keeps published agent versions: immutable, numbered snapshots
// of an agent's configuration. Versions of one tenant's agent are
// numbered 1, 2, … without gaps; concurrent publishers get distinct
// numbers, and a number is never reused.
type Versions interface {
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

// AgentVersion is an immutable, numbered snapshot of an agent's
// configuration, published by one tenant.
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
