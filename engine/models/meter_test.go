package models

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

func TestMeterSnapshot(t *testing.T) {
	type call struct {
		agent, model, provider string
		usage                  adapters.Usage
		cost                   *pricing.Micros
		firstByte, upstream    time.Duration
		errCode                string
	}
	tests := []struct {
		name  string
		calls []call
		want  MeterSnapshot
	}{
		{"no calls", nil, MeterSnapshot{}},
		{
			"one call",
			[]call{{"a", "m", "p", adapters.Usage{InputTokens: 3, OutputTokens: 4}, usd(9), time.Millisecond, 5 * time.Millisecond, ""}},
			MeterSnapshot{AgentID: "a", Model: "m", Provider: "p", Usage: adapters.Usage{InputTokens: 3, OutputTokens: 4},
				Cost: 9, Calls: 1, FirstByte: time.Millisecond, Upstream: 5 * time.Millisecond},
		},
		{
			"sums calls: first agent and first byte, last model",
			[]call{
				{"a", "m1", "p1", adapters.Usage{InputTokens: 1, OutputTokens: 2, ReasoningTokens: 1, CachedTokens: 1}, usd(5), time.Millisecond, 10 * time.Millisecond, ""},
				{"b", "m2", "p2", adapters.Usage{InputTokens: 10, OutputTokens: 20, Estimated: true}, nil, time.Second, 20 * time.Millisecond, ""},
				{"c", "m3", "p3", adapters.Usage{InputTokens: 100, CachedTokens: 5}, usd(7), time.Hour, 30 * time.Millisecond, ""},
			},
			MeterSnapshot{AgentID: "a", Model: "m3", Provider: "p3",
				Usage: adapters.Usage{InputTokens: 111, OutputTokens: 22, ReasoningTokens: 1, CachedTokens: 6, Estimated: true},
				Cost:  12, Unpriced: 1, Calls: 3, FirstByte: time.Millisecond, Upstream: 60 * time.Millisecond},
		},
		{
			"model of the last call that answered",
			[]call{
				{"a", "m1", "p1", adapters.Usage{}, usd(0), 0, 0, "upstream_unavailable"},
				{"a", "m2", "p2", adapters.Usage{OutputTokens: 1}, usd(0), 0, 0, ""},
				{"a", "m3", "p3", adapters.Usage{}, usd(0), 0, 0, "client_closed"},
			},
			MeterSnapshot{AgentID: "a", Model: "m2", Provider: "p2", Usage: adapters.Usage{OutputTokens: 1},
				Calls: 3, ErrCode: "client_closed"},
		},
		{
			"a failed first call names the model",
			[]call{{"a", "m1", "p1", adapters.Usage{}, nil, 0, 0, "upstream_error"}},
			MeterSnapshot{AgentID: "a", Model: "m1", Provider: "p1", Unpriced: 1, Calls: 1, ErrCode: "upstream_error"},
		},
		{
			"keeps the last error code",
			[]call{
				{"a", "m", "p", adapters.Usage{}, usd(1), 0, 0, "upstream_error"},
				{"a", "m", "p", adapters.Usage{}, usd(1), 0, 0, ""},
				{"a", "m", "p", adapters.Usage{}, usd(1), 0, 0, "client_closed"},
				{"a", "m", "p", adapters.Usage{}, usd(1), 0, 0, ""},
			},
			MeterSnapshot{AgentID: "a", Model: "m", Provider: "p", Cost: 4, Calls: 4, ErrCode: "client_closed"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, m := WithMeter(context.Background())
			if MeterFrom(ctx) != m {
				t.Fatal("MeterFrom does not return the meter WithMeter made")
			}
			for _, c := range tc.calls {
				MeterFrom(ctx).recordCall(c.agent, c.model, c.provider, c.usage, c.cost, c.firstByte, c.upstream, c.errCode, testClock)
			}
			if got := m.Snapshot(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Snapshot = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestMeterNilSafe(t *testing.T) {
	m := MeterFrom(context.Background())
	if m != nil {
		t.Fatalf("MeterFrom of a plain context = %v, want nil", m)
	}
	m.recordCall("a", "m", "p", adapters.Usage{InputTokens: 1}, nil, 0, 0, "x", testClock) // must not panic
	if got := m.Snapshot(); !reflect.DeepEqual(got, MeterSnapshot{}) {
		t.Errorf("nil Snapshot = %+v, want zero", got)
	}
}

func TestMeterConcurrent(t *testing.T) {
	_, m := WithMeter(context.Background())
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 100 {
				m.recordCall("a", "m", "p", adapters.Usage{InputTokens: 1, OutputTokens: 2}, usd(3), time.Millisecond, time.Millisecond, "", testClock)
				_ = m.Snapshot()
			}
		})
	}
	wg.Wait()
	s := m.Snapshot()
	if s.Calls != 5000 || s.Usage.InputTokens != 5000 || s.Usage.OutputTokens != 10000 || s.Upstream != 5*time.Second || s.Cost != 15000 {
		t.Errorf("Snapshot = %+v, want 5000 calls summed", s)
	}
}

// TestMeterSpent: a request's tokens and known cost are kept by the
// quota month of each call's usage record, so a request whose calls
// straddle midnight at the end of a month settles each part in its own
// month; a call without a price adds its tokens and no money.
func TestMeterSpent(t *testing.T) {
	nov := time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC)
	dec := time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC)
	type call struct {
		at      time.Time
		in, out int
		cost    *pricing.Micros
	}
	tests := []struct {
		name  string
		calls []call
		want  []state.Spend
	}{
		{"no calls", nil, nil},
		{"one month", []call{{nov, 3, 4, usd(70)}, {nov.Add(time.Millisecond), 1, 1, usd(5)}},
			[]state.Spend{{At: nov, Tokens: 9, Cost: 75}}},
		{"across midnight", []call{{nov, 3, 4, usd(70)}, {dec, 10, 0, nil}, {dec, 0, 5, usd(12)}},
			[]state.Spend{{At: nov, Tokens: 7, Cost: 70}, {At: dec, Tokens: 15, Cost: 12}}},
		{"unpriced", []call{{nov, 3, 4, nil}}, []state.Spend{{At: nov, Tokens: 7}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, m := WithMeter(context.Background())
			for _, c := range tc.calls {
				m.recordCall("a", "m", "p", adapters.Usage{InputTokens: c.in, OutputTokens: c.out}, c.cost, 0, 0, "", c.at)
			}
			got := m.Spent()
			if len(got) != len(tc.want) {
				t.Fatalf("Spent = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if state.MonthKey(got[i].At) != state.MonthKey(tc.want[i].At) || got[i].Tokens != tc.want[i].Tokens || got[i].Cost != tc.want[i].Cost {
					t.Errorf("Spent = %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func usd(m pricing.Micros) *pricing.Micros { return &m }
