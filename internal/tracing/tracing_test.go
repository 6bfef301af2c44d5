package tracing

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentgate/agentgate/adapters"
)

// TestStartJoinsTheRequestSpan: spans are children of the span in the
// context, from its tracer provider; without one nothing is recorded.
func TestStartJoinsTheRequestSpan(t *testing.T) {
	ctx := context.Background()
	got, span := Start(ctx, "chat m", trace.SpanKindClient)
	if got != ctx || span.IsRecording() {
		t.Fatal("a span was started without a request span")
	}
	End(span, errors.New("no effect"))

	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, root := tp.Tracer("caddy").Start(ctx, "request")
	cctx, child := Start(ctx, "chat m", trace.SpanKindClient, OperationKey.String(OpChat))
	if trace.SpanFromContext(cctx) != child {
		t.Fatal("the context does not carry the new span")
	}
	_, ok := Start(cctx, "execute_tool calc", trace.SpanKindInternal)
	End(ok, nil)
	End(child, &adapters.Error{Kind: adapters.KindUnavailable, Message: "upstream unreachable", Cause: errors.New("dial tcp 10.0.0.1:443: refused")})
	root.End()

	spans := exp.GetSpans() // in the order they ended
	if len(spans) != 3 {
		t.Fatalf("%d spans", len(spans))
	}
	tool, chat := spans[0], spans[1]
	if chat.Parent.SpanID() != root.SpanContext().SpanID() || chat.SpanKind != trace.SpanKindClient || chat.InstrumentationScope.Name != instrumentation {
		t.Errorf("chat span: parent %v kind %v scope %q", chat.Parent.SpanID(), chat.SpanKind, chat.InstrumentationScope.Name)
	}
	if tool.Parent.SpanID() != chat.SpanContext.SpanID() {
		t.Error("a span started from the child's context is not its child")
	}
	if chat.Status.Code != codes.Error || chat.Status.Description != "upstream unreachable" {
		t.Errorf("status %+v", chat.Status)
	}
	attrs := map[string]string{}
	for _, kv := range chat.Attributes {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["error.type"] != "upstream_unavailable" || attrs["gen_ai.operation.name"] != "chat" {
		t.Errorf("attributes %v", attrs)
	}
	if tool.Status.Code == codes.Error {
		t.Error("a span that ended well is marked failed")
	}
}

func TestErrorType(t *testing.T) {
	for err, want := range map[error]string{
		&adapters.Error{Kind: adapters.KindTimeout}:                  "upstream_timeout",
		&adapters.Error{Kind: adapters.KindUpstream, Code: "x_code"}: "x_code",
		context.Canceled:         "client_closed",
		errors.New("disk broke"): "_OTHER",
	} {
		if got := ErrorType(err); got != want {
			t.Errorf("ErrorType(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestRecordsContent(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "s")
	defer span.End()
	if RecordsContent(ctx, span) {
		t.Error("content recorded without the opt-in")
	}
	if !RecordsContent(WithContent(ctx), span) {
		t.Error("content not recorded with the opt-in")
	}
	if RecordsContent(WithContent(context.Background()), trace.SpanFromContext(context.Background())) {
		t.Error("content recorded on a span that records nothing")
	}
}

// TestMessages: prompts and answers in the conventions' message shapes.
func TestMessages(t *testing.T) {
	msgs := []adapters.Message{
		adapters.TextMessage(adapters.RoleUser, "Weather in Paris?"),
		{Role: adapters.RoleAssistant, ToolCalls: []adapters.ToolCall{{ID: "c1", Name: "weather", Arguments: `{"city":"Paris"}`}}},
		{Role: adapters.RoleTool, ToolCallID: "c1", Parts: []adapters.Part{{Type: adapters.PartText, Text: "rainy"}}},
		{Role: adapters.RoleUser, Parts: []adapters.Part{{Type: adapters.PartImage, ImageURL: "data:image/png;base64,AAAA"}}},
	}
	attrs := InputMessages("Be brief.", msgs)
	if len(attrs) != 2 || attrs[0].Key != SystemInstructionsKey || attrs[0].Value.AsString() != `[{"type":"text","content":"Be brief."}]` {
		t.Fatalf("system instructions: %v", attrs)
	}
	want := `[{"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]},` +
		`{"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"weather","arguments":{"city":"Paris"}}]},` +
		`{"role":"tool","parts":[{"type":"tool_call_response","id":"c1","response":"rainy"}]},` +
		`{"role":"user","parts":[{"type":"image"}]}]`
	if got := attrs[1].Value.AsString(); got != want {
		t.Errorf("input messages:\n got %s\nwant %s", got, want)
	}
	out := OutputMessages(adapters.Message{Role: adapters.RoleAssistant, Reasoning: "hm",
		Parts: []adapters.Part{{Type: adapters.PartText, Text: "Rainy."}}, ToolCalls: []adapters.ToolCall{{ID: "c2", Name: "x", Arguments: "not json"}}}, "stop")
	want = `[{"role":"assistant","parts":[{"type":"reasoning","content":"hm"},{"type":"text","content":"Rainy."},` +
		`{"type":"tool_call","id":"c2","name":"x","arguments":"not json"}],"finish_reason":"stop"}]`
	if got := out.Value.AsString(); got != want {
		t.Errorf("output messages:\n got %s\nwant %s", got, want)
	}
}
