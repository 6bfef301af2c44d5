package storetest

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

var snapshotTests = []Test{
	{Name: "RoundTrip", withBackend: testSnapshotRoundTrip},
	single("ImportSession", testSnapshotImportSession),
	single("ImportRefusesBadKeys", testSnapshotImportRefusesBadKeys),
}

// testSnapshotImportSession: an imported session replaces the stored one,
// turns included, and one whose key a write would refuse is refused.
func testSnapshotImportSession(t *testing.T, s state.Store) {
	k := state.SessionKey{Tenant: "t", AgentID: "ag1", ID: "s1"}
	for i := 1; i <= 3; i++ {
		must(t, s.AppendTurn(ctx, &state.Session{ID: k.ID, Tenant: k.Tenant, AgentID: k.AgentID, Updated: day}, turn("old", i)))
	}
	rec := &state.SessionRecord{Session: state.Session{ID: k.ID, Tenant: k.Tenant, AgentID: k.AgentID, Created: day, Updated: day.Add(time.Hour)},
		Messages: [][]adapters.Message{turn("new", 1)}}
	must(t, s.Import(ctx, []*state.Record{{Session: rec}}))
	got, err := s.GetSession(ctx, k)
	must(t, err)
	if got.Turns != 1 {
		t.Fatalf("session after importing one turn over three: Turns = %d", got.Turns)
	}
	msgs, err := s.RecentTurns(ctx, k, 10)
	must(t, err)
	if len(msgs) != 2 || msgs[0].Text() != "new q1" {
		t.Fatalf("turns after importing one turn over three: %+v", msgs)
	}

	for _, bad := range []state.SessionKey{{Tenant: "t", AgentID: "ag1", ID: ""}, {Tenant: "t", AgentID: "ag1", ID: "s\xff"}, {Tenant: "t", AgentID: "a\x00b", ID: "s2"}} {
		rec := &state.SessionRecord{Session: state.Session{ID: bad.ID, Tenant: bad.Tenant, AgentID: bad.AgentID, Created: day, Updated: day},
			Messages: [][]adapters.Message{turn("bad", 1)}}
		wantErr(t, fmt.Sprintf("Import of session %+v", bad), s.Import(ctx, []*state.Record{{Session: rec}}), state.ErrInvalidID)
	}
}

