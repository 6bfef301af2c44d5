package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

var runTests = []Test{
	{Name: "ClaimOnce", Fn: testRuns},
	single("Sweep", testRunSweep),
}

// testRuns: a paused run is claimed once, whichever instance claims it.
func testRuns(t *testing.T, s, twin state.Store) {
	ctx := context.Background()
	run := &state.Run{ID: "run-1", Tenant: "a", AgentID: "ag", Status: state.RunPaused, Model: "m",
		Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "hi")},
		Pending:  []state.PendingCall{{ToolCall: adapters.ToolCall{ID: "tc-1", Name: "send_email", Arguments: `{"to":"x"}`}, RequiresConfirmation: true}}}
	if err := s.PutRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRun(ctx, "b", "run-1"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("another tenant's run: %v", err)
	}
	if _, err := s.ClaimRun(ctx, "b", "run-1", state.RunResuming); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("claim by another tenant: %v", err)
	}
	// Fifty concurrent claims: exactly one wins.
	var wins, conflicts int64
	var mu sync.Mutex
	concurrently(50, s, twin, func(_ int, h state.Store) {
		r, err := h.ClaimRun(ctx, "a", "run-1", state.RunResuming)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil && r.Status == state.RunPaused && r.Pending[0].Arguments == `{"to":"x"}`:
			wins++
		case errors.Is(err, state.ErrConflict):
			conflicts++
		default:
			t.Errorf("claim: %+v %v", r, err)
		}
	})
	if wins != 1 || conflicts != 49 {
		t.Fatalf("wins %d conflicts %d", wins, conflicts)
	}
	got, err := s.GetRun(ctx, "a", "run-1")
	if err != nil || got.Status != state.RunResuming || len(got.Messages) != 1 {
		t.Fatalf("after claim: %+v %v", got, err)
	}
	if _, err := s.ClaimRun(ctx, "a", "nope", state.RunResuming); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("unknown run: %v", err)
	}
}

// testRunSweep: runs past their expiry are removed, others kept.
func testRunSweep(t *testing.T, s state.Store) {
	for i, exp := range []time.Duration{-2 * time.Hour, -time.Minute, time.Minute, time.Hour} {
		r := &state.Run{ID: fmt.Sprint("run", i), Tenant: fmt.Sprint("t", i%2), AgentID: "ag", Status: state.RunPaused,
			Created: day.Add(-3 * time.Hour), Expires: day.Add(exp)}
		if i == 0 {
			r.Status = state.RunCompleted
		}
		must(t, s.PutRun(ctx, r))
	}
	n, err := s.SweepRuns(ctx, day)
	if err != nil || n != 2 {
		t.Fatalf("SweepRuns = %d, %v; want 2", n, err)
	}
	for i, want := range []error{state.ErrNotFound, state.ErrNotFound, nil, nil} {
		_, err := s.GetRun(ctx, fmt.Sprint("t", i%2), fmt.Sprint("run", i))
		if !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("run%d after the sweep: %v, want %v", i, err, want)
		}
	}
	if n, err := s.SweepRuns(ctx, day); err != nil || n != 0 {
		t.Fatalf("second sweep = %d, %v", n, err)
	}
}
