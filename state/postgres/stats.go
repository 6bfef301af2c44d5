package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/agentgate/agentgate/state"
)

// recordTurnsSQL keeps the runs' records and adds them to their agents'
// statistics in one statement: a run recorded already (a retried batch)
// is neither kept again nor counted; runs without an id always count.
// Statistics rows are updated in key order, so concurrent batches lock
// them in the same order.
const recordTurnsSQL = `WITH input AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::json[], $5::bool[], $6::bigint[])
	AS r(tenant, agent_id, run_id, body, new_session, latency_ms)
), ins AS (
	INSERT INTO turn_records (tenant, agent_id, run_id, body)
	SELECT tenant, agent_id, run_id, body FROM input WHERE run_id <> ''
	ON CONFLICT (tenant, agent_id, run_id) DO NOTHING
	RETURNING tenant, agent_id, run_id
), counted AS (
	SELECT i.tenant, i.agent_id, i.new_session, i.latency_ms FROM input i
	WHERE i.run_id = '' OR EXISTS (SELECT 1 FROM ins WHERE ins.tenant = i.tenant AND ins.agent_id = i.agent_id AND ins.run_id = i.run_id)
), sums AS (
	SELECT tenant, agent_id, count(*) FILTER (WHERE new_session) AS conversations, count(*) AS responses,
		sum(greatest(latency_ms, 0))::bigint AS response_ms
	FROM counted GROUP BY tenant, agent_id
)
INSERT INTO agent_stats (tenant, agent_id, conversations, responses, response_ms, up, down)
SELECT tenant, agent_id, conversations, responses, response_ms, 0, 0 FROM sums ORDER BY tenant, agent_id
ON CONFLICT (tenant, agent_id) DO UPDATE SET conversations = agent_stats.conversations + excluded.conversations,
	responses = agent_stats.responses + excluded.responses, response_ms = agent_stats.response_ms + excluded.response_ms`

// RecordTurns adds answered runs to their agents' statistics and keeps
// each run's record, in one statement.
func (s *Store) RecordTurns(ctx context.Context, recs []state.TurnRecord) error {
	if err := s.enter(); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	type key struct{ tenant, agent, run string }
	seen := map[key]bool{}
	var tenants, agents, runs, bodies []string
	var fresh []bool
	var latency []int64
	for i := range recs {
		r := &recs[i]
		switch {
		case !state.ValidName(r.Tenant):
			return state.InvalidID("tenant", r.Tenant)
		case !state.ValidID(r.AgentID):
			return state.InvalidID("agent id", r.AgentID)
		case !state.ValidName(r.RunID):
			return state.InvalidID("run id", r.RunID)
		}
		if r.RunID != "" {
			k := key{r.Tenant, r.AgentID, r.RunID}
			if seen[k] {
				continue // one INSERT cannot take a row twice; the first counts
			}
			seen[k] = true
		}
		body, err := json.Marshal(r)
		if err != nil {
			return err
		}
		tenants, agents, runs, bodies = append(tenants, r.Tenant), append(agents, r.AgentID), append(runs, r.RunID), append(bodies, string(body))
		fresh, latency = append(fresh, r.NewSession), append(latency, r.LatencyMs)
	}
	_, err := s.pool.Exec(ctx, recordTurnsSQL, tenants, agents, runs, bodies, fresh, latency)
	return s.fail(err)
}

// AgentStats returns tenant's statistics of agentID; zero when none.
func (s *Store) AgentStats(ctx context.Context, tenant, agentID string) (state.AgentStats, error) {
	var st state.AgentStats
	if err := s.enter(); err != nil {
		return st, err
	}
	if !state.ValidName(tenant) || !state.ValidID(agentID) {
		return st, nil
	}
	err := s.pool.QueryRow(ctx, `SELECT conversations, responses, response_ms, up, down FROM agent_stats
		WHERE tenant = $1 AND agent_id = $2`, tenant, agentID).Scan(&st.Conversations, &st.Responses, &st.ResponseMs, &st.Up, &st.Down)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, nil
	}
	return st, s.fail(err)
}

// RateTurn records feedback on tenant's agent's answer runID, replacing
// an earlier vote, in a transaction that locks the answer's record.
func (s *Store) RateTurn(ctx context.Context, tenant, agentID, runID, rating string) error {
	if err := s.enter(); err != nil {
		return err
	}
	if rating != "up" && rating != "down" {
		return fmt.Errorf("state: rating %q is neither up nor down", rating)
	}
	if !state.ValidName(tenant) || !state.ValidID(agentID) || !state.ValidID(runID) {
		return state.ErrNotFound
	}
	return s.fail(s.inTx(ctx, func(tx pgx.Tx) error {
		var body []byte
		if err := tx.QueryRow(ctx, "SELECT body FROM turn_records WHERE tenant = $1 AND agent_id = $2 AND run_id = $3 FOR UPDATE",
			tenant, agentID, runID).Scan(&body); err != nil {
			return err
		}
		var r state.TurnRecord
		if err := json.Unmarshal(body, &r); err != nil {
			return fmt.Errorf("state: decode turn record %q: %w", runID, err)
		}
		if r.Rating == rating {
			return nil
		}
		var up, down int64
		switch r.Rating {
		case "up":
			up--
		case "down":
			down--
		}
		if rating == "up" {
			up++
		} else {
			down++
		}
		r.Rating = rating
		if body, err := json.Marshal(&r); err != nil {
			return err
		} else if _, err := tx.Exec(ctx, "UPDATE turn_records SET body = $4 WHERE tenant = $1 AND agent_id = $2 AND run_id = $3",
			tenant, agentID, runID, body); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO agent_stats (tenant, agent_id, conversations, responses, response_ms, up, down)
			VALUES ($1, $2, 0, 0, 0, $3, $4)
			ON CONFLICT (tenant, agent_id) DO UPDATE SET up = agent_stats.up + excluded.up, down = agent_stats.down + excluded.down`,
			tenant, agentID, up, down)
		return err
	}))
}
