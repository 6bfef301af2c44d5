package models

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/internal/tracing"
)

// The raw passthrough lane's model calls: a client's OpenAI Chat
// Completions body goes to an OpenAI-compatible provider as it came (the
// dialect patches its model), and the answer's bytes go back to the
// client as they arrive (adapters/dialects/openai/lane.go). The calls are
// routed, retried before anything reached the client, and reported to
// the accountant (report.go) like every other model call.

// RawRoute is where a raw call goes: a provider instance that speaks
// OpenAI Chat Completions itself, and the upstream's name of the model.
type RawRoute struct {
	Provider string
	// Model is what the upstream is asked for: an alias resolved, a
	// routing prefix stripped.
	Model   string
	relayer adapters.ChatRelayer
}

// RawRoute returns the route of model (pinned to provider when set, as an
// agent's model is) when the raw lane can take a call to it: its provider
// speaks OpenAI Chat Completions itself, and its route says the model
// lacks nothing (the canonical path refuses or drops what a model
// lacks).
func (m *Models) RawRoute(model, pinned string) (*RawRoute, bool) {
	provider, upstream, ok := m.router.Resolve(model, pinned)
	if !ok || m.router.Lacks(model) != (Capabilities{}) {
		return nil, false
	}
	rl, ok := adapters.As[adapters.ChatRelayer](m.router.Provider(provider))
	if !ok {
		return nil, false
	}
	return &RawRoute{Provider: provider, Model: upstream, relayer: rl}, true
}

// RawCall is one model call on the raw lane.
type RawCall struct {
	Account
	Route *RawRoute
	// Model is the model the call asks for, before routing (the agent's,
	// or the one a client named); Sampling its sampling as decoded. They
	// describe the call in its trace.
	Model    string
	Sampling adapters.Sampling
	// Body is the request body as the upstream gets it.
	Body   []byte
	Stream bool
	// ID names the call's usage record; retries are ID.1, ID.2, … as a
	// run's attempts are.
	ID string
}

// RawAnswer is what relaying one attempt's answer did, as the relay tells
// it: the attempt is reported with it.
type RawAnswer struct {
	// Model is the model the upstream says answered; empty means the one
	// asked for. Provider is the provider instance that answered.
	Model, Provider string
	// Finish is the finish reason the upstream gave, if it did.
	Finish string
	// Usage is what the upstream reported, when HasUsage.
	Usage    adapters.Usage
	HasUsage bool
	// OutputBytes counts the answer's generated text (content, reasoning,
	// tool call arguments), for an estimate when the upstream reports no
	// usage.
	OutputBytes int
	// EmitErr is the error writing to the client returned, if any.
	EmitErr error

	now       func() time.Time
	t0        time.Time
	firstByte time.Duration
	committed bool
	// attempt is what reporting the attempt needs, set by Relay: it is
	// reported once (pending until then), by Complete, or by Relay once
	// the relay returned.
	attempt rawAttempt
	pending bool
}

// rawAttempt is one attempt of a raw call, to report.
type rawAttempt struct {
	m   *Models
	ctx context.Context
	x   *exchange.Exchange
	c   *RawCall
	id  string
}

// report reports a's attempt with err, unless it was reported already.
func (a *RawAnswer) report(err error) {
	if a.pending {
		a.pending = false
		at := &a.attempt
		at.m.reportRaw(at.ctx, at.x, at.c, a, at.id, err)
	}
}

// NewRawAnswer starts the answer of an attempt beginning now, on clock
// now: Relay makes one per attempt (and a test of a relay function one
// of its own, with nothing to report).
func NewRawAnswer(now func() time.Time) *RawAnswer { return &RawAnswer{now: now, t0: now()} }

// Commit notes that the answer begins to reach the client: from then on
// the attempt is not retried. The first call stamps the time to the first
// byte.
func (a *RawAnswer) Commit() {
	if !a.committed {
		a.committed, a.firstByte = true, a.now().Sub(a.t0)
	}
}

// Complete notes that the answer was read whole and is about to be
// written to the client: it commits the answer and reports the attempt
// now, as the canonical path reports a call before writing its answer,
// so that the request's figures (the {http.agentgate.*} placeholders of
// deferred response headers) include it when the answer's headers go
// out.
func (a *RawAnswer) Complete() {
	a.Commit()
	a.report(nil)
}

