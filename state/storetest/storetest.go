// Package storetest is the contract test suite of state.Store: every
// backend runs Run from its own tests and must pass it.
package storetest

import (
	"context"
	"crypto/sha256"
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

// Run checks the Store contract. open must return a new, empty store each
// time it is called; Run closes every store it opens.
func Run(t *testing.T, open func(t *testing.T) state.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s state.Store)
	}{
		{"AgentCRUD", testAgentCRUD},
		{"AgentCreateExists", testAgentCreateExists},
		{"AgentTenantIsolation", testAgentTenantIsolation},
		{"AgentListOrder", testAgentListOrder},
		{"AgentCopies", testAgentCopies},
		{"AgentInvalidID", testAgentInvalidID},
		{"KeyCRUD", testKeyCRUD},
		{"KeyRehash", testKeyRehash},
		{"KeyHashTaken", testKeyHashTaken},
		{"KeyListOrder", testKeyListOrder},
		{"KeyCopies", testKeyCopies},
		{"SessionAppend", testSessionAppend},
		{"SessionRecentTurns", testSessionRecentTurns},
		{"SessionPerAgent", testSessionPerAgent},
		{"SessionTenantIsolation", testSessionTenantIsolation},
		{"SessionConcurrentAppend", testSessionConcurrentAppend},
		{"UsageList", testUsageList},
		{"UsageTenantIsolation", testUsageTenantIsolation},
		{"UsageSameInstant", testUsageSameInstant},
		{"MonthlyTokens", testMonthlyTokens},
		{"Tiers", testTiers},
		{"Runs", testRuns},
		{"Memories", testMemories},
		{"MemoryTenantIsolation", testMemoryTenantIsolation},
		{"MemoryDelete", testMemoryDelete},
		{"TurnStats", testTurnStats},
		{"Documents", testDocuments},
		{"DocumentReplace", testDocumentReplace},
		{"DocumentTenantIsolation", testDocumentTenantIsolation},
		{"DocumentInvalidID", testDocumentInvalidID},
		{"Objects", testObjects},
		{"Conversations", testConversations},
		{"ConversationConcurrentAppend", testConversationConcurrentAppend},
		{"ResponseNodes", testResponseNodes},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			closer := &closeOnce{Store: s}
			t.Cleanup(func() {
				if err := closer.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, closer)
		})
	}
}

// closeOnce lets a test close its store and Run's cleanup skip it.
type closeOnce struct {
	state.Store
	once sync.Once
	err  error
}

func (c *closeOnce) Close() error {
	c.once.Do(func() { c.err = c.Store.Close() })
	return c.err
}

var ctx = context.Background()

// day is a fixed, whole-second UTC instant tests build times from.
var day = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func ptr[T any](v T) *T { return &v }

// fullAgent returns an agent with every persisted field set.
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

