package toolloop

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/state"
	"go.uber.org/zap"
)

// pause stops a run before tools that need a person's confirmation and
// persists it, with everything needed to resume, until its TTL.
func (l *Loop) pause(ctx context.Context, st *State, pending []state.PendingCall) error {
	call, res := st.Call, st.Result
	now := l.now()
	names := make([]string, 0, len(st.Methods))
	for n := range st.Methods {
		names = append(names, n)
	}
	model := call.Model
	if model == "" {
		model = call.Agent.Model
	}
	run := &state.Run{
		ID: res.RunID, Tenant: call.Principal.Tenant, AgentID: call.Agent.ID, SessionID: call.SessionID,
		Dialect: call.Dialect, Status: state.RunPaused, Model: model, System: st.Request.System, Tools: names,
		Messages: st.Request.Messages, Turn: st.Turn, Pending: pending, Usage: res.Usage, Iterations: res.Iterations,
		Created: now, Expires: now.Add(l.pausedTTL),
	}
	if err := l.store.PutRun(ctx, run); err != nil {
		return err
	}
	res.Status, res.Pending, res.FinishReason = StatusPaused, pending, StatusPaused
	if err := st.Model.Start(res.Model); err != nil {
		return err
	}
	if err := st.emit(adapters.Event{Type: adapters.EventPaused}); err != nil {
		return err
	}
	u := res.Usage
	if err := st.emit(adapters.Event{Type: adapters.EventUsage, Usage: &u}); err != nil {
		return err
	}
	return st.emit(adapters.Event{Type: adapters.EventDone, Model: res.Model, FinishReason: StatusPaused})
}

// Decision is a person's answer to one paused tool call: confirm (with
// the arguments as given, or edited) or reject.
type Decision struct {
	ToolCallID string
	Confirmed  bool
	// Args, when set, replaces the call's arguments.
	Args json.RawMessage
}

