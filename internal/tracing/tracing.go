// Package tracing adds agentgate's spans to a request's trace: the run of
// an agent, each model call and each attempt of it, tool calls, memory
// recall, knowledge retrieval and sub-agents, with the attributes of
// OpenTelemetry's GenAI semantic conventions.
//
// agentgate configures no tracer of its own. Caddy's `tracing` directive
// (http.handlers.tracing) starts a span for each request and puts it in
// the request's context; Start makes its spans children of the span it
// finds there, with the tracer provider that span came from, so they
// join the request's trace and go wherever Caddy exports it. Without a
// span in the context (tracing off, or work no request started) Start
// returns a span that records nothing, at the cost of a context lookup.
//
// Prompts, completions, system instructions and tool arguments and
// results are recorded only where the operator opted in (WithContent).
package tracing

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentgate/agentgate/adapters"
)

// instrumentation names agentgate's tracer (its instrumentation scope).
const instrumentation = "github.com/agentgate/agentgate"

// Start starts a span named name, of kind kind, as a child of the span in
// ctx, and returns ctx carrying it. When ctx carries no recording span it
// returns ctx and that span (which records nothing).
func Start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer(instrumentation).Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// End ends span; when err is not nil the span is marked failed, with
// error.type set to ErrorType(err) and err's message as its status
// description (what the client was told, never the cause underneath,
// which may name internal hosts).
func End(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.SetAttributes(ErrorTypeKey.String(ErrorType(err)))
		msg := "internal error"
		var e *adapters.Error
		if errors.As(err, &e) {
			msg = e.Message
		} else if errors.Is(err, context.Canceled) {
			msg = "client closed the request"
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End()
}

// ErrorType is err's error.type: the gateway's error code
// (upstream_unavailable, rate_limit_exceeded…), client_closed when the
// caller went away, or _OTHER.
func ErrorType(err error) string {
	var e *adapters.Error
	switch {
	case errors.As(err, &e):
		return e.CodeOrDefault()
	case errors.Is(err, context.Canceled):
		return "client_closed"
	}
	return "_OTHER"
}

type contentKey struct{}

// WithContent returns ctx asking the spans started from it to record
// content: prompts and completions (gen_ai.system_instructions,
// gen_ai.input.messages, gen_ai.output.messages) and tool arguments and
// results (gen_ai.tool.call.arguments, gen_ai.tool.call.result).
func WithContent(ctx context.Context) context.Context {
	return context.WithValue(ctx, contentKey{}, true)
}

// RecordsContent reports whether span records content for ctx: it
// records at all, and the operator opted in (WithContent).
func RecordsContent(ctx context.Context, span trace.Span) bool {
	on, _ := ctx.Value(contentKey{}).(bool)
	return on && span.IsRecording()
}