// equalJSON compares two values by their JSON encodings, which is what
// a store is asked to preserve (times compare by instant, in UTC).
func equalJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(normalize(got))
	must(t, err)
	w, err := json.Marshal(normalize(want))
	must(t, err)
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// normalize converts the times in agents, keys and usage records to UTC.
func normalize(v any) any {
	switch v := v.(type) {
	case *adapters.Agent:
		if v == nil {
			return v
		}
		c := *v
		c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
		return &c
	case []*adapters.Agent:
		out := make([]any, len(v))
		for i, a := range v {
			out[i] = normalize(a)
		}
		return out
	case *state.APIKey:
		if v == nil {
			return v
		}
		c := *v
		c.Created = c.Created.UTC()
		return &c
	case []*state.APIKey:
		out := make([]any, len(v))
		for i, k := range v {
			out[i] = normalize(k)
		}
		return out
	case []state.UsageRecord:
		out := make([]state.UsageRecord, len(v))
		for i, r := range v {
			r.Time = r.Time.UTC()
			out[i] = r
		}
		return out
	}
	return v
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

	b := fullAgent("t1", "ag1", day)
	b.Name, b.Tools, b.Sampling = "renamed", []string{"only"}, adapters.Sampling{}
	must(t, s.PutAgent(ctx, b))
	got, err = s.GetAgent(ctx, "t1", "ag1")
	must(t, err)
	equalJSON(t, "GetAgent after PutAgent", got, b)

	// PutAgent also creates.
	c := fullAgent("t1", "ag2", day.Add(time.Hour))
	must(t, s.PutAgent(ctx, c))
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
	// The id can be created again once deleted.
	must(t, s.CreateAgent(ctx, a))
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

func key(id, tenant string, created time.Time) *state.APIKey {
	return &state.APIKey{
		ID:       id,
		Hash:     sha256.Sum256([]byte("secret-" + id)),
		Tenant:   tenant,
		Tier:     "pro",
		Email:    id + "@example.com",
		Projects: []string{"p1", "p2"},
		Created:  created,
		Prefix:   "ag-" + id[:min(len(id), 4)],
	}
}

func testKeyCRUD(t *testing.T, s state.Store) {
	k := key("k1", "t1", day)
	must(t, s.PutKey(ctx, k))
	got, err := s.GetKey(ctx, "k1")
	must(t, err)
	equalJSON(t, "GetKey", got, k)
	got, err = s.KeyByHash(ctx, k.Hash)
	must(t, err)
	equalJSON(t, "KeyByHash", got, k)

	k2 := key("k1", "t1", day)
	k2.Tier, k2.Projects = "free", nil
	must(t, s.PutKey(ctx, k2))
	got, err = s.KeyByHash(ctx, k.Hash)
	must(t, err)
	equalJSON(t, "KeyByHash after replace", got, k2)

	_, err = s.GetKey(ctx, "nope")
	wantErr(t, "GetKey unknown", err, state.ErrNotFound)
	_, err = s.KeyByHash(ctx, sha256.Sum256([]byte("nope")))
	wantErr(t, "KeyByHash unknown", err, state.ErrNotFound)

	must(t, s.DeleteKey(ctx, "k1"))
	_, err = s.GetKey(ctx, "k1")
	wantErr(t, "GetKey after delete", err, state.ErrNotFound)
	_, err = s.KeyByHash(ctx, k.Hash)
	wantErr(t, "KeyByHash after delete", err, state.ErrNotFound)
	wantErr(t, "DeleteKey twice", s.DeleteKey(ctx, "k1"), state.ErrNotFound)
	list, err := s.ListKeys(ctx)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("ListKeys after delete = %d keys", len(list))
	}
}

func testKeyRehash(t *testing.T, s state.Store) {
	k := key("k1", "t1", day)
	must(t, s.PutKey(ctx, k))
	if _, err := s.KeyByHash(ctx, k.Hash); err != nil { // may warm a cache
		t.Fatal(err)
	}
	rotated := key("k1", "t1", day)
	rotated.Hash = sha256.Sum256([]byte("rotated"))
	must(t, s.PutKey(ctx, rotated))
	_, err := s.KeyByHash(ctx, k.Hash)
	wantErr(t, "KeyByHash of the replaced hash", err, state.ErrNotFound)
	got, err := s.KeyByHash(ctx, rotated.Hash)
	must(t, err)
	equalJSON(t, "KeyByHash of the new hash", got, rotated)
}

func testKeyHashTaken(t *testing.T, s state.Store) {
	k := key("k1", "t1", day)
	must(t, s.PutKey(ctx, k))
	other := key("k2", "t2", day)
	other.Hash = k.Hash
	wantErr(t, "PutKey with another key's hash", s.PutKey(ctx, other), state.ErrExists)
	got, err := s.KeyByHash(ctx, k.Hash)
	must(t, err)
	equalJSON(t, "KeyByHash after refused PutKey", got, k)
	_, err = s.GetKey(ctx, "k2")
	wantErr(t, "GetKey of refused key", err, state.ErrNotFound)
}

