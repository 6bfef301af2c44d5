package engine

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

func TestRunBuildsRequest(t *testing.T) {
	tools := []adapters.Tool{{Name: "lookup", Parameters: json.RawMessage(`{"type":"object"}`)}}
	extra := map[string]json.RawMessage{"user": json.RawMessage(`"u-1"`)}
	tests := []struct {
		name string
		// agent settings (Model defaults to "gpt-4o")
		agent adapters.Agent
		call  adapters.Call
		check func(t *testing.T, req *adapters.Request, res *toolloop.Result)
	}{
		{
			name:  "system prompt and model from the agent",
			agent: adapters.Agent{SystemPrompt: "Be brief."},
			call:  adapters.Call{Messages: []adapters.Message{userMsg("hi")}},
			check: func(t *testing.T, req *adapters.Request, res *toolloop.Result) {
				if req.System != "Be brief." {
					t.Errorf("System = %q", req.System)
				}
				if req.Model != "gpt-4o" || res.Provider != "openai" {
					t.Errorf("Model, provider = %q, %q; want gpt-4o, openai", req.Model, res.Provider)
				}
				if got := describe(req.Messages); !reflect.DeepEqual(got, []string{"user:hi"}) {
					t.Errorf("Messages = %q", got)
				}
			},
		},
		{
			name:  "call system prompt overrides",
			agent: adapters.Agent{SystemPrompt: "Be brief."},
			call:  adapters.Call{SystemPrompt: ptr("Be verbose.")},
			check: func(t *testing.T, req *adapters.Request, _ *toolloop.Result) {
				if req.System != "Be verbose." {
					t.Errorf("System = %q, want the call's", req.System)
				}
			},
		},
		{
			name:  "call system prompt can clear",
			agent: adapters.Agent{SystemPrompt: "Be brief."},
			call:  adapters.Call{SystemPrompt: ptr("")},
			check: func(t *testing.T, req *adapters.Request, _ *toolloop.Result) {
				if req.System != "" {
					t.Errorf("System = %q, want empty", req.System)
				}
			},
		},
		{
			name: "call model overrides and is routed",
			call: adapters.Call{Model: "anthropic/claude-x"},
			check: func(t *testing.T, req *adapters.Request, res *toolloop.Result) {
				if req.Model != "claude-x" || res.Provider != "anthropic" || res.Model != "claude-x" {
					t.Errorf("Model, provider, result model = %q, %q, %q; want claude-x, anthropic, claude-x", req.Model, res.Provider, res.Model)
				}
			},
		},
		{
			name: "alias resolves to its target",
			call: adapters.Call{Model: "fast"},
			check: func(t *testing.T, req *adapters.Request, res *toolloop.Result) {
				if req.Model != "gpt-4o-mini" || res.Provider != "openai" {
					t.Errorf("Model, provider = %q, %q; want gpt-4o-mini, openai", req.Model, res.Provider)
				}
			},
		},
		{
			name:  "agent pinned provider skips routing",
			agent: adapters.Agent{Provider: "anthropic"},
			check: func(t *testing.T, req *adapters.Request, res *toolloop.Result) {
				if req.Model != "gpt-4o" || res.Provider != "anthropic" {
					t.Errorf("Model, provider = %q, %q; want gpt-4o, anthropic", req.Model, res.Provider)
				}
			},
		},
		{
			name: "sampling merged, call wins",
			agent: adapters.Agent{Sampling: adapters.Sampling{
				Temperature: ptr(0.2), TopP: ptr(0.5), MaxTokens: ptr(100), Stop: []string{"END"},
			}},
			call: adapters.Call{Sampling: adapters.Sampling{
				Temperature: ptr(0.9), Seed: ptr(int64(7)), Stop: []string{"STOP"},
				ResponseFormat: json.RawMessage(`{"type":"json_object"}`),
			}},
			check: func(t *testing.T, req *adapters.Request, _ *toolloop.Result) {
				s := req.Sampling
				if s.Temperature == nil || *s.Temperature != 0.9 {
					t.Errorf("Temperature = %v, want the call's 0.9", s.Temperature)
				}
				if s.TopP == nil || *s.TopP != 0.5 {
					t.Errorf("TopP = %v, want the agent's 0.5", s.TopP)
				}
				if s.MaxTokens == nil || *s.MaxTokens != 100 {
					t.Errorf("MaxTokens = %v, want the agent's 100", s.MaxTokens)
				}
				if s.Seed == nil || *s.Seed != 7 {
					t.Errorf("Seed = %v, want the call's 7", s.Seed)
				}
				if !reflect.DeepEqual(s.Stop, []string{"STOP"}) {
					t.Errorf("Stop = %q, want the call's", s.Stop)
				}
				if string(s.ResponseFormat) != `{"type":"json_object"}` {
					t.Errorf("ResponseFormat = %s", s.ResponseFormat)
				}
			},
		},
		{
			name:  "agent sampling kept when the call sets none",
			agent: adapters.Agent{Sampling: adapters.Sampling{Temperature: ptr(0.3)}},
			check: func(t *testing.T, req *adapters.Request, _ *toolloop.Result) {
				if req.Temperature == nil || *req.Temperature != 0.3 {
					t.Errorf("Temperature = %v, want 0.3", req.Temperature)
				}
				if req.MaxTokens != nil || req.TopP != nil || req.Seed != nil {
					t.Errorf("unset sampling fields became set: %+v", req.Sampling)
				}
			},
		},
		{
			name: "client tools, tool choice, stream and extra passed through",
			call: adapters.Call{ClientTools: tools, ToolChoice: json.RawMessage(`"required"`), Stream: true, Extra: extra},
			check: func(t *testing.T, req *adapters.Request, _ *toolloop.Result) {
				if !reflect.DeepEqual(req.Tools, tools) {
					t.Errorf("Tools = %+v", req.Tools)
				}
				if string(req.ToolChoice) != `"required"` || !req.Stream || !reflect.DeepEqual(req.Extra, extra) {
					t.Errorf("ToolChoice, Stream, Extra = %s, %v, %v", req.ToolChoice, req.Stream, req.Extra)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			provs := map[string]*fakeProvider{"openai": newFake(reply("ok")...), "anthropic": newFake(reply("ok")...)}
			rt, _ := newTestRuntime(t, Config{
				Providers: map[string]adapters.Provider{"openai": provs["openai"], "anthropic": provs["anthropic"]},
				Routes: []models.Route{
					{Pattern: "gpt-*", Provider: "openai"},
					{Pattern: "anthropic/*", Provider: "anthropic"},
					{Pattern: "fast", Provider: "openai", Target: "gpt-4o-mini"},
				},
			})
			agent := tc.agent
			agent.ID = "agent-1"
			if agent.Model == "" {
				agent.Model = "gpt-4o"
			}
			call := tc.call
			call.Principal, call.Agent = tenantA, &agent
			res, err := rt.Run(context.Background(), nil, &call, func(adapters.Event) error { return nil })
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			var req *adapters.Request
			for name, p := range provs {
				reqs := p.Requests()
				if name == res.Provider && len(reqs) != 1 {
					t.Fatalf("provider %s got %d requests, want 1", name, len(reqs))
				}
				if name != res.Provider && len(reqs) != 0 {
					t.Fatalf("provider %s got %d requests, want 0", name, len(reqs))
				}
				if len(reqs) == 1 {
					req = reqs[0]
				}
			}
			tc.check(t, req, res)
		})
	}
}

func TestRunReasoning(t *testing.T) {
	tests := []struct {
		name        string
		agentOn     bool
		agentEffort string
		callOn      *bool
		callEffort  string
		want        string // effort; "" means no reasoning asked
	}{
		{"agent off, no override", false, "", nil, "", ""},
		{"agent off with effort, no override", false, "high", nil, "", ""},
		{"agent off, call effort alone does not enable", false, "", nil, "high", ""},
		{"agent off, call false", false, "low", ptr(false), "high", ""},
		{"agent off, call true, default effort", false, "", ptr(true), "", "medium"},
		{"agent off, call true, agent effort", false, "low", ptr(true), "", "low"},
		{"agent off, call true, call effort", false, "low", ptr(true), "high", "high"},
		{"agent on, no override, default effort", true, "", nil, "", "medium"},
		{"agent on, no override, agent effort", true, "low", nil, "", "low"},
		{"agent on, no override, call effort wins", true, "low", nil, "high", "high"},
		{"agent on, call false", true, "high", ptr(false), "", ""},
		{"agent on, call false with effort", true, "high", ptr(false), "high", ""},
		{"agent on, call true, default effort", true, "", ptr(true), "", "medium"},
		{"agent on, call true, agent effort", true, "high", ptr(true), "", "high"},
		{"agent on, call true, call effort wins", true, "high", ptr(true), "low", "low"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prov := newFake(reply("ok")...)
			rt, _ := singleRuntime(t, prov)
			agent := &adapters.Agent{ID: "thinker", Model: "m", Reasoning: tc.agentOn, ReasoningEffort: tc.agentEffort}
			call := &adapters.Call{Principal: tenantA, Agent: agent, Reasoning: tc.callOn, ReasoningEffort: tc.callEffort,
				Messages: []adapters.Message{userMsg("think")}}
			if _, err := rt.Run(context.Background(), nil, call, func(adapters.Event) error { return nil }); err != nil {
				t.Fatalf("Run: %v", err)
			}
			got := prov.LastRequest(t).Reasoning
			switch {
			case tc.want == "" && got != nil:
				t.Errorf("Reasoning = %+v, want nil", *got)
			case tc.want != "" && got == nil:
				t.Errorf("Reasoning = nil, want effort %q", tc.want)
			case tc.want != "" && got.Effort != tc.want:
				t.Errorf("Reasoning effort = %q, want %q", got.Effort, tc.want)
			}
		})
	}
}

