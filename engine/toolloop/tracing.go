package toolloop

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/internal/tracing"
)

// startTool starts the span of one tool call the run executes,
// "execute_tool {tool}" (GenAI execute-tool spans). The run executes the
// tool itself, calling out to its webhook or MCP server: an "extension"
// in the conventions' words.
func startTool(ctx context.Context, m *tools.Method, call adapters.ToolCall) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, trace.SpanFromContext(ctx)
	}
	attrs := []attribute.KeyValue{tracing.OperationKey.String(tracing.OpExecuteTool), tracing.ToolNameKey.String(call.Name),
		tracing.ToolCallIDKey.String(call.ID), tracing.ToolTypeKey.String("extension"), tracing.ToolkitKey.String(m.Toolkit)}
	if m.Description != "" {
		attrs = append(attrs, tracing.ToolDescriptionKey.String(m.Description))
	}
	ctx, span := tracing.Start(ctx, tracing.OpExecuteTool+" "+call.Name, trace.SpanKindInternal, attrs...)
	if tracing.RecordsContent(ctx, span) {
		span.SetAttributes(tracing.ToolArgumentsKey.String(call.Arguments))
	}
	return ctx, span
}

// endTool ends a tool call's span with its result: a tool that failed
// (its error is what the model is told) marks the span failed.
func endTool(ctx context.Context, span trace.Span, s *Step) {
	if span.IsRecording() {
		if tracing.RecordsContent(ctx, span) {
			span.SetAttributes(tracing.ToolResultKey.String(string(s.Result)))
		}
		if s.Failed {
			span.SetAttributes(tracing.ErrorTypeKey.String("tool_error"))
			span.SetStatus(codes.Error, "the tool failed")
		}
	}
	span.End()
}