func testKeyListOrder(t *testing.T, s state.Store) {
	for _, k := range []*state.APIKey{
		key("kc", "t1", day.Add(time.Hour)),
		key("ka", "t2", day.Add(2*time.Hour)),
		key("kb", "t1", day),
		key("kd", "t3", day.Add(time.Hour)),
	} {
		must(t, s.PutKey(ctx, k))
	}
	list, err := s.ListKeys(ctx)
	must(t, err)
	var ids []string
	for _, k := range list {
		ids = append(ids, k.ID)
	}
	if want := []string{"kb", "kc", "kd", "ka"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("ListKeys order = %v, want %v", ids, want)
	}
	equalJSON(t, "ListKeys[0]", list[0], key("kb", "t1", day))
}

func testKeyCopies(t *testing.T, s state.Store) {
	k := key("k1", "t1", day)
	must(t, s.PutKey(ctx, k))
	want := key("k1", "t1", day)
	k.Projects[0], k.Tier = "mutated", "mutated"
	for i := range 2 {
		got, err := s.KeyByHash(ctx, want.Hash)
		must(t, err)
		equalJSON(t, fmt.Sprintf("KeyByHash #%d", i), got, want)
		got.Projects[0], got.Tier, got.Hash[0] = "mutated", "mutated", got.Hash[0]+1
	}
	got, err := s.GetKey(ctx, "k1")
	must(t, err)
	got.Projects[1] = "mutated"
	got, err = s.GetKey(ctx, "k1")
	must(t, err)
	equalJSON(t, "GetKey after mutation", got, want)
}

// turn returns the messages of turn i of a test conversation.
func turn(tag string, i int) []adapters.Message {
	return []adapters.Message{
		adapters.TextMessage(adapters.RoleUser, fmt.Sprintf("%s q%d", tag, i)),
		{
			Role:      adapters.RoleAssistant,
			Parts:     []adapters.Part{{Type: adapters.PartText, Text: fmt.Sprintf("%s a%d", tag, i)}},
			ToolCalls: []adapters.ToolCall{{ID: "call" + fmt.Sprint(i), Name: "calc", Arguments: `{"x":1}`}},
			Reasoning: "thought", ReasoningSignature: "sig",
		},
	}
}

// turns returns the flattened messages of turns from..to (inclusive).
func turns(tag string, from, to int) []adapters.Message {
	var out []adapters.Message
	for i := from; i <= to; i++ {
		out = append(out, turn(tag, i)...)
	}
	return out
}

func testSessionAppend(t *testing.T, s state.Store) {
	k1 := state.SessionKey{Tenant: "t", AgentID: "ag1", ID: "s1"}
	_, err := s.GetSession(ctx, k1)
	wantErr(t, "GetSession before any turn", err, state.ErrNotFound)

	// A session without a creation time is created at its first turn's.
	created := day.Add(time.Hour)
	must(t, s.AppendTurn(ctx, &state.Session{ID: "s1", Tenant: "t", AgentID: "ag1", Updated: created}, turn("s1", 1)))
	got, err := s.GetSession(ctx, k1)
	must(t, err)
	if got.ID != "s1" || got.Tenant != "t" || got.AgentID != "ag1" || got.Project != "" || got.Turns != 1 {
		t.Fatalf("GetSession after first turn = %+v", got)
	}
	if !got.Created.Equal(created) || !got.Updated.Equal(created) {
		t.Fatalf("session times: created %v updated %v, want both %v", got.Created, got.Updated, created)
	}

	// A later turn keeps the creation time, whatever the caller passes;
	// its update time moves.
	must(t, s.AppendTurn(ctx, &state.Session{ID: "s1", Tenant: "t", AgentID: "ag1", Created: day, Updated: created.Add(time.Minute)}, turn("s1", 2)))
	got, err = s.GetSession(ctx, k1)
	must(t, err)
	if got.Turns != 2 || !got.Created.Equal(created) || !got.Updated.Equal(created.Add(time.Minute)) {
		t.Fatalf("GetSession after second turn = %+v", got)
	}
	// The returned session is a copy.
	got.Turns = 99
	got, err = s.GetSession(ctx, k1)
	must(t, err)
	if got.Turns != 2 {
		t.Fatalf("GetSession after mutating a returned session: Turns = %d", got.Turns)
	}

	// A given creation time is kept.
	k2 := state.SessionKey{Tenant: "t", AgentID: "ag1", Project: "p", ID: "s2"}
	must(t, s.AppendTurn(ctx, &state.Session{ID: "s2", Tenant: "t", AgentID: "ag1", Project: "p", Created: day}, turn("s2", 1)))
	got, err = s.GetSession(ctx, k2)
	must(t, err)
	if !got.Created.Equal(day) || got.Project != "p" {
		t.Fatalf("session %+v, want created %v in project p", got, day)
	}
	if err := s.AppendTurn(ctx, &state.Session{Tenant: "t", AgentID: "ag1"}, turn("x", 1)); err == nil {
		t.Fatal("AppendTurn with empty session id succeeded")
	}
}