func TestRunRejects(t *testing.T) {
	tests := []struct {
		name  string
		agent adapters.Agent
		model string
		kind  adapters.ErrorKind
		code  string
		param string
	}{
		{"inactive agent", adapters.Agent{Model: "gpt-4o", Status: adapters.StatusInactive}, "", adapters.KindInvalidRequest, "agent_not_active", "agent"},
		{"draft agent", adapters.Agent{Model: "gpt-4o", Status: adapters.StatusDraft}, "", adapters.KindInvalidRequest, "agent_not_active", "agent"},
		{"unknown agent model", adapters.Agent{Model: "mistral-large"}, "", adapters.KindNotFound, "model_not_found", "model"},
		{"unknown call model", adapters.Agent{Model: "gpt-4o"}, "llama3", adapters.KindNotFound, "model_not_found", "model"},
		{"unknown pinned provider", adapters.Agent{Model: "gpt-4o", Provider: "azure"}, "", adapters.KindNotFound, "model_not_found", "model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newFake(reply("ok")...), newFake(reply("ok")...)
			rt, _ := newTestRuntime(t, Config{
				Providers: map[string]adapters.Provider{"openai": a, "anthropic": b},
				Routes:    []models.Route{{Pattern: "gpt-*", Provider: "openai"}},
			})
			agent := tc.agent
			agent.ID = "agent-1"
			ctx, meter := context.Background(), &exchange.Exchange{Principal: tenantA}
			var c collect
			res, err := rt.Run(ctx, meter, &adapters.Call{Principal: tenantA, Agent: &agent, Model: tc.model,
				Messages: []adapters.Message{userMsg("hi")}}, c.emit)
			if err == nil {
				t.Fatalf("Run = %+v, nil; want error", res)
			}
			wantError(t, err, tc.kind, tc.code, tc.param)
			if n := len(a.Requests()) + len(b.Requests()); n != 0 {
				t.Errorf("providers got %d requests, want none", n)
			}
			if len(c.events) != 0 {
				t.Errorf("emitted %v, want nothing", c.types())
			}
			if s := meter.Totals(); s.Calls != 0 {
				t.Errorf("meter counted %d calls, want 0", s.Calls)
			}
			if recs := usageOf(t, rt, tenantA.Tenant); len(recs) != 0 {
				t.Errorf("usage records = %+v, want none", recs)
			}
		})
	}
}

