package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/state/bbolt"
)

// callTool is the event sequence of a model asking for tool calls.
func callTool(calls ...adapters.ToolCall) []adapters.Event {
	evs := []adapters.Event{{Type: adapters.EventStart}}
	for i := range calls {
		evs = append(evs, adapters.Event{Type: adapters.EventToolCall, ToolCall: &calls[i]})
	}
	return append(evs, adapters.Event{Type: adapters.EventUsage, Usage: &adapters.Usage{InputTokens: 5, OutputTokens: 2}},
		adapters.Event{Type: adapters.EventDone, FinishReason: "tool_calls"})
}

// toolKit records what its methods received.
type toolKit struct {
	mu   sync.Mutex
	args map[string][]string
}

func (k *toolKit) method(name string, confirm bool, fn func(json.RawMessage) (json.RawMessage, error)) *tools.Method {
	return &tools.Method{Name: name, RequiresConfirmation: confirm, Timeout: time.Second,
		Call: func(_ context.Context, args json.RawMessage) (json.RawMessage, error) {
			k.mu.Lock()
			if k.args == nil {
				k.args = map[string][]string{}
			}
			k.args[name] = append(k.args[name], string(args))
			k.mu.Unlock()
			return fn(args)
		}}
}

func (k *toolKit) received(name string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.args[name]...)
}

func toolRuntime(t *testing.T, prov *fakeProvider, kit *toolKit, clock *time.Time) (*Engine, *bbolt.Store) {
	t.Helper()
	ok := func(json.RawMessage) (json.RawMessage, error) { return json.RawMessage(`{"ok":true}`), nil }
	reg, err := tools.NewRegistry(
		tools.Builtins(func() time.Time { return testClock }),
		&tools.Toolkit{Name: "EmailToolkit", Methods: []*tools.Method{kit.method("send_email", true, ok)}},
		&tools.Toolkit{Name: "Broken", Methods: []*tools.Method{kit.method("explode", false,
			func(json.RawMessage) (json.RawMessage, error) { return nil, errors.New("disk on fire") })}},
	)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Providers: map[string]adapters.Provider{"p": prov}, Tools: reg, PausedRunTTL: time.Hour}
	if clock != nil {
		cfg.Now = func() time.Time { return *clock }
	}
	return newTestRuntime(t, cfg)
}

func TestToolLoopRunsToolsAndFeedsResultsBack(t *testing.T) {
	prov := &fakeProvider{Script: [][]adapters.Event{
		callTool(adapters.ToolCall{ID: "c1", Name: "calculator", Arguments: `{"expression":"sqrt(144)+56"}`},
			adapters.ToolCall{ID: "c2", Name: "explode", Arguments: `{}`}),
		reply("The answer is 68."),
	}}
	rt, store := toolRuntime(t, prov, &toolKit{}, nil)
	agent := &adapters.Agent{ID: "a", Model: "m", Tools: []string{"builtin", "Broken"}}
	var c collect
	res, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent, SessionID: "s1",
		Messages: []adapters.Message{userMsg("compute")}}, c.emit)
	if err != nil {
		t.Fatal(err)
	}
	want := []adapters.EventType{adapters.EventStart, adapters.EventToolCall, adapters.EventToolCall,
		adapters.EventToolResult, adapters.EventToolResult, adapters.EventDelta, adapters.EventUsage, adapters.EventDone}
	if got := c.types(); !equalTypes(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	if !c.events[1].Executed || c.events[3].ToolResult != `{"expression":"sqrt(144)+56","result":68}` || c.events[3].ToolError {
		t.Fatalf("calculator events: %+v %+v", c.events[1], c.events[3])
	}
	if !c.events[4].ToolError || !strings.Contains(c.events[4].ToolResult, "disk on fire") {
		t.Fatalf("a failing tool must reach the model as a tool error: %+v", c.events[4])
	}
	// Usage sums both calls: the first reported, the second estimated.
	if res.Status != toolloop.StatusCompleted || res.Iterations != 2 || len(res.Steps) != 2 || res.Text != "The answer is 68." ||
		res.Usage.InputTokens <= 5 || res.Usage.OutputTokens != 2+models.EstimateTokens("The answer is 68.") || !res.Usage.Estimated {
		t.Fatalf("result = %+v", res)
	}
	second := prov.Requests()[1].Messages
	if got := describe(second); strings.Join(got, "|") != `user:compute|assistant:|tc=calculator({"expression":"sqrt(144)+56"})|tc=explode({})|tool:{"expression":"sqrt(144)+56","result":68}|tool:{"error":"disk on fire"}` {
		t.Fatalf("second request = %v", got)
	}
	// The session keeps the whole loop, so the next turn replays it validly.
	msgs, _ := store.RecentTurns(context.Background(), sessKey(tenantA, "a", "s1"), 5)
	if len(msgs) != 5 || msgs[1].ToolCalls[0].ID != "c1" || msgs[4].Text() != "The answer is 68." {
		t.Fatalf("session = %v", describe(msgs))
	}
}