func testSessionRecentTurns(t *testing.T, s state.Store) {
	sess := &state.Session{ID: "s", Tenant: "t", AgentID: "a"}
	for i := 1; i <= 5; i++ {
		must(t, s.AppendTurn(ctx, sess, turn("s", i)))
	}
	// Neighbours whose keys sort right after s's must not leak in.
	for _, n := range []state.Session{
		{ID: "s0", Tenant: "t", AgentID: "a"},
		{ID: "s", Tenant: "t0", AgentID: "a"},
		{ID: "s", Tenant: "t", AgentID: "a0"},
		{ID: "s", Tenant: "t", AgentID: "a", Project: "p"},
	} {
		must(t, s.AppendTurn(ctx, &n, turn("neighbour", 1)))
	}
	key := func(id string) state.SessionKey { return state.SessionKey{Tenant: "t", AgentID: "a", ID: id} }
	for _, tc := range []struct {
		name string
		key  state.SessionKey
		n    int
		want []adapters.Message
	}{
		{"zero", key("s"), 0, nil},
		{"negative", key("s"), -3, nil},
		{"one", key("s"), 1, turns("s", 5, 5)},
		{"some", key("s"), 3, turns("s", 3, 5)},
		{"all", key("s"), 5, turns("s", 1, 5)},
		{"more than stored", key("s"), 50, turns("s", 1, 5)},
		{"unknown session", key("nope"), 5, nil},
		{"neighbour id", key("s0"), 5, turns("neighbour", 1, 1)},
		{"neighbour project", state.SessionKey{Tenant: "t", AgentID: "a", Project: "p", ID: "s"}, 5, turns("neighbour", 1, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.RecentTurns(ctx, tc.key, tc.n)
			must(t, err)
			if len(got) != len(tc.want) {
				t.Fatalf("RecentTurns(%+v, %d) = %d messages, want %d", tc.key, tc.n, len(got), len(tc.want))
			}
			if len(got) > 0 {
				equalJSON(t, fmt.Sprintf("RecentTurns(%+v, %d)", tc.key, tc.n), got, tc.want)
			}
		})
	}
	// Empty turns count as turns.
	must(t, s.AppendTurn(ctx, sess, nil))
	got, err := s.RecentTurns(ctx, key("s"), 2)
	must(t, err)
	equalJSON(t, "RecentTurns over an empty turn", got, turns("s", 5, 5))
}

