package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/agentgate/agentgate/state"
)

var memoryTests = []Test{
	{Name: "PutList", Fn: testMemories},
	single("Get", testMemoryGet),
	single("TenantIsolation", testMemoryTenantIsolation),
	single("Delete", testMemoryDelete),
}

var statsTests = []Test{
	single("Turns", testTurnStats),
	{Name: "ConcurrentWriters", Fn: testStatsConcurrent},
}

// memory returns a memory item with every persisted field set.
func memory(tenant, agent, id string, created time.Time) *state.Memory {
	return &state.Memory{
		ID: id, Tenant: tenant, AgentID: agent, UserID: "user-1", SessionID: "conv-1", Kind: state.MemorySemantic,
		Content: "The user's name is " + id + ".", Source: "manager", EmbeddingModel: "emb-test",
		Embedding: []float32{0.25, -1.5, 3e-7, 42}, Metadata: map[string]string{"run_id": "run-1"},
		Created: created, Updated: created.Add(time.Second),
	}
}

func memoryIDs(list []*state.Memory) []string {
	out := make([]string, len(list))
	for i, m := range list {
		out[i] = m.ID
	}
	return out
}

func testMemories(t *testing.T, s, twin state.Store) {
	if list, err := s.ListMemories(ctx, "t", "ag"); err != nil || len(list) != 0 {
		t.Fatalf("empty store: %v %v", list, err)
	}
	full := memory("t", "ag", "m2", day)
	bare := &state.Memory{ID: "m1", Tenant: "t", AgentID: "ag", Kind: state.MemoryEpisodic, Content: "User: hi\nAssistant: hello",
		Created: day.Add(-time.Hour)}
	must(t, s.PutMemories(ctx, []*state.Memory{full, bare}))
	list, err := s.ListMemories(ctx, "t", "ag")
	must(t, err)
	// Oldest first; every field, the embedding exactly, round-trips.
	if got := memoryIDs(list); fmt.Sprint(got) != "[m1 m2]" {
		t.Fatalf("ListMemories = %v, want [m1 m2]", got)
	}
	equalJSON(t, "stored memory", list[1], full)
	if fmt.Sprint(list[1].Embedding) != fmt.Sprint(full.Embedding) {
		t.Fatalf("embedding %v, want %v", list[1].Embedding, full.Embedding)
	}
	if list[0].Embedding != nil || list[0].UserID != "" || list[0].Metadata != nil {
		t.Fatalf("bare memory came back as %+v", list[0])
	}
	// Put replaces.
	changed := memory("t", "ag", "m2", day)
	changed.Content, changed.Embedding = "changed", nil
	must(t, s.PutMemories(ctx, []*state.Memory{changed}))
	list, err = s.ListMemories(ctx, "t", "ag")
	must(t, err)
	if len(list) != 2 || list[1].Content != "changed" || list[1].Embedding != nil {
		t.Fatalf("after replace: %+v", list)
	}
	// Invalid items are refused, and nothing of their batch is written.
	for _, bad := range []*state.Memory{
		{ID: "", Tenant: "t", AgentID: "ag", Kind: state.MemorySemantic},
		{ID: "x", Tenant: "t", AgentID: "", Kind: state.MemorySemantic},
		{ID: "x", Tenant: "t\x00", AgentID: "ag", Kind: state.MemorySemantic},
		{ID: "x", Tenant: "t", AgentID: "ag", Kind: "gossip"},
	} {
		err := s.PutMemories(ctx, []*state.Memory{memory("t", "ag", "ok", day), bad})
		wantErr(t, fmt.Sprintf("PutMemories(%+v)", bad), err, state.ErrInvalidID)
	}
	if list, _ := s.ListMemories(ctx, "t", "ag"); len(list) != 2 {
		t.Fatalf("a refused batch wrote %d items", len(list)-2)
	}
	// Concurrent puts on both instances are all kept.
	concurrently(20, s, twin, func(i int, h state.Store) {
		if err := h.PutMemories(ctx, []*state.Memory{memory("t", "busy", fmt.Sprintf("c%02d", i), day)}); err != nil {
			t.Error(err)
		}
	})
	if list, _ := twin.ListMemories(ctx, "t", "busy"); len(list) != 20 {
		t.Fatalf("concurrent puts kept %d of 20", len(list))
	}
}

