package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

var agentTests = []Test{
	single("CRUD", testAgentCRUD),
	single("CreateExists", testAgentCreateExists),
	single("TenantIsolation", testAgentTenantIsolation),
	single("ListOrder", testAgentListOrder),
	single("Copies", testAgentCopies),
	single("InvalidID", testAgentInvalidID),
	{Name: "StaleUpdate", Fn: testAgentStaleUpdate},
	{Name: "ConcurrentUpdates", Fn: testAgentConcurrentUpdates},
	{Name: "ConcurrentCreate", Fn: testAgentConcurrentCreate},
}

func fullAgent(tenant, id string, created time.Time) *adapters.Agent {
	return &adapters.Agent{
		ID:              id,
		Tenant:          tenant,
		Project:         "proj",
		Name:            "Agent " + id,
		Description:     "describes " + id,
		SystemPrompt:    "You are " + id + ".",
		Model:           "gpt-test",
		Provider:        "openai",
		Sampling:        adapters.Sampling{Temperature: ptr(0.5), TopP: ptr(0.9), MaxTokens: ptr(256), Stop: []string{"END"}, Seed: ptr(int64(7)), ResponseFormat: json.RawMessage(`{"type":"json_object"}`)},
		Tools:           []string{"search", "calc"},
		Reasoning:       true,
		ReasoningEffort: "high",
		HistoryTurns:    4,
		Memory:          adapters.MemoryConfig{Semantic: true, Episodic: true},
		Status:          adapters.StatusActive,
		Tags:            []string{"a", "b"},
		Version:         "3",
		Extensions:      map[string]json.RawMessage{"worker_config": json.RawMessage(`{"n":1}`)},
		CreatedAt:       created,
		UpdatedAt:       created.Add(time.Minute),
		Guardrails: &adapters.Guardrails{
			DenyPatterns:     []adapters.GuardRule{{Name: "secret", Pattern: `(?i)secret`, AppliesTo: adapters.GuardInput}},
			RedactPatterns:   []adapters.GuardRule{{Name: "key", Pattern: `sk-\w+`}},
			RedactPII:        []string{"email", "card"},
			MaxInputChars:    4000,
			OutputJSONSchema: json.RawMessage(`{"type":"object"}`),
		},
		Knowledge: &adapters.Knowledge{Sources: []string{"handbook"}, TopK: 3, MinScore: 0.2, EmbeddingModel: "emb"},
	}
}

func agentIDs(list []*adapters.Agent) []string {
	ids := make([]string, len(list))
	for i, a := range list {
		ids[i] = a.ID
	}
	return ids
}

func testAgentCRUD(t *testing.T, s state.Store) {
	a := fullAgent("t1", "ag1", day)
	must(t, s.CreateAgent(ctx, a))
	got, err := s.GetAgent(ctx, "t1", "ag1")
	must(t, err)
	equalJSON(t, "GetAgent after CreateAgent", got, a)

	if got.Revision != 1 || a.Revision != 1 {
		t.Fatalf("revision after CreateAgent: stored %d, set %d; want 1", got.Revision, a.Revision)
	}

	b := fullAgent("t1", "ag1", day)
	b.Name, b.Tools, b.Sampling, b.Revision = "renamed", []string{"only"}, adapters.Sampling{}, got.Revision
	must(t, s.UpdateAgent(ctx, b))
	if b.Revision != 2 {
		t.Fatalf("revision after UpdateAgent = %d, want 2", b.Revision)
	}
	got, err = s.GetAgent(ctx, "t1", "ag1")
	must(t, err)
	equalJSON(t, "GetAgent after UpdateAgent", got, b)

	c := fullAgent("t1", "ag2", day.Add(time.Hour))
	must(t, s.CreateAgent(ctx, c))
	list, err := s.ListAgents(ctx, "t1")
	must(t, err)
	equalJSON(t, "ListAgents", list, []*adapters.Agent{b, c})

	must(t, s.DeleteAgent(ctx, "t1", "ag1"))
	_, err = s.GetAgent(ctx, "t1", "ag1")
	wantErr(t, "GetAgent after DeleteAgent", err, state.ErrNotFound)
	wantErr(t, "DeleteAgent twice", s.DeleteAgent(ctx, "t1", "ag1"), state.ErrNotFound)
	_, err = s.GetAgent(ctx, "t1", "never")
	wantErr(t, "GetAgent unknown", err, state.ErrNotFound)
	list, err = s.ListAgents(ctx, "t1")
	must(t, err)
	if ids := agentIDs(list); !reflect.DeepEqual(ids, []string{"ag2"}) {
		t.Fatalf("ListAgents after delete = %v", ids)
	}
	// The id can be created again once deleted, at revision 1.
	must(t, s.CreateAgent(ctx, a))
	if a.Revision != 1 {
		t.Fatalf("revision of a re-created agent = %d", a.Revision)
	}
	// An update of an agent that is gone finds nothing.
	gone := fullAgent("t1", "gone", day)
	gone.Revision = 1
	wantErr(t, "UpdateAgent of a missing agent", s.UpdateAgent(ctx, gone), state.ErrNotFound)
}