// testSessionPerAgent: one conversation id used with two agents (and in
// two projects) of one tenant names independent sessions, even where the
// parts of their keys run together the same.
func testSessionPerAgent(t *testing.T, s state.Store) {
	sessions := []state.Session{
		{Tenant: "t", AgentID: "aa", ID: "conv"},
		{Tenant: "t", AgentID: "bb", ID: "conv"},
		{Tenant: "t", AgentID: "aa", Project: "p1", ID: "conv"},
		{Tenant: "t", AgentID: "bb", Project: "p1", ID: "conv"},
		{Tenant: "t", AgentID: "a", ID: "aconv"},
		{Tenant: "t", AgentID: "", Project: "aa", ID: "conv"},
	}
	// Interleaved turns: session i gets i+1 of them.
	for round := range len(sessions) {
		for i := range sessions {
			if round <= i {
				must(t, s.AppendTurn(ctx, &sessions[i], turn(fmt.Sprint(i), round+1)))
			}
		}
	}
	for i := range sessions {
		k := sessions[i].Key()
		got, err := s.GetSession(ctx, k)
		must(t, err)
		if got.Key() != k || got.Turns != i+1 {
			t.Errorf("GetSession(%+v) = %+v, want %d turns", k, got, i+1)
		}
		msgs, err := s.RecentTurns(ctx, k, 10)
		must(t, err)
		equalJSON(t, fmt.Sprintf("RecentTurns(%+v)", k), msgs, turns(fmt.Sprint(i), 1, i+1))
	}
	// An agent that never used the id has no session under it.
	for _, k := range []state.SessionKey{
		{Tenant: "t", AgentID: "cc", ID: "conv"},
		{Tenant: "t", AgentID: "aa", Project: "p2", ID: "conv"},
		{Tenant: "t", AgentID: "aac", ID: "onv"},
	} {
		_, err := s.GetSession(ctx, k)
		wantErr(t, fmt.Sprintf("GetSession(%+v)", k), err, state.ErrNotFound)
		if msgs, err := s.RecentTurns(ctx, k, 10); err != nil || len(msgs) != 0 {
			t.Errorf("RecentTurns(%+v) = %d messages, %v", k, len(msgs), err)
		}
	}
}

func testSessionTenantIsolation(t *testing.T, s state.Store) {
	a := &state.Session{ID: "shared", Tenant: "A", AgentID: "ag"}
	b := &state.Session{ID: "shared", Tenant: "B", AgentID: "ag"}
	must(t, s.AppendTurn(ctx, a, turn("A", 1)))
	must(t, s.AppendTurn(ctx, b, turn("B", 1)))
	must(t, s.AppendTurn(ctx, a, turn("A", 2)))

	for _, tc := range []struct {
		sess  *state.Session
		turns int
		msgs  []adapters.Message
	}{
		{a, 2, turns("A", 1, 2)},
		{b, 1, turns("B", 1, 1)},
	} {
		got, err := s.GetSession(ctx, tc.sess.Key())
		must(t, err)
		if got.Key() != tc.sess.Key() || got.Turns != tc.turns {
			t.Fatalf("GetSession(%+v) = %+v", tc.sess.Key(), got)
		}
		msgs, err := s.RecentTurns(ctx, tc.sess.Key(), 10)
		must(t, err)
		equalJSON(t, "RecentTurns of tenant "+tc.sess.Tenant, msgs, tc.msgs)
	}
	other := state.SessionKey{Tenant: "C", AgentID: "ag", ID: "shared"}
	_, err := s.GetSession(ctx, other)
	wantErr(t, "GetSession of another tenant", err, state.ErrNotFound)
	msgs, err := s.RecentTurns(ctx, other, 10)
	must(t, err)
	if len(msgs) != 0 {
		t.Fatalf("RecentTurns of another tenant = %d messages", len(msgs))
	}
}

