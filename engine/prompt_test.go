package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/state"
)

func TestRenderPrompt(t *testing.T) {
	vars := map[string]string{"name": "Jane", "user_profile.full_name": "Jane Smith", "tz": "UTC", "evil": "{{name}}", "x-y": "ok"}
	for _, c := range [][2]string{
		{"Hello {{name}}", "Hello Jane"},
		{"Hi {{ user_profile.full_name }} in {{tz}}", "Hi Jane Smith in UTC"},
		{"{{unknown}} and {{name}}", "{{unknown}} and Jane"},
		{"{{evil}}", "{{name}}"}, // values are not expanded again
		{"{{{{name}}}}", "{{Jane}}"},
		{"{{name", "{{name"},
		{"{{}} {{ }} {{na me}} {{x-y}}", "{{}} {{ }} {{na me}} ok"},
		{"no placeholders", "no placeholders"},
		{"{{name}}{{name}}", "JaneJane"},
		{"}} {{name}} {{", "}} Jane {{"},
		{"{{print .}} {{index . 0}}", "{{print .}} {{index . 0}}"},
	} {
		if got := RenderPrompt(c[0], vars); got != c[1] {
			t.Errorf("RenderPrompt(%q) = %q, want %q", c[0], got, c[1])
		}
	}
	if got := RenderPrompt("{{name}}", nil); got != "{{name}}" {
		t.Errorf("no vars: %q", got)
	}
}

func TestRunRendersPromptVarsAndTakesRunID(t *testing.T) {
	prov := newFake(reply("ok")...)
	rt, _ := singleRuntime(t, prov)
	override := "Override for {{user}}"
	agent := &adapters.Agent{ID: "a", Model: "m", SystemPrompt: "You help {{user}} at {{time}}; {{other}} stays"}
	id := adapters.NewID("run-")
	res, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent, RunID: id,
		PromptVars: map[string]string{"user": "Jane", "time": "10:00"}, Messages: []adapters.Message{userMsg("hi")}},
		func(adapters.Event) error { return nil })
	if err != nil || res.RunID != id {
		t.Fatalf("run id %q, err %v", res.RunID, err)
	}
	if got := prov.LastRequest(t).System; got != "You help Jane at 10:00; {{other}} stays" {
		t.Errorf("system = %q", got)
	}
	_, _ = rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent, SystemPrompt: &override,
		PromptVars: map[string]string{"user": "Ada"}, Messages: []adapters.Message{userMsg("hi")}},
		func(adapters.Event) error { return nil })
	if got := prov.LastRequest(t).System; got != "Override for Ada" {
		t.Errorf("override = %q", got)
	}
	// Without vars nothing is rendered (other dialects' prompts).
	_, _ = rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent, Messages: []adapters.Message{userMsg("hi")}},
		func(adapters.Event) error { return nil })
	if got := prov.LastRequest(t).System; got != agent.SystemPrompt {
		t.Errorf("without vars = %q", got)
	}
}

func TestNoHistoryReplaysNothingButKeepsTurns(t *testing.T) {
	prov := newFake(reply("ok")...)
	rt, store := singleRuntime(t, prov)
	agent := &adapters.Agent{ID: "a", Model: "m", NoHistory: true}
	for _, text := range []string{"one", "two"} {
		if _, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent, SessionID: "s",
			Messages: []adapters.Message{userMsg(text)}}, func(adapters.Event) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if got := describe(prov.LastRequest(t).Messages); strings.Join(got, "|") != "user:two" {
		t.Errorf("second request = %v", got)
	}
	msgs, _ := store.RecentTurns(context.Background(), sessKey(tenantA, "a", "s"), 10)
	if len(msgs) != 4 {
		t.Errorf("stored %d messages, want 4", len(msgs))
	}
}

func TestCreateAndSoftDeleteAgents(t *testing.T) {
	ctx := context.Background()
	rt, store := newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": newFake(reply("ok")...)},
		Agents: []*adapters.Agent{{ID: "declared", Name: "Declared", Model: "m"}}})
	wantError(t, rt.Agents().Create(ctx, &adapters.Agent{ID: "declared", Tenant: "tenant-a", Model: "m"}),
		adapters.KindConflict, "agent_exists", "id")
	a := &adapters.Agent{ID: "mine", Name: "Mine", Tenant: "tenant-a", Model: "m", SystemPrompt: "secret prompt"}
	if err := rt.Agents().Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	wantError(t, rt.Agents().Create(ctx, a), adapters.KindConflict, "agent_exists", "id")
	wantError(t, rt.Agents().Delete(ctx, tenantA, "declared"), adapters.KindForbidden, "agent_declared", "agent")
	wantError(t, rt.Agents().Delete(ctx, tenantB, "mine"), adapters.KindNotFound, "agent_not_found", "agent")
	if err := rt.Agents().Delete(ctx, tenantA, "mine"); err != nil {
		t.Fatal(err)
	}
	wantError(t, rt.Agents().Delete(ctx, tenantA, "mine"), adapters.KindNotFound, "agent_not_found", "agent")
	if _, err := rt.Agents().Get(ctx, tenantA, "mine"); err == nil {
		t.Error("deleted agent found by id")
	}
	if _, err := rt.Agents().Get(ctx, tenantA, "Mine"); err == nil {
		t.Error("deleted agent found by name")
	}
	list, _ := rt.Agents().List(ctx, tenantA)
	if len(list) != 1 || list[0].ID != "declared" {
		t.Errorf("agents = %v", list)
	}
	stored, _ := store.GetAgent(ctx, "tenant-a", "mine")
	if !stored.Deleted() || stored.SystemPrompt != "" || !stored.DeletedAt.Equal(testClock) {
		t.Errorf("tombstone = %+v", stored)
	}
	// The id can be taken again.
	if err := rt.Agents().Create(ctx, &adapters.Agent{ID: "mine", Name: "Mine again", Tenant: "tenant-a", Model: "m"}); err != nil {
		t.Fatal(err)
	}
	if got, err := rt.Agents().Get(ctx, tenantA, "mine"); err != nil || got.Name != "Mine again" {
		t.Errorf("re-created = %+v, %v", got, err)
	}
}