func testAgentCreateExists(t *testing.T, s state.Store) {
	a := fullAgent("t1", "dup", day)
	must(t, s.CreateAgent(ctx, a))
	b := fullAgent("t1", "dup", day.Add(time.Hour))
	b.Name = "second"
	wantErr(t, "CreateAgent duplicate", s.CreateAgent(ctx, b), state.ErrExists)
	got, err := s.GetAgent(ctx, "t1", "dup")
	must(t, err)
	equalJSON(t, "agent after failed CreateAgent", got, a)
	// The same id in another tenant is another agent.
	must(t, s.CreateAgent(ctx, fullAgent("t2", "dup", day)))
	// So is the same id with no tenant (operator-declared).
	must(t, s.CreateAgent(ctx, fullAgent("", "dup", day)))
}

func testAgentTenantIsolation(t *testing.T, s state.Store) {
	a1, a2 := fullAgent("t1", "same", day), fullAgent("t2", "same", day)
	a2.Name = "tenant two's"
	must(t, s.CreateAgent(ctx, a1))
	must(t, s.CreateAgent(ctx, a2))
	must(t, s.CreateAgent(ctx, fullAgent("t1", "only1", day)))

	for _, tc := range []struct {
		tenant, id string
		want       *adapters.Agent
	}{
		{"t1", "same", a1},
		{"t2", "same", a2},
		{"t2", "only1", nil},
		{"t3", "same", nil},
		{"", "same", nil},
		{"t", "1\x00same", nil},
	} {
		got, err := s.GetAgent(ctx, tc.tenant, tc.id)
		if tc.want == nil {
			wantErr(t, fmt.Sprintf("GetAgent(%q, %q)", tc.tenant, tc.id), err, state.ErrNotFound)
			continue
		}
		must(t, err)
		equalJSON(t, fmt.Sprintf("GetAgent(%q, %q)", tc.tenant, tc.id), got, tc.want)
	}

	wantErr(t, "DeleteAgent of another tenant", s.DeleteAgent(ctx, "t2", "only1"), state.ErrNotFound)
	if _, err := s.GetAgent(ctx, "t1", "only1"); err != nil {
		t.Fatalf("agent deleted through another tenant: %v", err)
	}
	for tenant, want := range map[string][]string{"t1": {"only1", "same"}, "t2": {"same"}, "t3": {}, "t": {}} {
		list, err := s.ListAgents(ctx, tenant)
		must(t, err)
		if ids := agentIDs(list); !reflect.DeepEqual(ids, want) {
			t.Fatalf("ListAgents(%q) = %v, want %v", tenant, ids, want)
		}
	}
	must(t, s.DeleteAgent(ctx, "t2", "same"))
	if _, err := s.GetAgent(ctx, "t1", "same"); err != nil {
		t.Fatalf("deleting t2's agent removed t1's: %v", err)
	}
}

func testAgentListOrder(t *testing.T, s state.Store) {
	// Created out of order, with ties on CreatedAt broken by id, and one
	// time in another zone that is earlier as an instant.
	east := time.FixedZone("east", 5*3600)
	for _, a := range []*adapters.Agent{
		fullAgent("t", "c", day.Add(2*time.Hour)),
		fullAgent("t", "b", day.Add(time.Hour)),
		fullAgent("t", "a", day.Add(2*time.Hour)),
		fullAgent("t", "z", day),
		fullAgent("t", "tz", day.Add(30*time.Minute).In(east)),
		fullAgent("u", "0", day.Add(-time.Hour)),
	} {
		must(t, s.CreateAgent(ctx, a))
	}
	list, err := s.ListAgents(ctx, "t")
	must(t, err)
	if ids, want := agentIDs(list), []string{"z", "tz", "b", "a", "c"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("ListAgents order = %v, want %v", ids, want)
	}
}

