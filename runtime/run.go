package runtime

import (
	"context"
	"errors"
	"strings"
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
	ToolCalls []adapters.ToolCall
	Usage     adapters.Usage
	// Model is the upstream model that answered; Provider the provider
	// instance it was routed to.
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
	model := call.Model
	if model == "" {
		model = agent.Model
	}
	providerName, upstreamModel, ok := rt.router.Resolve(model, agent.Provider)
	if !ok {
		return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
			Message: "no provider serves model " + quote(model)}
	}
	req.Model = upstreamModel
	res := &Result{RunID: NewID("run-"), SessionID: call.SessionID, Model: upstreamModel, Provider: providerName}

	var (
		text, thinking strings.Builder
		gotUsage       bool
		firstByte      time.Duration
	)
	markFirstByte := func() {
		if firstByte == 0 {
			firstByte = rt.now().Sub(start)
		}
	}
	estimate := func() adapters.Usage {
		return adapters.Usage{
			InputTokens:     EstimateRequestTokens(req),
			OutputTokens:    EstimateTokens(text.String()) + EstimateTokens(thinking.String()),
			ReasoningTokens: EstimateTokens(thinking.String()),
			Estimated:       true,
		}
	}
	forward := func(ev adapters.Event) error {
		switch ev.Type {
		case adapters.EventStart:
			if ev.Model != "" {
				res.Model = ev.Model
			}
		case adapters.EventThinking:
			markFirstByte()
			thinking.WriteString(ev.Text)
		case adapters.EventDelta:
			markFirstByte()
			text.WriteString(ev.Text)
		case adapters.EventToolCall:
			markFirstByte()
			res.ToolCalls = append(res.ToolCalls, *ev.ToolCall)
		case adapters.EventUsage:
			gotUsage = true
			res.Usage.Add(*ev.Usage)
		case adapters.EventDone:
			res.FinishReason = ev.FinishReason
			if !gotUsage {
				gotUsage = true
				u := estimate()
				res.Usage = u
				if err := emit(adapters.Event{Type: adapters.EventUsage, Usage: &u}); err != nil {
					return err
				}
			}
			res.Text, res.Reasoning = text.String(), thinking.String()
			if err := rt.saveTurn(ctx, call, res); err != nil {
				return err
			}
		}
		return emit(ev)
	}

	err = rt.router.Provider(providerName).Chat(ctx, req, forward)
	res.Latency = rt.now().Sub(start)
	res.Text, res.Reasoning = text.String(), thinking.String()
	status := "ok"
	if err != nil {
		status = errorCode(ctx, err)
		// A call that produced output is billed for it even when it failed
		// or the client left; one that failed before producing anything
		// costs nothing.
		if !gotUsage && (text.Len() > 0 || thinking.Len() > 0) {
			res.Usage = estimate()
		}
	}
	rt.account(ctx, call, res, firstByte, status)
	if err != nil {
		return res, err
	}
	return res, nil
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
	reply.Reasoning = res.Reasoning
	reply.ToolCalls = res.ToolCalls
	msgs := make([]adapters.Message, 0, len(call.Messages)+1)
	msgs = append(msgs, call.Messages...)
	msgs = append(msgs, reply)
	now := rt.now()
	return rt.store.AppendTurn(ctx, &state.Session{
		ID: call.SessionID, Tenant: call.Principal.Tenant, AgentID: call.Agent.ID, Created: now, Updated: now,
	}, msgs)
}

// account writes the usage record of one model call and reports it to the
// request's meter.
func (rt *Runtime) account(ctx context.Context, call *adapters.Call, res *Result, firstByte time.Duration, status string) {
	p := call.Principal
	rt.recorder.Record(state.UsageRecord{
		ID: res.RunID, Time: rt.now(), Tenant: p.Tenant, KeyID: p.KeyID, Dialect: call.Dialect,
		AgentID: call.Agent.ID, Model: res.Model, Provider: res.Provider, SessionID: call.SessionID,
		InputTokens: res.Usage.InputTokens, OutputTokens: res.Usage.OutputTokens,
		ReasoningTokens: res.Usage.ReasoningTokens, CachedTokens: res.Usage.CachedTokens,
		Estimated: res.Usage.Estimated, LatencyMs: res.Latency.Milliseconds(), Status: status,
	})
	errCode := ""
	if status != "ok" {
		errCode = status
	}
	MeterFrom(ctx).recordCall(call.Agent.ID, res.Model, res.Provider, res.Usage, firstByte, res.Latency, errCode)
}

func errorCode(ctx context.Context, err error) string {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return "client_closed"
	}
	var e *adapters.Error
	if errors.As(err, &e) {
		return e.CodeOrDefault()
	}
	return "client_closed" // emit failed: the client could not be written to
}
