package runtime

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// pause stops a run before tools that need a person's confirmation and
// persists it, with everything needed to resume, until its TTL.
func (rt *Runtime) pause(ctx context.Context, st *runState, pending []state.PendingCall) error {
	call, res := st.call, st.res
	now := rt.now()
	names := make([]string, 0, len(st.methods))
	for n := range st.methods {
		names = append(names, n)
	}
	model := call.Model
	if model == "" {
		model = call.Agent.Model
	}
	run := &state.Run{
		ID: res.RunID, Tenant: call.Principal.Tenant, AgentID: call.Agent.ID, SessionID: call.SessionID,
		Dialect: call.Dialect, Status: state.RunPaused, Model: model, System: st.req.System, Tools: names,
		Messages: st.req.Messages, Turn: st.turn, Pending: pending, Usage: res.Usage, Iterations: res.Iterations,
		Created: now, Expires: now.Add(rt.pausedTTL),
	}
	if err := rt.store.PutRun(ctx, run); err != nil {
		return err
	}
	res.Status, res.Pending, res.FinishReason = StatusPaused, pending, StatusPaused
	if err := rt.sendStart(st); err != nil {
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
// model and session are the paused run's.
func (rt *Runtime) Resume(ctx context.Context, call *adapters.Call, runID string, decisions []Decision, emit adapters.Emit) (*Result, error) {
	start := rt.now()
	p := call.Principal
	run, err := rt.store.GetRun(ctx, p.Tenant, runID)
	if errors.Is(err, state.ErrNotFound) || (err == nil && run.AgentID != call.Agent.ID) {
		return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "run_not_found", Param: "run_id",
			Message: "run " + quote(runID) + " not found for agent " + quote(call.Agent.ID)}
	}
	if err != nil {
		return nil, err
	}
	if run.Status != state.RunPaused {
		return nil, &adapters.Error{Kind: adapters.KindConflict, Code: "run_not_paused", Param: "run_id",
			Message: "run " + quote(runID) + " is " + run.Status + ": a paused run can be committed once"}
	}
	if start.After(run.Expires) {
		return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "run_expired", Param: "run_id",
			Message: "run " + quote(runID) + " expired at " + run.Expires.UTC().Format("2006-01-02T15:04:05Z")}
	}
	byID := make(map[string]decision, len(decisions))
	known := map[string]bool{}
	for _, pc := range run.Pending {
		known[pc.ID] = true
	}
	for _, d := range decisions {
		if !known[d.ToolCallID] {
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "unknown_tool_call", Param: "updated_tools",
				Message: "tool call " + quote(d.ToolCallID) + " is not pending in run " + quote(runID)}
		}
		if d.Args != nil && !json.Valid(d.Args) {
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_tool_args", Param: "updated_tools",
				Message: "tool_args of " + quote(d.ToolCallID) + " is not valid JSON"}
		}
		byID[d.ToolCallID] = decision{confirmed: d.Confirmed, args: d.Args}
	}
	confirmedAny := false
	for _, pc := range run.Pending {
		d, ok := byID[pc.ID]
		if pc.RequiresConfirmation && !ok {
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "missing_decision", Param: "updated_tools",
				Message: "tool call " + quote(pc.ID) + " (" + pc.Name + ") needs a decision: confirmed true or false"}
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
	claimed, err := rt.store.ClaimRun(ctx, p.Tenant, runID, state.RunResuming)
	if errors.Is(err, state.ErrConflict) || errors.Is(err, state.ErrNotFound) {
		return nil, &adapters.Error{Kind: adapters.KindConflict, Code: "run_not_paused", Param: "run_id",
			Message: "run " + quote(runID) + " was committed already"}
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
	methods, err := rt.runTools(&resumed)
	if err != nil {
		return nil, err
	}
	req := &adapters.Request{System: run.System, Messages: run.Messages, Stream: call.Stream,
		Sampling: call.Agent.Sampling.Merge(call.Sampling), Reasoning: reasoningOf(call)}
	req.Tools = appendTools(req.Tools, methods)
	st := &runState{call: &resumed, req: req, methods: methods, emit: emit, turn: run.Turn,
		res: &Result{RunID: run.ID, SessionID: run.SessionID, Usage: run.Usage, Iterations: run.Iterations}}

	if !confirmedAny {
		st.res.Text = CancelledText
		if err := rt.sendStart(st); err != nil {
			return st.res, err
		}
		// Every call answered as declined keeps the conversation valid for
		// providers that require a result after each tool call.
		if err := rt.execute(ctx, st, run.Pending, byID); err != nil {
			return st.res, err
		}
		if err := emit(adapters.Event{Type: adapters.EventDelta, Text: CancelledText}); err != nil {
			return st.res, err
		}
		err := rt.finish(ctx, st, adapters.TextMessage(adapters.RoleAssistant, CancelledText), StatusCancelled, StatusCancelled)
		rt.closeRun(ctx, run, state.RunCancelled)
		st.res.Latency = rt.now().Sub(start)
		return st.res, err
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
	if n := len(st.turn); n > 0 {
		st.turn[n-1] = *last
	}
	if err := rt.execute(ctx, st, calls, byID); err != nil {
		return st.res, err
	}
	err = rt.loop(ctx, st)
	if st.res.Status != StatusPaused {
		rt.closeRun(ctx, run, state.RunCompleted)
	}
	st.res.Latency = rt.now().Sub(start)
	return st.res, err
}

// closeRun records a resumed run's end; it can never be committed again.
func (rt *Runtime) closeRun(ctx context.Context, run *state.Run, status string) {
	run.Status = status
	if err := rt.store.PutRun(context.WithoutCancel(ctx), run); err != nil {
		rt.log.Warn("recording the end of a resumed run")
	}
}