func testSessionConcurrentAppend(t *testing.T, s state.Store) {
	const workers = 50
	shared := state.SessionKey{Tenant: "t", AgentID: "a", ID: "shared"}
	own := func(w int) state.SessionKey {
		return state.SessionKey{Tenant: "t", AgentID: "a", ID: fmt.Sprintf("own%d", w)}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*workers)
	for w := range workers {
		wg.Go(func() {
			for i := range 2 {
				msg := []adapters.Message{adapters.TextMessage(adapters.RoleUser, fmt.Sprintf("w%d-%d", w, i))}
				errs <- s.AppendTurn(ctx, &state.Session{ID: shared.ID, Tenant: shared.Tenant, AgentID: shared.AgentID}, msg)
			}
			k := own(w)
			errs <- s.AppendTurn(ctx, &state.Session{ID: k.ID, Tenant: k.Tenant, AgentID: k.AgentID}, turn("own", w))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}

	got, err := s.GetSession(ctx, shared)
	must(t, err)
	if got.Turns != 2*workers {
		t.Fatalf("shared session has %d turns, want %d", got.Turns, 2*workers)
	}
	msgs, err := s.RecentTurns(ctx, shared, 3*workers)
	must(t, err)
	seen := map[string]bool{}
	last := map[int]int{}
	for _, m := range msgs {
		text := m.Text()
		if seen[text] {
			t.Fatalf("message %q stored twice", text)
		}
		seen[text] = true
		var w, i int
		if _, err := fmt.Sscanf(text, "w%d-%d", &w, &i); err != nil {
			t.Fatalf("unexpected message %q", text)
		}
		if prev, ok := last[w]; ok && prev >= i {
			t.Fatalf("worker %d's turns out of order", w)
		}
		last[w] = i
	}
	if len(seen) != 2*workers {
		t.Fatalf("shared session has %d distinct messages, want %d", len(seen), 2*workers)
	}
	for w := range workers {
		msgs, err := s.RecentTurns(ctx, own(w), 5)
		must(t, err)
		equalJSON(t, fmt.Sprintf("session own%d", w), msgs, turn("own", w))
	}
}

func usage(id, tenant, keyID string, at time.Time, in, out int) state.UsageRecord {
	return state.UsageRecord{
		ID: id, Time: at, Tenant: tenant, KeyID: keyID, Dialect: "openai", AgentID: "ag",
		Model: "m", Provider: "p", SessionID: "s", ParentID: "parent",
		InputTokens: in, OutputTokens: out, ReasoningTokens: 3, CachedTokens: 2,
		Estimated: true, LatencyMs: 120, Status: "ok",
	}
}

func testUsageList(t *testing.T, s state.Store) {
	r1 := usage("u1", "t", "k", day, 1, 1)
	r2 := usage("u2", "t", "k", day.Add(time.Second), 1, 1)
	r3 := usage("u3", "t", "k", day.Add(time.Hour), 1, 1)
	r0 := usage("u0", "t", "k", day.Add(-24*time.Hour).In(time.FixedZone("west", -7*3600)), 1, 1)
	must(t, s.AppendUsage(ctx, []state.UsageRecord{r2, r3}))
	must(t, s.AppendUsage(ctx, []state.UsageRecord{r1, r0}))
	must(t, s.AppendUsage(ctx, nil))
	for _, tc := range []struct {
		limit int
		want  []state.UsageRecord
	}{
		{0, nil},
		{-1, nil},
		{1, []state.UsageRecord{r3}},
		{3, []state.UsageRecord{r3, r2, r1}},
		{4, []state.UsageRecord{r3, r2, r1, r0}},
		{100, []state.UsageRecord{r3, r2, r1, r0}},
	} {
		got, err := s.ListUsage(ctx, "t", tc.limit)
		must(t, err)
		if len(got) != len(tc.want) {
			t.Fatalf("ListUsage(limit %d) = %d records, want %d", tc.limit, len(got), len(tc.want))
		}
		if len(got) > 0 {
			equalJSON(t, fmt.Sprintf("ListUsage(limit %d)", tc.limit), got, tc.want)
		}
	}
}

func testUsageTenantIsolation(t *testing.T, s state.Store) {
	a := usage("a", "A", "ka", day, 1, 1)
	b := usage("b", "B", "kb", day.Add(time.Minute), 1, 1)
	ab := usage("ab", "AB", "kab", day.Add(2*time.Minute), 1, 1)
	must(t, s.AppendUsage(ctx, []state.UsageRecord{a, b, ab}))
	for tenant, want := range map[string][]state.UsageRecord{
		"A": {a}, "B": {b}, "AB": {ab}, "C": nil, "": nil,
	} {
		got, err := s.ListUsage(ctx, tenant, 10)
		must(t, err)
		if len(got) != len(want) {
			t.Fatalf("ListUsage(%q) = %d records, want %d", tenant, len(got), len(want))
		}
		if len(got) > 0 {
			equalJSON(t, "ListUsage of "+tenant, got, want)
		}
	}
}

func testUsageSameInstant(t *testing.T, s state.Store) {
	recs := []state.UsageRecord{usage("x", "t", "k", day, 1, 1), usage("y", "t", "k", day, 1, 1)}
	must(t, s.AppendUsage(ctx, recs))
	must(t, s.AppendUsage(ctx, recs[:1]))
	got, err := s.ListUsage(ctx, "t", 10)
	must(t, err)
	if len(got) != 3 {
		t.Fatalf("records of one instant: got %d, want 3", len(got))
	}
}

func testMonthlyTokens(t *testing.T, s state.Store) {
	endJan := time.Date(2025, 1, 31, 23, 59, 59, 999999999, time.UTC)
	startFeb := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	// 1 February 01:00 at UTC+2 is still January in UTC.
	janElsewhere := time.Date(2025, 2, 1, 1, 0, 0, 0, time.FixedZone("plus2", 2*3600))
	must(t, s.AppendUsage(ctx, []state.UsageRecord{
		usage("1", "t1", "k1", endJan, 100, 10),
		usage("2", "t1", "k2", startFeb, 1000, 1),
		usage("3", "t1", "k1", janElsewhere, 5, 5),
	}))
	must(t, s.AppendUsage(ctx, []state.UsageRecord{
		usage("4", "t1", "k1", startFeb.Add(27*24*time.Hour), 7, 0),
		usage("5", "t2", "k3", endJan, 50, 50),
		usage("6", "t1", "", endJan, 1, 1), // no key: counts for the tenant only
	}))
	for _, tc := range []struct {
		scope string
		at    time.Time
		want  int64
	}{
		{"key:k1", endJan, 120},
		{"key:k1", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 120},
		{"key:k1", startFeb, 7},
		{"key:k2", endJan, 0},
		{"key:k2", startFeb, 1001},
		{"key:k3", endJan, 100},
		{"tenant:t1", endJan, 122},
		{"tenant:t1", startFeb, 1008},
		{"tenant:t1", janElsewhere, 122},
		{"tenant:t1", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), 0},
		{"tenant:t1", time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC), 0},
		{"tenant:t2", endJan, 100},
		{"tenant:t3", endJan, 0},
		{"key:", endJan, 0},
	} {
		got, err := s.MonthlyTokens(ctx, tc.scope, tc.at)
		must(t, err)
		if got != tc.want {
			t.Errorf("MonthlyTokens(%q, %s) = %d, want %d", tc.scope, state.MonthKey(tc.at), got, tc.want)
		}
	}
}