// Committed reports whether the answer began to reach the client.
func (a *RawAnswer) Committed() bool { return a.committed }

// Relay makes a raw call: it posts c's body and hands the 2xx answer to
// relay, which writes it to the client, calling Commit before the first
// byte. A failure before the commit (no answer, a non-2xx one, an answer
// that broke before its first byte went out) is retried per the retry
// policy when another try may cure it; every attempt is reported to the
// accountant, for x's request, and, in a traced request, is a span below
// the call's, as on the canonical path (tracing.go). It returns the last attempt's answer and error.
func (m *Models) Relay(ctx context.Context, x *exchange.Exchange, c *RawCall, relay func(*http.Response, *RawAnswer) error) (a *RawAnswer, err error) {
	ctx, span := startRawChat(ctx, c.Model, c.Sampling)
	var providerAttrs []attribute.KeyValue
	if span.IsRecording() {
		providerAttrs = m.traceAttrs[c.Route.Provider]
	}
	attempts := 0
	defer func() { endRawChat(span, a, attempts, providerAttrs, err) }()
	deadline := m.now().Add(m.retry.Deadline)
	for try := 0; ; try++ {
		attempts++
		actx, aspan := startAttempt(ctx, c.Route.Provider, c.Route.Model, attempts, providerAttrs)
		id := c.ID
		if try > 0 {
			id += "." + strconv.Itoa(try)
		}
		a = NewRawAnswer(m.now)
		a.Provider, a.attempt, a.pending = c.Route.Provider, rawAttempt{m: m, ctx: ctx, x: x, c: c, id: id}, true
		resp, err := c.Route.relayer.RelayChat(actx, c.Body, c.Stream)
		if err == nil {
			err = relay(resp, a)
		}
		// Reported as the relay ended, the client having all it was
		// given: not after the body's close, which may wait (drain) for an
		// upstream that lingers after its last event. The client may send
		// its next request at once; its call must not be stamped first.
		endRawAttempt(aspan, a, err)
		a.report(err)
		if resp != nil {
			resp.Body.Close()
		}
		if err == nil || a.committed || ctx.Err() != nil || !retryable(err) || try >= m.retry.Max {
			return a, err
		}
		wait := m.retry.wait(try, err)
		if m.now().Add(wait).After(deadline) {
			return a, err
		}
		if err := m.sleep(ctx, wait); err != nil {
			return a, err
		}
	}
}

// Attributes are the trace attributes of what the answer said: the
// model and provider instance that answered, its usage and finish reason.
func (a *RawAnswer) Attributes() []attribute.KeyValue {
	attrs := []attribute.KeyValue{tracing.ProviderInstanceKey.String(a.Provider)}
	if a.Model != "" {
		attrs = append(attrs, tracing.ResponseModelKey.String(a.Model))
	}
	if a.HasUsage {
		attrs = append(attrs, tracing.Usage(a.Usage)...)
	}
	return append(attrs, tracing.FinishReasons(a.Finish)...)
}

// reportRaw reports one attempt of a raw call. As on the canonical path,
// an attempt that failed before producing anything costs nothing, and
// usage the upstream did not report is estimated (marked so): the request
// body's bytes for the input, the answer's text for the output.
func (m *Models) reportRaw(ctx context.Context, x *exchange.Exchange, c *RawCall, a *RawAnswer, id string, err error) {
	at := m.now()
	u := a.Usage
	if !a.HasUsage && (err == nil || a.OutputBytes > 0) {
		u = adapters.Usage{InputTokens: (len(c.Body) + 3) / 4, OutputTokens: (a.OutputBytes + 3) / 4, Estimated: true}
	}
	model := a.Model
	if model == "" {
		model = c.Route.Model
	}
	m.report(ctx, x, &report{Account: c.Account, id: id, model: model, provider: c.Route.Provider, usage: u,
		firstByte: a.firstByte, latency: at.Sub(a.t0), at: at, err: err, emitErr: a.EmitErr, asked: c.Route.Model})
}
