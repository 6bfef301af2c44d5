package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/state"
)

// sessKey names the session id of agent for p (no project).
func sessKey(p *adapters.Principal, agent, id string) state.SessionKey {
	return state.SessionKey{Tenant: p.Tenant, AgentID: agent, ID: id}
}

// runTurn runs one session turn of agent for p with user text and fails
// the test on error.
func runTurn(t *testing.T, rt *Engine, p *adapters.Principal, agent *adapters.Agent, session, text string) *toolloop.Result {
	t.Helper()
	res, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: p, Agent: agent, SessionID: session,
		Messages: []adapters.Message{userMsg(text)}}, func(adapters.Event) error { return nil })
	if err != nil {
		t.Fatalf("Run(%q): %v", text, err)
	}
	return res
}

func TestSessionTurns(t *testing.T) {
	prov := &fakeProvider{Script: [][]adapters.Event{
		{
			{Type: adapters.EventStart},
			{Type: adapters.EventThinking, Text: "greeting"},
			{Type: adapters.EventDelta, Text: "Hello!"},
			{Type: adapters.EventDone, FinishReason: "stop"},
		},
		{
			{Type: adapters.EventStart},
			{Type: adapters.EventToolCall, ToolCall: &adapters.ToolCall{ID: "call_1", Name: "clock", Arguments: "{}"}},
			{Type: adapters.EventDone, FinishReason: "tool_calls"},
		},
		reply("It is noon."),
	}}
	rt, store := singleRuntime(t, prov)
	ctx := context.Background()
	agent := &adapters.Agent{ID: "agent-1", Model: "m", SystemPrompt: "sys"}

	// Turn 1 is stored before Done reaches the client.
	var storedAtDone bool
	_, err := rt.Run(ctx, nil, &adapters.Call{Principal: tenantA, Agent: agent, SessionID: "sess-1",
		Messages: []adapters.Message{userMsg("hi")}}, func(ev adapters.Event) error {
		if ev.Type == adapters.EventDone {
			_, err := store.GetSession(ctx, sessKey(tenantA, "agent-1", "sess-1"))
			storedAtDone = err == nil
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !storedAtDone {
		t.Error("turn not stored when Done was emitted")
	}
	s, err := store.GetSession(ctx, sessKey(tenantA, "agent-1", "sess-1"))
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	if s.AgentID != "agent-1" || s.Turns != 1 || s.Tenant != "tenant-a" {
		t.Errorf("session = %+v, want agent-1, 1 turn, tenant-a", s)
	}
	turns, err := store.RecentTurns(ctx, sessKey(tenantA, "agent-1", "sess-1"), 10)
	if err != nil {
		t.Fatalf("RecentTurns: %v", err)
	}
	if got, want := describe(turns), []string{"user:hi", "assistant:Hello!|r=greeting"}; !reflect.DeepEqual(got, want) {
		t.Errorf("stored turn = %q, want %q", got, want)
	}

	// Turn 2 replays turn 1, reasoning included.
	runTurn(t, rt, tenantA, agent, "sess-1", "what time is it?")
	req := prov.LastRequest(t)
	if got, want := describe(req.Messages), []string{"user:hi", "assistant:Hello!|r=greeting", "user:what time is it?"}; !reflect.DeepEqual(got, want) {
		t.Errorf("turn 2 request = %q, want %q", got, want)
	}
	if req.System != "sys" {
		t.Errorf("turn 2 system = %q; history must not replace it", req.System)
	}

	// Turn 3 replays the tool call turn 2 asked for.
	runTurn(t, rt, tenantA, agent, "sess-1", "and?")
	want := []string{"user:hi", "assistant:Hello!|r=greeting", "user:what time is it?", "assistant:|tc=clock({})", "user:and?"}
	if got := describe(prov.LastRequest(t).Messages); !reflect.DeepEqual(got, want) {
		t.Errorf("turn 3 request = %q, want %q", got, want)
	}
	if s, _ := store.GetSession(ctx, sessKey(tenantA, "agent-1", "sess-1")); s == nil || s.Turns != 3 {
		t.Errorf("session after 3 turns = %+v", s)
	}
}

func TestSessionHistoryTurns(t *testing.T) {
	tests := []struct {
		historyTurns int
		wantTurns    int // earlier turns replayed on turn 5
	}{
		{1, 1},
		{2, 2},
		{3, 3},
		{4, 4},
		{10, 4},
		{0, 4}, // the default, 10
		{-1, 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.historyTurns), func(t *testing.T) {
			prov := newFake()
			prov.Script = nil
			for i := 1; i <= 5; i++ {
				prov.Script = append(prov.Script, reply(fmt.Sprintf("answer %d", i)))
			}
			rt, _ := singleRuntime(t, prov)
			agent := &adapters.Agent{ID: "agent-1", Model: "m", HistoryTurns: tc.historyTurns}
			for i := 1; i <= 5; i++ {
				runTurn(t, rt, tenantA, agent, "sess-h", fmt.Sprintf("question %d", i))
			}
			var want []string
			for i := 5 - tc.wantTurns; i < 5; i++ {
				want = append(want, fmt.Sprintf("user:question %d", i), fmt.Sprintf("assistant:answer %d", i))
			}
			want = append(want, "user:question 5")
			if got := describe(prov.LastRequest(t).Messages); !reflect.DeepEqual(got, want) {
				t.Errorf("turn 5 request = %q\nwant %q", got, want)
			}
		})
	}
}

// TestSessionPerAgent: one id used with two agents of a tenant names two
// conversations; each agent's turns replay only its own history.
func TestSessionPerAgent(t *testing.T) {
	prov := &fakeProvider{Script: [][]adapters.Event{reply("one for 1"), reply("one for 2"), reply("two for 1"), reply("two for 2")}}
	rt, store := singleRuntime(t, prov)
	first := &adapters.Agent{ID: "agent-1", Model: "m"}
	other := &adapters.Agent{ID: "agent-2", Model: "m"}

	runTurn(t, rt, tenantA, first, "sess-1", "hi 1")
	runTurn(t, rt, tenantA, other, "sess-1", "hi 2")
	if got, want := describe(prov.LastRequest(t).Messages), []string{"user:hi 2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("agent-2's first turn = %q, want %q (an id new to the agent starts a conversation)", got, want)
	}
	runTurn(t, rt, tenantA, first, "sess-1", "again 1")
	if got, want := describe(prov.LastRequest(t).Messages), []string{"user:hi 1", "assistant:one for 1", "user:again 1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("agent-1's second turn = %q, want %q", got, want)
	}
	runTurn(t, rt, tenantA, other, "sess-1", "again 2")
	if got, want := describe(prov.LastRequest(t).Messages), []string{"user:hi 2", "assistant:one for 2", "user:again 2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("agent-2's second turn = %q, want %q", got, want)
	}
	for _, agent := range []string{"agent-1", "agent-2"} {
		s, err := store.GetSession(context.Background(), sessKey(tenantA, agent, "sess-1"))
		if err != nil || s.AgentID != agent || s.Turns != 2 {
			t.Errorf("%s's session = %+v, %v; want 2 turns", agent, s, err)
		}
	}
}

func TestSessionTenantsAreIndependent(t *testing.T) {
	prov := &fakeProvider{Script: [][]adapters.Event{reply("for a"), reply("for b"), reply("again a")}}
	rt, store := singleRuntime(t, prov)
	agent := &adapters.Agent{ID: "agent-1", Model: "m"}

	runTurn(t, rt, tenantA, agent, "shared", "a's secret")
	runTurn(t, rt, tenantB, agent, "shared", "b asks")
	if got, want := describe(prov.LastRequest(t).Messages), []string{"user:b asks"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tenant b's first turn = %q, want %q (no history of tenant a)", got, want)
	}
	runTurn(t, rt, tenantA, agent, "shared", "a again")
	if got, want := describe(prov.LastRequest(t).Messages), []string{"user:a's secret", "assistant:for a", "user:a again"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tenant a's second turn = %q, want %q", got, want)
	}

	for tenant, turns := range map[string]int{"tenant-a": 2, "tenant-b": 1} {
		s, err := store.GetSession(context.Background(), state.SessionKey{Tenant: tenant, AgentID: "agent-1", ID: "shared"})
		if err != nil || s.Turns != turns {
			t.Errorf("%s session = %+v, %v; want %d turns", tenant, s, err, turns)
		}
	}

	// Tenant b's session of agent-2 is nothing to tenant a: a's turn with
	// agent-2 on the same id starts a fresh session of a's own.
	other := &adapters.Agent{ID: "agent-2", Model: "m"}
	runTurn(t, rt, tenantB, other, "only-a", "b uses an id a has not used")
	runTurn(t, rt, tenantA, other, "only-a", "a uses it too")
	if got, want := describe(prov.LastRequest(t).Messages), []string{"user:a uses it too"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tenant a's turn = %q, want %q", got, want)
	}
	if s, err := store.GetSession(context.Background(), sessKey(tenantA, "agent-2", "only-a")); err != nil || s.Turns != 1 || s.Tenant != "tenant-a" {
		t.Errorf("tenant a's session = %+v, %v; want a's own, 1 turn", s, err)
	}
}

func TestSessionNotStoredOnFailure(t *testing.T) {
	prov := newFake(reply("first answer")...)
	rt, store := singleRuntime(t, prov)
	agent := &adapters.Agent{ID: "agent-1", Model: "m"}
	ctx := context.Background()

	// A new session whose first turn fails is not created.
	prov.Err = &adapters.Error{Kind: adapters.KindUpstream, Message: "boom"}
	if _, err := rt.Run(ctx, nil, &adapters.Call{Principal: tenantA, Agent: agent, SessionID: "sess-new",
		Messages: []adapters.Message{userMsg("hi")}}, func(adapters.Event) error { return nil }); err == nil {
		t.Fatal("Run succeeded, want the provider's error")
	}
	if _, err := store.GetSession(ctx, sessKey(tenantA, "agent-1", "sess-new")); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("GetSession after failed first turn: %v, want not found", err)
	}

	// An existing session keeps its turns when a later one fails.
	prov.SetErr(nil)
	runTurn(t, rt, tenantA, agent, "sess-old", "one")
	prov.SetScript([]adapters.Event{
		{Type: adapters.EventStart},
		{Type: adapters.EventDelta, Text: "half an ans"},
		{Type: adapters.EventError, Err: &adapters.Error{Kind: adapters.KindUpstream, Message: "cut"}},
	})
	if _, err := rt.Run(ctx, nil, &adapters.Call{Principal: tenantA, Agent: agent, SessionID: "sess-old",
		Messages: []adapters.Message{userMsg("two")}}, func(adapters.Event) error { return nil }); err == nil {
		t.Fatal("Run succeeded, want the provider's error")
	}
	s, err := store.GetSession(ctx, sessKey(tenantA, "agent-1", "sess-old"))
	if err != nil || s.Turns != 1 {
		t.Fatalf("session after failed turn = %+v, %v; want 1 turn", s, err)
	}
	turns, _ := store.RecentTurns(ctx, sessKey(tenantA, "agent-1", "sess-old"), 10)
	if got, want := describe(turns), []string{"user:one", "assistant:first answer"}; !reflect.DeepEqual(got, want) {
		t.Errorf("stored turns = %q, want %q", got, want)
	}
}

func TestNoSessionStoresNothing(t *testing.T) {
	prov := newFake(reply("ok")...)
	rt, _ := singleRuntime(t, prov)
	agent := &adapters.Agent{ID: "agent-1", Model: "m"}
	runTurn(t, rt, tenantA, agent, "", "first")
	runTurn(t, rt, tenantA, agent, "", "second")
	if got, want := describe(prov.LastRequest(t).Messages), []string{"user:second"}; !reflect.DeepEqual(got, want) {
		t.Errorf("request without session = %q, want %q", got, want)
	}
}

// TestCallHistory: a call without a session that brings its own history
// (Responses' conversation trees) has it replayed before its messages,
// and nothing is stored: the dialect keeps Result.Turn.
func TestCallHistory(t *testing.T) {
	prov := newFake(reply("Paris.")...)
	rt, store := singleRuntime(t, prov)
	agent := &adapters.Agent{ID: "agent-1", Model: "m"}
	history := []adapters.Message{userMsg("I live in Paris."), adapters.TextMessage(adapters.RoleAssistant, "Noted.")}
	res, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent, History: history,
		Messages: []adapters.Message{userMsg("Where do I live?")}}, func(adapters.Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	got := describe(prov.LastRequest(t).Messages)
	want := []string{"user:I live in Paris.", "assistant:Noted.", "user:Where do I live?"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("upstream messages %v, want %v", got, want)
	}
	if got := describe(res.Turn); !reflect.DeepEqual(got, []string{"user:Where do I live?", "assistant:Paris."}) {
		t.Errorf("Result.Turn = %v", got)
	}
	if len(history) != 2 {
		t.Error("the call's history was modified")
	}
	if _, err := store.GetSession(context.Background(), sessKey(tenantA, "agent-1", "")); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("a session was stored: %v", err)
	}
}
