package engine

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/limits"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

// echoProvider answers every request with "<name>(<last user message>)",
// name being the first word of the request's system prompt, unless
// answer (when set) says otherwise: which agent saw what, in which order,
// is in the requests and in the answers.
type echoProvider struct {
	mu     sync.Mutex
	reqs   []*adapters.Request
	answer func(ctx context.Context, req *adapters.Request) []adapters.Event
}

func (e *echoProvider) Chat(ctx context.Context, req *adapters.Request, emit adapters.Emit) error {
	e.mu.Lock()
	e.reqs = append(e.reqs, req)
	e.mu.Unlock()
	var events []adapters.Event
	if e.answer != nil {
		events = e.answer(ctx, req)
	}
	if events == nil {
		events = echo(req)
	}
	for _, ev := range events {
		if ev.Type == adapters.EventError {
			_ = emit(ev)
			return ev.Err
		}
		if err := emit(ev); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (e *echoProvider) Requests() []*adapters.Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*adapters.Request(nil), e.reqs...)
}

// bySystem returns the requests whose system prompt starts with name.
func (e *echoProvider) bySystem(name string) []*adapters.Request {
	var out []*adapters.Request
	for _, r := range e.Requests() {
		if strings.HasPrefix(r.System, name) {
			out = append(out, r)
		}
	}
	return out
}

func lastUser(req *adapters.Request) string {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == adapters.RoleUser {
			return req.Messages[i].Text()
		}
	}
	return ""
}

func echo(req *adapters.Request) []adapters.Event {
	name, _, _ := strings.Cut(req.System, " ")
	name, _, _ = strings.Cut(name, "\n")
	return []adapters.Event{
		{Type: adapters.EventStart},
		{Type: adapters.EventDelta, Text: name + "(" + lastUser(req) + ")"},
		{Type: adapters.EventUsage, Usage: &adapters.Usage{InputTokens: 10, OutputTokens: 1}},
		{Type: adapters.EventDone, FinishReason: "stop"},
	}
}

