package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/state"
)

var usageTests = []Test{
	single("List", testUsageList),
	single("TenantIsolation", testUsageTenantIsolation),
	single("SameInstant", testUsageSameInstant),
	single("MonthlyTokens", testMonthlyTokens),
	single("RetriedBatch", testUsageRetriedBatch),
	{Name: "ConcurrentWriters", Fn: testUsageConcurrentWriters},
	single("Cost", testUsageCost),
	single("MonthlySpend", testMonthlySpend),
	single("SumUsage", testSumUsage),
	{Name: "SpendConcurrentWriters", Fn: testSpendConcurrentWriters},
	single("ErrorText", testUsageErrorText),
}

// testUsageErrorText: a failed call's record keeps why it failed, any
// text UsageError makes included; one that did not fail has none.
func testUsageErrorText(t *testing.T, s state.Store) {
	failed := usage("failed", "t", "k", day, 0, 0)
	failed.Status = "upstream_unavailable"
	failed.Error = state.UsageError("upstream unreachable", "dial tcp 127.0.0.1:1: connect: connection refused")
	long := usage("long", "t", "k", day.Add(time.Second), 0, 0)
	long.Status = "upstream_error"
	long.Error = state.UsageError("upstream error (HTTP 500)", "upstream said: "+strings.Repeat("ü", 400)+"\x00\xff")
	ok := usage("ok", "t", "k", day.Add(2*time.Second), 1, 1)
	must(t, s.AppendUsage(ctx, []state.UsageRecord{failed, long, ok}))
	got, err := s.ListUsage(ctx, "t", 10)
	must(t, err)
	equalJSON(t, "ListUsage", got, []state.UsageRecord{ok, long, failed})
	if n := len(got[1].Error); n > state.MaxUsageError || !strings.HasSuffix(got[1].Error, "…") {
		t.Errorf("a long error text is kept as %d bytes: %q", n, got[1].Error)
	}
}

var countTests = []Test{{Name: "AddUp", Fn: testCounts}}

func usage(id, tenant, keyID string, at time.Time, in, out int) state.UsageRecord {
	return state.UsageRecord{
		ID: id, Time: at, Tenant: tenant, KeyID: keyID, Dialect: "openai", AgentID: "ag",
		Model: "m", Provider: "p", SessionID: "s", ParentID: "parent",
		InputTokens: in, OutputTokens: out, ReasoningTokens: 3, CachedTokens: 2,
		Estimated: true, LatencyMs: 120, Status: "ok",
	}
}

func testUsageList(t *testing.T, s state.Store) {
	r1 := usage("u1", "t", "k", day, 1, 1)
	r2 := usage("u2", "t", "k", day.Add(time.Second), 1, 1)
	r3 := usage("u3", "t", "k", day.Add(time.Hour), 1, 1)
	r0 := usage("u0", "t", "k", day.Add(-24*time.Hour).In(time.FixedZone("west", -7*3600)), 1, 1)
	must(t, s.AppendUsage(ctx, []state.UsageRecord{r2, r3}))
	must(t, s.AppendUsage(ctx, []state.UsageRecord{r1, r0}))
	must(t, s.AppendUsage(ctx, nil))
	for _, tc := range []struct {
		limit int
		want  []state.UsageRecord
	}{
		{0, nil},
		{-1, nil},
		{1, []state.UsageRecord{r3}},
		{3, []state.UsageRecord{r3, r2, r1}},
		{4, []state.UsageRecord{r3, r2, r1, r0}},
		{100, []state.UsageRecord{r3, r2, r1, r0}},
	} {
		got, err := s.ListUsage(ctx, "t", tc.limit)
		must(t, err)
		if len(got) != len(tc.want) {
			t.Fatalf("ListUsage(limit %d) = %d records, want %d", tc.limit, len(got), len(tc.want))
		}
		if len(got) > 0 {
			equalJSON(t, fmt.Sprintf("ListUsage(limit %d)", tc.limit), got, tc.want)
		}
	}
}

