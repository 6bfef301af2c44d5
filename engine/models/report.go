package models

import (
	"context"
	"errors"
	"time"

	"github.com/agentgate/agentgate/adapters"
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
	// unmetered leaves the call out of the request's Meter: memory's own
	// calls, which have always been accounted by their usage record only.
	unmetered bool
}

// report is the one point where a model call's usage is reported: it
// prices the call, writes its usage record and adds it to the request's
// Meter (the quota settlement, metrics and placeholders read it there).
// Every model call the engine makes or passes through comes here exactly
// once.
func (m *Models) report(ctx context.Context, r *report) {
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
	if r.unmetered {
		return
	}
	errCode := ""
	if status != "ok" {
		errCode = status
	}
	MeterFrom(ctx).recordCall(r.AgentID, r.model, r.provider, r.usage, cost, r.firstByte, r.latency, errCode, r.at)
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