func testAgentCopies(t *testing.T, s state.Store) {
	a := fullAgent("t", "x", day)
	must(t, s.CreateAgent(ctx, a))
	want := fullAgent("t", "x", day)
	want.Revision = 1
	// Changing the caller's value after the write changes nothing stored.
	a.Name, a.Tools[0], a.Extensions["worker_config"][2] = "mutated", "mutated", 'X'
	*a.Sampling.Temperature = 2
	for i := range 2 { // the second read may come from a cache
		got, err := s.GetAgent(ctx, "t", "x")
		must(t, err)
		equalJSON(t, fmt.Sprintf("GetAgent #%d", i), got, want)
		got.Name, got.Tools[0], got.Tags[0] = "mutated", "mutated", "mutated"
		got.Extensions["worker_config"][2] = 'X'
		got.Extensions["new"] = json.RawMessage(`1`)
		*got.Sampling.Temperature, got.Sampling.Stop[0] = 2, "mutated"
	}
	list, err := s.ListAgents(ctx, "t")
	must(t, err)
	list[0].Tools[0] = "mutated"
	got, err := s.GetAgent(ctx, "t", "x")
	must(t, err)
	equalJSON(t, "GetAgent after mutating returned values", got, want)
}

func testAgentInvalidID(t *testing.T, s state.Store) {
	if err := s.CreateAgent(ctx, fullAgent("t", "", day)); err == nil {
		t.Fatal("CreateAgent with empty id succeeded")
	}
}

// testAgentStaleUpdate: an update naming a revision another instance
// moved on from fails and changes nothing.
func testAgentStaleUpdate(t *testing.T, s, twin state.Store) {
	must(t, s.CreateAgent(ctx, fullAgent("t", "a", day)))
	mine, err := s.GetAgent(ctx, "t", "a")
	must(t, err)
	theirs, err := twin.GetAgent(ctx, "t", "a")
	must(t, err)
	theirs.Name = "theirs"
	must(t, twin.UpdateAgent(ctx, theirs))
	mine.Name = "mine"
	wantErr(t, "UpdateAgent at a stale revision", s.UpdateAgent(ctx, mine), state.ErrConflict)
	if mine.Revision != 1 {
		t.Fatalf("a refused update moved the caller's revision to %d", mine.Revision)
	}
	for _, h := range []state.Store{s, twin} {
		got, err := h.GetAgent(ctx, "t", "a")
		must(t, err)
		if got.Name != "theirs" || got.Revision != 2 {
			t.Fatalf("after the refused update: %q at revision %d, want theirs at 2", got.Name, got.Revision)
		}
	}
	// Read again, the update goes through.
	mine, err = s.GetAgent(ctx, "t", "a")
	must(t, err)
	mine.Name = "mine"
	must(t, s.UpdateAgent(ctx, mine))
	got, err := twin.GetAgent(ctx, "t", "a")
	must(t, err)
	if got.Name != "mine" || got.Revision != 3 {
		t.Fatalf("after the retried update: %q at revision %d", got.Name, got.Revision)
	}
}

// testAgentConcurrentUpdates: writers on both instances each add one to
// a field with read, change, compare-and-swap, retrying on conflicts;
// no addition is lost.
func testAgentConcurrentUpdates(t *testing.T, s, twin state.Store) {
	must(t, s.CreateAgent(ctx, fullAgent("t", "counter", day)))
	const workers, each = 8, 5
	var mu sync.Mutex
	conflicts := 0
	concurrently(workers, s, twin, func(_ int, h state.Store) {
		for range each {
			for {
				a, err := h.GetAgent(ctx, "t", "counter")
				if err != nil {
					t.Error(err)
					return
				}
				a.MaxIterations++
				err = h.UpdateAgent(ctx, a)
				if errors.Is(err, state.ErrConflict) {
					mu.Lock()
					conflicts++
					mu.Unlock()
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				break
			}
		}
	})
	got, err := s.GetAgent(ctx, "t", "counter")
	must(t, err)
	if got.MaxIterations != workers*each || got.Revision != workers*each+1 {
		t.Fatalf("after %d updates: count %d at revision %d (%d conflicts retried)", workers*each, got.MaxIterations, got.Revision, conflicts)
	}
}

// testAgentConcurrentCreate: of concurrent creations of one id on both
// instances, exactly one succeeds.
func testAgentConcurrentCreate(t *testing.T, s, twin state.Store) {
	const workers = 10
	results := make([]error, workers)
	concurrently(workers, s, twin, func(w int, h state.Store) {
		a := fullAgent("t", "once", day)
		a.Name = fmt.Sprint("writer ", w)
		results[w] = h.CreateAgent(ctx, a)
	})
	ok := 0
	for _, err := range results {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, state.ErrExists):
			t.Errorf("CreateAgent: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent creations succeeded, want 1", ok, workers)
	}
}
