package state_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

func TestBucketIsSmooth(t *testing.T) {
	m := state.NewMemoryLimits(nil, nil)
	ctx := context.Background()
	b := state.Bucket{Capacity: 6, Period: time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 6; i++ {
		if _, ok, _ := m.Take(ctx, "k", b, 1, t0); !ok {
			t.Fatalf("request %d refused within capacity", i)
		}
	}
	st, ok, _ := m.Take(ctx, "k", b, 1, t0)
	if ok || st.RetryAfter != 10*time.Second || st.Reset != time.Minute {
		t.Fatalf("7th request: ok=%v state=%+v", ok, st)
	}
	// One token comes back every 10s, not a whole window at once.
	if _, ok, _ := m.Take(ctx, "k", b, 1, t0.Add(10*time.Second)); !ok {
		t.Fatal("refill after 10s refused")
	}
	if _, ok, _ := m.Take(ctx, "k", b, 1, t0.Add(10*time.Second)); ok {
		t.Fatal("two tokens after 10s")
	}
	// Debt from Adjust delays the next request.
	_ = m.Adjust(ctx, "k", b, -3, t0.Add(10*time.Second))
	if st, ok, _ := m.Take(ctx, "k", b, 1, t0.Add(30*time.Second)); ok || st.RetryAfter != 20*time.Second {
		t.Fatalf("after debt: ok=%v %+v", ok, st)
	}
}

func TestSlots(t *testing.T) {
	m := state.NewMemoryLimits(nil, nil)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if ok, _ := m.Acquire(ctx, "k", 2); !ok {
			t.Fatal("slot refused")
		}
	}
	if ok, _ := m.Acquire(ctx, "k", 2); ok {
		t.Fatal("third slot granted")
	}
	_ = m.Release(ctx, "k")
	if ok, _ := m.Acquire(ctx, "k", 2); !ok {
		t.Fatal("released slot not reusable")
	}
}

func TestQuotaReservationsNeverOverspend(t *testing.T) {
	s, err := bbolt.Open(filepath.Join(t.TempDir(), "q.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC)
	ctx := context.Background()
	if err := s.AppendUsage(ctx, []state.UsageRecord{{ID: "r", Time: now, Tenant: "t", KeyID: "k", InputTokens: 30, OutputTokens: 10}}); err != nil {
		t.Fatal(err)
	}
	m := state.NewMemoryLimits(s, nil)
	const limit, estimate, actual = 1000, 100, 80
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok, err := m.Reserve(ctx, "key:k", limit, estimate, now); err != nil || !ok {
				return
			}
			mu.Lock()
			admitted++
			mu.Unlock()
			_ = m.Settle(ctx, "key:k", estimate, []state.Spend{{At: now, Tokens: actual}})
		}()
	}
	wg.Wait()
	q, _ := m.Quota(ctx, "key:k", now)
	if q.Reserved != 0 || q.Used != 40+int64(admitted)*actual || q.Used > limit {
		t.Fatalf("admitted %d, quota %+v", admitted, q)
	}
	// A new month starts from zero.
	if q, _ := m.Quota(ctx, "key:k", now.Add(2*time.Hour)); q.Used != 0 {
		t.Fatalf("next month: %+v", q)
	}
}

