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
			_ = m.Settle(ctx, "key:k", estimate, actual, now)
		}()
	}
	wg.Wait()
	q, _ := m.Quota(ctx, "key:k", now)
	if q.Reserved != 0 || q.Used != 40+int64(admitted)*actual || q.Used > limit {
		t.Fatalf("admitted %d, quota %+v", admitted, q)
	}
	// A new month starts from the store's counter for that month: zero.
	if q, _ := m.Quota(ctx, "key:k", now.Add(2*time.Hour)); q.Used != 0 {
		t.Fatalf("next month: %+v", q)
	}
}