// testSnapshotImportRefusesBadKeys: a snapshot is client input, so a
// record whose key a write would refuse fails the whole import (the
// session record before it is not written either), whatever its kind.
// A tenant with a NUL would otherwise read as the tenant before the NUL
// in a backend that joins key parts with NULs.
func testSnapshotImportRefusesBadKeys(t *testing.T, s state.Store) {
	k := state.SessionKey{Tenant: "t", AgentID: "ag1", ID: "s1"}
	for i := 1; i <= 3; i++ {
		must(t, s.AppendTurn(ctx, &state.Session{ID: k.ID, Tenant: k.Tenant, AgentID: k.AgentID, Updated: day}, turn("old", i)))
	}
	session := &state.Record{Session: &state.SessionRecord{Session: state.Session{ID: k.ID, Tenant: k.Tenant, AgentID: k.AgentID, Created: day, Updated: day},
		Messages: [][]adapters.Message{turn("new", 1)}}}
	for _, tc := range []struct {
		name string
		bad  state.Record
	}{
		{"agent of tenant with NUL", state.Record{Agent: &adapters.Agent{Tenant: "t\x00x", ID: "y", CreatedAt: day}}},
		{"agent without id", state.Record{Agent: &adapters.Agent{Tenant: "t", CreatedAt: day}}},
		{"usage of tenant with NUL", state.Record{Usage: &state.UsageRecord{ID: "u1", Time: day, Tenant: "t\x00x", Model: "m"}}},
		{"usage of key id not UTF-8", state.Record{Usage: &state.UsageRecord{ID: "u2", Time: day, Tenant: "t", KeyID: "k\xff"}}},
		{"memory of tenant with NUL", state.Record{Memory: &state.Memory{Tenant: "t\x00x", AgentID: "ag1", ID: "m1", Kind: state.MemorySemantic, Created: day}}},
		{"memory without id", state.Record{Memory: &state.Memory{Tenant: "t", AgentID: "ag1", Kind: state.MemorySemantic, Created: day}}},
		{"version of tenant with NUL", state.Record{Version: &state.AgentVersion{Version: 1, Tenant: "t\x00x", AgentID: "ag1"}}},
		{"run of tenant with NUL", state.Record{Run: &state.Run{ID: "r1", Tenant: "t\x00x"}}},
		{"count of tenant with NUL", state.Record{Count: &state.CountRecord{Tenant: "t\x00x", Name: "n", N: 1}}},
		{"stats of tenant with NUL", state.Record{Stats: &state.StatsRecord{Tenant: "t\x00x", AgentID: "ag1"}}},
		{"turn of tenant with NUL", state.Record{Turn: &state.TurnRecord{Tenant: "t\x00x", AgentID: "ag1", RunID: "r1"}}},
		{"document of tenant with NUL", state.Record{Document: &state.DocumentRecord{Document: state.Document{Tenant: "t\x00x", ID: "d1", Source: "src"}}}},
		{"source of tenant with NUL", state.Record{Source: &state.SourceRecord{Tenant: "t\x00x", SourceInfo: state.SourceInfo{Name: "src"}}}},
		{"response of tenant with NUL", state.Record{Response: &state.StoredResponse{Tenant: "t\x00x", ID: "r1"}}},
		{"conversation item without id", state.Record{Conversation: &state.ConversationRecord{Conversation: state.Conversation{Tenant: "t", ID: "c1"},
			Items: []state.ConversationItem{{Seq: 1}}}}},
		{"object of tenant with NUL", state.Record{Object: &state.ObjectRecord{ID: "o1", ObjectOwner: state.ObjectOwner{Tenant: "t\x00x"}}}},
	} {
		wantErr(t, "Import of "+tc.name, s.Import(ctx, []*state.Record{session, &tc.bad}), state.ErrInvalidID)
		got, err := s.GetSession(ctx, k)
		must(t, err)
		if got.Turns != 3 {
			t.Fatalf("after a refused import of %s: session has %d turns, want the 3 it had", tc.name, got.Turns)
		}
	}
	agents, err := s.ListAgents(ctx, "t")
	must(t, err)
	if len(agents) != 0 {
		t.Fatalf("tenant t's agents after refused imports: %+v", agents)
	}
	usage, err := s.ListUsage(ctx, "t", 10)
	must(t, err)
	if len(usage) != 0 {
		t.Fatalf("tenant t's usage after refused imports: %+v", usage)
	}
}

// testSnapshotRoundTrip: a store filled through every role, exported and
// imported into another, exports the same objects and answers the same
// reads.
func testSnapshotRoundTrip(t *testing.T, b Backend, s state.Store) {
	Fill(t, s)
	recs := Export(t, s)
	kinds := map[string]int{}
	for _, r := range recs {
		kinds[r.Kind()]++
	}
	for _, k := range state.RecordKinds {
		if kinds[k] == 0 {
			t.Errorf("Export gave no %s record", k)
		}
	}
	// Export follows RecordKinds' order.
	last := -1
	for _, r := range recs {
		i := slices.Index(state.RecordKinds, r.Kind())
		if i < last {
			t.Fatalf("Export gave a %s after a %s", r.Kind(), state.RecordKinds[last])
		}
		last = i
	}
	// The copy is made by a second, empty store of the same backend.
	dst := b.Open(t)
	defer dst.Close()
	ImportAll(t, dst, recs, 7)
	CompareExports(t, recs, Export(t, dst))
	CheckFilled(t, dst)
	// Importing again changes nothing: objects are replaced, counters set.
	ImportAll(t, dst, recs, 100)
	CompareExports(t, recs, Export(t, dst))
}

// Export returns every record of s.
func Export(t testing.TB, s state.Store) []*state.Record {
	t.Helper()
	var recs []*state.Record
	must(t, s.Export(ctx, func(r *state.Record) error {
		recs = append(recs, r)
		return nil
	}))
	return recs
}