func testClose(t *testing.T, s state.Store) {
	must(t, s.CreateAgent(ctx, fullAgent("t", "a", day)))
	must(t, s.AppendTurn(ctx, &state.Session{ID: "s", Tenant: "t"}, turn("s", 1)))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func testTiers(t *testing.T, s state.Store) {
	ctx := context.Background()
	if list, err := s.ListTiers(ctx); err != nil || len(list) != 0 {
		t.Fatalf("empty store: %v %v", list, err)
	}
	for _, tr := range []*state.Tier{{Name: "pro", MonthlyTokens: 100, RPM: 60}, {Name: "free", RPM: 1}, {Name: "pro", MonthlyTokens: 200}} {
		if err := s.PutTier(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListTiers(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "free" || list[1].Name != "pro" || list[1].MonthlyTokens != 200 || list[1].RPM != 0 {
		t.Fatalf("ListTiers = %+v, %v", list, err)
	}
	if err := s.DeleteTier(ctx, "pro"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTier(ctx, "pro"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.PutTier(ctx, &state.Tier{}); err == nil {
		t.Fatal("tier without a name accepted")
	}
}

func testRuns(t *testing.T, s state.Store) {
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
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.ClaimRun(ctx, "a", "run-1", state.RunResuming)
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
		}()
	}
	wg.Wait()
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