func testMemoryTenantIsolation(t *testing.T, s state.Store) {
	must(t, s.PutMemories(ctx, []*state.Memory{memory("a", "ag", "m1", day), memory("b", "ag", "m1", day),
		memory("a", "ag0", "m2", day), memory("a", "a", "m3", day)}))
	for _, tc := range []struct{ tenant, agent, want string }{
		{"a", "ag", "[m1]"}, {"b", "ag", "[m1]"}, {"a", "ag0", "[m2]"}, {"a", "a", "[m3]"}, {"c", "ag", "[]"}, {"a", "g", "[]"},
	} {
		list, err := s.ListMemories(ctx, tc.tenant, tc.agent)
		must(t, err)
		if got := fmt.Sprint(memoryIDs(list)); got != tc.want || len(list) == 1 && list[0].Tenant != tc.tenant {
			t.Errorf("ListMemories(%s, %s) = %s, want %s", tc.tenant, tc.agent, got, tc.want)
		}
	}
	// Deleting another tenant's item by id deletes nothing.
	n, err := s.DeleteMemories(ctx, "c", "ag", []string{"m1"})
	if err != nil || n != 0 {
		t.Fatalf("DeleteMemories of another tenant: %d %v", n, err)
	}
	n, err = s.DeleteMemories(ctx, "b", "ag", nil)
	if err != nil || n != 1 {
		t.Fatalf("DeleteMemories(b, ag, all) = %d %v", n, err)
	}
	if list, _ := s.ListMemories(ctx, "a", "ag"); len(list) != 1 {
		t.Fatal("deleting tenant b's memories deleted tenant a's")
	}
}

func testMemoryDelete(t *testing.T, s state.Store) {
	var items []*state.Memory
	for i := range 5 {
		items = append(items, memory("t", "ag", fmt.Sprintf("m%d", i), day.Add(time.Duration(i)*time.Minute)))
	}
	must(t, s.PutMemories(ctx, append(items, memory("t", "ag2", "other", day))))
	n, err := s.DeleteMemories(ctx, "t", "ag", []string{"m1", "m3", "missing", ""})
	if err != nil || n != 2 {
		t.Fatalf("DeleteMemories by ids = %d %v, want 2", n, err)
	}
	list, _ := s.ListMemories(ctx, "t", "ag")
	if got := fmt.Sprint(memoryIDs(list)); got != "[m0 m2 m4]" {
		t.Fatalf("after deleting m1 and m3: %s", got)
	}
	n, err = s.DeleteMemories(ctx, "t", "ag", nil)
	if err != nil || n != 3 {
		t.Fatalf("DeleteMemories all = %d %v, want 3", n, err)
	}
	if list, _ := s.ListMemories(ctx, "t", "ag2"); len(list) != 1 {
		t.Fatal("deleting an agent's memories deleted another agent's")
	}
	if n, err := s.DeleteMemories(ctx, "t", "ag", nil); err != nil || n != 0 {
		t.Fatalf("deleting from an empty agent: %d %v", n, err)
	}
}

