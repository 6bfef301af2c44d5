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
		{ID: "failed", Status: "upstream_unavailable", Error: "upstream unreachable: dial tcp: connection refused"},
		{ID: "failed-priced", Cost: cost(7), Error: "ünïcode ✓"},
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

// TestUsageCodecOlderVersions: records written before costs existed (v1)
// read back with an unknown cost, those written before error texts (v2)
// with none; trailing or missing bytes are refused.
func TestUsageCodecOlderVersions(t *testing.T) {
	r := state.UsageRecord{ID: "old", Tenant: "t", Status: "ok", InputTokens: 5, Time: time.Unix(5, 0).UTC()}
	v3 := encodeUsage(&r)                                  // … estimated, cost unknown (0), error length (0)
	v2 := append([]byte{usageCodecV2}, v3[1:len(v3)-1]...) // v2 ends with the cost
	v1 := append([]byte{usageCodecV1}, v3[1:len(v3)-2]...) // v1 with the estimated flag
	priced := r
	priced.Cost = cost(42)
	v3priced := encodeUsage(&priced)
	v2priced := append([]byte{usageCodecV2}, v3priced[1:len(v3priced)-1]...)
	for _, c := range []struct {
		b    []byte
		want state.UsageRecord
	}{{v1, r}, {v2, r}, {v2priced, priced}} {
		var got state.UsageRecord
		got.Cost, got.Error = cost(9), "stale"
		if err := decodeUsage(c.b, &got); err != nil {
			t.Fatalf("% x: %v", c.b, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Fatalf("% x: got %+v\nwant %+v", c.b, got, c.want)
		}
	}
	failed := r
	failed.Error = "boom"
	v3failed := encodeUsage(&failed)
	for _, bad := range [][]byte{append(bytes.Clone(v1), 0), append(bytes.Clone(v2), 0), v3[:len(v3)-1], append(bytes.Clone(v3), 0),
		v3failed[:len(v3failed)-1], append(bytes.Clone(v3failed), 0)} {
		var got state.UsageRecord
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
	f.Add(encodeUsage(&state.UsageRecord{ID: "c", Error: "upstream unreachable"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r state.UsageRecord
		_ = decodeUsage(b, &r)
	})
}