// TestToolCallDeltasReachTheClient: a provider's tool-call deltas go to
// the client as they come, marked Executed when the run runs the tool
// (on every delta of the call, not only the first, which names it); the
// loop runs the whole calls.
func TestToolCallDeltasReachTheClient(t *testing.T) {
	calc := adapters.ToolCall{ID: "c1", Name: "calculator", Arguments: `{"expression":"1+1"}`}
	client := adapters.ToolCall{ID: "c2", Name: "lookup", Arguments: `{"q":"x"}`}
	first := []adapters.Event{{Type: adapters.EventStart},
		{Type: adapters.EventToolCallDelta, ToolCall: &adapters.ToolCall{ID: "c1", Name: "calculator", Arguments: `{"expression":`}},
		{Type: adapters.EventToolCallDelta, ToolCall: &adapters.ToolCall{ID: "c1", Arguments: `"1+1"}`}},
		{Type: adapters.EventToolCall, ToolCall: &calc},
		{Type: adapters.EventDone, FinishReason: "tool_calls"}}
	second := []adapters.Event{{Type: adapters.EventStart},
		{Type: adapters.EventToolCallDelta, ToolCall: &adapters.ToolCall{ID: "c2", Name: "lookup", Arguments: `{"q":`}},
		{Type: adapters.EventToolCallDelta, ToolCall: &adapters.ToolCall{ID: "c2", Arguments: `"x"}`}},
		{Type: adapters.EventToolCall, ToolCall: &client},
		{Type: adapters.EventDone, FinishReason: "tool_calls"}}
	prov := &fakeProvider{Script: [][]adapters.Event{first, second}}
	rt, _ := toolRuntime(t, prov, &toolKit{}, nil)
	var c collect
	res, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: &adapters.Agent{ID: "a", Model: "m", Tools: []string{"builtin"}},
		ClientTools: []adapters.Tool{{Name: "lookup"}}, Messages: []adapters.Message{userMsg("go")}}, c.emit)
	if err != nil {
		t.Fatal(err)
	}
	var deltas []string
	for _, ev := range c.events {
		if ev.Type == adapters.EventToolCallDelta {
			deltas = append(deltas, fmt.Sprintf("%s:%v", ev.ToolCall.ID, ev.Executed))
		}
	}
	if got := strings.Join(deltas, " "); got != "c1:true c1:true c2:false c2:false" {
		t.Errorf("deltas = %s", got)
	}
	if len(res.Steps) != 1 || res.Steps[0].Call.Arguments != calc.Arguments || len(res.ToolCalls) != 1 || res.ToolCalls[0].ID != client.ID || res.ToolCalls[0].Arguments != client.Arguments {
		t.Errorf("the loop ran %+v and returned %+v", res.Steps, res.ToolCalls)
	}
}

