package runtime

import (
	"context"
	"errors"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// Result is what a run produced, for dialects that answer with one JSON
// body or close a stream with a summary.
type Result struct {
	RunID     string
	SessionID string
	Text      string
	Reasoning string
	// ReasoningSignature is the provider's signature of Reasoning, kept
	// so later turns can replay signed thinking.
	ReasoningSignature string
	ToolCalls          []adapters.ToolCall
	Usage              adapters.Usage
	// Model is the upstream model that answered; Provider the provider
	// instance it was routed to (the last attempt's, after fallbacks).
	Model        string
	Provider     string
	FinishReason string
	Latency      time.Duration
}

// defaultReasoningEffort is asked for when an agent reasons but names no
// effort.
const defaultReasoningEffort = "medium"

// Run executes call and forwards its events to emit in order. Usage always
// reaches emit before Done: when the upstream reports none, the runtime
// estimates it and marks it so. A session turn is stored before Done is
// forwarded, so a client that saw the end of an answer can rely on the
// next turn seeing it.
func (rt *Runtime) Run(ctx context.Context, call *adapters.Call, emit adapters.Emit) (*Result, error) {
	start := rt.now()
	agent := call.Agent
	if !agent.Active() {
		return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "agent_not_active", Param: "agent",
			Message: "agent " + quote(agent.ID) + " is " + agent.Status + ", not active"}
	}
	req, err := rt.buildRequest(ctx, call)
	if err != nil {
		return nil, err
	}
	res := &Result{RunID: NewID("run-"), SessionID: call.SessionID}
	a, err := rt.complete(ctx, call, req, res.RunID, emit, func(a *attempt) error {
		res.fill(a)
		return rt.saveTurn(ctx, call, res)
	})
	res.Latency = rt.now().Sub(start)
	if a != nil {
		res.fill(a)
	}
	return res, err
}

// fill copies an attempt's outcome into r.
func (r *Result) fill(a *attempt) {
	r.Text, r.Reasoning, r.ReasoningSignature = a.text.String(), a.thinking.String(), a.signature
	r.ToolCalls, r.Usage, r.FinishReason = a.toolCalls, a.usage, a.finish
	r.Model, r.Provider = a.model, a.provider
}

func (rt *Runtime) buildRequest(ctx context.Context, call *adapters.Call) (*adapters.Request, error) {
	agent := call.Agent
	req := &adapters.Request{
		System:     agent.SystemPrompt,
		Tools:      call.ClientTools,
		ToolChoice: call.ToolChoice,
		Stream:     call.Stream,
		Sampling:   agent.Sampling.Merge(call.Sampling),
		Extra:      call.Extra,
	}
	if call.SystemPrompt != nil {
		req.System = *call.SystemPrompt
	}
	reasoning := agent.Reasoning
	if call.Reasoning != nil {
		reasoning = *call.Reasoning
	}
	if reasoning {
		effort := call.ReasoningEffort
		if effort == "" {
			effort = agent.ReasoningEffort
		}
		if effort == "" {
			effort = defaultReasoningEffort
		}
		req.Reasoning = &adapters.Reasoning{Effort: effort}
	}
	history, err := rt.history(ctx, call)
	if err != nil {
		return nil, err
	}
	req.Messages = append(history, call.Messages...)
	return req, nil
}

// history loads the earlier turns of call's session, checking that the
// session belongs to the caller's tenant and to the called agent.
func (rt *Runtime) history(ctx context.Context, call *adapters.Call) ([]adapters.Message, error) {
	if call.SessionID == "" {
		return nil, nil
	}
	tenant := call.Principal.Tenant
	s, err := rt.store.GetSession(ctx, tenant, call.SessionID)
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil // a new id starts a new session
	}
	if err != nil {
		return nil, err
	}
	if s.AgentID != call.Agent.ID {
		return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "session_not_found", Param: "session_id",
			Message: "session " + quote(call.SessionID) + " not found for agent " + quote(call.Agent.ID)}
	}
	n := call.Agent.HistoryTurns
	if n == 0 {
		n = adapters.DefaultHistoryTurns
	}
	return rt.store.RecentTurns(ctx, tenant, call.SessionID, n)
}

func (rt *Runtime) saveTurn(ctx context.Context, call *adapters.Call, res *Result) error {
	if call.SessionID == "" {
		return nil
	}
	reply := adapters.TextMessage(adapters.RoleAssistant, res.Text)
	reply.Reasoning, reply.ReasoningSignature = res.Reasoning, res.ReasoningSignature
	reply.ToolCalls = res.ToolCalls
	msgs := make([]adapters.Message, 0, len(call.Messages)+1)
	msgs = append(msgs, call.Messages...)
	msgs = append(msgs, reply)
	now := rt.now()
	return rt.store.AppendTurn(ctx, &state.Session{
		ID: call.SessionID, Tenant: call.Principal.Tenant, AgentID: call.Agent.ID, Created: now, Updated: now,
	}, msgs)
}

// accountAttempt writes the usage record of one attempt and reports it to
// the request's meter. A failed attempt that produced output is billed for
// it (the client saw it, or left while it streamed); one that failed
// before producing anything costs nothing.
func (rt *Runtime) accountAttempt(ctx context.Context, call *adapters.Call, req *adapters.Request, a *attempt,
	id, runID string, latency time.Duration, err error) {
	status := "ok"
	if err != nil {
		status = errorCode(ctx, err, a.emitErr)
		if !a.gotUsage && (a.text.Len() > 0 || a.thinking.Len() > 0) {
			a.usage = a.estimate(req)
		}
	}
	parent := ""
	if id != runID {
		parent = runID
	}
	p := call.Principal
	rt.recorder.Record(state.UsageRecord{
		ID: id, ParentID: parent, Time: rt.now(), Tenant: p.Tenant, KeyID: p.KeyID, Dialect: call.Dialect,
		AgentID: call.Agent.ID, Model: a.model, Provider: a.provider, SessionID: call.SessionID,
		InputTokens: a.usage.InputTokens, OutputTokens: a.usage.OutputTokens,
		ReasoningTokens: a.usage.ReasoningTokens, CachedTokens: a.usage.CachedTokens,
		Estimated: a.usage.Estimated, LatencyMs: latency.Milliseconds(), Status: status,
	})
	errCode := ""
	if err != nil {
		errCode = status
	}
	MeterFrom(ctx).recordCall(call.Agent.ID, a.model, a.provider, a.usage, a.firstByte, latency, errCode)
}

// errorCode names how a call ended for logs and metrics: client_closed
// when the client went away (its context ended or writing to it failed),
// the error's code for gateway and upstream errors, internal_error else.
func errorCode(ctx context.Context, err, emitErr error) string {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || (emitErr != nil && errors.Is(err, emitErr)) {
		return "client_closed"
	}
	var e *adapters.Error
	if errors.As(err, &e) {
		return e.CodeOrDefault()
	}
	return "internal_error"
}