func TestRunForwardsEventsAndResult(t *testing.T) {
	toolCall := &adapters.ToolCall{ID: "call_1", Name: "lookup", Arguments: `{"q":"x"}`}
	events := []adapters.Event{
		{Type: adapters.EventStart, Model: "gpt-4o-2024-08-06"},
		{Type: adapters.EventThinking, Text: "let me "},
		{Type: adapters.EventThinking, Text: "think", Signature: "sig"}, // the signature ends the block
		{Type: adapters.EventDelta, Text: "Hel"},
		{Type: adapters.EventDelta, Text: "lo"},
		{Type: adapters.EventToolCall, ToolCall: toolCall},
		{Type: adapters.EventUsage, Usage: &adapters.Usage{InputTokens: 10, OutputTokens: 5, ReasoningTokens: 2, CachedTokens: 3}},
		{Type: adapters.EventDone, FinishReason: "tool_calls"},
	}
	prov := newFake(events...)
	defaults, err := pricing.DefaultPrices()
	if err != nil {
		t.Fatal(err)
	}
	prices, err := pricing.NewTable(nil, defaults)
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": prov}, Prices: prices})
	agent := &adapters.Agent{ID: "agent-1", Model: "gpt-4o"}
	ctx, meter := context.Background(), &exchange.Exchange{Principal: tenantA}
	var c collect
	res, err := rt.Run(ctx, meter, &adapters.Call{Principal: tenantA, Dialect: "openai", Agent: agent, SessionID: "sess-1",
		Messages: []adapters.Message{userMsg("hi")}}, c.emit)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The run ends with its own Usage and Done, which name the model.
	wantEvents := append([]adapters.Event(nil), events...)
	wantEvents[len(wantEvents)-1].Model = "gpt-4o-2024-08-06"
	if !reflect.DeepEqual(c.events, wantEvents) {
		t.Errorf("emitted events differ:\n got %+v\nwant %+v", c.events, wantEvents)
	}
	if !strings.HasPrefix(res.RunID, "run-") || len(res.RunID) != len("run-")+26 {
		t.Errorf("RunID = %q", res.RunID)
	}
	want := toolloop.Result{
		RunID: res.RunID, SessionID: "sess-1", Status: toolloop.StatusCompleted, Iterations: 1,
		Text: "Hello", Reasoning: "let me think", ReasoningSignature: "sig",
		ToolCalls: []adapters.ToolCall{*toolCall},
		Usage:     adapters.Usage{InputTokens: 10, OutputTokens: 5, ReasoningTokens: 2, CachedTokens: 3},
		Model:     "gpt-4o-2024-08-06", Provider: "p", FinishReason: "tool_calls", Latency: res.Latency,
		// The turn: the user's message, then the answer with its call.
		Turn: []adapters.Message{userMsg("hi"), {Role: adapters.RoleAssistant, Parts: []adapters.Part{{Type: adapters.PartText, Text: "Hello"}},
			ToolCalls: []adapters.ToolCall{*toolCall}, Reasoning: "let me think", ReasoningSignature: "sig"}},
	}
	if !reflect.DeepEqual(*res, want) {
		t.Errorf("toolloop.Result = %+v\nwant %+v", *res, want)
	}

	snap := meter.Totals()
	// The dated snapshot the upstream reported has no price of its own:
	// the call is priced as the gpt-4o it was asked as (default table:
	// $2.50 input, $1.25 cached, $10 output per million tokens), reasoning
	// inside output: 7 × 2.5 + 3 × 1.25 + 5 × 10 = 71.25 µ$, rounded.
	wantSnap := exchange.Totals{AgentID: "agent-1", Model: "gpt-4o-2024-08-06", Provider: "p", Usage: want.Usage, Cost: 71, Calls: 1}
	if !reflect.DeepEqual(snap, wantSnap) {
		t.Errorf("meter = %+v, want %+v", snap, wantSnap)
	}

	recs := usageOf(t, rt, tenantA.Tenant)
	if len(recs) != 1 {
		t.Fatalf("usage records = %d, want 1", len(recs))
	}
	r := recs[0]
	wantRec := state.UsageRecord{
		ID: res.RunID, Time: testClock, Tenant: "tenant-a", KeyID: "key_a", Dialect: "openai", AgentID: "agent-1",
		Model: "gpt-4o-2024-08-06", Provider: "p", SessionID: "sess-1",
		InputTokens: 10, OutputTokens: 5, ReasoningTokens: 2, CachedTokens: 3, Status: "ok", Cost: ptr(pricing.Micros(71)),
	}
	if !reflect.DeepEqual(r, wantRec) {
		t.Errorf("usage record = %+v\nwant %+v", r, wantRec)
	}
}