func equalTypes(a, b []adapters.EventType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestToolLoopRunsIndependentCallsConcurrently(t *testing.T) {
	var inFlight, peak atomic.Int32
	both := make(chan struct{})
	var once sync.Once
	slow := func(json.RawMessage) (json.RawMessage, error) {
		if n := inFlight.Add(1); n > peak.Load() {
			peak.Store(n)
		}
		if inFlight.Load() == 2 {
			once.Do(func() { close(both) })
		}
		select {
		case <-both:
		case <-time.After(2 * time.Second):
		}
		inFlight.Add(-1)
		return json.RawMessage(`{}`), nil
	}
	kit := &toolKit{}
	reg, _ := tools.NewRegistry(&tools.Toolkit{Name: "K", Methods: []*tools.Method{kit.method("a", false, slow), kit.method("b", false, slow)}})
	prov := &fakeProvider{Script: [][]adapters.Event{
		callTool(adapters.ToolCall{ID: "1", Name: "a"}, adapters.ToolCall{ID: "2", Name: "b"}), reply("done")}}
	rt, _ := newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": prov}, Tools: reg})
	_, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: &adapters.Agent{ID: "x", Model: "m", Tools: []string{"K"}}},
		func(adapters.Event) error { return nil })
	if err != nil || peak.Load() != 2 {
		t.Fatalf("peak concurrency %d, err %v", peak.Load(), err)
	}
}

func TestToolLoopStopsAtMaxIterations(t *testing.T) {
	prov := &fakeProvider{Script: [][]adapters.Event{callTool(adapters.ToolCall{ID: "c", Name: "current_time"})}}
	rt, _ := toolRuntime(t, prov, &toolKit{}, nil)
	var c collect
	res, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, MaxIterations: 3,
		Agent: &adapters.Agent{ID: "a", Model: "m", Tools: []string{"current_time"}}}, c.emit)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != toolloop.StatusMaxIterations || res.Iterations != 3 || len(prov.Requests()) != 3 || len(res.Steps) != 2 {
		t.Fatalf("result %+v after %d calls", res, len(prov.Requests()))
	}
	if last := c.events[len(c.events)-1]; last.Type != adapters.EventDone || last.FinishReason != toolloop.StatusMaxIterations {
		t.Fatalf("last event %+v", last)
	}
}

func TestRequestToolsMustBeDeclared(t *testing.T) {
	rt, _ := toolRuntime(t, newFake(reply("x")...), &toolKit{}, nil)
	_, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Tools: []string{"http://evil.example"},
		Agent: &adapters.Agent{ID: "a", Model: "m"}}, func(adapters.Event) error { return nil })
	wantError(t, err, adapters.KindInvalidRequest, "unknown_tool", "tools")
}

