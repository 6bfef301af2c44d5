package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentgate/agentgate/state"
)

// appendUsageSQL writes a batch of usage records and adds them to the
// monthly counters in one statement (one round trip, one transaction):
// the records come as arrays, one per column, and go in with one
// multi-row INSERT; records whose id is stored already are skipped, and
// only those inserted count. Counters are updated in key order, so
// concurrent batches of several instances lock them in the same order.
const appendUsageSQL = `WITH input AS (
	SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::text[], $11::int[], $12::int[], $13::int[], $14::int[], $15::bool[], $16::bigint[], $17::text[], $18::int[])
	AS r(id, at, tenant, key_id, dialect, agent_id, model, provider, session_id, parent_id,
		input_tokens, output_tokens, reasoning_tokens, cached_tokens, estimated, latency_ms, status, ord)
), ins AS (
	INSERT INTO usage (id, at, tenant, key_id, dialect, agent_id, model, provider, session_id, parent_id,
		input_tokens, output_tokens, reasoning_tokens, cached_tokens, estimated, latency_ms, status)
	SELECT id, at, tenant, key_id, dialect, agent_id, model, provider, session_id, parent_id,
		input_tokens, output_tokens, reasoning_tokens, cached_tokens, estimated, latency_ms, status
	FROM input ORDER BY ord
	ON CONFLICT (id) WHERE id <> '' DO NOTHING
	RETURNING at, tenant, key_id, input_tokens::bigint + output_tokens AS tokens
), sums AS (
	SELECT 'key:' || key_id AS scope, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, sum(tokens)::bigint AS tokens
	FROM ins WHERE key_id <> '' GROUP BY 1, 2
	UNION ALL
	SELECT 'tenant:' || tenant, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM'), sum(tokens)::bigint FROM ins GROUP BY 1, 2
)
INSERT INTO counters (scope, month, tokens) SELECT scope, month, tokens FROM sums ORDER BY scope, month
ON CONFLICT (scope, month) DO UPDATE SET tokens = counters.tokens + excluded.tokens`

// usageColumns are a batch of records as appendUsageSQL's arrays.
type usageColumns struct {
	id, tenant, keyID, dialect, agentID, model, provider, sessionID, parentID, status []string
	at                                                                                []time.Time
	input, output, reasoning, cached, ord                                             []int32
	estimated                                                                         []bool
	latency                                                                           []int64
}

func (c *usageColumns) add(r *state.UsageRecord, ord int) {
	c.id = append(c.id, r.ID)
	c.at = append(c.at, r.Time)
	c.tenant = append(c.tenant, r.Tenant)
	c.keyID = append(c.keyID, r.KeyID)
	c.dialect = append(c.dialect, r.Dialect)
	c.agentID = append(c.agentID, r.AgentID)
	c.model = append(c.model, r.Model)
	c.provider = append(c.provider, r.Provider)
	c.sessionID = append(c.sessionID, r.SessionID)
	c.parentID = append(c.parentID, r.ParentID)
	c.input = append(c.input, int32(r.InputTokens))
	c.output = append(c.output, int32(r.OutputTokens))
	c.reasoning = append(c.reasoning, int32(r.ReasoningTokens))
	c.cached = append(c.cached, int32(r.CachedTokens))
	c.estimated = append(c.estimated, r.Estimated)
	c.latency = append(c.latency, r.LatencyMs)
	c.status = append(c.status, r.Status)
	c.ord = append(c.ord, int32(ord))
}

func (c *usageColumns) args() []any {
	return []any{c.id, c.at, c.tenant, c.keyID, c.dialect, c.agentID, c.model, c.provider, c.sessionID, c.parentID,
		c.input, c.output, c.reasoning, c.cached, c.estimated, c.latency, c.status, c.ord}
}

// AppendUsage stores usage records and adds them to the monthly counters
// in one statement.
func (s *Store) AppendUsage(ctx context.Context, recs []state.UsageRecord) error {
	if err := s.enter(); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	var cols usageColumns
	for i := range recs {
		if err := state.CheckUsage(&recs[i]); err != nil {
			return err
		}
		cols.add(&recs[i], i)
	}
	_, err := s.pool.Exec(ctx, appendUsageSQL, cols.args()...)
	return s.fail(err)
}

const usageSelect = `SELECT id, at, tenant, key_id, dialect, agent_id, model, provider, session_id, parent_id,
	input_tokens, output_tokens, reasoning_tokens, cached_tokens, estimated, latency_ms, status FROM usage`

func scanUsage(row pgx.CollectableRow) (state.UsageRecord, error) {
	var r state.UsageRecord
	err := row.Scan(&r.ID, &r.Time, &r.Tenant, &r.KeyID, &r.Dialect, &r.AgentID, &r.Model, &r.Provider, &r.SessionID, &r.ParentID,
		&r.InputTokens, &r.OutputTokens, &r.ReasoningTokens, &r.CachedTokens, &r.Estimated, &r.LatencyMs, &r.Status)
	r.Time = r.Time.UTC()
	return r, err
}

// ListUsage returns tenant's most recent usage records, newest first.
func (s *Store) ListUsage(ctx context.Context, tenant string, limit int) ([]state.UsageRecord, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if limit <= 0 || !state.ValidName(tenant) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, usageSelect+" WHERE tenant = $1 ORDER BY at DESC, seq DESC LIMIT $2", tenant, limit)
	if err != nil {
		return nil, s.fail(err)
	}
	recs, err := pgx.CollectRows(rows, scanUsage)
	if len(recs) == 0 {
		recs = nil
	}
	return recs, s.fail(err)
}

// MonthlyTokens returns the tokens recorded for scope in the month of t.
func (s *Store) MonthlyTokens(ctx context.Context, scope string, t time.Time) (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	if !state.ValidName(scope) {
		return 0, nil
	}
	var n int64
	err := s.pool.QueryRow(ctx, "SELECT tokens FROM counters WHERE scope = $1 AND month = $2", scope, state.MonthKey(t)).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return n, s.fail(err)
}

// AddCount adds delta to tenant's counter name and returns its new value.
func (s *Store) AddCount(ctx context.Context, tenant, name string, delta int64) (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	if !state.ValidName(tenant) {
		return 0, state.InvalidID("tenant", tenant)
	}
	if !state.ValidID(name) {
		return 0, state.InvalidID("counter", name)
	}
	var n int64
	err := s.pool.QueryRow(ctx, `INSERT INTO counts (tenant, name, n) VALUES ($1, $2, $3)
		ON CONFLICT (tenant, name) DO UPDATE SET n = counts.n + excluded.n RETURNING n`, tenant, name, delta).Scan(&n)
	return n, s.fail(err)
}

// CountsWithPrefix returns tenant's counters whose names start with
// prefix.
func (s *Store) CountsWithPrefix(ctx context.Context, tenant, prefix string) (map[string]int64, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	if !state.ValidName(tenant) || !state.ValidName(prefix) {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, "SELECT name, n FROM counts WHERE tenant = $1 AND starts_with(name, $2)", tenant, prefix)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return nil, s.fail(err)
		}
		out[name] = n
	}
	return out, s.fail(rows.Err())
}
