package models

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/tracing"
)

// A model call is traced as a "chat {model}" span covering its attempts,
// retries and fallbacks (GenAI inference spans: one logical operation),
// with a client span per attempt below it, "chat {upstream model}",
// numbered by agentgate.attempt. Both carry the GenAI attributes of what
// they asked for and got; the provider's own (gen_ai.provider.name,
// server.address) come from the configuration (Config.TraceAttributes).

// startChat starts the span of a model call for model.
func startChat(ctx context.Context, model string, req *adapters.Request) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, trace.SpanFromContext(ctx)
	}
	attrs := append([]attribute.KeyValue{tracing.OperationKey.String(tracing.OpChat), tracing.RequestModelKey.String(model)},
		tracing.Sampling(req.Sampling)...)
	ctx, span := tracing.Start(ctx, tracing.OpChat+" "+model, trace.SpanKindInternal, attrs...)
	if tracing.RecordsContent(ctx, span) {
		span.SetAttributes(tracing.InputMessages(req.System, req.Messages)...)
	}
	return ctx, span
}

// endChat ends a model call's span with its answer, after attempts.
func endChat(ctx context.Context, span trace.Span, a *Answer, attempts int, providerAttrs []attribute.KeyValue, err error) {
	if span.IsRecording() {
		span.SetAttributes(tracing.AttemptsKey.Int(attempts))
		if a != nil {
			span.SetAttributes(answerAttributes(a)...)
			span.SetAttributes(providerAttrs...)
			if tracing.RecordsContent(ctx, span) && err == nil {
				span.SetAttributes(tracing.OutputMessages(a.Message(), a.Finish))
			}
		}
	}
	tracing.End(span, err)
}

// startAttempt starts the span of attempt n (1-based) of a model call,
// to upstream model of provider instance provider.
func startAttempt(ctx context.Context, provider, upstream string, n int, providerAttrs []attribute.KeyValue) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, trace.SpanFromContext(ctx)
	}
	attrs := append([]attribute.KeyValue{tracing.OperationKey.String(tracing.OpChat), tracing.RequestModelKey.String(upstream),
		tracing.ProviderInstanceKey.String(provider), tracing.AttemptKey.Int(n)}, providerAttrs...)
	return tracing.Start(ctx, tracing.OpChat+" "+upstream, trace.SpanKindClient, attrs...)
}

// endAttempt ends an attempt's span with what it produced: nothing, for
// one that failed before the upstream answered.
func endAttempt(span trace.Span, a *Answer, err error) {
	if span.IsRecording() && (err == nil || a.committed || a.gotUsage) {
		span.SetAttributes(answerAttributes(a)...)
	}
	tracing.End(span, err)
}

// answerAttributes are the response attributes of a.
func answerAttributes(a *Answer) []attribute.KeyValue {
	attrs := []attribute.KeyValue{tracing.ResponseModelKey.String(a.Model), tracing.ProviderInstanceKey.String(a.Provider)}
	if a.gotUsage {
		attrs = append(attrs, tracing.Usage(a.Usage)...)
	}
	return append(attrs, tracing.FinishReasons(a.Finish)...)
}

// startEmbeddings starts the client span of an embedding call to
// upstream model of provider instance provider, whose trace attributes
// are providerAttrs.
func startEmbeddings(ctx context.Context, provider, upstream string, providerAttrs []attribute.KeyValue) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, trace.SpanFromContext(ctx)
	}
	attrs := append([]attribute.KeyValue{tracing.OperationKey.String(tracing.OpEmbeddings), tracing.RequestModelKey.String(upstream),
		tracing.ProviderInstanceKey.String(provider)}, providerAttrs...)
	return tracing.Start(ctx, tracing.OpEmbeddings+" "+upstream, trace.SpanKindClient, attrs...)
}

// startRawChat starts the span of a model call on the raw lane for model:
// the canonical call's span, without content (the lane decodes none).
func startRawChat(ctx context.Context, model string, sampling adapters.Sampling) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, trace.SpanFromContext(ctx)
	}
	attrs := append([]attribute.KeyValue{tracing.OperationKey.String(tracing.OpChat), tracing.RequestModelKey.String(model)},
		tracing.Sampling(sampling)...)
	return tracing.Start(ctx, tracing.OpChat+" "+model, trace.SpanKindInternal, attrs...)
}

// endRawChat ends a raw call's span with its last answer (nil: none).
func endRawChat(span trace.Span, a *RawAnswer, attempts int, providerAttrs []attribute.KeyValue, err error) {
	if span.IsRecording() {
		span.SetAttributes(tracing.AttemptsKey.Int(attempts))
		if a != nil {
			span.SetAttributes(a.Attributes()...)
			span.SetAttributes(providerAttrs...)
		}
	}
	tracing.End(span, err)
}

// endRawAttempt ends the span of an attempt of a raw call with what it
// relayed: nothing, for one that failed before the upstream answered.
func endRawAttempt(span trace.Span, a *RawAnswer, err error) {
	if span.IsRecording() && (err == nil || a.committed || a.HasUsage) {
		span.SetAttributes(a.Attributes()...)
	}
	tracing.End(span, err)
}
