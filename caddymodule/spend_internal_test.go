package caddymodule

import (
	"slices"
	"testing"

	"github.com/agentgate/agentgate/state"
)

// TestRunRecords: a run's records are its own and every record whose
// chain of parent ids leads to it: retries and fallbacks (run.N), sub-
// agents (their own run ids, parented to the run) with their retries,
// memory steps and embeddings; nothing of another run, and a corrupt
// cycle ends the walk.
func TestRunRecords(t *testing.T) {
	recs := []state.UsageRecord{
		{ID: "run-1"},
		{ID: "run-1.1", ParentID: "run-1"},          // retry
		{ID: "run-1.2", ParentID: "run-1"},          // fallback
		{ID: "run-sub", ParentID: "run-1"},          // sub-agent
		{ID: "run-sub.1", ParentID: "run-sub"},      // the sub-agent's retry
		{ID: "run-mem", ParentID: "run-sub"},        // the sub-agent's memory step
		{ID: "emb-1", ParentID: "run-1"},            // a knowledge embedding
		{ID: "run-2"},                               // another run
		{ID: "run-2.1", ParentID: "run-2"},          // its retry
		{ID: "run-x", ParentID: "run-y"},            // a cycle
		{ID: "run-y", ParentID: "run-x"},            //
		{ID: "run-orphan", ParentID: "run-missing"}, // a parent not among the records
	}
	var got []string
	for _, r := range runRecords(recs, "run-1") {
		got = append(got, r.ID)
	}
	want := []string{"run-1", "run-1.1", "run-1.2", "run-sub", "run-sub.1", "run-mem", "emb-1"}
	if !slices.Equal(got, want) {
		t.Errorf("records of run-1: %v, want %v", got, want)
	}
	if got := runRecords(recs, "run-x"); len(got) != 2 {
		t.Errorf("records of a cycle: %v", got)
	}
	if got := runRecords(recs, "run-none"); len(got) != 0 {
		t.Errorf("records of no run: %v", got)
	}
}
