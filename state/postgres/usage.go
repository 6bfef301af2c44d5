package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

// appendUsageSQL writes a batch of usage records and adds them to the
// monthly counters (tokens and known spend) in one statement (one round
// trip, one transaction): the records come as arrays, one per column, and
// go in with one multi-row INSERT; records whose id is stored already are
// skipped, and only those inserted count. Counters are updated in key
// order, so concurrent batches of several instances lock them in the same
// order.
const appendUsageSQL = `WITH input AS (
	SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::text[], $11::int[], $12::int[], $13::int[], $14::int[], $15::bool[], $16::bigint[], $17::text[], $18::int[],
		$19::bigint[], $20::text[])
	AS r(id, at, tenant, key_id, dialect, agent_id, model, provider, session_id, parent_id,
		input_tokens, output_tokens, reasoning_tokens, cached_tokens, estimated, latency_ms, status, ord, cost_micros, error)
), ins AS (
	INSERT INTO usage (id, at, tenant, key_id, dialect, agent_id, model, provider, session_id, parent_id,
		input_tokens, output_tokens, reasoning_tokens, cached_tokens, estimated, latency_ms, status, cost_micros, error)
	SELECT id, at, tenant, key_id, dialect, agent_id, model, provider, session_id, parent_id,
		input_tokens, output_tokens, reasoning_tokens, cached_tokens, estimated, latency_ms, status, cost_micros, error
	FROM input ORDER BY ord
	ON CONFLICT (id) WHERE id <> '' DO NOTHING
	RETURNING at, tenant, key_id, input_tokens::bigint + output_tokens AS tokens, coalesce(cost_micros, 0) AS spend
), sums AS (
	SELECT 'key:' || key_id AS scope, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, sum(tokens)::bigint AS tokens,
		sum(spend)::bigint AS spend
	FROM ins WHERE key_id <> '' GROUP BY 1, 2
	UNION ALL
	SELECT 'tenant:' || tenant, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM'), sum(tokens)::bigint, sum(spend)::bigint FROM ins GROUP BY 1, 2
)
INSERT INTO counters (scope, month, tokens, spend_micros) SELECT scope, month, tokens, spend FROM sums ORDER BY scope, month
ON CONFLICT (scope, month) DO UPDATE SET tokens = counters.tokens + excluded.tokens,
	spend_micros = counters.spend_micros + excluded.spend_micros`

// usageColumns are a batch of records as appendUsageSQL's arrays.
type usageColumns struct {
	id, tenant, keyID, dialect, agentID, model, provider, sessionID, parentID, status, errText []string
	at                                                                                         []time.Time
	input, output, reasoning, cached, ord                                                      []int32
	estimated                                                                                  []bool
	latency                                                                                    []int64
	// cost holds each record's micro-dollars, nil when unknown.
	cost []*int64
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
	var cost *int64
	if r.Cost != nil {
		n := int64(*r.Cost)
		cost = &n
	}
	c.cost = append(c.cost, cost)
	c.errText = append(c.errText, r.Error)
}

func (c *usageColumns) args() []any {
	return []any{c.id, c.at, c.tenant, c.keyID, c.dialect, c.agentID, c.model, c.provider, c.sessionID, c.parentID,
		c.input, c.output, c.reasoning, c.cached, c.estimated, c.latency, c.status, c.ord, c.cost, c.errText}
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
	input_tokens, output_tokens, reasoning_tokens, cached_tokens, estimated, latency_ms, status, cost_micros, error FROM usage`

func scanUsage(row pgx.CollectableRow) (state.UsageRecord, error) {
	var r state.UsageRecord
	var cost *int64
	err := row.Scan(&r.ID, &r.Time, &r.Tenant, &r.KeyID, &r.Dialect, &r.AgentID, &r.Model, &r.Provider, &r.SessionID, &r.ParentID,
		&r.InputTokens, &r.OutputTokens, &r.ReasoningTokens, &r.CachedTokens, &r.Estimated, &r.LatencyMs, &r.Status, &cost, &r.Error)
	r.Time = r.Time.UTC()
	if cost != nil {
		c := pricing.Micros(*cost)
		r.Cost = &c
	}
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

// MonthlySpend returns the known spend recorded for scope in the month of
// t.
func (s *Store) MonthlySpend(ctx context.Context, scope string, t time.Time) (pricing.Micros, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	if !state.ValidName(scope) {
		return 0, nil
	}
	var n int64
	err := s.pool.QueryRow(ctx, "SELECT spend_micros FROM counters WHERE scope = $1 AND month = $2", scope, state.MonthKey(t)).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return pricing.Micros(n), s.fail(err)
}

// usageGroupColumns are the SQL of each group of SumUsage; day is the
// record's UTC date.
var usageGroupColumns = map[state.UsageGroup]string{
	state.GroupModel:  "model",
	state.GroupAgent:  "agent_id",
	state.GroupKey:    "key_id",
	state.GroupTenant: "tenant",
	state.GroupDay:    "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
}

// SumUsage adds up the records f selects, grouped by by, in the
// database: one row per group.
func (s *Store) SumUsage(ctx context.Context, f state.UsageFilter, by state.UsageGroup) ([]state.UsageSum, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	if !state.ValidName(f.Tenant) || !state.ValidName(f.KeyID) {
		return nil, nil
	}
	col, ok := usageGroupColumns[by]
	if !ok {
		col = usageGroupColumns[state.GroupModel]
	}
	var where []string
	var args []any
	cond := func(sql string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(sql, len(args)))
	}
	if f.Tenant != "" {
		cond("tenant = $%d", f.Tenant)
	}
	if f.KeyID != "" {
		cond("key_id = $%d", f.KeyID)
	}
	if !f.From.IsZero() {
		cond("at >= $%d", f.From)
	}
	if !f.To.IsZero() {
		cond("at < $%d", f.To)
	}
	// Groups sort by bytes, as the embedded store sorts them.
	q := "SELECT (" + col + `) COLLATE "C" AS g, count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
		coalesce(sum(reasoning_tokens), 0), coalesce(sum(cached_tokens), 0), coalesce(sum(cost_micros), 0)::bigint,
		count(*) FILTER (WHERE cost_micros IS NULL) FROM usage`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " GROUP BY g ORDER BY g"
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.fail(err)
	}
	sums, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (state.UsageSum, error) {
		var u state.UsageSum
		var cost int64
		err := r.Scan(&u.Group, &u.Calls, &u.InputTokens, &u.OutputTokens, &u.ReasoningTokens, &u.CachedTokens, &cost, &u.Unpriced)
		u.Cost = pricing.Micros(cost)
		return u, err
	})
	if sums == nil {
		sums = []state.UsageSum{}
	}
	return sums, s.fail(err)
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