func testUsageTenantIsolation(t *testing.T, s state.Store) {
	a := usage("a", "A", "ka", day, 1, 1)
	b := usage("b", "B", "kb", day.Add(time.Minute), 1, 1)
	ab := usage("ab", "AB", "kab", day.Add(2*time.Minute), 1, 1)
	must(t, s.AppendUsage(ctx, []state.UsageRecord{a, b, ab}))
	for tenant, want := range map[string][]state.UsageRecord{
		"A": {a}, "B": {b}, "AB": {ab}, "C": nil, "": nil,
	} {
		got, err := s.ListUsage(ctx, tenant, 10)
		must(t, err)
		if len(got) != len(want) {
			t.Fatalf("ListUsage(%q) = %d records, want %d", tenant, len(got), len(want))
		}
		if len(got) > 0 {
			equalJSON(t, "ListUsage of "+tenant, got, want)
		}
	}
}
func testUsageSameInstant(t *testing.T, s state.Store) {
	recs := []state.UsageRecord{usage("x", "t", "k", day, 1, 1), usage("y", "t", "k", day, 1, 1)}
	must(t, s.AppendUsage(ctx, recs))
	must(t, s.AppendUsage(ctx, []state.UsageRecord{usage("z", "t", "k", day, 1, 1)}))
	got, err := s.ListUsage(ctx, "t", 10)
	must(t, err)
	if len(got) != 3 {
		t.Fatalf("records of one instant: got %d, want 3", len(got))
	}
	// Latest appended first among records of one instant.
	if got[0].ID != "z" || got[1].ID != "y" || got[2].ID != "x" {
		t.Fatalf("records of one instant in order %s %s %s, want z y x", got[0].ID, got[1].ID, got[2].ID)
	}
}
func testMonthlyTokens(t *testing.T, s state.Store) {
	endJan := time.Date(2025, 1, 31, 23, 59, 59, 999999999, time.UTC)
	startFeb := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	// 1 February 01:00 at UTC+2 is still January in UTC.
	janElsewhere := time.Date(2025, 2, 1, 1, 0, 0, 0, time.FixedZone("plus2", 2*3600))
	must(t, s.AppendUsage(ctx, []state.UsageRecord{
		usage("1", "t1", "k1", endJan, 100, 10),
		usage("2", "t1", "k2", startFeb, 1000, 1),
		usage("3", "t1", "k1", janElsewhere, 5, 5),
	}))
	must(t, s.AppendUsage(ctx, []state.UsageRecord{
		usage("4", "t1", "k1", startFeb.Add(27*24*time.Hour), 7, 0),
		usage("5", "t2", "k3", endJan, 50, 50),
		usage("6", "t1", "", endJan, 1, 1), // no key: counts for the tenant only
	}))
	for _, tc := range []struct {
		scope string
		at    time.Time
		want  int64
	}{
		{"key:k1", endJan, 120},
		{"key:k1", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 120},
		{"key:k1", startFeb, 7},
		{"key:k2", endJan, 0},
		{"key:k2", startFeb, 1001},
		{"key:k3", endJan, 100},
		{"tenant:t1", endJan, 122},
		{"tenant:t1", startFeb, 1008},
		{"tenant:t1", janElsewhere, 122},
		{"tenant:t1", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), 0},
		{"tenant:t1", time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC), 0},
		{"tenant:t2", endJan, 100},
		{"tenant:t3", endJan, 0},
		{"key:", endJan, 0},
	} {
		got, err := s.MonthlyTokens(ctx, tc.scope, tc.at)
		must(t, err)
		if got != tc.want {
			t.Errorf("MonthlyTokens(%q, %s) = %d, want %d", tc.scope, state.MonthKey(tc.at), got, tc.want)
		}
	}
}

// testUsageRetriedBatch: a batch written again (its first commit's fate
// unknown to the writer) stores and counts its records once; records
// without ids are not deduplicated.
func testUsageRetriedBatch(t *testing.T, s state.Store) {
	batch := []state.UsageRecord{usage("r1", "t", "k", day, 10, 5), usage("r2", "t", "k", day, 1, 1)}
	must(t, s.AppendUsage(ctx, batch))
	must(t, s.AppendUsage(ctx, append(batch, usage("r3", "t", "k", day, 100, 0))))
	got, err := s.ListUsage(ctx, "t", 10)
	must(t, err)
	if len(got) != 3 {
		t.Fatalf("after a retried batch: %d records, want 3", len(got))
	}
	if n, err := s.MonthlyTokens(ctx, "key:k", day); err != nil || n != 117 {
		t.Fatalf("MonthlyTokens after a retried batch = %d, %v; want 117", n, err)
	}
	anon := usage("", "t", "k", day, 1, 0)
	must(t, s.AppendUsage(ctx, []state.UsageRecord{anon, anon}))
	if n, _ := s.MonthlyTokens(ctx, "key:k", day); n != 119 {
		t.Fatalf("records without ids: counted %d, want 119", n)
	}
}