// orchestrationRuntime stores agents of tenant-a in project proj.
func orchestrationRuntime(t *testing.T, prov adapters.Provider, agents ...*adapters.Agent) (*Engine, *bbolt.Store) {
	t.Helper()
	rt, store := singleRuntime(t, prov)
	for _, a := range agents {
		if a.Tenant == "" {
			a.Tenant = "tenant-a"
		}
		if a.Model == "" {
			a.Model = "m"
		}
		a.CreatedAt = testClock
		if err := store.CreateAgent(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	return rt, store
}

func subAgentCall(agent *adapters.Agent, text string) *adapters.Call {
	return &adapters.Call{Principal: tenantA, Dialect: "test", Agent: agent, Project: "proj",
		Messages: []adapters.Message{userMsg(text)}}
}

// events renders events compactly: "type" or "type:name" for tool events.
func eventNames(evs []adapters.Event) []string {
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		s := ev.Type.String()
		if ev.ToolCall != nil {
			s += ":" + ev.ToolCall.Name
		}
		if ev.Type == adapters.EventDelta {
			s += ":" + ev.Text
		}
		out = append(out, s)
	}
	return out
}

func TestSequentialChainsSubAgentsThenTheParentAnswers(t *testing.T) {
	prov := &echoProvider{}
	parent := &adapters.Agent{ID: "boss", Name: "Boss", SystemPrompt: "Boss prompt", Project: "proj",
		Pattern: adapters.PatternSequential, SubAgents: []string{"alpha", "beta"}}
	rt, store := orchestrationRuntime(t, prov, parent,
		&adapters.Agent{ID: "alpha", Name: "Alpha", SystemPrompt: "Alpha prompt", Project: "proj"},
		&adapters.Agent{ID: "beta", Name: "Beta", SystemPrompt: "Beta prompt"})
	call := subAgentCall(parent, "plan a trip")
	call.SessionID = "s1"
	var c collect
	res, err := rt.Run(context.Background(), nil, call, c.emit)
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "Boss(plan a trip)" || res.Status != toolloop.StatusCompleted {
		t.Fatalf("result %q %s", res.Text, res.Status)
	}
	reqs := prov.Requests()
	if len(reqs) != 3 || !strings.HasPrefix(reqs[0].System, "Alpha") || !strings.HasPrefix(reqs[1].System, "Beta") || !strings.HasPrefix(reqs[2].System, "Boss") {
		t.Fatalf("order of calls: %v", systems(reqs))
	}
	if got := lastUser(reqs[0]); got != "plan a trip" {
		t.Errorf("alpha saw %q", got)
	}
	if got := lastUser(reqs[1]); got != "plan a trip\n\nOutput of the previous agent (Alpha):\nAlpha(plan a trip)" {
		t.Errorf("beta saw %q", got)
	}
	if s := reqs[2].System; !strings.Contains(s, "Step 1: Alpha (alpha)\nAlpha(plan a trip)") ||
		!strings.Contains(s, "Step 2: Beta (beta)\nBeta(plan a trip\n\nOutput of the previous agent (Alpha):\nAlpha(plan a trip))") ||
		len(reqs[2].Tools) != 0 {
		t.Errorf("synthesis request: %q, tools %v", s, reqs[2].Tools)
	}
	want := []string{"start", "tool_call:alpha", "tool_result:alpha", "tool_call:beta", "tool_result:beta", "delta:Boss(plan a trip)", "usage", "done"}
	if got := eventNames(c.events); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	for _, ev := range c.events {
		if ev.Type == adapters.EventUsage && ev.Usage.Total() != 33 {
			t.Errorf("usage event counts %d tokens, want every run's 33", ev.Usage.Total())
		}
		if (ev.Type == adapters.EventToolCall || ev.Type == adapters.EventToolResult) && !ev.Executed {
			t.Errorf("%v not marked executed", ev.Type)
		}
	}
	if len(res.Steps) != 2 || res.Steps[0].Toolkit != SubAgentToolkit || res.Usage.Total() != 33 {
		t.Fatalf("steps %+v usage %+v", res.Steps, res.Usage)
	}
	var out SubAgentResult
	if err := json.Unmarshal(res.Steps[1].Result, &out); err != nil || out.AgentID != "beta" || out.Name != "Beta" || !strings.HasPrefix(out.Output, "Beta(") {
		t.Errorf("step result %s", res.Steps[1].Result)
	}
	if res.Steps[0].Call.ID != c.events[1].ToolCall.ID || res.Steps[0].Call.ID != c.events[2].ToolCall.ID {
		t.Error("tool call ids of steps and events differ")
	}
	// Every sub-agent run is metered under the parent's run.
	recs := usageOf(t, rt, "tenant-a")
	parents := map[string]string{}
	for _, r := range recs {
		parents[r.AgentID] = r.ParentID
	}
	if len(recs) != 3 || parents["boss"] != "" || parents["alpha"] != res.RunID || parents["beta"] != res.RunID {
		t.Errorf("usage records: %+v (run %s)", recs, res.RunID)
	}
	// The session keeps the user's message and the answer, in the project.
	key := state.SessionKey{Tenant: "tenant-a", AgentID: "boss", Project: "proj", ID: "s1"}
	msgs, _ := store.RecentTurns(context.Background(), key, 10)
	if got := describe(msgs); !slices.Equal(got, []string{"user:plan a trip", "assistant:Boss(plan a trip)"}) {
		t.Errorf("session %v", got)
	}
	if s, err := store.GetSession(context.Background(), key); err != nil || s.Turns != 1 {
		t.Errorf("session %+v, %v", s, err)
	}
	// Sub-agents run without a session: nothing is stored under the id
	// for them, so a conversation a user has with a sub-agent itself is
	// untouched by the orchestrations it takes part in.
	for _, sub := range []string{"alpha", "beta"} {
		k := key
		k.AgentID = sub
		if s, err := store.GetSession(context.Background(), k); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("sub-agent %s has a session under the orchestration's id: %+v, %v", sub, s, err)
		}
	}
}