func testTurnStats(t *testing.T, s state.Store) {
	if st, err := s.AgentStats(ctx, "t", "ag"); err != nil || st != (state.AgentStats{}) {
		t.Fatalf("stats before any turn: %+v %v", st, err)
	}
	must(t, s.RecordTurns(ctx, []state.TurnRecord{
		{Tenant: "t", AgentID: "ag", RunID: "run-1", SessionID: "c1", NewSession: true, LatencyMs: 1000, Time: day},
		{Tenant: "t", AgentID: "ag", RunID: "run-2", SessionID: "c1", LatencyMs: 3000, Time: day},
		{Tenant: "t", AgentID: "ag", RunID: "run-3", SessionID: "c2", NewSession: true, LatencyMs: 2000, Time: day},
		{Tenant: "u", AgentID: "ag", RunID: "run-4", NewSession: true, LatencyMs: 5, Time: day},
	}))
	must(t, s.RecordTurns(ctx, []state.TurnRecord{{Tenant: "t", AgentID: "ag", LatencyMs: 2000, Time: day}}))
	st, err := s.AgentStats(ctx, "t", "ag")
	must(t, err)
	if want := (state.AgentStats{Conversations: 2, Responses: 4, ResponseMs: 8000}); st != want {
		t.Fatalf("stats = %+v, want %+v", st, want)
	}
	// Feedback: one vote per answer, a changed vote moves.
	must(t, s.RateTurn(ctx, "t", "ag", "run-1", "up"))
	must(t, s.RateTurn(ctx, "t", "ag", "run-1", "up"))
	must(t, s.RateTurn(ctx, "t", "ag", "run-2", "up"))
	must(t, s.RateTurn(ctx, "t", "ag", "run-2", "down"))
	st, _ = s.AgentStats(ctx, "t", "ag")
	if st.Up != 1 || st.Down != 1 {
		t.Fatalf("votes up %d down %d, want 1 and 1", st.Up, st.Down)
	}
	for _, tc := range []struct{ tenant, agent, run string }{
		{"t", "ag", "run-9"}, {"u", "ag", "run-1"}, {"t", "other", "run-1"}, {"t", "ag", ""},
	} {
		if err := s.RateTurn(ctx, tc.tenant, tc.agent, tc.run, "up"); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("RateTurn(%s, %s, %s) = %v, want ErrNotFound", tc.tenant, tc.agent, tc.run, err)
		}
	}
	if err := s.RateTurn(ctx, "t", "ag", "run-3", "meh"); err == nil {
		t.Error("a rating that is neither up nor down was accepted")
	}
	if st, _ := s.AgentStats(ctx, "u", "ag"); st.Conversations != 1 || st.Up != 0 {
		t.Errorf("tenant u's stats: %+v", st)
	}
	if err := s.RecordTurns(ctx, []state.TurnRecord{{Tenant: "t", AgentID: ""}}); !errors.Is(err, state.ErrInvalidID) {
		t.Errorf("a turn without agent: %v", err)
	}
}

// testMemoryGet: items are fetched by id within one tenant's agent.
func testMemoryGet(t *testing.T, s state.Store) {
	must(t, s.PutMemories(ctx, []*state.Memory{memory("t", "ag", "m1", day), memory("t", "ag", "m2", day),
		memory("t", "other", "m3", day), memory("u", "ag", "m4", day)}))
	got, err := s.GetMemories(ctx, "t", "ag", []string{"m2", "m3", "m4", "nope", "", "m1"})
	must(t, err)
	ids := memoryIDs(got)
	slices.Sort(ids)
	if fmt.Sprint(ids) != "[m1 m2]" {
		t.Fatalf("GetMemories = %v, want [m1 m2]", ids)
	}
	for _, m := range got {
		if m.ID == "m1" {
			equalJSON(t, "GetMemories item", m, memory("t", "ag", "m1", day))
			if fmt.Sprint(m.Embedding) != fmt.Sprint(memory("t", "ag", "m1", day).Embedding) {
				t.Fatalf("embedding %v", m.Embedding)
			}
		}
	}
	if got, err := s.GetMemories(ctx, "t", "ag", nil); err != nil || len(got) != 0 {
		t.Fatalf("GetMemories(nil) = %v, %v", got, err)
	}
}

// testStatsConcurrent: statistics written by both instances at once add
// up; a run recorded twice (a retried batch) counts once.
func testStatsConcurrent(t *testing.T, s, twin state.Store) {
	const workers, each = 8, 10
	concurrently(workers, s, twin, func(w int, h state.Store) {
		recs := make([]state.TurnRecord, each)
		for i := range recs {
			recs[i] = state.TurnRecord{Tenant: "t", AgentID: "ag", RunID: fmt.Sprintf("w%d-%d", w, i), NewSession: i == 0, LatencyMs: 10, Time: day}
		}
		if err := h.RecordTurns(ctx, recs); err != nil {
			t.Error(err)
		}
		if err := h.RecordTurns(ctx, recs[:2]); err != nil { // retried
			t.Error(err)
		}
	})
	st, err := twin.AgentStats(ctx, "t", "ag")
	must(t, err)
	if want := (state.AgentStats{Conversations: workers, Responses: workers * each, ResponseMs: workers * each * 10}); st != want {
		t.Fatalf("stats = %+v, want %+v", st, want)
	}
	concurrently(workers, s, twin, func(w int, h state.Store) {
		if err := h.RateTurn(ctx, "t", "ag", fmt.Sprintf("w%d-0", w), "up"); err != nil {
			t.Error(err)
		}
	})
	if st, _ := s.AgentStats(ctx, "t", "ag"); st.Up != workers {
		t.Fatalf("%d votes up, want %d", st.Up, workers)
	}
}
