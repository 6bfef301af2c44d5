package caddymodule

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

// TestExpiredRunsSwept: the store a config holds has its paused runs
// removed once they expire; runs still waiting stay.
func TestExpiredRunsSwept(t *testing.T) {
	prev := sweepEvery
	sweepEvery = 10 * time.Millisecond
	defer func() { sweepEvery = prev }()
	opener := &bbolt.Module{File: filepath.Join(t.TempDir(), "agentgate.db")}
	clk := clock.NewManual(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	be, err := acquireBackend(opener, 0, clk, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer releaseStore(opener.Location())
	ctx := context.Background()
	for id, expires := range map[string]time.Time{"expired": clk.Now().Add(-time.Minute), "waiting": clk.Now().Add(time.Hour)} {
		if err := be.store.PutRun(ctx, &state.Run{ID: id, Tenant: "t", Status: state.RunPaused, Expires: expires}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second) // a failure bound, far beyond the sweeps' period
	for {
		_, err := be.store.GetRun(ctx, "t", "expired")
		if errors.Is(err, state.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the expired run is still there: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := be.store.GetRun(ctx, "t", "waiting"); err != nil {
		t.Fatalf("a run still waiting was swept: %v", err)
	}
}
