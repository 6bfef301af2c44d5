package models

import (
	"context"
	"errors"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/state"
)

// Account says on whose behalf a model call is made, for its usage
// record.
type Account struct {
	Principal *adapters.Principal
	// Dialect names the API the call serves ("memory" for memory's own
	// calls).
	Dialect   string
	AgentID   string
	SessionID string
	// ParentID is the run the call belongs to (a sub-agent run's parent,
	// the run a knowledge query or a memory job serves); empty for calls a
	// request makes directly.
	ParentID string
}

// report is one model call's usage, as report takes it.
type report struct {
	Account
	// id is the usage record's id.
	id              string
	model, provider string
	usage           adapters.Usage
	// firstByte is the time to the call's first generated output; latency
	// its whole duration; at the moment it ended.
	firstByte, latency time.Duration
	at                 time.Time
	// err is how the call failed, if it did; emitErr the error the client
	// side returned (the client left), which makes err client_closed.
	// status, when set, names how the call ended instead ("ok" or an
	// error code: a passed-through call's).
	err, emitErr error
	status       string
	// asked is the model the call asked for, when model is the one the
	// upstream reported; images counts the request's images. Both price
	// the call.
	asked  string
	images int
}

// CallObserver is told of every model call the accountant takes, made
// for a request or not (memory's own calls): the gateway's per-call
// metrics (failed upstream calls by provider).
type CallObserver interface {
	// ObserveCall is told of r, which x's request made (x nil: a call no
	// request made), once x has accounted it. r comes by value: a pointer
	// through the interface would take every call's report to the heap.
	ObserveCall(x *exchange.Exchange, r exchange.Report)
}

// report is the accountant: the one point where a model call's usage is
// reported. It prices the call, writes its usage record (from which the
// store's counters count), tells the CallObserver, and adds the call to
// the exchange x of the request it was made for, whose figures settle
// the request's limits and feed its metrics, placeholders and log line.
// x is nil for calls no request made (memory's own, accounted by their
// usage record only). Every model call the engine makes or passes
// through comes here exactly once.
func (m *Models) report(ctx context.Context, x *exchange.Exchange, r *report) {
	status, errText := r.status, ""
	switch {
	case status != "":
	case r.err != nil:
		status = errorCode(ctx, r.err, r.emitErr)
		errText = state.UsageError(adapters.Describe(r.err))
	default:
		status = "ok"
	}
	cost := m.cost(r.usage, r.images, r.model, r.asked)
	var p adapters.Principal
	if r.Principal != nil {
		p = *r.Principal
	}
	m.recorder.Record(state.UsageRecord{
		ID: r.id, ParentID: r.ParentID, Time: r.at, Tenant: p.Tenant, KeyID: p.KeyID, Dialect: r.Dialect,
		AgentID: r.AgentID, Model: r.model, Provider: r.provider, SessionID: r.SessionID,
		InputTokens: r.usage.InputTokens, OutputTokens: r.usage.OutputTokens,
		ReasoningTokens: r.usage.ReasoningTokens, CachedTokens: r.usage.CachedTokens,
		Estimated: r.usage.Estimated, LatencyMs: r.latency.Milliseconds(), Status: status, Cost: cost, Error: errText,
	})
	call := exchange.Report{AgentID: r.AgentID, Model: r.model, Provider: r.provider, Usage: r.usage, Cost: cost,
		FirstByte: r.firstByte, Latency: r.latency, At: r.at, Status: status, Err: r.err,
		ClientClosed: r.err != nil && (ctx.Err() != nil || r.emitErr != nil)}
	x.Account(&call)
	if m.observer != nil {
		m.observer.ObserveCall(x, call)
	}
}

// errorCode names how a call ended for logs and metrics: client_closed
// when the client went away (its context ended or writing to it failed),
// the error's code for gateway and upstream errors, internal_error else.
// An *adapters.Error is classified by itself, not by its cause: an
// upstream's own cancellation underneath is no client leaving.
func errorCode(ctx context.Context, err, emitErr error) string {
	if ctx.Err() != nil || (emitErr != nil && errors.Is(err, emitErr)) {
		return "client_closed"
	}
	var e *adapters.Error
	if errors.As(err, &e) {
		return e.CodeOrDefault()
	}
	if errors.Is(err, context.Canceled) {
		return "client_closed"
	}
	return "internal_error"
}