func TestPausedRunCommit(t *testing.T) {
	email := adapters.ToolCall{ID: "tc-001", Name: "send_email", Arguments: `{"to":"jane@acme.com","subject":"Password Reset"}`}
	clock := testClock
	agent := &adapters.Agent{ID: "support", Model: "m", Tools: []string{"EmailToolkit", "builtin"}}
	pause := func(t *testing.T, extra ...adapters.ToolCall) (*Engine, *fakeProvider, *toolKit, *toolloop.Result) {
		prov := &fakeProvider{Script: [][]adapters.Event{callTool(append([]adapters.ToolCall{email}, extra...)...), reply("Sent it.")}}
		kit := &toolKit{}
		rt, _ := toolRuntime(t, prov, kit, &clock)
		var c collect
		res, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent, SessionID: "sess",
			Dialect: "agentsv2", Messages: []adapters.Message{userMsg("reset my password")}}, c.emit)
		if err != nil {
			t.Fatal(err)
		}
		want := []adapters.EventType{adapters.EventStart}
		for range 1 + len(extra) {
			want = append(want, adapters.EventToolCall)
		}
		want = append(want, adapters.EventPaused, adapters.EventUsage, adapters.EventDone)
		if res.Status != toolloop.StatusPaused || len(res.Pending) != 1+len(extra) || !res.Pending[0].RequiresConfirmation || !equalTypes(c.types(), want) {
			t.Fatalf("pause: %+v events %v", res, c.types())
		}
		if len(kit.received("send_email")) != 0 {
			t.Fatal("a tool needing confirmation ran before it")
		}
		return rt, prov, kit, res
	}
	commit := func(rt *Engine, p *adapters.Principal, runID string, ds ...toolloop.Decision) (*toolloop.Result, []adapters.Event, error) {
		var c collect
		res, err := rt.Resume(context.Background(), nil, &adapters.Call{Principal: p, Agent: agent, Dialect: "agentsv2"}, runID, ds, c.emit)
		return res, c.events, err
	}

	t.Run("edited args run and the answer follows", func(t *testing.T) {
		rt, prov, kit, paused := pause(t)
		edited := json.RawMessage(`{"to":"jane@acme.com","subject":"Password Reset Instructions"}`)
		res, evs, err := commit(rt, tenantA, paused.RunID, toolloop.Decision{ToolCallID: "tc-001", Confirmed: true, Args: edited})
		if err != nil {
			t.Fatal(err)
		}
		if got := kit.received("send_email"); len(got) != 1 || got[0] != string(edited) {
			t.Fatalf("webhook got %v", got)
		}
		if res.Status != toolloop.StatusCompleted || res.Text != "Sent it." || evs[len(evs)-1].Type != adapters.EventDone {
			t.Fatalf("resumed: %+v", res)
		}
		// The model sees the arguments that actually ran.
		msgs := prov.LastRequest(t).Messages
		if msgs[1].ToolCalls[0].Arguments != string(edited) || msgs[2].ToolCallID != "tc-001" {
			t.Fatalf("resumed request: %v", describe(msgs))
		}
		_, _, err = commit(rt, tenantA, paused.RunID, toolloop.Decision{ToolCallID: "tc-001", Confirmed: true})
		wantError(t, err, adapters.KindConflict, "run_not_paused", "run_id")
	})
	t.Run("all rejected cancels", func(t *testing.T) {
		rt, _, kit, paused := pause(t)
		res, _, err := commit(rt, tenantA, paused.RunID, toolloop.Decision{ToolCallID: "tc-001", Confirmed: false})
		if err != nil || res.Status != toolloop.StatusCancelled || res.Text != toolloop.CancelledText || len(kit.received("send_email")) != 0 {
			t.Fatalf("cancel: %+v %v", res, err)
		}
	})
	t.Run("mixed confirmation", func(t *testing.T) {
		rt, prov, kit, paused := pause(t, adapters.ToolCall{ID: "tc-002", Name: "send_email", Arguments: `{"to":"boss@acme.com"}`})
		res, _, err := commit(rt, tenantA, paused.RunID, toolloop.Decision{ToolCallID: "tc-001", Confirmed: true}, toolloop.Decision{ToolCallID: "tc-002", Confirmed: false})
		if err != nil || res.Status != toolloop.StatusCompleted || len(kit.received("send_email")) != 1 {
			t.Fatalf("mixed: %+v %v %v", res, err, kit.received("send_email"))
		}
		msgs := prov.LastRequest(t).Messages
		if !strings.Contains(msgs[3].Text(), "declined") {
			t.Fatalf("the rejected call must reach the model as declined: %v", describe(msgs))
		}
	})
	t.Run("another tenant, unknown, missing decision, expired", func(t *testing.T) {
		rt, _, _, paused := pause(t)
		_, _, err := commit(rt, tenantB, paused.RunID, toolloop.Decision{ToolCallID: "tc-001", Confirmed: true})
		wantError(t, err, adapters.KindNotFound, "run_not_found", "run_id")
		_, _, err = commit(rt, tenantA, "run-nope")
		wantError(t, err, adapters.KindNotFound, "run_not_found", "run_id")
		_, _, err = commit(rt, tenantA, paused.RunID)
		wantError(t, err, adapters.KindInvalidRequest, "missing_decision", "updated_tools")
		_, _, err = commit(rt, tenantA, paused.RunID, toolloop.Decision{ToolCallID: "tc-999", Confirmed: true})
		wantError(t, err, adapters.KindInvalidRequest, "unknown_tool_call", "updated_tools")
		clock = clock.Add(2 * time.Hour)
		defer func() { clock = testClock }()
		_, _, err = commit(rt, tenantA, paused.RunID, toolloop.Decision{ToolCallID: "tc-001", Confirmed: true})
		wantError(t, err, adapters.KindNotFound, "run_expired", "run_id")
	})
}