// ImportAll imports recs into s in batches of n.
func ImportAll(t testing.TB, s state.Store, recs []*state.Record, n int) {
	t.Helper()
	for len(recs) > 0 {
		k := min(n, len(recs))
		must(t, s.Import(ctx, recs[:k]))
		recs = recs[k:]
	}
}

// CompareExports fails unless two exports hold the same objects (in any
// order within a kind, times compared as instants).
func CompareExports(t testing.TB, want, got []*state.Record) {
	t.Helper()
	w, g := canonical(t, want), canonical(t, got)
	for i := range max(len(w), len(g)) {
		switch {
		case i >= len(w):
			t.Fatalf("extra record %s", g[i])
		case i >= len(g):
			t.Fatalf("missing record %s", w[i])
		case w[i] != g[i]:
			t.Fatalf("records differ:\n got %s\nwant %s", g[i], w[i])
		}
	}
}

// canonical renders records as sorted JSON lines, times in UTC to the
// microsecond (what every store keeps).
func canonical(t testing.TB, recs []*state.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		js, err := json.Marshal(r)
		must(t, err)
		var v any
		must(t, json.Unmarshal(js, &v))
		js, err = json.Marshal(utcTimes(v))
		must(t, err)
		out[i] = r.Kind() + " " + string(js)
	}
	slices.Sort(out)
	return out
}

func utcTimes(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = utcTimes(x)
		}
	case []any:
		for i, x := range v {
			v[i] = utcTimes(x)
		}
	case string:
		if tm, err := time.Parse(time.RFC3339Nano, v); err == nil && len(v) >= 20 {
			return tm.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
		}
	}
	return v
}

// Fill writes objects of every kind to s through its roles: the objects
// CheckFilled reads back.
func Fill(t testing.TB, s state.Store) {
	t.Helper()
	a := fullAgent("t1", "ag", day)
	must(t, s.CreateAgent(ctx, a))
	a.Name = "second revision"
	must(t, s.UpdateAgent(ctx, a))
	must(t, s.CreateAgent(ctx, fullAgent("t2", "ag", day.Add(time.Hour))))
	for range 2 {
		_, err := s.PublishVersion(ctx, "t1", a, false, day)
		must(t, err)
	}
	must(t, s.PutKey(ctx, key("k1", "t1", day)))
	must(t, s.PutKey(ctx, key("k2", "t2", day)))
	_, err := s.DeclaredKeysSeen(ctx, []string{"cfg_a"}, day.Add(-time.Hour))
	must(t, err)
	must(t, s.PutTier(ctx, &state.Tier{Name: "gold", MonthlyTokens: 1000, RPM: 10, Models: []string{"gpt-*"}, MonthlyBudgetUSD: 12_500_000}))
	for i := 1; i <= 3; i++ {
		must(t, s.AppendTurn(ctx, &state.Session{Tenant: "t1", AgentID: "ag", Project: "p", ID: "conv", Created: day}, turn("conv", i)))
	}
	must(t, s.AppendTurn(ctx, &state.Session{Tenant: "t2", AgentID: "ag", ID: "conv", Created: day}, turn("other", 1)))
	must(t, s.PutRun(ctx, &state.Run{ID: "run1", Tenant: "t1", AgentID: "ag", SessionID: "conv", Dialect: "agentsv2", Status: state.RunPaused,
		Model: "m", Messages: turn("run", 1), Turn: turn("run", 1)[:1],
		Pending: []state.PendingCall{{ToolCall: adapters.ToolCall{ID: "c1", Name: "send", Arguments: `{}`}, RequiresConfirmation: true}},
		Usage:   adapters.Usage{InputTokens: 3}, Iterations: 1, Created: day, Expires: day.Add(24 * time.Hour)}))
	u1, u3 := usage("u1", "t1", "k1", day, 10, 5), usage("u3", "t2", "k2", day.Add(-40*24*time.Hour), 7, 7)
	u1.Cost, u3.Cost = usd(100), usd(7) // u2's cost is unknown
	u1.Status, u1.Error = "upstream_unavailable", "upstream unavailable (HTTP 503): upstream said: overloaded"
	must(t, s.AppendUsage(ctx, []state.UsageRecord{u1, usage("u2", "t1", "k1", day.Add(time.Second), 1, 2), u3}))
	_, err = s.AddCount(ctx, "t1", "exec/p/ag", 3)
	must(t, err)
	must(t, s.PutMemories(ctx, []*state.Memory{memory("t1", "ag", "m1", day), memory("t1", "ag", "m2", day.Add(time.Minute))}))
	must(t, s.RecordTurns(ctx, []state.TurnRecord{{Tenant: "t1", AgentID: "ag", RunID: "r1", SessionID: "conv", NewSession: true, LatencyMs: 40, Time: day},
		{Tenant: "t1", AgentID: "ag", RunID: "r2", SessionID: "conv", LatencyMs: 60, Time: day}}))
	must(t, s.RateTurn(ctx, "t1", "ag", "r2", "down"))
	d, chunks := doc("t1", "kb", "d1", day, 3)
	must(t, s.PutDocument(ctx, d, chunks))
	d2, chunks2 := doc("t1", "kb", "d2", day, 1)
	must(t, s.PutDocument(ctx, d2, chunks2))
	must(t, s.DeleteDocument(ctx, "t1", "d2", day))
	must(t, s.PutResponse(ctx, &state.StoredResponse{ID: "conv", Tenant: "t1", AgentID: "ag", Version: 2, Body: json.RawMessage(`{"id":"resp_1"}`), Updated: day}))
	must(t, s.CreateConversation(ctx, &state.Conversation{ID: "conv_api", Tenant: "t1", Metadata: json.RawMessage(`{"k":"v"}`), Created: day}, convItems("i1", "i2", "i3")))
	must(t, s.DeleteConversationItem(ctx, "t1", "conv_api", "i2"))
	must(t, s.ClaimObjects(ctx, "t1", "openai", []string{"file-1", "batch_1"}, day))
}

