package bbolt

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

func TestUsageCodecRoundTrip(t *testing.T) {
	recs := []state.UsageRecord{
		{},
		{ID: "run-x", Time: time.Date(2026, 11, 22, 1, 2, 3, 4, time.UTC), Tenant: "t", KeyID: "k", Dialect: "openai",
			AgentID: "a", Model: "m", Provider: "p", SessionID: "s", ParentID: "par", InputTokens: 1 << 20, OutputTokens: 7,
			ReasoningTokens: 3, CachedTokens: 2, Estimated: true, LatencyMs: 1234, Status: "ok", Cost: cost(123456)},
		{Tenant: "ünïcode ✓", InputTokens: -1, Time: time.Unix(0, 0).UTC()},
		{ID: "zero", Cost: cost(0)},
	}
	for i, r := range recs {
		var got state.UsageRecord
		if err := decodeUsage(encodeUsage(&r), &got); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if r.Time.IsZero() {
			r.Time = time.Unix(0, r.Time.UnixNano()).UTC()
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("case %d:\n got %+v\nwant %+v", i, got, r)
		}
	}
}

// TestUsageCodecV1: records written before costs existed read back with
// an unknown cost; trailing or missing bytes are refused.
func TestUsageCodecV1(t *testing.T) {
	r := state.UsageRecord{ID: "old", Tenant: "t", Status: "ok", InputTokens: 5, Time: time.Unix(5, 0).UTC()}
	v2 := encodeUsage(&r)
	v1 := append([]byte{usageCodecV1}, v2[1:len(v2)-1]...) // v1 ends with the estimated flag
	var got state.UsageRecord
	got.Cost = cost(9)
	if err := decodeUsage(v1, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("got %+v\nwant %+v", got, r)
	}
	for _, bad := range [][]byte{append(bytes.Clone(v1), 0), v2[:len(v2)-1], append(bytes.Clone(v2), 0)} {
		if err := decodeUsage(bad, &got); err == nil {
			t.Errorf("% x decoded", bad)
		}
	}
}

func cost(m pricing.Micros) *pricing.Micros { return &m }

func FuzzDecodeUsage(f *testing.F) {
	f.Add(encodeUsage(&state.UsageRecord{ID: "a", Status: "ok", InputTokens: 3}))
	f.Add([]byte{1})
	f.Add(encodeUsage(&state.UsageRecord{ID: "b", Cost: cost(42)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r state.UsageRecord
		_ = decodeUsage(b, &r)
	})
}
