package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// withNotify appends to a data-modifying statement (one RETURNING the
// columns selected) the notification of its change, sent once per row it
// modified: none when it modified nothing. The statement's parameters
// come first; the payload is the last.
func withNotify(modify, returning string, nparams int) string {
	return fmt.Sprintf("WITH w AS (%s) SELECT %s FROM w, LATERAL (SELECT pg_notify('%s', $%d)) AS n",
		modify, returning, changeChannel, nparams+1)
}

var (
	createAgentSQL = withNotify(`INSERT INTO agents (tenant, id, revision, created_at, body) VALUES ($1, $2, 1, $3, $4)
		RETURNING revision`, "w.revision", 4)
	updateAgentSQL = withNotify(`UPDATE agents SET revision = revision + 1, created_at = $4, body = $5
		WHERE tenant = $1 AND id = $2 AND revision = $3 RETURNING revision`, "w.revision", 5)
	deleteAgentSQL = withNotify(`DELETE FROM agents WHERE tenant = $1 AND id = $2 RETURNING id`, "w.id", 2)
)

// CreateAgent stores a new agent at revision 1.
func (s *Store) CreateAgent(ctx context.Context, a *adapters.Agent) error {
	if err := s.enter(); err != nil {
		return err
	}
	if err := state.CheckAgent(a); err != nil {
		return err
	}
	next := *a
	next.Revision = 1
	body, err := json.Marshal(&next)
	if err != nil {
		return fmt.Errorf("state: encode agent %q: %w", a.ID, err)
	}
	note := s.payload(state.Change{Kind: state.ChangeAgent, Tenant: a.Tenant, ID: a.ID})
	var rev int64
	err = s.pool.QueryRow(ctx, createAgentSQL, a.Tenant, a.ID, a.CreatedAt, body, note).Scan(&rev)
	if isUniqueViolation(err, "agents_pkey") {
		return fmt.Errorf("state: agent %q of tenant %q: %w", a.ID, a.Tenant, state.ErrExists)
	}
	if err != nil {
		return s.fail(err)
	}
	a.Revision = rev
	return nil
}

// UpdateAgent replaces tenant's agent a.ID if it is still at a.Revision:
// one statement compares and swaps the revision.
func (s *Store) UpdateAgent(ctx context.Context, a *adapters.Agent) error {
	if err := s.enter(); err != nil {
		return err
	}
	if err := state.CheckAgent(a); err != nil {
		return err
	}
	next := *a
	next.Revision = a.Revision + 1
	body, err := json.Marshal(&next)
	if err != nil {
		return fmt.Errorf("state: encode agent %q: %w", a.ID, err)
	}
	note := s.payload(state.Change{Kind: state.ChangeAgent, Tenant: a.Tenant, ID: a.ID})
	var rev int64
	err = s.pool.QueryRow(ctx, updateAgentSQL, a.Tenant, a.ID, a.Revision, a.CreatedAt, body, note).Scan(&rev)
	if errors.Is(err, pgx.ErrNoRows) {
		var stored int64
		err = s.pool.QueryRow(ctx, "SELECT revision FROM agents WHERE tenant = $1 AND id = $2", a.Tenant, a.ID).Scan(&stored)
		if err == nil {
			return fmt.Errorf("state: agent %q is at revision %d, not %d: %w", a.ID, stored, a.Revision, state.ErrConflict)
		}
		return s.fail(err)
	}
	if err != nil {
		return s.fail(err)
	}
	a.Revision = rev
	return nil
}

// GetAgent returns tenant's agent id, or state.ErrNotFound.
func (s *Store) GetAgent(ctx context.Context, tenant, id string) (*adapters.Agent, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if !state.ValidName(tenant) || !state.ValidID(id) {
		return nil, state.ErrNotFound
	}
	var body []byte
	var rev int64
	err := s.pool.QueryRow(ctx, "SELECT body, revision FROM agents WHERE tenant = $1 AND id = $2", tenant, id).Scan(&body, &rev)
	if err != nil {
		return nil, s.fail(err)
	}
	return decodeAgent(body, rev, id)
}

func decodeAgent(body []byte, rev int64, id string) (*adapters.Agent, error) {
	a := new(adapters.Agent)
	if err := json.Unmarshal(body, a); err != nil {
		return nil, fmt.Errorf("state: decode agent %q: %w", id, err)
	}
	a.Revision = rev
	return a, nil
}

// ListAgents returns tenant's agents ordered by creation time, then id.
func (s *Store) ListAgents(ctx context.Context, tenant string) ([]*adapters.Agent, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if !state.ValidName(tenant) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, "SELECT id, body, revision FROM agents WHERE tenant = $1 ORDER BY created_at, id", tenant)
	if err != nil {
		return nil, s.fail(err)
	}
	var list []*adapters.Agent
	for rows.Next() {
		var id string
		var body []byte
		var rev int64
		if err := rows.Scan(&id, &body, &rev); err != nil {
			rows.Close()
			return nil, s.fail(err)
		}
		a, err := decodeAgent(body, rev, id)
		if err != nil {
			rows.Close()
			return nil, err
		}
		list = append(list, a)
	}
	return list, s.fail(rows.Err())
}