func TestRequestModelRoutedAwayFromAgentsPin(t *testing.T) {
	pinned, other := newFake(reply("pinned")...), newFake(reply("other")...)
	rt, _ := newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"pinned": pinned, "other": other},
		Routes: []models.Route{{Pattern: "gemini-*", Provider: "other"}}})
	agent := &adapters.Agent{ID: "a", Model: "m", Provider: "pinned"}
	run := func(model string) {
		t.Helper()
		if _, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent, Model: model,
			Messages: []adapters.Message{userMsg("hi")}}, func(adapters.Event) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	run("gemini-2.5-pro") // routed explicitly: goes where routed
	run("unrouted")       // not routed: the agent's pin
	run("")
	if len(other.Requests()) != 1 || other.Requests()[0].Model != "gemini-2.5-pro" || len(pinned.Requests()) != 2 ||
		pinned.Requests()[0].Model != "unrouted" {
		t.Errorf("other %d, pinned %d", len(other.Requests()), len(pinned.Requests()))
	}
}

func TestReasoningStepsNativeOrExplicit(t *testing.T) {
	prov := newFake(reply("ok")...)
	rt, _ := newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": prov},
		Routes: []models.Route{{Pattern: "old-*", Provider: "p", Lacks: models.Capabilities{Reasoning: true}}, {Pattern: "new-*", Provider: "p"}}})
	agent := &adapters.Agent{ID: "a", Model: "new-1", SystemPrompt: "Be careful.", Reasoning: true, ReasoningEffort: "low",
		ReasoningMinSteps: 2, ReasoningMaxSteps: 4}
	call := func(model string) *adapters.Request {
		if _, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent, Model: model,
			Messages: []adapters.Message{userMsg("why")}}, func(adapters.Event) error { return nil }); err != nil {
			t.Fatal(err)
		}
		return prov.LastRequest(t)
	}
	if r := call("new-1"); r.Reasoning == nil || r.Reasoning.Effort != "low" || r.System != "Be careful." {
		t.Errorf("native: %+v %q", r.Reasoning, r.System)
	}
	if r := call("old-1"); r.Reasoning != nil || r.System != "Be careful.\n\n"+models.ReasoningStepsInstruction(2, 4) ||
		!strings.Contains(r.System, "between 2 and 4 numbered steps") {
		t.Errorf("explicit: %+v %q", r.Reasoning, r.System)
	}
	// Without step bounds a model that cannot reason still refuses.
	agent.ReasoningMinSteps, agent.ReasoningMaxSteps = 0, 0
	_, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent, Model: "old-1",
		Messages: []adapters.Message{userMsg("why")}}, func(adapters.Event) error { return nil })
	wantError(t, err, adapters.KindInvalidRequest, "unsupported_reasoning", "reasoning")
	if got := models.ReasoningStepsInstruction(3, 3); !strings.Contains(got, "exactly 3 numbered steps") {
		t.Errorf("equal bounds: %q", got)
	}
}

func TestResumeKeepsReasoningAndToolOrder(t *testing.T) {
	kit := &toolKit{}
	ok := func(json.RawMessage) (json.RawMessage, error) { return json.RawMessage(`{}`), nil }
	reg, err := tools.NewRegistry(&tools.Toolkit{Name: "K", Methods: []*tools.Method{
		kit.method("zeta", false, ok), kit.method("alpha", true, ok), kit.method("mid", false, ok)}})
	if err != nil {
		t.Fatal(err)
	}
	prov := &fakeProvider{Script: [][]adapters.Event{
		callTool(adapters.ToolCall{ID: "c1", Name: "alpha", Arguments: `{}`}), reply("done")}}
	rt, _ := newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": prov}, Tools: reg, PausedRunTTL: time.Hour})
	agent := &adapters.Agent{ID: "a", Model: "m", Tools: []string{"K"}, Reasoning: true}
	res, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent,
		Messages: []adapters.Message{userMsg("go")}}, func(adapters.Event) error { return nil })
	if err != nil || res.Status != toolloop.StatusPaused {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := rt.Resume(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: agent}, res.RunID,
		[]toolloop.Decision{{ToolCallID: "c1", Confirmed: true}}, func(adapters.Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for i, r := range prov.Requests() {
		var names []string
		for _, tl := range r.Tools {
			names = append(names, tl.Name)
		}
		if strings.Join(names, ",") != "alpha,mid,zeta" || r.Reasoning == nil {
			t.Errorf("request %d: tools %v, reasoning %+v", i, names, r.Reasoning)
		}
	}
	if run, err := rt.store.GetRun(context.Background(), "tenant-a", res.RunID); err != nil || run.Status != state.RunCompleted {
		t.Fatalf("run after commit: %+v %v", run, err)
	}
}