// CheckFilled reads back through s's roles what Fill wrote.
func CheckFilled(t testing.TB, s state.Store) {
	t.Helper()
	a, err := s.GetAgent(ctx, "t1", "ag")
	must(t, err)
	if a.Name != "second revision" || a.Revision != 2 {
		t.Errorf("agent %q at revision %d", a.Name, a.Revision)
	}
	if v, err := s.LatestVersion(ctx, "t1", "ag"); err != nil || v.Version != 2 {
		t.Errorf("latest version: %+v %v", v, err)
	}
	if k, err := s.KeyByHash(ctx, sha256.Sum256([]byte("secret-k2"))); err != nil || k.ID != "k2" {
		t.Errorf("key by hash: %+v %v", k, err)
	}
	if seen, err := s.DeclaredKeysSeen(ctx, []string{"cfg_a"}, day); err != nil || !seen["cfg_a"].Equal(day.Add(-time.Hour)) {
		t.Errorf("declared key seen: %v %v", seen, err)
	}
	if tiers, err := s.ListTiers(ctx); err != nil || len(tiers) != 1 || tiers[0].RPM != 10 || tiers[0].MonthlyBudgetUSD != 12_500_000 {
		t.Errorf("tiers: %+v %v", tiers, err)
	}
	k := state.SessionKey{Tenant: "t1", AgentID: "ag", Project: "p", ID: "conv"}
	if sess, err := s.GetSession(ctx, k); err != nil || sess.Turns != 3 || !sess.Created.Equal(day) {
		t.Errorf("session: %+v %v", sess, err)
	}
	msgs, err := s.RecentTurns(ctx, k, 2)
	must(t, err)
	equalJSON(t, "recent turns", msgs, turns("conv", 2, 3))
	if r, err := s.GetRun(ctx, "t1", "run1"); err != nil || r.Status != state.RunPaused || len(r.Pending) != 1 {
		t.Errorf("run: %+v %v", r, err)
	}
	for scope, want := range map[string]int64{"key:k1": 18, "tenant:t1": 18, "key:k2": 0} {
		if n, err := s.MonthlyTokens(ctx, scope, day); err != nil || n != want {
			t.Errorf("MonthlyTokens(%s) = %d, %v; want %d", scope, n, err, want)
		}
	}
	if n, err := s.MonthlyTokens(ctx, "key:k2", day.Add(-40*24*time.Hour)); err != nil || n != 14 {
		t.Errorf("MonthlyTokens of another month = %d, %v", n, err)
	}
	if recs, err := s.ListUsage(ctx, "t1", 10); err != nil || len(recs) != 2 || recs[0].ID != "u2" || recs[0].Cost != nil ||
		recs[1].Cost == nil || *recs[1].Cost != 100 || recs[0].Error != "" || recs[1].Error != "upstream unavailable (HTTP 503): upstream said: overloaded" {
		t.Errorf("usage: %+v %v", recs, err)
	}
	for _, tc := range []struct {
		scope string
		at    time.Time
		want  pricing.Micros
	}{{"key:k1", day, 100}, {"tenant:t1", day, 100}, {"key:k2", day.Add(-40 * 24 * time.Hour), 7}} {
		if n, err := s.MonthlySpend(ctx, tc.scope, tc.at); err != nil || n != tc.want {
			t.Errorf("MonthlySpend(%s) = %d, %v; want %d", tc.scope, n, err, tc.want)
		}
	}
	if c, err := s.CountsWithPrefix(ctx, "t1", "exec/"); err != nil || c["exec/p/ag"] != 3 {
		t.Errorf("counts: %v %v", c, err)
	}
	if list, err := s.ListMemories(ctx, "t1", "ag"); err != nil || len(list) != 2 || fmt.Sprint(list[0].Embedding) != fmt.Sprint(memory("", "", "", day).Embedding) {
		t.Errorf("memories: %+v %v", list, err)
	}
	if st, err := s.AgentStats(ctx, "t1", "ag"); err != nil || st != (state.AgentStats{Conversations: 1, Responses: 2, ResponseMs: 100, Down: 1}) {
		t.Errorf("stats: %+v %v", st, err)
	}
	// The imported vote can be changed, moving the counts.
	must(t, s.RateTurn(ctx, "t1", "ag", "r2", "up"))
	if st, _ := s.AgentStats(ctx, "t1", "ag"); st.Up != 1 || st.Down != 0 {
		t.Errorf("stats after a changed vote: %+v", st)
	}
	if got := scan(t, s, "t1", "kb"); len(got) != 3 || fmt.Sprint(got[0].Vector) != fmt.Sprint([]float32{1, -0.5, 1e-7, 3.25}) {
		t.Errorf("chunks: %+v", got)
	}
	if rev := revision(t, s, "t1", "kb"); rev != 3 {
		t.Errorf("source revision %d, want 3", rev)
	}
	if src, err := s.ListSources(ctx, "t1"); err != nil || len(src) != 1 || src[0].Documents != 1 || src[0].Chunks != 3 {
		t.Errorf("sources: %+v %v", src, err)
	}
	if r, err := s.GetResponse(ctx, "t1", "conv"); err != nil || string(r.Body) != `{"id":"resp_1"}` {
		t.Errorf("response: %+v %v", r, err)
	}
	if c, err := s.GetConversation(ctx, "t1", "conv_api"); err != nil || c.LastSeq != 3 || string(c.Metadata) != `{"k":"v"}` || !c.Created.Equal(day) {
		t.Errorf("conversation: %+v %v", c, err)
	}
	// Numbers go on after the copied ones, a deleted item's never reused.
	added, err := s.AppendConversationItems(ctx, "t1", "conv_api", convItems("i4"))
	if err != nil || added[0].Seq != 4 {
		t.Errorf("appended after import: %+v %v", added, err)
	}
	if items, _, err := s.ConversationItems(ctx, "t1", "conv_api", state.ItemPage{}); err != nil || fmt.Sprint(itemIDs(items)) != "[i1 i3 i4]" {
		t.Errorf("conversation items: %v %v", itemIDs(items), err)
	}
	if o, err := s.ObjectOwners(ctx, []string{"file-1", "batch_1"}); err != nil || o["file-1"].Tenant != "t1" || o["batch_1"].Provider != "openai" || !o["file-1"].Created.Equal(day) {
		t.Errorf("object owners: %+v %v", o, err)
	}
}