// testUsageConcurrentWriters: recorders of both instances flushing at
// once lose and double nothing: the counters are the exact sums.
func testUsageConcurrentWriters(t *testing.T, s, twin state.Store) {
	const workers, batches, per = 8, 5, 20
	concurrently(workers, s, twin, func(w int, h state.Store) {
		for b := range batches {
			recs := make([]state.UsageRecord, per)
			for i := range recs {
				// Two keys and two months, shared by every writer.
				at := day.Add(time.Duration(i%2) * 31 * 24 * time.Hour)
				recs[i] = usage(fmt.Sprintf("w%d-b%d-%d", w, b, i), "t", fmt.Sprint("k", i%3%2), at, 3, 4)
			}
			if err := h.AppendUsage(ctx, recs); err != nil {
				t.Error(err)
			}
		}
	})
	var total int64
	for _, at := range []time.Time{day, day.Add(31 * 24 * time.Hour)} {
		for _, k := range []string{"k0", "k1"} {
			n, err := twin.MonthlyTokens(ctx, "key:"+k, at)
			must(t, err)
			total += n
		}
		n, err := s.MonthlyTokens(ctx, "tenant:t", at)
		must(t, err)
		if want := int64(workers * batches * per / 2 * 7); n != want {
			t.Errorf("tenant counter of %s = %d, want %d", state.MonthKey(at), n, want)
		}
	}
	if want := int64(workers * batches * per * 7); total != want {
		t.Fatalf("key counters add up to %d, want %d", total, want)
	}
	got, err := s.ListUsage(ctx, "t", workers*batches*per+10)
	must(t, err)
	if len(got) != workers*batches*per {
		t.Fatalf("%d records stored, want %d", len(got), workers*batches*per)
	}
}

// testCounts: concurrent additions on both instances add up; counts are
// scoped by tenant and prefix.
func testCounts(t *testing.T, s, twin state.Store) {
	concurrently(20, s, twin, func(_ int, h state.Store) {
		if _, err := h.AddCount(ctx, "t1", "exec/p1/a", 1); err != nil {
			t.Error(err)
		}
	})
	if n, err := s.AddCount(ctx, "t1", "exec/p1/b", 2); err != nil || n != 2 {
		t.Fatalf("AddCount = %d, %v", n, err)
	}
	if n, err := twin.AddCount(ctx, "t1", "exec/p1/a", 0); err != nil || n != 20 {
		t.Fatalf("AddCount(0) after 20 concurrent additions = %d, %v", n, err)
	}
	must2(t)(s.AddCount(ctx, "t1", "exec/p2/a", 1))
	must2(t)(s.AddCount(ctx, "t1", "exec%p1_", 1)) // LIKE's wildcards are plain characters
	must2(t)(s.AddCount(ctx, "t2", "exec/p1/a", 5))
	if _, err := s.AddCount(ctx, "t\x00", "x", 1); err == nil {
		t.Error("a tenant with NUL was accepted")
	}
	if _, err := s.AddCount(ctx, "t1", "", 1); err == nil {
		t.Error("an empty counter name was accepted")
	}
	got, err := twin.CountsWithPrefix(ctx, "t1", "exec/p1/")
	if err != nil || len(got) != 2 || got["exec/p1/a"] != 20 || got["exec/p1/b"] != 2 {
		t.Errorf("CountsWithPrefix = %v, %v", got, err)
	}
	if got, _ := s.CountsWithPrefix(ctx, "t1", "exec%"); len(got) != 1 {
		t.Errorf("CountsWithPrefix(exec%%) = %v", got)
	}
	if got, _ := s.CountsWithPrefix(ctx, "t3", ""); len(got) != 0 {
		t.Errorf("another tenant's counts: %v", got)
	}
}

func must2(t *testing.T) func(int64, error) {
	return func(_ int64, err error) {
		t.Helper()
		must(t, err)
	}
}
