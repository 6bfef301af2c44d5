package models

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/agentgate/agentgate/state"
)

func usageRecord(tenant string, i int) state.UsageRecord {
	return state.UsageRecord{
		ID: fmt.Sprintf("run-%06d", i), Time: testClock.Add(time.Duration(i) * time.Millisecond),
		Tenant: tenant, KeyID: "key_" + tenant, AgentID: "agent", Model: "m", Provider: "p",
		InputTokens: i, OutputTokens: 1, Status: "ok",
	}
}

func listUsage(t *testing.T, store state.Store, tenant string) []state.UsageRecord {
	t.Helper()
	recs, err := store.ListUsage(context.Background(), tenant, 1<<20)
	if err != nil {
		t.Fatalf("ListUsage: %v", err)
	}
	return recs
}

func TestRecorderFlush(t *testing.T) {
	store := openStore(t)
	// An interval long enough that only Flush commits.
	r := NewRecorder(store, zap.NewNop(), time.Hour)
	defer r.Close()

	for i := range 3 {
		r.Record(usageRecord("tenant-a", i))
	}
	r.Record(usageRecord("tenant-b", 3))
	if recs := listUsage(t, store, "tenant-a"); len(recs) != 0 {
		t.Fatalf("records visible before Flush: %d", len(recs))
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	recs := listUsage(t, store, "tenant-a")
	if len(recs) != 3 {
		t.Fatalf("tenant-a records after Flush = %d, want 3", len(recs))
	}
	for i, rec := range recs { // newest first
		if want := usageRecord("tenant-a", 2-i); rec != want {
			t.Errorf("record %d = %+v, want %+v", i, rec, want)
		}
	}
	if recs := listUsage(t, store, "tenant-b"); len(recs) != 1 {
		t.Errorf("tenant-b records = %d, want 1", len(recs))
	}
	n, err := store.MonthlyTokens(context.Background(), "key:key_tenant-a", testClock)
	if err != nil || n != (0+1)+(1+1)+(2+1) {
		t.Errorf("monthly tokens of key_tenant-a = %d, %v; want 6", n, err)
	}

	// Flushing with nothing queued returns at once.
	if err := r.Flush(context.Background()); err != nil {
		t.Errorf("empty Flush: %v", err)
	}
}

func TestRecorderFlushHonoursContext(t *testing.T) {
	store := openStore(t)
	r := NewRecorder(store, zap.NewNop(), time.Hour)
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Either the commit or the cancellation may win; neither may hang.
	if err := r.Flush(ctx); err != nil && err != context.Canceled {
		t.Errorf("Flush with canceled context = %v", err)
	}
}

func TestRecorderIntervalCommits(t *testing.T) {
	store := openStore(t)
	r := NewRecorder(store, zap.NewNop(), 5*time.Millisecond)
	defer r.Close()
	r.Record(usageRecord("tenant-a", 1))
	deadline := time.Now().Add(10 * time.Second)
	for len(listUsage(t, store, "tenant-a")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("record not committed by the interval ticker")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRecorderCloseCommitsPending(t *testing.T) {
	store := openStore(t)
	r := NewRecorder(store, zap.NewNop(), time.Hour)
	for i := range 5 {
		r.Record(usageRecord("tenant-a", i))
	}
	r.Close()
	if recs := listUsage(t, store, "tenant-a"); len(recs) != 5 {
		t.Errorf("records after Close = %d, want 5", len(recs))
	}
	// Close twice and Flush after Close return at once.
	r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Flush(ctx); err != nil {
		t.Errorf("Flush after Close: %v", err)
	}
}

func TestRecorderZeroIntervalDefaults(t *testing.T) {
	store := openStore(t)
	r := NewRecorder(store, zap.NewNop(), 0)
	defer r.Close()
	if r.interval != 200*time.Millisecond {
		t.Errorf("interval = %v, want the 200ms default", r.interval)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	const (
		writers = 32
		each    = 200 // writers*each exceeds maxBatch, so batches fill too
	)
	tests := []struct {
		name     string
		interval time.Duration
	}{
		{"fast ticker", time.Millisecond},
		{"flush only", time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := openStore(t)
			r := NewRecorder(store, zap.NewNop(), tc.interval)
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						r.Record(usageRecord("tenant-a", w*each+i))
						if i%50 == 0 {
							if err := r.Flush(context.Background()); err != nil {
								t.Errorf("Flush: %v", err)
							}
						}
					}
				})
			}
			wg.Wait()
			if err := r.Flush(context.Background()); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			recs := listUsage(t, store, "tenant-a")
			r.Close()
			if len(recs) != writers*each {
				t.Fatalf("records = %d, want %d", len(recs), writers*each)
			}
			seen := make(map[string]bool, len(recs))
			for _, rec := range recs {
				if seen[rec.ID] {
					t.Fatalf("record %s stored twice", rec.ID)
				}
				seen[rec.ID] = true
			}
		})
	}
}

func TestRecorderConcurrentWithClose(t *testing.T) {
	store := openStore(t)
	r := NewRecorder(store, zap.NewNop(), time.Millisecond)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 100 {
				r.Record(usageRecord("tenant-a", w*100+i))
			}
		})
	}
	wg.Wait()
	r.Close()
	if recs := listUsage(t, store, "tenant-a"); len(recs) != 1600 {
		t.Errorf("records after Close = %d, want 1600", len(recs))
	}
}

// awayStore refuses usage records as an unreachable database does, the
// first refusals times.
type awayStore struct {
	state.Store
	mu       sync.Mutex
	refusals int
}

func (s *awayStore) AppendUsage(ctx context.Context, recs []state.UsageRecord) error {
	s.mu.Lock()
	away := s.refusals > 0
	if away {
		s.refusals--
	}
	s.mu.Unlock()
	if away {
		return fmt.Errorf("dial: %w", state.ErrUnavailable)
	}
	return s.Store.AppendUsage(ctx, recs)
}

// TestRecorderKeepsRecordsWhileStoreIsAway: records a store refused
// because it could not be reached are written when it is back, even when
// the recorder is closing meanwhile.
func TestRecorderKeepsRecordsWhileStoreIsAway(t *testing.T) {
	ctx := context.Background()
	store := &awayStore{Store: openStore(t), refusals: 2}
	r := NewRecorder(store, zap.NewNop(), time.Hour)
	for i := range 5 {
		r.Record(usageRecord("tenant-a", i))
	}
	// A flush the store refused says so: a read now would miss the records.
	for i := range 2 {
		if err := r.Flush(ctx); !errors.Is(err, state.ErrUnavailable) {
			t.Fatalf("flush %d while the store is away: %v, want ErrUnavailable", i+1, err)
		}
	}
	if recs := listUsage(t, store, "tenant-a"); len(recs) != 0 {
		t.Fatalf("%d records written while the store was away", len(recs))
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatalf("flush once the store is back: %v", err)
	}
	if recs := listUsage(t, store, "tenant-a"); len(recs) != 5 {
		t.Fatalf("%d of 5 records written after the store came back", len(recs))
	}
	// Close commits what refusals left queued.
	store.mu.Lock()
	store.refusals = 3
	store.mu.Unlock()
	for i := 5; i < 8; i++ {
		r.Record(usageRecord("tenant-a", i))
	}
	if err := r.Flush(ctx); err == nil {
		t.Fatal("flush while the store is away again: nil error")
	}
	r.Close()
	if recs := listUsage(t, store, "tenant-a"); len(recs) != 8 {
		t.Fatalf("%d of 8 records written by Close after the store came back", len(recs))
	}
}