// Resume commits a paused run: confirmed calls run (with edited
// arguments), rejected ones are reported to the model as declined, and
// the run continues to its end. When every call is rejected the run ends
// as cancelled with CancelledText. A run is committed once: unknown,
// expired, already committed or another tenant's runs are 4xx errors.
// call carries the principal, the dialect, the agent and streaming; the
// model and session are the paused run's. x's request is admitted once
// the decisions are checked and before the run is claimed, so a refused
// commit leaves the run paused: with the paused conversation's tokens
// when a call runs, as one that calls no model when every call is
// rejected.
func (l *Loop) Resume(ctx context.Context, x *exchange.Exchange, call *adapters.Call, runID string, decisions []Decision, emit adapters.Emit) (*Result, error) {
	start := l.now()
	p := call.Principal
	run, err := l.store.GetRun(ctx, p.Tenant, runID)
	if errors.Is(err, state.ErrNotFound) || (err == nil && run.AgentID != call.Agent.ID) {
		return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "run_not_found", Param: "run_id",
			Message: "run " + adapters.Quote(runID) + " not found for agent " + adapters.Quote(call.Agent.ID)}
	}
	if err != nil {
		return nil, err
	}
	if run.Status != state.RunPaused {
		return nil, &adapters.Error{Kind: adapters.KindConflict, Code: "run_not_paused", Param: "run_id",
			Message: "run " + adapters.Quote(runID) + " is " + run.Status + ": a paused run can be committed once"}
	}
	if start.After(run.Expires) {
		return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "run_expired", Param: "run_id",
			Message: "run " + adapters.Quote(runID) + " expired at " + run.Expires.UTC().Format("2006-01-02T15:04:05Z")}
	}
	byID := make(map[string]decision, len(decisions))
	known := map[string]bool{}
	for _, pc := range run.Pending {
		known[pc.ID] = true
	}
	for _, d := range decisions {
		if !known[d.ToolCallID] {
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "unknown_tool_call", Param: "updated_tools",
				Message: "tool call " + adapters.Quote(d.ToolCallID) + " is not pending in run " + adapters.Quote(runID)}
		}
		if d.Args != nil && !json.Valid(d.Args) {
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_tool_args", Param: "updated_tools",
				Message: "tool_args of " + adapters.Quote(d.ToolCallID) + " is not valid JSON"}
		}
		byID[d.ToolCallID] = decision{confirmed: d.Confirmed, args: d.Args}
	}
	confirmedAny := false
	for _, pc := range run.Pending {
		d, ok := byID[pc.ID]
		if pc.RequiresConfirmation && !ok {
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "missing_decision", Param: "updated_tools",
				Message: "tool call " + adapters.Quote(pc.ID) + " (" + pc.Name + ") needs a decision: confirmed true or false"}
		}
		if !ok || d.confirmed {
			confirmedAny = true // calls needing no confirmation run with confirmed ones
		}
	}
	if !confirmedAny {
		for _, pc := range run.Pending {
			if !pc.RequiresConfirmation {
				confirmedAny = true
			}
		}
	}
	// An agent made inactive (or draft) since the run paused runs
	// nothing more; its paused runs can still be cancelled.
	if confirmedAny && !call.Agent.Active() {
		return nil, adapters.NotActive(call.Agent, "agent")
	}
	var est exchange.Estimate
	if confirmedAny {
		model := run.Model
		if call.Model != "" {
			model = call.Model
		}
		paused := *call
		paused.Model = model
		est = models.EstimateCall(&paused, &adapters.Request{System: run.System, Messages: run.Messages,
			Sampling: call.Agent.Sampling.Merge(call.Sampling)})
	}
	if err := x.Admit(ctx, est); err != nil {
		return nil, err
	}
	claimed, err := l.store.ClaimRun(ctx, p.Tenant, runID, state.RunResuming)
	if errors.Is(err, state.ErrConflict) || errors.Is(err, state.ErrNotFound) {
		return nil, &adapters.Error{Kind: adapters.KindConflict, Code: "run_not_paused", Param: "run_id",
			Message: "run " + adapters.Quote(runID) + " was committed already"}
	}
	if err != nil {
		return nil, err
	}
	run = claimed

	resumed := *call
	resumed.SessionID, resumed.Model, resumed.Dialect = run.SessionID, run.Model, run.Dialect
	if call.Model != "" {
		resumed.Model = call.Model
	}
	resumed.Tools = run.Tools
	resumed.Agent = &adapters.Agent{}
	*resumed.Agent = *call.Agent
	resumed.Agent.Tools = nil // the paused run's tools, exactly
	methods, err := l.Methods(&resumed)
	if err != nil {
		return nil, err
	}
	req := &adapters.Request{System: run.System, Messages: run.Messages, Stream: call.Stream,
		Sampling: call.Agent.Sampling.Merge(call.Sampling), Reasoning: models.Reasoning(call), User: call.UpstreamUser}
	req.Tools = AppendTools(req.Tools, methods)
	st := NewState(x, &resumed, req, methods, &Result{RunID: run.ID, SessionID: run.SessionID, Usage: run.Usage, Iterations: run.Iterations},
		run.Turn, emit)

	if !confirmedAny {
		st.Result.Text = CancelledText
		if err := st.Model.Start(st.Result.Model); err != nil {
			return st.Result, err
		}
		// Every call answered as declined keeps the conversation valid for
		// providers that require a result after each tool call.
		if err := l.execute(ctx, st, run.Pending, byID); err != nil {
			return st.Result, err
		}
		if err := emit(adapters.Event{Type: adapters.EventDelta, Text: CancelledText}); err != nil {
			return st.Result, err
		}
		err := l.finish(ctx, st, adapters.TextMessage(adapters.RoleAssistant, CancelledText), StatusCancelled, StatusCancelled)
		l.closeRun(ctx, run, state.RunCancelled)
		st.Result.Latency = l.now().Sub(start)
		return st.Result, err
	}

	// Edited arguments replace the model's, in the conversation too, so
	// the model knows what actually ran.
	calls := append([]state.PendingCall(nil), run.Pending...)
	last := &req.Messages[len(req.Messages)-1]
	for i := range calls {
		d, ok := byID[calls[i].ID]
		if !ok || !d.confirmed || d.args == nil {
			continue
		}
		calls[i].Arguments = string(d.args)
		for j := range last.ToolCalls {
			if last.ToolCalls[j].ID == calls[i].ID {
				last.ToolCalls[j].Arguments = string(d.args)
			}
		}
	}
	if n := len(st.Turn); n > 0 {
		st.Turn[n-1] = *last
	}
	if err := l.execute(ctx, st, calls, byID); err != nil {
		return st.Result, err
	}
	err = l.Run(ctx, st)
	if st.Result.Status != StatusPaused {
		l.closeRun(ctx, run, state.RunCompleted)
	}
	st.Result.Latency = l.now().Sub(start)
	return st.Result, err
}

// closeRun records a resumed run's end; it can never be committed again.
func (l *Loop) closeRun(ctx context.Context, run *state.Run, status string) {
	run.Status = status
	if err := l.store.PutRun(context.WithoutCancel(ctx), run); err != nil {
		l.log.Warn("recording the end of a resumed run", zap.String("run_id", run.ID), zap.Error(err))
	}
}