func TestRunModelWithoutStartModel(t *testing.T) {
	prov := newFake(reply("hi")...)
	rt, _ := newTestRuntime(t, Config{
		Providers: map[string]adapters.Provider{"openai": prov, "other": newFake()},
		Routes:    []models.Route{{Pattern: "openai/*", Provider: "openai"}},
	})
	res, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA,
		Agent: &adapters.Agent{ID: "a", Model: "openai/gpt-4o"}}, func(adapters.Event) error { return nil })
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Model != "gpt-4o" || res.Provider != "openai" {
		t.Errorf("Model, Provider = %q, %q; want the routed gpt-4o, openai", res.Model, res.Provider)
	}
}

func TestRunSumsUsageEvents(t *testing.T) {
	prov := newFake(
		adapters.Event{Type: adapters.EventStart},
		adapters.Event{Type: adapters.EventUsage, Usage: &adapters.Usage{InputTokens: 7}},
		adapters.Event{Type: adapters.EventDelta, Text: "x"},
		adapters.Event{Type: adapters.EventUsage, Usage: &adapters.Usage{OutputTokens: 3}},
		adapters.Event{Type: adapters.EventDone, FinishReason: "stop"},
	)
	rt, _ := singleRuntime(t, prov)
	var c collect
	res, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: &adapters.Agent{ID: "a", Model: "m"}}, c.emit)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := (adapters.Usage{InputTokens: 7, OutputTokens: 3}); res.Usage != want {
		t.Errorf("Usage = %+v, want %+v", res.Usage, want)
	}
	if n := countType(c.events, adapters.EventUsage); n != 1 {
		t.Errorf("emitted %d usage events, want one summing the provider's two", n)
	}
}