// DeleteAgent removes tenant's agent id, or returns state.ErrNotFound.
func (s *Store) DeleteAgent(ctx context.Context, tenant, id string) error {
	if err := s.enter(); err != nil {
		return err
	}
	if !state.ValidName(tenant) || !state.ValidID(id) {
		return state.ErrNotFound
	}
	note := s.payload(state.Change{Kind: state.ChangeAgent, Tenant: tenant, ID: id})
	var got string
	return s.fail(s.pool.QueryRow(ctx, deleteAgentSQL, tenant, id, note).Scan(&got))
}

// publishVersionSQL numbers the version one past the agent's highest; of
// concurrent publishers all but one then fail on the primary key and try
// again.
var publishVersionSQL = withNotify(`INSERT INTO agent_versions (tenant, agent_id, version, body)
	SELECT $1, $2, coalesce(max(version), 0) + 1, $3::json FROM agent_versions WHERE tenant = $1 AND agent_id = $2
	RETURNING version`, "w.version", 3)

// publishAttempts bounds the retries of a publish that keeps losing the
// race for its number.
const publishAttempts = 20

// PublishVersion stores a snapshot of a as tenant's next version.
func (s *Store) PublishVersion(ctx context.Context, tenant string, a *adapters.Agent, declared bool, at time.Time) (*state.AgentVersion, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
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
	note := s.payload(state.Change{Kind: state.ChangeAgent, Tenant: tenant, ID: a.ID})
	for range publishAttempts {
		// The version's number is in its body: the body is written with
		// a placeholder and set from the row's number in the same
		// statement.
		body, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		var n int
		err = s.pool.QueryRow(ctx, publishVersionSQL, tenant, a.ID, body, note).Scan(&n)
		if isUniqueViolation(err, "agent_versions_pkey") {
			continue
		}
		if err != nil {
			return nil, s.fail(err)
		}
		v.Version = n
		return v, nil
	}
	return nil, fmt.Errorf("state: publishing a version of agent %q: every number was taken by concurrent publishers: %w", a.ID, state.ErrConflict)
}

// GetVersion returns version n of tenant's agent, or state.ErrNotFound.
func (s *Store) GetVersion(ctx context.Context, tenant, agentID string, n int) (*state.AgentVersion, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if n <= 0 || !state.ValidName(tenant) || !state.ValidID(agentID) {
		return nil, state.ErrNotFound
	}
	return s.version(ctx, "SELECT version, body FROM agent_versions WHERE tenant = $1 AND agent_id = $2 AND version = $3", tenant, agentID, n)
}

// LatestVersion returns the highest version of tenant's agent, or
// state.ErrNotFound.
func (s *Store) LatestVersion(ctx context.Context, tenant, agentID string) (*state.AgentVersion, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if !state.ValidName(tenant) || !state.ValidID(agentID) {
		return nil, state.ErrNotFound
	}
	return s.version(ctx, "SELECT version, body FROM agent_versions WHERE tenant = $1 AND agent_id = $2 ORDER BY version DESC LIMIT 1", tenant, agentID)
}

func (s *Store) version(ctx context.Context, sql string, args ...any) (*state.AgentVersion, error) {
	var n int
	var body []byte
	if err := s.pool.QueryRow(ctx, sql, args...).Scan(&n, &body); err != nil {
		return nil, s.fail(err)
	}
	return decodeVersion(n, body)
}

func decodeVersion(n int, body []byte) (*state.AgentVersion, error) {
	v := new(state.AgentVersion)
	if err := json.Unmarshal(body, v); err != nil {
		return nil, fmt.Errorf("state: decode version %d: %w", n, err)
	}
	v.Version = n
	return v, nil
}

// ListVersions returns tenant's versions of an agent, oldest first.
func (s *Store) ListVersions(ctx context.Context, tenant, agentID string) ([]*state.AgentVersion, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if !state.ValidName(tenant) || !state.ValidID(agentID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, "SELECT version, body FROM agent_versions WHERE tenant = $1 AND agent_id = $2 ORDER BY version", tenant, agentID)
	if err != nil {
		return nil, s.fail(err)
	}
	var out []*state.AgentVersion
	for rows.Next() {
		var n int
		var body []byte
		if err := rows.Scan(&n, &body); err != nil {
			rows.Close()
			return nil, s.fail(err)
		}
		v, err := decodeVersion(n, body)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, v)
	}
	return out, s.fail(rows.Err())
}
