package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

// priced is usage() with a cost (nil: unknown) and a model and agent.
func priced(id, tenant, keyID, model, agent string, at time.Time, in, out int, cost *pricing.Micros) state.UsageRecord {
	r := usage(id, tenant, keyID, at, in, out)
	r.Model, r.AgentID, r.Cost = model, agent, cost
	return r
}

func usd(m pricing.Micros) *pricing.Micros { return &m }

// testUsageCost: a record keeps its cost as written: known, zero, or
// unknown (nil, never 0).
func testUsageCost(t *testing.T, s state.Store) {
	recs := []state.UsageRecord{
		priced("known", "t", "k", "m", "a", day, 1, 1, usd(123_456)),
		priced("zero", "t", "k", "m", "a", day.Add(time.Second), 1, 1, usd(0)),
		priced("unknown", "t", "k", "m", "a", day.Add(2*time.Second), 1, 1, nil),
	}
	must(t, s.AppendUsage(ctx, recs))
	got, err := s.ListUsage(ctx, "t", 10)
	must(t, err)
	if len(got) != 3 {
		t.Fatalf("ListUsage = %d records", len(got))
	}
	for i, want := range []*pricing.Micros{nil, usd(0), usd(123_456)} {
		switch c := got[i].Cost; {
		case want == nil && c != nil:
			t.Errorf("%s: cost %d, want unknown", got[i].ID, *c)
		case want != nil && (c == nil || *c != *want):
			t.Errorf("%s: cost %v, want %d", got[i].ID, c, *want)
		}
	}
}

// testMonthlySpend: the known costs of a scope's records add up by the
// calendar month (UTC) of each record, kept with the token counters.
func testMonthlySpend(t *testing.T, s state.Store) {
	endJan := time.Date(2025, 1, 31, 23, 59, 59, 999999999, time.UTC)
	startFeb := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	must(t, s.AppendUsage(ctx, []state.UsageRecord{
		priced("1", "t1", "k1", "m", "a", endJan, 1, 1, usd(1_000)),
		priced("2", "t1", "k1", "m", "a", startFeb, 1, 1, usd(20)),
		priced("3", "t1", "k2", "m", "a", endJan, 1, 1, usd(300)),
		priced("4", "t1", "k2", "m", "a", endJan, 1, 1, nil), // unknown: adds nothing
	}))
	must(t, s.AppendUsage(ctx, []state.UsageRecord{
		priced("5", "t2", "k3", "m", "a", endJan, 1, 1, usd(7)),
		priced("6", "t1", "", "m", "a", endJan, 1, 1, usd(5)), // no key: the tenant's only
		priced("7", "t1", "k1", "m", "a", endJan, 1, 1, usd(1)),
	}))
	for _, tc := range []struct {
		scope string
		at    time.Time
		want  pricing.Micros
	}{
		{"key:k1", endJan, 1_001},
		{"key:k1", startFeb, 20},
		{"key:k2", endJan, 300},
		{"key:k3", endJan, 7},
		{"key:k3", startFeb, 0},
		{"tenant:t1", endJan, 1_306},
		{"tenant:t1", startFeb, 20},
		{"tenant:t2", endJan, 7},
		{"tenant:t3", endJan, 0},
		{"key:", endJan, 0},
	} {
		got, err := s.MonthlySpend(ctx, tc.scope, tc.at)
		must(t, err)
		if got != tc.want {
			t.Errorf("MonthlySpend(%q, %s) = %d, want %d", tc.scope, state.MonthKey(tc.at), got, tc.want)
		}
	}
	// Tokens are counted as before, unknown costs included.
	if n, err := s.MonthlyTokens(ctx, "key:k2", endJan); err != nil || n != 4 {
		t.Errorf("MonthlyTokens(key:k2) = %d, %v; want 4", n, err)
	}
}

