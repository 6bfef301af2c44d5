package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/internal/tracing"
)

// describedProvider is a provider that tells traces what it is, as the
// gateway's providers do.
type describedProvider struct{ *fakeProvider }

func (describedProvider) TraceAttributes() []attribute.KeyValue {
	return []attribute.KeyValue{tracing.ProviderKey.String("openai"), tracing.ServerAddressKey.String("upstream.test")}
}

// spanTree indexes exported spans by id.
type spanTree struct {
	spans []tracetest.SpanStub
	t     *testing.T
}

// children returns the spans whose parent is parent, named name.
func (s spanTree) children(parent trace.SpanContext, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, sp := range s.spans {
		if sp.Parent.SpanID() == parent.SpanID() && sp.Name == name {
			out = append(out, sp)
		}
	}
	return out
}

// one returns the only child of parent named name.
func (s spanTree) one(parent trace.SpanContext, name string) tracetest.SpanStub {
	s.t.Helper()
	got := s.children(parent, name)
	if len(got) != 1 {
		s.t.Fatalf("%d spans %q under %s, want 1; spans: %v", len(got), name, parent.SpanID(), s.names())
	}
	return got[0]
}

func (s spanTree) names() []string {
	var out []string
	for _, sp := range s.spans {
		out = append(out, sp.Name)
	}
	return out
}

func attrsOf(sp tracetest.SpanStub) map[string]string {
	out := map[string]string{}
	for _, kv := range sp.Attributes {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

func wantAttrs(t *testing.T, sp tracetest.SpanStub, want map[string]string) {
	t.Helper()
	got := attrsOf(sp)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q", sp.Name, k, got[k], v)
		}
	}
}

