package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/otlptest"
	"github.com/agentgate/agentgate/internal/testgate"
)

// TestTracedChat runs a chat through a real Caddy whose `tracing`
// directive exports OTLP/HTTP to a receiver the test starts: the model's
// first attempt fails with a 503 and is retried, the second asks for a
// tool, the gateway runs it and calls the model again. The receiver gets
// one trace: Caddy's span of the request, below it the run, its memory
// recall, the first model call with both attempts (the failed one marked
// so), the tool call and the final model call, with the GenAI attributes;
// and no prompt or completion text, which the operator did not ask for.
func TestTracedChat(t *testing.T) {
	rcv := otlptest.Start(t)
	for k, v := range rcv.Env() {
		t.Setenv(k, v)
	}
	model := (&fakeupstream.OpenAI{Reply: "It is in stock. COMPLETION-MARKER", ToolName: "lookup", ToolArgs: `{"sku":"A-1"}`,
		ToolCallID: "call_lookup_1"}).Start()
	t.Cleanup(model.Close)
	// The upstream answers its first call with a 503, then as the fake.
	up := overloadedOnce(t, model)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"in_stock":true}`)
	}))
	t.Cleanup(hook.Close)

	g := testgate.Start(t, testgate.Config{Site: "tracing {\n\t\tspan agentgate\n\t}", Block: `
		provider up openai {
			base_url ` + up.URL + `/v1
		}
		retries {
			backoff 1ms
			max_backoff 2ms
		}
		toolkit Stock http {
			method lookup ` + hook.URL + ` {
				description "Looks up a product's stock"
				parameters ` + "`" + `{"type":"object","properties":{"sku":{"type":"string"}}}` + "`" + `
			}
		}
		agent helper {
			name Helper
			model gpt-traced
			provider up
			tools lookup
		}`})
	status, body, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA,
		`{"model":"helper","messages":[{"role":"user","content":"Is A-1 in stock? PROMPT-MARKER"}]}`)
	if status != 200 || !strings.Contains(string(body), "It is in stock") {
		t.Fatalf("chat: %d %s", status, body)
	}

	// The request's span ends last: once it is in, so are its children.
	request, spans := rcv.WaitForRequest(t)
	find := func(parent otlptest.Span, name string) []otlptest.Span { return otlptest.Below(spans, parent, name) }
	one := func(parent otlptest.Span, name string) otlptest.Span {
		t.Helper()
		got := find(parent, name)
		if len(got) != 1 {
			var names []string
			for _, sp := range spans {
				names = append(names, sp.Name)
			}
			t.Fatalf("%d spans %q below %q, want 1; received %v", len(got), name, parent.Name, names)
		}
		return got[0]
	}
	want := func(sp otlptest.Span, attrs map[string]string) {
		t.Helper()
		for k, v := range attrs {
			if got := fmt.Sprint(sp.Attrs[k]); got != v {
				t.Errorf("%s: %s = %q, want %q", sp.Name, k, got, v)
			}
		}
	}
	run := one(request, "invoke_agent Helper")
	want(run, map[string]string{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": "helper", "gen_ai.agent.name": "Helper",
		"gen_ai.request.model": "gpt-traced", "gen_ai.response.model": "gpt-traced", "gen_ai.response.finish_reasons": "[stop]"})
	one(run, "search_memory")
	chats := find(run, "chat gpt-traced")
	if len(chats) != 2 {
		t.Fatalf("%d model calls below the run, want 2", len(chats))
	}
	first, final := chats[0], chats[1]
	if first.Start.After(final.Start) {
		first, final = final, first
	}
	want(first, map[string]string{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-traced",
		"gen_ai.response.finish_reasons": "[tool_calls]", "agentgate.attempts": "2", "agentgate.provider": "up"})
	attempts := find(first, "chat gpt-traced")
	if len(attempts) != 2 {
		t.Fatalf("%d attempts below the first model call, want 2", len(attempts))
	}
	for _, a := range attempts {
		if a.Kind != tracepb.Span_SPAN_KIND_CLIENT {
			t.Errorf("attempt kind %v", a.Kind)
		}
		want(a, map[string]string{"gen_ai.provider.name": "openai", "server.address": "127.0.0.1", "gen_ai.request.model": "gpt-traced"})
		switch a.Attr("agentgate.attempt") {
		case "1":
			want(a, map[string]string{"error.type": "upstream_unavailable"})
			if _, ok := a.Attrs["gen_ai.response.model"]; ok {
				t.Error("an attempt that got no answer names a response model")
			}
			if !a.Failed || a.Error != "upstream unavailable (HTTP 503)" {
				t.Errorf("the failed attempt: failed %v, %q", a.Failed, a.Error)
			}
		case "2":
			want(a, map[string]string{"gen_ai.response.finish_reasons": "[tool_calls]"})
			if a.Attr("gen_ai.usage.input_tokens") == "" || a.Attr("gen_ai.usage.output_tokens") == "" || a.Failed {
				t.Errorf("the second attempt: %v", a.Attrs)
			}
		default:
			t.Errorf("attempt %v", a.Attrs)
		}
	}
	tool := one(run, "execute_tool lookup")
	want(tool, map[string]string{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup", "gen_ai.tool.call.id": "call_lookup_1",
		"gen_ai.tool.type": "extension", "agentgate.toolkit": "Stock"})
	want(final, map[string]string{"gen_ai.response.finish_reasons": "[stop]", "agentgate.attempts": "1"})
	if final.Attr("gen_ai.usage.input_tokens") == "" || final.Attr("gen_ai.usage.output_tokens") == "" {
		t.Errorf("the final model call's usage: %v", final.Attrs)
	}
	one(final, "chat gpt-traced")
	for _, sp := range spans {
		if sp.TraceID != request.TraceID {
			t.Errorf("span %q is in another trace", sp.Name)
		}
		if sp.Name != "agentgate" && sp.Scope != "github.com/agentgate/agentgate" {
			t.Errorf("span %q of scope %q", sp.Name, sp.Scope)
		}
		if s := fmt.Sprint(sp.Attrs); strings.Contains(s, "PROMPT-MARKER") || strings.Contains(s, "COMPLETION-MARKER") {
			t.Errorf("span %q records content the operator did not ask for", sp.Name)
		}
	}
}