func systems(reqs []*adapters.Request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i], _, _ = strings.Cut(r.System, " ")
	}
	return out
}

func TestParallelRunsSubAgentsConcurrentlyThenSynthesises(t *testing.T) {
	// Each sub-agent's call waits until every sub-agent has called: the
	// run only completes if they run at the same time.
	var arrived sync.WaitGroup
	arrived.Add(3)
	prov := &echoProvider{answer: func(ctx context.Context, req *adapters.Request) []adapters.Event {
		if strings.HasPrefix(req.System, "Sub") {
			arrived.Done()
			done := make(chan struct{})
			go func() { arrived.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				return []adapters.Event{{Type: adapters.EventError, Err: adapters.Errorf(adapters.KindTimeout, "not concurrent")}}
			}
		}
		return nil
	}}
	parent := &adapters.Agent{ID: "boss", Name: "Boss", SystemPrompt: "Boss prompt", Project: "proj",
		Pattern: adapters.PatternParallel, SubAgents: []string{"s1", "s2", "s3"}}
	rt, _ := orchestrationRuntime(t, prov, parent,
		&adapters.Agent{ID: "s1", Name: "One", SystemPrompt: "Sub1 prompt"},
		&adapters.Agent{ID: "s2", Name: "Two", SystemPrompt: "Sub2 prompt", Project: "proj"},
		&adapters.Agent{ID: "s3", Name: "Three", SystemPrompt: "Sub3 prompt"})
	var c collect
	res, err := rt.Run(context.Background(), nil, subAgentCall(parent, "compare"), c.emit)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"start", "tool_call:s1", "tool_call:s2", "tool_call:s3", "tool_result:s1", "tool_result:s2", "tool_result:s3",
		"delta:Boss(compare)", "usage", "done"}
	if got := eventNames(c.events); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	synth := prov.bySystem("Boss")
	if len(synth) != 1 {
		t.Fatalf("%d synthesis calls", len(synth))
	}
	for _, part := range []string{"in parallel", "### One (s1)\nSub1(compare)", "### Two (s2)\nSub2(compare)", "### Three (s3)\nSub3(compare)", "Synthesise"} {
		if !strings.Contains(synth[0].System, part) {
			t.Errorf("synthesis prompt lacks %q: %q", part, synth[0].System)
		}
	}
	if len(res.Steps) != 3 || res.Usage.Total() != 44 || res.Text != "Boss(compare)" {
		t.Errorf("result %+v", res)
	}
}

// countingAdmitter admits every request, counting how often it is asked
// and keeping the estimate.
type countingAdmitter struct {
	mu    sync.Mutex
	calls int
	est   exchange.Estimate
}

func (a *countingAdmitter) Admit(_ context.Context, _ *exchange.Exchange, est exchange.Estimate) (*limits.Lease, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	a.est = est
	return nil, nil
}

