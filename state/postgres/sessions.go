package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// appendTurnSQL is a turn in one statement (one round trip): the
// session's row is created or its count moved on, and the turn stored
// under the new count. The row's lock orders concurrent appends to one
// session, so every turn gets its own number, 1, 2, … without gaps.
const appendTurnSQL = `WITH s AS (
	INSERT INTO sessions (tenant, agent_id, project, id, turns, created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $6)
	ON CONFLICT (tenant, agent_id, project, id) DO UPDATE SET turns = sessions.turns + 1, updated_at = excluded.updated_at
	RETURNING turns)
INSERT INTO turns (tenant, agent_id, project, session_id, seq, messages) SELECT $1, $2, $3, $4, s.turns, $7 FROM s
RETURNING seq`

// GetSession returns the session k names, or state.ErrNotFound.
func (s *Store) GetSession(ctx context.Context, k state.SessionKey) (*state.Session, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if state.CheckSessionKey(k) != nil {
		return nil, state.ErrNotFound
	}
	sess := state.Session{ID: k.ID, Tenant: k.Tenant, AgentID: k.AgentID, Project: k.Project}
	err := s.pool.QueryRow(ctx, `SELECT turns, created_at, updated_at FROM sessions
		WHERE tenant = $1 AND agent_id = $2 AND project = $3 AND id = $4`, k.Tenant, k.AgentID, k.Project, k.ID).
		Scan(&sess.Turns, &sess.Created, &sess.Updated)
	if err != nil {
		return nil, s.fail(err)
	}
	sess.Created, sess.Updated = sess.Created.UTC(), sess.Updated.UTC()
	return &sess, nil
}

// AppendTurn adds one turn's messages to the session s.Key() names,
// creating it when it does not exist, in one statement; sess.Updated is
// the turn's time.
func (s *Store) AppendTurn(ctx context.Context, sess *state.Session, msgs []adapters.Message) error {
	if err := s.enter(); err != nil {
		return err
	}
	k := sess.Key()
	if err := state.CheckSessionKey(k); err != nil {
		return err
	}
	turn, err := json.Marshal(msgs)
	if err != nil {
		return fmt.Errorf("state: encode turn of session %q: %w", k.ID, err)
	}
	now := sess.Updated.UTC()
	created := sess.Created
	if created.IsZero() {
		created = now
	}
	var seq int
	if err := s.pool.QueryRow(ctx, appendTurnSQL, k.Tenant, k.AgentID, k.Project, k.ID, created, now, turn).Scan(&seq); err != nil {
		return s.fail(err)
	}
	sess.Turns = seq
	return nil
}

// RecentTurns returns the messages of the last n turns of the session k
// names, oldest first, in one indexed query.
func (s *Store) RecentTurns(ctx context.Context, k state.SessionKey, n int) ([]adapters.Message, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if n <= 0 || state.CheckSessionKey(k) != nil {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT messages FROM turns WHERE tenant = $1 AND agent_id = $2 AND project = $3 AND session_id = $4
		ORDER BY seq DESC LIMIT $5`, k.Tenant, k.AgentID, k.Project, k.ID, n)
	if err != nil {
		return nil, s.fail(err)
	}
	turns, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([]adapters.Message, error) {
		var body []byte
		if err := row.Scan(&body); err != nil {
			return nil, err
		}
		var msgs []adapters.Message
		if err := json.Unmarshal(body, &msgs); err != nil {
			return nil, fmt.Errorf("state: decode turn of session %q: %w", k.ID, err)
		}
		return msgs, nil
	})
	if err != nil {
		return nil, s.fail(err)
	}
	var out []adapters.Message
	for _, t := range slices.Backward(turns) {
		out = append(out, t...)
	}
	return out, nil
}
