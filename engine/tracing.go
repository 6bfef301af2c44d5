package engine

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/internal/tracing"
)

// startRun starts the span of a run of call's agent, "invoke_agent
// {agent}" (GenAI agent spans: the agent runs in this process, so the
// span is internal), as a child of the request's; a sub-agent's run is a
// child of its orchestrator's.
func startRun(ctx context.Context, call *adapters.Call) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, trace.SpanFromContext(ctx)
	}
	a := call.Agent
	name := a.Name
	if name == "" {
		name = a.ID
	}
	attrs := []attribute.KeyValue{tracing.OperationKey.String(tracing.OpInvokeAgent),
		tracing.AgentIDKey.String(a.ID), tracing.AgentNameKey.String(name)}
	if a.Description != "" {
		attrs = append(attrs, tracing.AgentDescriptionKey.String(a.Description))
	}
	if call.SessionID != "" {
		attrs = append(attrs, tracing.ConversationKey.String(call.SessionID))
	}
	model := call.Model
	if model == "" {
		model = a.Model
	}
	if model != "" {
		attrs = append(attrs, tracing.RequestModelKey.String(model))
	}
	ctx, span := tracing.Start(ctx, tracing.OpInvokeAgent+" "+name, trace.SpanKindInternal, attrs...)
	if tracing.RecordsContent(ctx, span) {
		span.SetAttributes(tracing.InputMessages("", call.Messages)...)
	}
	return ctx, span
}

// endRun ends a run's span with what the run produced.
func endRun(ctx context.Context, span trace.Span, res *toolloop.Result, err error) {
	if res != nil && span.IsRecording() {
		span.SetAttributes(tracing.RunIDKey.String(res.RunID))
		if res.Model != "" {
			span.SetAttributes(tracing.ResponseModelKey.String(res.Model), tracing.ProviderInstanceKey.String(res.Provider))
		}
		span.SetAttributes(tracing.Usage(res.Usage)...)
		span.SetAttributes(tracing.FinishReasons(res.FinishReason)...)
		if tracing.RecordsContent(ctx, span) && err == nil {
			answer := adapters.TextMessage(adapters.RoleAssistant, res.Text)
			answer.Reasoning, answer.ToolCalls = res.Reasoning, res.ToolCalls
			span.SetAttributes(tracing.OutputMessages(answer, res.FinishReason))
		}
	}
	tracing.End(span, err)
}

// endRawRun ends the span of a run on the raw lane with what its answer
// said (a; nil when no attempt was made).
func endRawRun(span trace.Span, runID string, a *models.RawAnswer, err error) {
	if span.IsRecording() {
		span.SetAttributes(tracing.RunIDKey.String(runID))
		if a != nil {
			span.SetAttributes(a.Attributes()...)
		}
	}
	tracing.End(span, err)
}