// TestOrchestrationReportsIntoTheParentsExchange: an orchestrated request
// is admitted once, before any sub-agent runs, at the prices of every
// model that may answer it; its sub-agents, running in parallel, and the
// synthesis account their calls to the request's one exchange.
func TestOrchestrationReportsIntoTheParentsExchange(t *testing.T) {
	prov := &echoProvider{}
	parent := &adapters.Agent{ID: "boss", Name: "Boss", SystemPrompt: "Boss prompt", Project: "proj", Model: "boss-model",
		Pattern: adapters.PatternParallel, SubAgents: []string{"s1", "s2", "s3"}}
	rt, _ := orchestrationRuntime(t, prov, parent,
		&adapters.Agent{ID: "s1", Name: "One", SystemPrompt: "Sub1 prompt", Model: "m1"},
		&adapters.Agent{ID: "s2", Name: "Two", SystemPrompt: "Sub2 prompt", Model: "m2"},
		&adapters.Agent{ID: "s3", Name: "Three", SystemPrompt: "Sub3 prompt", Model: "m3"})
	adm := &countingAdmitter{}
	x := &exchange.Exchange{Principal: tenantA, Dialect: "test", Admitter: adm}
	res, err := rt.Run(context.Background(), x, subAgentCall(parent, "compare"), func(adapters.Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if adm.calls != 1 || !slices.Equal(adm.est.Models, []string{"boss-model", "m1", "m2", "m3"}) || adm.est.Input == 0 || adm.est.Output != 1024 {
		t.Errorf("admitted %d times, with %+v", adm.calls, adm.est)
	}
	tot := x.Totals()
	if tot.Calls != 4 || tot.Usage.Total() != res.Usage.Total() || tot.Usage.Total() != 44 || tot.AgentID == "" {
		t.Errorf("exchange totals %+v, want the 4 calls of the run (44 tokens)", tot)
	}
	if sp := x.Spent(); len(sp) != 1 || sp[0].Cost.Tokens != 44 {
		t.Errorf("spent %+v, want 44 tokens", sp)
	}
}

func TestParallelFailureCancelsSiblings(t *testing.T) {
	cancelled := make(chan struct{})
	prov := &echoProvider{answer: func(ctx context.Context, req *adapters.Request) []adapters.Event {
		switch {
		case strings.HasPrefix(req.System, "Bad"):
			return []adapters.Event{{Type: adapters.EventError, Err: adapters.Errorf(adapters.KindUnavailable, "upstream down")}}
		case strings.HasPrefix(req.System, "Slow"):
			select {
			case <-ctx.Done():
				close(cancelled)
			case <-time.After(5 * time.Second):
			}
			return []adapters.Event{}
		}
		return nil
	}}
	parent := &adapters.Agent{ID: "boss", SystemPrompt: "Boss", Pattern: adapters.PatternParallel, SubAgents: []string{"bad", "slow"}}
	rt, _ := orchestrationRuntime(t, prov, parent,
		&adapters.Agent{ID: "bad", SystemPrompt: "Bad"}, &adapters.Agent{ID: "slow", SystemPrompt: "Slow"})
	_, err := rt.Run(context.Background(), nil, subAgentCall(parent, "go"), func(adapters.Event) error { return nil })
	wantError(t, err, adapters.KindUnavailable, "", "")
	select {
	case <-cancelled:
	default:
		t.Error("the slow sibling was not cancelled")
	}
}

// delegating answers a hierarchical parent by calling the sub-agent tool
// "worker" with a task until a tool result is in, then reports it.
func delegating(always bool) func(context.Context, *adapters.Request) []adapters.Event {
	return func(_ context.Context, req *adapters.Request) []adapters.Event {
		if !strings.HasPrefix(req.System, "Boss") {
			return nil
		}
		last := req.Messages[len(req.Messages)-1]
		if last.Role == adapters.RoleTool && !always {
			return []adapters.Event{{Type: adapters.EventStart}, {Type: adapters.EventDelta, Text: "done: " + last.Text()},
				{Type: adapters.EventUsage, Usage: &adapters.Usage{InputTokens: 5, OutputTokens: 2}},
				{Type: adapters.EventDone, FinishReason: "stop"}}
		}
		return callTool(adapters.ToolCall{ID: "d1", Name: "worker", Arguments: `{"task":"check the order"}`})
	}
}

func TestHierarchicalDelegatesThroughSubAgentTools(t *testing.T) {
	prov := &echoProvider{answer: delegating(false)}
	parent := &adapters.Agent{ID: "boss", SystemPrompt: "Boss prompt", Pattern: adapters.PatternHierarchical, SubAgents: []string{"worker"}}
	rt, _ := orchestrationRuntime(t, prov, parent,
		&adapters.Agent{ID: "worker", Name: "Worker", Description: "checks orders", SystemPrompt: "Worker prompt"})
	var c collect
	res, err := rt.Run(context.Background(), nil, subAgentCall(parent, "where is my order?"), c.emit)
	if err != nil {
		t.Fatal(err)
	}
	first := prov.bySystem("Boss")[0]
	if len(first.Tools) != 1 || first.Tools[0].Name != "worker" || !strings.Contains(first.Tools[0].Description, `"Worker" (checks orders)`) {
		t.Fatalf("parent's tools: %+v", first.Tools)
	}
	if w := prov.bySystem("Worker"); len(w) != 1 || lastUser(w[0]) != "check the order" {
		t.Fatalf("worker calls: %d", len(w))
	}
	want := []string{"start", "tool_call:worker", "tool_result:worker", "delta:done: " +
		`{"agent_id":"worker","name":"Worker","output":"Worker(check the order)"}`, "usage", "done"}
	if got := eventNames(c.events); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if !c.events[1].Executed {
		t.Error("delegation not marked executed")
	}
	if len(res.Steps) != 1 || res.Steps[0].Toolkit != SubAgentToolkit || res.Usage.Total() != 7+7+11 {
		t.Errorf("steps %+v usage %+v", res.Steps, res.Usage)
	}
	recs := usageOf(t, rt, "tenant-a")
	var sub *state.UsageRecord
	for i := range recs {
		if recs[i].AgentID == "worker" {
			sub = &recs[i]
		}
	}
	if sub == nil || sub.ParentID != res.RunID {
		t.Errorf("worker usage %+v, parent run %s", sub, res.RunID)
	}
}

func TestHierarchicalIsBoundedByMaxIterations(t *testing.T) {
	prov := &echoProvider{answer: delegating(true)}
	parent := &adapters.Agent{ID: "boss", SystemPrompt: "Boss", Pattern: adapters.PatternHierarchical, SubAgents: []string{"worker"}}
	rt, _ := orchestrationRuntime(t, prov, parent, &adapters.Agent{ID: "worker", SystemPrompt: "Worker"})
	call := subAgentCall(parent, "loop")
	call.MaxIterations = 3
	res, err := rt.Run(context.Background(), nil, call, func(adapters.Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != toolloop.StatusMaxIterations || res.Iterations != 3 || len(res.Steps) != 2 || len(prov.bySystem("Worker")) != 2 {
		t.Errorf("status %s, %d iterations, %d steps, %d worker calls", res.Status, res.Iterations, len(res.Steps), len(prov.bySystem("Worker")))
	}
}

func TestOrchestrationIsCancelledWithTheClient(t *testing.T) {
	started := make(chan struct{})
	prov := &echoProvider{answer: func(ctx context.Context, req *adapters.Request) []adapters.Event {
		if strings.HasPrefix(req.System, "Slow") {
			close(started)
			<-ctx.Done()
			return []adapters.Event{}
		}
		return nil
	}}
	parent := &adapters.Agent{ID: "boss", SystemPrompt: "Boss", Pattern: adapters.PatternSequential, SubAgents: []string{"slow", "next"}}
	rt, _ := orchestrationRuntime(t, prov, parent, &adapters.Agent{ID: "slow", SystemPrompt: "Slow"}, &adapters.Agent{ID: "next", SystemPrompt: "Next"})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	done := make(chan error, 1)
	go func() {
		_, err := rt.Run(ctx, nil, subAgentCall(parent, "x"), func(adapters.Event) error { return nil })
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled orchestration succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the orchestration did not end when its context was cancelled")
	}
	if n := len(prov.bySystem("Next")); n != 0 {
		t.Errorf("the next stage ran %d times after the cancellation", n)
	}
	recs := usageOf(t, rt, "tenant-a")
	if len(recs) != 1 || recs[0].Status != "client_closed" || recs[0].AgentID != "slow" {
		t.Errorf("usage %+v", recs)
	}
}

func TestOrchestrationErrors(t *testing.T) {
	prov := &echoProvider{}
	deep := []*adapters.Agent{
		{ID: "l0", Pattern: adapters.PatternSequential, SubAgents: []string{"l1"}},
		{ID: "l1", Pattern: adapters.PatternSequential, SubAgents: []string{"l2"}},
		{ID: "l2", Pattern: adapters.PatternSequential, SubAgents: []string{"l3"}},
		{ID: "l3", Pattern: adapters.PatternSequential, SubAgents: []string{"l4"}},
		{ID: "l4"},
		{ID: "dangling", Pattern: adapters.PatternParallel, SubAgents: []string{"ghost"}},
		{ID: "elsewhere", Pattern: adapters.PatternParallel, SubAgents: []string{"other-project"}},
		{ID: "other-project", Project: "proj-b"},
		{ID: "none", Pattern: adapters.PatternHierarchical},
	}
	rt, _ := orchestrationRuntime(t, prov, deep...)
	noop := func(adapters.Event) error { return nil }
	_, err := rt.Run(context.Background(), nil, subAgentCall(deep[0], "x"), noop)
	wantError(t, err, adapters.KindInvalidRequest, "orchestration_too_deep", "sub_agents")
	if n := len(prov.Requests()); n != 0 {
		t.Errorf("%d model calls before the depth error", n)
	}
	_, err = rt.Run(context.Background(), nil, subAgentCall(deep[1], "x"), noop)
	if err != nil {
		t.Errorf("three levels: %v", err)
	}
	_, err = rt.Run(context.Background(), nil, subAgentCall(deep[5], "x"), noop)
	wantError(t, err, adapters.KindNotFound, "agent_not_found", "sub_agents")
	_, err = rt.Run(context.Background(), nil, subAgentCall(deep[6], "x"), noop)
	wantError(t, err, adapters.KindNotFound, "agent_not_found", "sub_agents")
	_, err = rt.Run(context.Background(), nil, subAgentCall(deep[8], "x"), noop)
	wantError(t, err, adapters.KindInvalidRequest, "no_sub_agents", "sub_agents")
}

func TestCheckOrchestration(t *testing.T) {
	rt, _ := orchestrationRuntime(t, &echoProvider{},
		&adapters.Agent{ID: "leaf"},
		&adapters.Agent{ID: "leaf2", Project: "proj"},
		&adapters.Agent{ID: "b-leaf", Project: "proj-b"},
		&adapters.Agent{ID: "mid", Pattern: adapters.PatternSequential, SubAgents: []string{"leaf"}, Project: "proj"},
		&adapters.Agent{ID: "top", Pattern: adapters.PatternParallel, SubAgents: []string{"mid"}, Project: "proj"},
		&adapters.Agent{ID: "uses-x", Pattern: adapters.PatternParallel, SubAgents: []string{"x"}, Project: "proj"},
		&adapters.Agent{ID: "uses-uses-x", Pattern: adapters.PatternParallel, SubAgents: []string{"uses-x"}, Project: "proj"},
	)
	ctx := context.Background()
	limited := &adapters.Principal{KeyID: "k", Tenant: "tenant-a", Projects: []string{"proj"}}
	cases := []struct {
		name string
		a    *adapters.Agent
		p    *adapters.Principal
		want string // a substring of the error; "" for none
	}{
		{"single", &adapters.Agent{ID: "x"}, tenantA, ""},
		{"single with subs", &adapters.Agent{ID: "x", Pattern: adapters.PatternSingle, SubAgents: []string{"leaf"}}, tenantA, "has no sub-agents"},
		{"unknown pattern", &adapters.Agent{ID: "x", Pattern: "star"}, tenantA, "unknown orchestration pattern"},
		{"no subs", &adapters.Agent{ID: "x", Pattern: adapters.PatternParallel}, tenantA, "at least one"},
		{"ok", &adapters.Agent{ID: "x", Pattern: adapters.PatternHierarchical, SubAgents: []string{"leaf", "leaf2"}}, tenantA, ""},
		{"self", &adapters.Agent{ID: "x", Pattern: adapters.PatternHierarchical, SubAgents: []string{"x"}}, tenantA, "its own sub-agent"},
		{"twice", &adapters.Agent{ID: "x", Pattern: adapters.PatternHierarchical, SubAgents: []string{"leaf", "leaf"}}, tenantA, "named twice"},
		{"unknown", &adapters.Agent{ID: "x", Pattern: adapters.PatternHierarchical, SubAgents: []string{"ghost"}}, tenantA, "not found"},
		{"other project", &adapters.Agent{ID: "x", Pattern: adapters.PatternHierarchical, SubAgents: []string{"b-leaf"}}, tenantA, "not found"},
		{"other tenant", &adapters.Agent{ID: "x", Pattern: adapters.PatternHierarchical, SubAgents: []string{"leaf"}}, tenantB, "not found"},
		{"too many", &adapters.Agent{ID: "x", Pattern: adapters.PatternParallel, SubAgents: strings.Split("a,b,c,d,e,f,g,h,i,j,k", ",")}, tenantA, "at most 10"},
		{"depth 3", &adapters.Agent{ID: "fresh", Pattern: adapters.PatternSequential, SubAgents: []string{"top"}}, limited, ""},
		{"cycle", &adapters.Agent{ID: "leaf", Pattern: adapters.PatternSequential, SubAgents: []string{"top"}}, tenantA, "cycle"},
		// x is run by uses-x, run by uses-uses-x: x may be 1 level deep.
		{"ancestors", &adapters.Agent{ID: "x", Pattern: adapters.PatternSequential, SubAgents: []string{"mid"}}, tenantA, "'uses-uses-x', which runs 'x', would nest sub-agents 4 levels"},
		{"ancestors ok", &adapters.Agent{ID: "x", Pattern: adapters.PatternSequential, SubAgents: []string{"leaf"}}, tenantA, ""},
	}
	for _, c := range cases {
		err := rt.CheckOrchestration(ctx, c.p, "proj", c.a)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		case err != nil:
			var e *adapters.Error
			if !errors.As(err, &e) || e.Kind != adapters.KindInvalidRequest {
				t.Errorf("%s: %#v is not a 400", c.name, err)
			}
		}
	}
	// Four levels, top down.
	err := rt.CheckOrchestration(ctx, tenantA, "proj", &adapters.Agent{ID: "x", Pattern: adapters.PatternSequential, SubAgents: []string{"uses-uses-x"}})
	if err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("x → uses-uses-x → uses-x → x: %v", err)
	}
	err = rt.CheckOrchestration(ctx, tenantA, "proj", &adapters.Agent{ID: "z", Pattern: adapters.PatternSequential, SubAgents: []string{"top", "leaf"}})
	if err != nil {
		t.Errorf("z → top → mid → leaf: %v", err)
	}
	deeper := &adapters.Agent{ID: "w", Pattern: adapters.PatternSequential, SubAgents: []string{"uses-uses-x"}}
	if err := rt.CheckOrchestration(ctx, tenantA, "proj", deeper); err != nil {
		t.Errorf("w → uses-uses-x → uses-x → (x missing): %v", err)
	}
}

func TestProjectScoping(t *testing.T) {
	prov := &echoProvider{}
	rt, store := orchestrationRuntime(t, prov,
		&adapters.Agent{ID: "in-a", Project: "proj-a", SystemPrompt: "A"},
		&adapters.Agent{ID: "in-b", Project: "proj-b", SystemPrompt: "B"},
		&adapters.Agent{ID: "shared", SystemPrompt: "Shared"})
	ctx := context.Background()
	limited := &adapters.Principal{KeyID: "k", Tenant: "tenant-a", Projects: []string{"proj-a"}}
	if _, err := rt.Agents().Get(ctx, limited, "in-b"); err == nil {
		t.Error("a key limited to proj-a found an agent of proj-b")
	}
	for _, id := range []string{"in-a", "shared"} {
		if _, err := rt.Agents().Get(ctx, limited, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if err := rt.Agents().Delete(ctx, limited, "in-b"); err == nil {
		t.Error("a key limited to proj-a deleted an agent of proj-b")
	}
	list, _ := rt.Agents().List(ctx, limited)
	var ids []string
	for _, a := range list {
		ids = append(ids, a.ID)
	}
	if !slices.Equal(ids, []string{"in-a", "shared"}) {
		t.Errorf("limited list %v", ids)
	}
	// A session begun in one project is not continued in another: the id
	// starts a conversation of its own there.
	shared, _ := rt.Agents().Get(ctx, tenantA, "shared")
	call := &adapters.Call{Principal: tenantA, Agent: shared, SessionID: "conv", Project: "proj-a", Messages: []adapters.Message{userMsg("hi")}}
	if _, err := rt.Run(ctx, nil, call, func(adapters.Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	other := *call
	other.Project = "proj-b"
	other.Messages = []adapters.Message{userMsg("hello b")}
	if _, err := rt.Run(ctx, nil, &other, func(adapters.Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	reqs := prov.Requests()
	if got := describe(reqs[len(reqs)-1].Messages); !slices.Equal(got, []string{"user:hello b"}) {
		t.Errorf("proj-b's first turn sent %q: history of proj-a's conversation", got)
	}
	for _, project := range []string{"proj-a", "proj-b"} {
		k := state.SessionKey{Tenant: "tenant-a", AgentID: "shared", Project: project, ID: "conv"}
		if s, err := store.GetSession(ctx, k); err != nil || s.Turns != 1 {
			t.Errorf("session in %s = %+v, %v; want 1 turn", project, s, err)
		}
	}
}

// A sub-agent runs for the orchestration's end user: it recalls that
// user's memories (Call.UserID) and its upstream is told who the user is
// (Call.UpstreamUser), as when the user calls the sub-agent itself.
func TestSubAgentsRunForTheEndUser(t *testing.T) {
	prov := &echoProvider{}
	parent := &adapters.Agent{ID: "boss", SystemPrompt: "Boss prompt", Project: "proj",
		Pattern: adapters.PatternSequential, SubAgents: []string{"alpha"}}
	alpha := &adapters.Agent{ID: "alpha", SystemPrompt: "Alpha prompt", Project: "proj",
		Memory: adapters.MemoryConfig{Procedural: true}}
	rt, _ := orchestrationRuntime(t, prov, parent, alpha)
	ctx := context.Background()
	if _, err := rt.Knowledge().Memory().Add(ctx, tenantA, alpha, []memory.NewItem{
		{Kind: state.MemoryProcedural, Content: "Call the user Ada.", UserID: "ada"}}); err != nil {
		t.Fatal(err)
	}
	call := subAgentCall(parent, "plan a trip")
	call.UserID, call.UpstreamUser = "ada", "user-hash-1"
	if _, err := rt.Run(ctx, nil, call, (&collect{}).emit); err != nil {
		t.Fatal(err)
	}
	flushMemory(t, rt)
	reqs := prov.bySystem("Alpha")
	if len(reqs) != 1 {
		t.Fatalf("%d calls of alpha", len(reqs))
	}
	if !strings.Contains(reqs[0].System, "Call the user Ada.") {
		t.Errorf("alpha did not recall its user's memory:\n%s", reqs[0].System)
	}
	if reqs[0].User != "user-hash-1" {
		t.Errorf("alpha's upstream was told the user %q", reqs[0].User)
	}
}