// TestQuotaAcrossMidnight settles requests reserved at the end of a month
// the way the gateway does: the usage records are committed (the counter
// of each record's month grows) before the request settles. Whatever the
// calls' times, what the limits hold afterwards is what a restarted
// process reads back from the store, counted once.
func TestQuotaAcrossMidnight(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name      string
		reserveAt string
		// calls are the times the request's model calls end; each
		// uses 10 tokens.
		calls []string
		// othersAt, when set, is when another request of the scope
		// reserves, between this one's calls and its settlement.
		othersAt string
	}{
		{name: "within a month", reserveAt: "2026-11-15T12:00:00Z", calls: []string{"2026-11-15T12:00:01Z"}},
		{name: "reserved on the 30th at 23:59:59.9, answered on the 1st",
			reserveAt: "2026-11-30T23:59:59.9Z", calls: []string{"2026-12-01T00:00:00.2Z"}},
		{name: "leap day", reserveAt: "2028-02-29T23:59:59.9Z", calls: []string{"2028-03-01T00:00:00.2Z"}},
		{name: "new year", reserveAt: "2026-12-31T23:59:59.9Z", calls: []string{"2027-01-01T00:00:00.2Z"}},
		{name: "a tool loop whose calls straddle midnight",
			reserveAt: "2026-11-30T23:59:59.9Z", calls: []string{"2026-11-30T23:59:59.95Z", "2026-12-01T00:00:01Z"}},
		{name: "answered before midnight, settled after another request began the new month",
			reserveAt: "2026-11-30T23:59:59.9Z", calls: []string{"2026-11-30T23:59:59.95Z"}, othersAt: "2026-12-01T00:00:00.1Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "q.db")
			s, err := bbolt.Open(path, bbolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			reserveAt := at(tc.reserveAt)
			// 40 tokens were used earlier in the month of the reservation.
			earlier := state.MonthStart(reserveAt).Add(time.Hour)
			if err := s.AppendUsage(ctx, []state.UsageRecord{{ID: "r0", Time: earlier, Tenant: "t", KeyID: "k", InputTokens: 40}}); err != nil {
				t.Fatal(err)
			}
			m := state.NewMemoryLimits(s, nil)
			const limit, estimate = 1000, 100
			if _, ok, err := m.Reserve(ctx, "key:k", limit, estimate, reserveAt); err != nil || !ok {
				t.Fatalf("reserve: %v %v", ok, err)
			}
			var spent []state.Spend
			for i, c := range tc.calls {
				end := at(c)
				if err := s.AppendUsage(ctx, []state.UsageRecord{{ID: "r" + string(rune('1'+i)), Time: end, Tenant: "t", KeyID: "k", InputTokens: 6, OutputTokens: 4}}); err != nil {
					t.Fatal(err)
				}
				spent = append(spent, state.Spend{At: end, Tokens: 10})
			}
			last := spent[len(spent)-1].At
			if tc.othersAt != "" {
				last = at(tc.othersAt)
				q, ok, err := m.Reserve(ctx, "key:k", limit, estimate, last)
				// The first request's reservation is held in the new month.
				if err != nil || !ok || q.Reserved != 2*estimate {
					t.Fatalf("other reserve: %+v %v %v", q, ok, err)
				}
				if err := m.Settle(ctx, "key:k", estimate, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := m.Settle(ctx, "key:k", estimate, spent); err != nil {
				t.Fatal(err)
			}
			got, err := m.Quota(ctx, "key:k", last)
			if err != nil {
				t.Fatal(err)
			}
			want, err := state.NewMemoryLimits(s, nil).Quota(ctx, "key:k", last)
			if err != nil {
				t.Fatal(err)
			}
			var inMonth int64
			if state.MonthKey(last) == state.MonthKey(reserveAt) {
				inMonth = 40
			}
			for _, sp := range spent {
				if state.MonthKey(sp.At) == state.MonthKey(last) {
					inMonth += sp.Tokens
				}
			}
			if got.Reserved != 0 || got.Used != want.Used || got.Used != inMonth {
				t.Fatalf("month %s: limits hold %+v, a restart reads %d, the month's records sum to %d", state.MonthKey(last), got, want.Used, inMonth)
			}
		})
	}
}

// TestQuotaReservationCarriesOverMidnight: a reservation made before
// midnight still counts after it, until its request settles.
func TestQuotaReservationCarriesOverMidnight(t *testing.T) {
	ctx := context.Background()
	s, err := bbolt.Open(filepath.Join(t.TempDir(), "q.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := state.NewMemoryLimits(s, nil)
	before := time.Date(2026, 11, 30, 23, 59, 59, 9e8, time.UTC)
	after := before.Add(200 * time.Millisecond)
	if _, ok, _ := m.Reserve(ctx, "key:k", 150, 100, before); !ok {
		t.Fatal("first reservation refused")
	}
	if q, ok, _ := m.Reserve(ctx, "key:k", 150, 100, after); ok || q.Reserved != 100 || q.Used != 0 {
		t.Fatalf("second reservation after midnight: ok=%v %+v, want refused with 100 reserved", ok, q)
	}
	if err := m.Settle(ctx, "key:k", 100, []state.Spend{{At: after, Tokens: 80}}); err != nil {
		t.Fatal(err)
	}
	if q, ok, _ := m.Reserve(ctx, "key:k", 150, 70, after); !ok || q.Used != 80 || q.Reserved != 70 {
		t.Fatalf("after settlement: ok=%v %+v", ok, q)
	}
}
