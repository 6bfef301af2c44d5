package knowledge

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/agentgate/agentgate/internal/tracing"
)

// startRecall starts the span of a run's memory recall, "search_memory"
// (the GenAI conventions' memory operation), for agent agentID.
func startRecall(ctx context.Context, agentID string) (context.Context, trace.Span) {
	return tracing.Start(ctx, tracing.OpSearchMemory, trace.SpanKindInternal,
		tracing.OperationKey.String(tracing.OpSearchMemory), tracing.AgentIDKey.String(agentID))
}

// startRetrieval starts the span of a run's knowledge retrieval,
// "retrieval" (the GenAI conventions' retrieval span), over sources.
func startRetrieval(ctx context.Context, sources []string) (context.Context, trace.Span) {
	return tracing.Start(ctx, tracing.OpRetrieval, trace.SpanKindInternal,
		tracing.OperationKey.String(tracing.OpRetrieval), tracing.DataSourceKey.String(strings.Join(sources, ",")))
}

// endFound ends a recall's or retrieval's span with how many items it
// found.
func endFound(span trace.Span, found int, err error) {
	if span.IsRecording() {
		span.SetAttributes(tracing.ResultsKey.Int(found))
	}
	tracing.End(span, err)
}
