package bbolt

import (
	"testing"
	"time"

	"github.com/agentgate/agentgate/state"
)

func TestUsageCodecRoundTrip(t *testing.T) {
	recs := []state.UsageRecord{
		{},
		{ID: "run-x", Time: time.Date(2026, 11, 22, 1, 2, 3, 4, time.UTC), Tenant: "t", KeyID: "k", Dialect: "openai",
			AgentID: "a", Model: "m", Provider: "p", SessionID: "s", ParentID: "par", InputTokens: 1 << 20, OutputTokens: 7,
			ReasoningTokens: 3, CachedTokens: 2, Estimated: true, LatencyMs: 1234, Status: "ok"},
		{Tenant: "ünïcode ✓", InputTokens: -1, Time: time.Unix(0, 0).UTC()},
	}
	for i, r := range recs {
		var got state.UsageRecord
		if err := decodeUsage(encodeUsage(&r), &got); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if r.Time.IsZero() {
			r.Time = time.Unix(0, r.Time.UnixNano()).UTC()
		}
		if got != r {
			t.Fatalf("case %d:\n got %+v\nwant %+v", i, got, r)
		}
	}
}

func FuzzDecodeUsage(f *testing.F) {
	f.Add(encodeUsage(&state.UsageRecord{ID: "a", Status: "ok", InputTokens: 3}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r state.UsageRecord
		_ = decodeUsage(b, &r)
	})
}