func countType(events []adapters.Event, typ adapters.EventType) int {
	n := 0
	for _, ev := range events {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

func TestRunEstimatesMissingUsage(t *testing.T) {
	tests := []struct {
		name       string
		events     []adapters.Event
		wantOut    int
		wantReason int
	}{
		{"text only", reply("abcdefgh"), 2, 0},
		{"text and thinking", []adapters.Event{
			{Type: adapters.EventStart},
			{Type: adapters.EventThinking, Text: "abcd"},
			{Type: adapters.EventThinking, Text: "efghi"},
			{Type: adapters.EventDelta, Text: "abcdefgh"},
			{Type: adapters.EventDone, FinishReason: "stop"},
		}, 2 + 3, 3},
		{"tool call only", []adapters.Event{
			{Type: adapters.EventStart},
			{Type: adapters.EventToolCall, ToolCall: &adapters.ToolCall{ID: "c", Name: "f", Arguments: "{}"}},
			{Type: adapters.EventDone, FinishReason: "tool_calls"},
		}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prov := newFake(tc.events...)
			rt, _ := singleRuntime(t, prov)
			var c collect
			ctx, meter := context.Background(), &exchange.Exchange{Principal: tenantA}
			res, err := rt.Run(ctx, meter, &adapters.Call{Principal: tenantA, Agent: &adapters.Agent{ID: "a", Model: "m", SystemPrompt: "You help."},
				Messages: []adapters.Message{userMsg("What is the answer?")}}, c.emit)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			// The provider's events pass unchanged, with one estimated
			// Usage inserted just before Done.
			want := append(append([]adapters.Event(nil), tc.events[:len(tc.events)-1]...), adapters.Event{Type: adapters.EventUsage}, tc.events[len(tc.events)-1])
			if len(c.events) != len(want) {
				t.Fatalf("emitted %v, want %d events", c.types(), len(want))
			}
			for i := range want {
				if c.events[i].Type != want[i].Type {
					t.Fatalf("emitted %v, want usage inserted before done", c.types())
				}
			}
			u := c.events[len(c.events)-2].Usage
			if u == nil {
				t.Fatal("usage event without usage")
			}
			wantUsage := adapters.Usage{
				InputTokens:     models.EstimateRequestTokens(prov.LastRequest(t)),
				OutputTokens:    tc.wantOut,
				ReasoningTokens: tc.wantReason,
				Estimated:       true,
			}
			if wantUsage.InputTokens == 0 {
				t.Fatal("estimated input is zero")
			}
			if *u != wantUsage {
				t.Errorf("emitted usage = %+v, want %+v", *u, wantUsage)
			}
			if res.Usage != wantUsage {
				t.Errorf("Result.Usage = %+v, want %+v", res.Usage, wantUsage)
			}
			if s := meter.Totals(); s.Usage != wantUsage {
				t.Errorf("meter usage = %+v, want %+v", s.Usage, wantUsage)
			}
			recs := usageOf(t, rt, tenantA.Tenant)
			if len(recs) != 1 {
				t.Fatalf("usage records = %d, want 1", len(recs))
			}
			r := recs[0]
			if !r.Estimated || r.InputTokens != wantUsage.InputTokens || r.OutputTokens != wantUsage.OutputTokens ||
				r.ReasoningTokens != wantUsage.ReasoningTokens || r.Status != "ok" {
				t.Errorf("usage record = %+v, want estimated %+v, status ok", r, wantUsage)
			}
		})
	}
}

var errBrokenPipe = errors.New("write: broken pipe")

func TestRunFailures(t *testing.T) {
	// Errors no retry may cure, so each run makes exactly one call.
	upstream := &adapters.Error{Kind: adapters.KindUpstream, Message: "bad request upstream", UpstreamStatus: 400,
		Cause: errors.New("upstream said: no such field")}
	tooLong := &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "context_length_exceeded", Message: "too long"}
	tests := []struct {
		name string
		// events the provider sends; err, when set, is returned first.
		events []adapters.Event
		err    error
		// failEmitAt makes the n-th emit (1-based) fail; 0 never.
		failEmitAt int
		// cancelAt cancels the context during the n-th emit; 0 never.
		cancelAt   int
		wantStatus string
		wantIs     error
		// wantText is the text produced; usage is estimated from it when
		// not empty and zero when it is.
		wantText string
		// silent: nothing at all reaches emit.
		silent bool
	}{
		{
			name: "client closes mid-stream", failEmitAt: 3,
			events: []adapters.Event{
				{Type: adapters.EventStart},
				{Type: adapters.EventDelta, Text: "Hello there, "},
				{Type: adapters.EventDelta, Text: "general Kenobi"},
				{Type: adapters.EventDelta, Text: " never sent"},
				{Type: adapters.EventDone, FinishReason: "stop"},
			},
			wantStatus: "client_closed", wantIs: errBrokenPipe, wantText: "Hello there, general Kenobi",
		},
		{
			name: "client closes on thinking", failEmitAt: 2,
			events: []adapters.Event{
				{Type: adapters.EventStart},
				{Type: adapters.EventThinking, Text: "pondering deeply"},
				{Type: adapters.EventDelta, Text: "never"},
				{Type: adapters.EventDone, FinishReason: "stop"},
			},
			wantStatus: "client_closed", wantIs: errBrokenPipe,
		},
		{
			// The model call succeeded (and is logged so); the run ends with
			// the client's error.
			name: "client closes on the estimated usage", failEmitAt: 3,
			events:     reply("a whole answer"),
			wantStatus: "ok", wantIs: errBrokenPipe, wantText: "a whole answer",
		},
		{
			name: "context canceled mid-stream", cancelAt: 2,
			events:     reply("partial answer"),
			wantStatus: "client_closed", wantIs: context.Canceled, wantText: "partial answer",
		},
		{
			name: "provider fails before output", err: upstream,
			wantStatus: "upstream_error", wantIs: upstream,
		},
		{
			name: "provider fails with a code", err: tooLong,
			wantStatus: "context_length_exceeded", wantIs: tooLong,
		},
		{
			// Start goes out at once: the client is gone before anything
			// was produced, so nothing is billed.
			name: "client closes on the first write", failEmitAt: 1,
			events:     reply("produced"),
			wantStatus: "client_closed", wantIs: errBrokenPipe,
		},
		{
			// Start reached the client, so the failure is reported in the
			// stream rather than retried.
			name: "provider fails after Start, before content",
			events: []adapters.Event{
				{Type: adapters.EventStart, Model: "m-2024"},
				{Type: adapters.EventError, Err: upstream},
			},
			wantStatus: "upstream_error", wantIs: upstream,
		},
		{
			name: "provider fails mid-stream",
			events: []adapters.Event{
				{Type: adapters.EventStart},
				{Type: adapters.EventDelta, Text: "partial output"},
				{Type: adapters.EventError, Err: upstream},
			},
			wantStatus: "upstream_error", wantIs: upstream, wantText: "partial output",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prov := newFake(tc.events...)
			prov.Err = tc.err
			rt, store := singleRuntime(t, prov)
			ctx, meter := context.Background(), &exchange.Exchange{Principal: tenantA}
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			n := 0
			emit := func(ev adapters.Event) error {
				n++
				if n == tc.cancelAt {
					cancel()
				}
				if n == tc.failEmitAt {
					return errBrokenPipe
				}
				return nil
			}
			call := &adapters.Call{Principal: tenantA, Agent: &adapters.Agent{ID: "a", Model: "m"}, SessionID: "sess-fail",
				Messages: []adapters.Message{userMsg("Tell me something long.")}}
			res, err := rt.Run(ctx, meter, call, emit)
			if err == nil {
				t.Fatalf("Run = %+v, nil; want error", res)
			}
			if !errors.Is(err, tc.wantIs) {
				t.Errorf("Run error = %v, want %v", err, tc.wantIs)
			}
			if res == nil {
				t.Fatal("Run returned no result with its error")
			}
			if tc.silent && n != 0 {
				t.Errorf("emit called %d times, want never", n)
			}
			if res.Text != tc.wantText {
				t.Errorf("Result.Text = %q, want %q", res.Text, tc.wantText)
			}
			produced := res.Text + res.Reasoning
			var want adapters.Usage
			if produced != "" {
				want = adapters.Usage{
					InputTokens:     models.EstimateRequestTokens(prov.LastRequest(t)),
					OutputTokens:    models.EstimateTokens(res.Text) + models.EstimateTokens(res.Reasoning),
					ReasoningTokens: models.EstimateTokens(res.Reasoning),
					Estimated:       true,
				}
				if want.OutputTokens == 0 || want.InputTokens == 0 {
					t.Fatalf("test expects non-zero usage, got %+v", want)
				}
			}
			if res.Usage != want {
				t.Errorf("Result.Usage = %+v, want %+v", res.Usage, want)
			}

			recs := usageOf(t, rt, tenantA.Tenant)
			if len(recs) != 1 {
				t.Fatalf("usage records = %d, want 1", len(recs))
			}
			r := recs[0]
			if r.Status != tc.wantStatus {
				t.Errorf("record status = %q, want %q", r.Status, tc.wantStatus)
			}
			// The record says why a failed call failed: the error and
			// its cause.
			wantErrText := ""
			switch {
			case r.Status == "ok":
			case errors.Is(err, upstream):
				wantErrText = "bad request upstream: upstream said: no such field"
			case errors.Is(err, tooLong):
				wantErrText = "too long"
			default:
				wantErrText = r.Error // the client's leaving, in its own words
			}
			if r.Error != wantErrText || (r.Status != "ok") != (r.Error != "") {
				t.Errorf("record error = %q, want %q", r.Error, wantErrText)
			}
			got := adapters.Usage{InputTokens: r.InputTokens, OutputTokens: r.OutputTokens,
				ReasoningTokens: r.ReasoningTokens, CachedTokens: r.CachedTokens, Estimated: r.Estimated}
			if got != want {
				t.Errorf("record usage = %+v, want %+v", got, want)
			}
			if r.ID != res.RunID || r.AgentID != "a" || r.SessionID != "sess-fail" {
				t.Errorf("record = %+v", r)
			}

			snap := meter.Totals()
			if snap.Calls != 1 || snap.Usage != want {
				t.Errorf("exchange totals = %+v, want 1 call, usage %+v", snap, want)
			}
			wantLast := tc.wantIs
			if tc.wantStatus == "ok" {
				wantLast = nil // the model call ended well; the client failed after it
			}
			if lastErr, closed := meter.LastCall(); !errors.Is(lastErr, wantLast) || closed != (tc.wantStatus == "client_closed") {
				t.Errorf("exchange's last call = %v (client closed %v), want %v (%s)", lastErr, closed, wantLast, tc.wantStatus)
			}

			if _, err := store.GetSession(context.Background(), sessKey(tenantA, "a", "sess-fail")); !errors.Is(err, state.ErrNotFound) {
				t.Errorf("session of a failed turn: GetSession error = %v, want not found", err)
			}
		})
	}
}