// testSumUsage: records add up by each group, within a key, a tenant and
// a time range [From, To); a tenant's sums never include another's.
func testSumUsage(t *testing.T, s state.Store) {
	d1 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	d2 := time.Date(2025, 3, 2, 23, 59, 59, 0, time.UTC)
	d3 := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	recs := []state.UsageRecord{
		priced("a1", "A", "ka", "gpt", "bot", d1, 10, 1, usd(100)),
		priced("a2", "A", "ka", "claude", "bot", d2, 20, 2, usd(200)),
		priced("a3", "A", "kb", "gpt", "helper", d3, 30, 3, nil),
		priced("ab1", "AB", "kab", "gpt", "bot", d1, 1000, 100, usd(5000)),
		priced("b1", "B", "kc", "gemini", "", d2.In(time.FixedZone("east", 5*3600)), 40, 4, usd(400)),
	}
	must(t, s.AppendUsage(ctx, recs[:2]))
	must(t, s.AppendUsage(ctx, recs[2:]))
	sum := func(group string, calls, in, out int64, cost pricing.Micros, unpriced int64) state.UsageSum {
		// usage() gives every record 3 reasoning and 2 cached tokens.
		return state.UsageSum{Group: group, Calls: calls, InputTokens: in, OutputTokens: out,
			ReasoningTokens: 3 * calls, CachedTokens: 2 * calls, Cost: cost, Unpriced: unpriced}
	}
	for _, tc := range []struct {
		name string
		f    state.UsageFilter
		by   state.UsageGroup
		want []state.UsageSum
	}{
		{"tenant by model", state.UsageFilter{Tenant: "A"}, state.GroupModel,
			[]state.UsageSum{sum("claude", 1, 20, 2, 200, 0), sum("gpt", 2, 40, 4, 100, 1)}},
		{"tenant by agent", state.UsageFilter{Tenant: "A"}, state.GroupAgent,
			[]state.UsageSum{sum("bot", 2, 30, 3, 300, 0), sum("helper", 1, 30, 3, 0, 1)}},
		{"tenant by key", state.UsageFilter{Tenant: "A"}, state.GroupKey,
			[]state.UsageSum{sum("ka", 2, 30, 3, 300, 0), sum("kb", 1, 30, 3, 0, 1)}},
		{"tenant by day (UTC)", state.UsageFilter{Tenant: "A"}, state.GroupDay,
			[]state.UsageSum{sum("2025-03-01", 1, 10, 1, 100, 0), sum("2025-03-02", 1, 20, 2, 200, 0), sum("2025-03-03", 1, 30, 3, 0, 1)}},
		{"every tenant by tenant", state.UsageFilter{}, state.GroupTenant,
			[]state.UsageSum{sum("A", 3, 60, 6, 300, 1), sum("AB", 1, 1000, 100, 5000, 0), sum("B", 1, 40, 4, 400, 0)}},
		{"every tenant by model", state.UsageFilter{}, state.GroupModel,
			[]state.UsageSum{sum("claude", 1, 20, 2, 200, 0), sum("gemini", 1, 40, 4, 400, 0), sum("gpt", 3, 1040, 104, 5100, 1)}},
		{"one key", state.UsageFilter{KeyID: "ka"}, state.GroupModel,
			[]state.UsageSum{sum("claude", 1, 20, 2, 200, 0), sum("gpt", 1, 10, 1, 100, 0)}},
		{"a key of another tenant", state.UsageFilter{Tenant: "B", KeyID: "ka"}, state.GroupModel, nil},
		{"from is inclusive, to exclusive", state.UsageFilter{Tenant: "A", From: d2, To: d3}, state.GroupDay,
			[]state.UsageSum{sum("2025-03-02", 1, 20, 2, 200, 0)}},
		{"from only", state.UsageFilter{From: d2}, state.GroupTenant,
			[]state.UsageSum{sum("A", 2, 50, 5, 200, 1), sum("B", 1, 40, 4, 400, 0)}},
		{"to only", state.UsageFilter{To: d2}, state.GroupTenant,
			[]state.UsageSum{sum("A", 1, 10, 1, 100, 0), sum("AB", 1, 1000, 100, 5000, 0)}},
		{"an empty range", state.UsageFilter{From: d3, To: d3}, state.GroupTenant, nil},
		{"a tenant without records", state.UsageFilter{Tenant: "C"}, state.GroupModel, nil},
		{"a tenant that prefixes another", state.UsageFilter{Tenant: "A", From: d1, To: d1.Add(time.Second)}, state.GroupTenant,
			[]state.UsageSum{sum("A", 1, 10, 1, 100, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.SumUsage(ctx, tc.f, tc.by)
			must(t, err)
			if len(got) != len(tc.want) {
				t.Fatalf("SumUsage(%+v, %s) = %+v, want %+v", tc.f, tc.by, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("SumUsage(%+v, %s)[%d] = %+v, want %+v", tc.f, tc.by, i, got[i], tc.want[i])
				}
			}
		})
	}
	for _, by := range state.UsageGroups {
		if _, err := s.SumUsage(ctx, state.UsageFilter{}, by); err != nil {
			t.Errorf("SumUsage by %s: %v", by, err)
		}
	}
}

// testSpendConcurrentWriters: the spend counters of records written by
// both instances at once, some batches written twice (a retry), are the
// exact sums of the known costs, and a retried batch adds nothing.
func testSpendConcurrentWriters(t *testing.T, s, twin state.Store) {
	const workers, batches, per = 8, 4, 10
	concurrently(workers, s, twin, func(w int, h state.Store) {
		for b := range batches {
			recs := make([]state.UsageRecord, per)
			for i := range recs {
				var cost *pricing.Micros
				if i%5 != 0 { // every fifth call is unpriced
					cost = usd(pricing.Micros(i))
				}
				recs[i] = priced(fmt.Sprintf("w%d-b%d-%d", w, b, i), "t", fmt.Sprint("k", i%2), "m", "a", day, 1, 1, cost)
			}
			for range 1 + b%2 { // odd batches are written twice
				if err := h.AppendUsage(ctx, recs); err != nil {
					t.Error(err)
				}
			}
		}
	})
	// Per batch: costs 1+2+3+4+6+7+8+9 = 40, 20 on each key.
	want := pricing.Micros(workers * batches * 40)
	if n, err := twin.MonthlySpend(ctx, "tenant:t", day); err != nil || n != want {
		t.Errorf("tenant spend = %d, %v; want %d", n, err, want)
	}
	var keys pricing.Micros
	for _, k := range []string{"k0", "k1"} {
		n, err := s.MonthlySpend(ctx, "key:"+k, day)
		must(t, err)
		keys += n
	}
	if keys != want {
		t.Errorf("key spends add up to %d, want %d", keys, want)
	}
	sums, err := s.SumUsage(ctx, state.UsageFilter{Tenant: "t"}, state.GroupTenant)
	must(t, err)
	if len(sums) != 1 || sums[0].Cost != want || sums[0].Calls != workers*batches*per || sums[0].Unpriced != workers*batches*per/5 {
		t.Errorf("SumUsage = %+v; want %d calls costing %d", sums, workers*batches*per, want)
	}
}
