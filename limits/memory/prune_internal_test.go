package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/limits"
	"github.com/agentgate/agentgate/state"
)

const leaseTTL = 30 * time.Second

// admit admits amounts of rules under lease, seeding every quota the
// backend asks for with seed.
func admit(t *testing.T, m *Backend, lease string, rules []limits.Rule, amounts []int64, seed int64) limits.Answer {
	t.Helper()
	req := &limits.Request{Lease: lease, TTL: leaseTTL, Rules: rules, Amounts: amounts}
	ans, err := m.Admit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(ans.Unseeded) > 0 {
		for _, i := range ans.Unseeded {
			req.Seeds = append(req.Seeds, limits.Seed{Rule: i, Month: state.MonthKey(ans.Now), Used: seed})
		}
		if ans, err = m.Admit(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if len(ans.Unseeded) > 0 {
		t.Fatalf("still unseeded after seeding: %v", ans.Unseeded)
	}
	return ans
}

func (m *Backend) sizes() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("held %d, buckets %d, months %d", len(m.held), len(m.buckets), len(m.used))
}

// TestPruneDropsIdleState: the state of keys that went idle vanishes
// once their windows passed on the backend's clock, except the current
// month's quota figures; those go when the month ends.
func TestPruneDropsIdleState(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	m := New(clk)
	const keys = 100
	for i := range keys {
		scope := fmt.Sprintf("key:k%d", i)
		rules := []limits.Rule{{Scope: scope, Kind: limits.RequestsPerMinute, Max: 10},
			{Scope: scope, Kind: limits.Concurrent, Max: 2}, {Scope: scope, Kind: limits.MonthlyTokens, Max: 1000}}
		lease := fmt.Sprintf("lease-%d", i)
		if ans := admit(t, m, lease, rules, []int64{1, 1, 50}, 0); !ans.Admitted {
			t.Fatalf("%s refused: %+v", scope, ans)
		}
		clk.Add(10 * time.Millisecond)
		err := m.Settle(context.Background(), &limits.Settlement{Lease: lease, Rules: rules, Taken: []int64{1, 1, 50},
			Spent: []limits.Spend{{At: clk.Now(), Cost: limits.Cost{Tokens: 5}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, want := m.sizes(), "held 200, buckets 100, months 100"; got != want {
		t.Fatalf("after %d keys' requests: %s, want %s", keys, got, want)
	}
	other := []limits.Rule{{Scope: "key:other", Kind: limits.RequestsPerMinute, Max: 10}}
	// Within a window of the last request, nothing is dropped.
	clk.Add(30 * time.Second)
	admit(t, m, "other-1", other, []int64{1}, 0)
	if got, want := m.sizes(), "held 200, buckets 101, months 100"; got != want {
		t.Fatalf("30s later: %s, want %s", got, want)
	}
	// A window later the buckets are full again and nothing is held:
	// the month's figures stay.
	clk.Add(limits.BucketPeriod)
	admit(t, m, "other-2", other, []int64{1}, 0)
	if got, want := m.sizes(), "held 0, buckets 1, months 100"; got != want {
		t.Fatalf("a window later: %s, want %s", got, want)
	}
	// What the month's figures say still counts: 5 of 1000 used.
	q := []limits.Rule{{Scope: "key:k7", Kind: limits.MonthlyTokens, Max: 1000}}
	if ans := admit(t, m, "k7-again", q, []int64{995}, 0); !ans.Admitted || ans.States[0].Used != 5 {
		t.Fatalf("k7 after the prune: %+v, want 995 more admitted over the 5 used", ans)
	}
	// The next month drops the last one's figures.
	clk.Set(time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC))
	admit(t, m, "other-3", other, []int64{1}, 0)
	if got, want := m.sizes(), "held 0, buckets 1, months 0"; got != want {
		t.Fatalf("in December: %s, want %s", got, want)
	}
}

// TestPruneKeepsWhatLimits: a prune forgets nothing a limit needs: a
// slot and a reservation held by a lease that is renewed, a bucket not
// yet refilled, the month's usage; the limits are enforced exactly
// across it.
func TestPruneKeepsWhatLimits(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	m := New(clk)
	a := []limits.Rule{{Scope: "key:a", Kind: limits.Concurrent, Max: 1},
		{Scope: "key:a", Kind: limits.MonthlyTokens, Max: 100}}
	b := []limits.Rule{{Scope: "key:b", Kind: limits.RequestsPerMinute, Max: 2}}
	c := []limits.Rule{{Scope: "key:c", Kind: limits.RequestsPerMinute, Max: 2}}
	// a holds its one slot and reserves 60 of its quota (30 already used).
	if ans := admit(t, m, "a-1", a, []int64{1, 60}, 30); !ans.Admitted {
		t.Fatalf("a refused: %+v", ans)
	}
	// a's request runs on, its lease renewed, past a prune; 30s in, b
	// empties its bucket.
	for i := range 5 {
		clk.Add(leaseTTL / 2)
		if err := m.Renew(context.Background(), []limits.Held{{Lease: "a-1", Rules: a}}, leaseTTL); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			for j := range 2 {
				if ans := admit(t, m, fmt.Sprintf("b-%d", j), b, []int64{1}, 0); !ans.Admitted {
					t.Fatalf("b %d refused: %+v", j, ans)
				}
			}
		}
	}
	admit(t, m, "c-1", c, []int64{1}, 0) // 75s after a-1: prunes
	if got, want := m.sizes(), "held 2, buckets 2, months 1"; got != want {
		t.Fatalf("after the prune: %s, want %s", got, want)
	}
	// a's slot and reservation are still held.
	ans := admit(t, m, "a-2", a, []int64{1, 10}, 0)
	if ans.Admitted || ans.Refused != 0 || ans.States[1].Used != 30 || ans.States[1].Reserved != 60 {
		t.Fatalf("a while a-1 runs: %+v, want refused by its slot, 30 used and 60 reserved", ans)
	}
	// b's bucket refilled 45s of 2 a minute: 1.5 tokens, not 2.
	if ans := admit(t, m, "b-2", b, []int64{1}, 0); !ans.Admitted || ans.States[0].Remaining != 0 {
		t.Fatalf("b 45s after emptying its bucket: %+v, want admitted with nothing left", ans)
	}
	if ans := admit(t, m, "b-3", b, []int64{1}, 0); ans.Admitted {
		t.Fatalf("b's bucket was forgotten: %+v", ans)
	}
	// a-1 ends having spent 50: 80 used of 100.
	err := m.Settle(context.Background(), &limits.Settlement{Lease: "a-1", Rules: a, Taken: []int64{1, 60},
		Spent: []limits.Spend{{At: clk.Now(), Cost: limits.Cost{Tokens: 50}}}})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * limits.BucketPeriod)
	admit(t, m, "c-2", c, []int64{1}, 0) // prunes a's holders and b's bucket
	if got, want := m.sizes(), "held 0, buckets 1, months 1"; got != want {
		t.Fatalf("after a-1 ended and a window passed: %s, want %s", got, want)
	}
	// Not seeded again (a seed of 0 would let 100 through): 20 fit, 21 do not.
	if ans := admit(t, m, "a-3", a, []int64{1, 21}, 0); ans.Admitted || ans.Refused != 1 || ans.States[1].Used != 80 {
		t.Fatalf("a asking 21 of the 20 left: %+v", ans)
	}
	if ans := admit(t, m, "a-4", a, []int64{1, 20}, 0); !ans.Admitted || ans.States[1].Remaining != 0 {
		t.Fatalf("a asking the 20 left: %+v", ans)
	}
}

// TestBucketIdle: a bucket is idle once a whole window passed since its
// last use and it refilled to its Max, debts included.
func TestBucketIdle(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		tokens float64
		after  time.Duration
		idle   bool
	}{
		{10, limits.BucketPeriod - time.Nanosecond, false}, // full, but used within the window
		{10, limits.BucketPeriod, true},
		{0, limits.BucketPeriod, true},
		{-5, limits.BucketPeriod, false}, // owes 5: 1.5 windows to refill
		{-5, limits.BucketPeriod * 3 / 2, true},
	} {
		b := &bucket{tokens: tt.tokens, last: t0, max: 10}
		if got := b.idle(t0.Add(tt.after)); got != tt.idle {
			t.Errorf("%v tokens of 10, %v later: idle %v, want %v", tt.tokens, tt.after, got, tt.idle)
		}
	}
}