// TestRunSpans: a traced run is a tree of spans below the request's: the
// run (invoke_agent), its memory recall, each model call (chat) with a
// client span per attempt (a failed one marked so), and each tool call
// (execute_tool), with the GenAI semantic conventions' attributes; the
// prompts and completions only when content is asked for.
func TestRunSpans(t *testing.T) {
	for _, withContent := range []bool{false, true} {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		unavailable := &adapters.Error{Kind: adapters.KindUnavailable, Message: "upstream unavailable (HTTP 503)", UpstreamStatus: 503}
		prov := newFake()
		prov.SetScript(
			[]adapters.Event{{Type: adapters.EventError, Err: unavailable}},
			[]adapters.Event{{Type: adapters.EventStart, Model: "m-1"},
				{Type: adapters.EventToolCall, ToolCall: &adapters.ToolCall{ID: "call_1", Name: "lookup", Arguments: `{"q":"SECRET-ARG"}`}},
				{Type: adapters.EventUsage, Usage: &adapters.Usage{InputTokens: 30, OutputTokens: 4}},
				{Type: adapters.EventDone, FinishReason: "tool_calls"}},
			reply("The answer is COMPLETION-MARKER."),
		)
		reg, err := tools.NewRegistry(&tools.Toolkit{Name: "Kit", Methods: []*tools.Method{{Toolkit: "Kit", Name: "lookup", Description: "Looks things up",
			Call: func(context.Context, json.RawMessage) (json.RawMessage, error) {
				return json.RawMessage(`{"found":"TOOL-RESULT"}`), nil
			}}}})
		if err != nil {
			t.Fatal(err)
		}
		rt, _ := newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": describedProvider{prov}}, Tools: reg,
			Retry: models.RetryPolicy{Backoff: time.Millisecond, MaxBackoff: time.Millisecond},
			Sleep: func(context.Context, time.Duration) error { return nil }})

		ctx, root := tp.Tracer("caddy").Start(context.Background(), "request")
		if withContent {
			ctx = tracing.WithContent(ctx)
		}
		call := &adapters.Call{Principal: tenantA, SessionID: "s1",
			Agent:    &adapters.Agent{ID: "helper", Name: "Helper", Model: "m", Tools: []string{"lookup"}, SystemPrompt: "SYSTEM-MARKER"},
			Messages: []adapters.Message{userMsg("Find PROMPT-MARKER")}}
		if _, err := rt.Run(ctx, call, func(adapters.Event) error { return nil }); err != nil {
			t.Fatal(err)
		}
		root.End()
		tree := spanTree{spans: exp.GetSpans(), t: t}

		run := tree.one(root.SpanContext(), "invoke_agent Helper")
		wantAttrs(t, run, map[string]string{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": "helper", "gen_ai.agent.name": "Helper",
			"gen_ai.conversation.id": "s1", "gen_ai.request.model": "m", "gen_ai.response.model": "m", "gen_ai.response.finish_reasons": `["stop"]`})
		if in := attrsOf(run)["gen_ai.usage.input_tokens"]; in == "" || in == "0" {
			t.Errorf("the run's usage: %v", attrsOf(run))
		}
		if run.SpanKind != trace.SpanKindInternal {
			t.Errorf("run kind %v", run.SpanKind)
		}
		tree.one(run.SpanContext, "search_memory")
		chats := tree.children(run.SpanContext, "chat m")
		if len(chats) != 2 {
			t.Fatalf("%d model calls under the run, want 2: %v", len(chats), tree.names())
		}
		first, final := chats[0], chats[1]
		if first.StartTime.After(final.StartTime) {
			first, final = final, first
		}
		wantAttrs(t, first, map[string]string{"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.response.model": "m-1",
			"gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": "30", "gen_ai.usage.output_tokens": "4",
			"gen_ai.response.finish_reasons": `["tool_calls"]`, "agentgate.attempts": "2", "agentgate.provider": "p"})
		attempts := tree.children(first.SpanContext, "chat m")
		if len(attempts) != 2 {
			t.Fatalf("%d attempts under the first model call, want 2", len(attempts))
		}
		for _, a := range attempts {
			if a.SpanKind != trace.SpanKindClient {
				t.Errorf("attempt kind %v", a.SpanKind)
			}
			switch attrsOf(a)["agentgate.attempt"] {
			case "1":
				wantAttrs(t, a, map[string]string{"error.type": "upstream_unavailable", "gen_ai.provider.name": "openai", "server.address": "upstream.test"})
				if a.Status.Code != codes.Error || a.Status.Description != "upstream unavailable (HTTP 503)" {
					t.Errorf("failed attempt status %+v", a.Status)
				}
			case "2":
				wantAttrs(t, a, map[string]string{"gen_ai.response.finish_reasons": `["tool_calls"]`, "gen_ai.usage.input_tokens": "30"})
				if a.Status.Code == codes.Error {
					t.Error("the attempt that answered is marked failed")
				}
			default:
				t.Errorf("attempt %v", attrsOf(a))
			}
		}
		tool := tree.one(run.SpanContext, "execute_tool lookup")
		wantAttrs(t, tool, map[string]string{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
			"gen_ai.tool.call.id": "call_1", "gen_ai.tool.type": "extension", "gen_ai.tool.description": "Looks things up"})
		if !tool.StartTime.After(first.EndTime) && !tool.StartTime.Equal(first.EndTime) || tool.EndTime.After(final.StartTime) {
			t.Error("the tool call is not between the model calls")
		}
		wantAttrs(t, final, map[string]string{"gen_ai.response.finish_reasons": `["stop"]`, "agentgate.attempts": "1"})
		tree.one(final.SpanContext, "chat m")

		var all strings.Builder
		for _, sp := range tree.spans {
			for _, kv := range sp.Attributes {
				all.WriteString(kv.Value.String())
			}
		}
		for _, marker := range []string{"PROMPT-MARKER", "SYSTEM-MARKER", "COMPLETION-MARKER", "SECRET-ARG", "TOOL-RESULT"} {
			if got := strings.Contains(all.String(), marker); got != withContent {
				t.Errorf("content %v: %s recorded = %v", withContent, marker, got)
			}
		}
		if withContent {
			if !strings.Contains(attrsOf(final)["gen_ai.output.messages"], "COMPLETION-MARKER") ||
				!strings.Contains(attrsOf(first)["gen_ai.input.messages"], "PROMPT-MARKER") ||
				!strings.Contains(attrsOf(first)["gen_ai.system_instructions"], "SYSTEM-MARKER") ||
				!strings.Contains(attrsOf(tool)["gen_ai.tool.call.result"], "TOOL-RESULT") {
				t.Error("content is not where the conventions put it")
			}
		}
	}
}

// TestSubAgentSpans: an orchestrator's sub-agents are runs of their own
// below its run, each with its model call.
func TestSubAgentSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	parent := &adapters.Agent{ID: "boss", Name: "Boss", SystemPrompt: "Boss prompt", Project: "proj",
		Pattern: adapters.PatternSequential, SubAgents: []string{"alpha", "beta"}}
	rt, _ := orchestrationRuntime(t, &echoProvider{}, parent,
		&adapters.Agent{ID: "alpha", Name: "Alpha", SystemPrompt: "Alpha prompt", Project: "proj"},
		&adapters.Agent{ID: "beta", Name: "Beta", SystemPrompt: "Beta prompt"})
	ctx, root := tp.Tracer("caddy").Start(context.Background(), "request")
	if _, err := rt.Run(ctx, subAgentCall(parent, "plan a trip"), func(adapters.Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	root.End()
	tree := spanTree{spans: exp.GetSpans(), t: t}
	boss := tree.one(root.SpanContext(), "invoke_agent Boss")
	for _, name := range []string{"Alpha", "Beta"} {
		sub := tree.one(boss.SpanContext, "invoke_agent "+name)
		wantAttrs(t, sub, map[string]string{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": strings.ToLower(name)})
		tree.one(sub.SpanContext, "chat m")
	}
	tree.one(boss.SpanContext, "chat m") // the synthesis
}