func TestRunMeterAccumulatesCalls(t *testing.T) {
	prov := &fakeProvider{Script: [][]adapters.Event{
		{
			{Type: adapters.EventStart, Model: "first-model"},
			{Type: adapters.EventDelta, Text: "one"},
			{Type: adapters.EventUsage, Usage: &adapters.Usage{InputTokens: 3, OutputTokens: 1}},
			{Type: adapters.EventDone, FinishReason: "stop"},
		},
		{
			{Type: adapters.EventStart, Model: "second-model"},
			{Type: adapters.EventDelta, Text: "two"},
			{Type: adapters.EventUsage, Usage: &adapters.Usage{InputTokens: 4, OutputTokens: 2}},
			{Type: adapters.EventDone, FinishReason: "stop"},
		},
	}}
	// The first model is priced ($1 and $2 per million tokens: 1 and 2
	// micro-dollars a token), the second is not.
	prices, err := pricing.NewTable([]pricing.Price{{Model: "first-*", Rates: pricing.Rates{Input: 1_000_000, Output: 2_000_000}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": prov}, Prices: prices})
	ctx, meter := context.Background(), &exchange.Exchange{Principal: tenantA}
	for _, id := range []string{"first", "second"} {
		if _, err := rt.Run(ctx, meter, &adapters.Call{Principal: tenantA, Agent: &adapters.Agent{ID: id, Model: "m"}},
			func(adapters.Event) error { return nil }); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	s := meter.Totals()
	// The agent is the first call's; the model the last that answered.
	want := exchange.Totals{AgentID: "first", Model: "second-model", Provider: "p",
		Usage: adapters.Usage{InputTokens: 7, OutputTokens: 3}, Cost: 3*1 + 1*2, Unpriced: 1, Calls: 2}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("meter = %+v, want %+v", s, want)
	}
	// Each record keeps its own cost: known, or unknown (nil), never 0.
	recs := usageOf(t, rt, tenantA.Tenant)
	if len(recs) != 2 {
		t.Fatalf("usage records = %d, want 2", len(recs))
	}
	if recs[0].Model != "second-model" || recs[0].Cost != nil {
		t.Errorf("unpriced record: %s cost %v, want nil", recs[0].Model, recs[0].Cost)
	}
	if recs[1].Model != "first-model" || recs[1].Cost == nil || *recs[1].Cost != 5 {
		t.Errorf("priced record: %s cost %v, want 5", recs[1].Model, recs[1].Cost)
	}
}

func TestRunWithoutExchange(t *testing.T) {
	rt, _ := singleRuntime(t, newFake(reply("ok")...))
	if _, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: &adapters.Agent{ID: "a", Model: "m"}},
		func(adapters.Event) error { return nil }); err != nil {
		t.Fatalf("Run without an exchange: %v", err)
	}
}
