package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/runtime/tools"
	"github.com/agentgate/agentgate/state"
	"go.uber.org/zap"
)

// Run statuses a Result reports.
const (
	StatusCompleted     = "completed"
	StatusPaused        = "paused"
	StatusCancelled     = "cancelled"
	StatusMaxIterations = "max_iterations"
)

// Result is what a run produced, for dialects that answer with one JSON
// body or close a stream with a summary.
type Result struct {
	RunID     string
	SessionID string
	// Status is completed, paused (tools wait for confirmation),
	// cancelled (every paused call rejected) or max_iterations.
	Status string
	// Text and Reasoning are the final answer's.
	Text      string
	Reasoning string
	// ReasoningSignature is the provider's signature of Reasoning, kept
	// so later turns can replay signed thinking.
	ReasoningSignature string
	// StopSequence is the stop sequence that ended the answer, when the
	// upstream says which.
	StopSequence string
	// ToolCalls are calls of client tools the client must run.
	ToolCalls []adapters.ToolCall
	// Steps are the tools the runtime ran, in order, with their results.
	Steps []Step
	// Pending are the calls a paused run waits on.
	Pending []state.PendingCall
	// Usage sums every model call of the run.
	Usage adapters.Usage
	// Model is the upstream model that answered last; Provider the
	// provider instance it was routed to (after fallbacks).
	Model        string
	Provider     string
	FinishReason string
	Iterations   int
	Latency      time.Duration
	// MemoryAccessed are the ids of the long-term memory items recalled
	// into the run's context.
	MemoryAccessed []string
	// Sources are the knowledge chunks retrieved into the run's context
	// (RAG), best first; Cited marks those the answer cites.
	Sources []Source
	// Turn is what the run added to its conversation: the call's
	// messages, then the model's (tool calls, tool results, the answer).
	// It is set when the run finishes.
	Turn []adapters.Message
}

// Step is one tool the runtime ran during a run.
type Step struct {
	Call    adapters.ToolCall
	Toolkit string
	Result  json.RawMessage
	Failed  bool
	// Declined marks a call a person rejected.
	Declined bool
}

// defaultReasoningEffort is asked for when an agent reasons but names no
// effort.
const defaultReasoningEffort = "medium"

// DefaultMaxIterations bounds a run's model calls when neither the agent
// nor the request does.
const DefaultMaxIterations = 10

// CancelledText answers a run whose every paused tool call was rejected.
const CancelledText = "Tool execution cancelled by user."

// runState is a run in progress.
type runState struct {
	call    *adapters.Call
	req     *adapters.Request
	res     *Result
	methods map[string]*tools.Method
	// turn is what the session gains when the run completes: the new
	// messages and every assistant and tool message after them.
	turn      []adapters.Message
	emit      adapters.Emit
	startSent bool
	attempts  int
	// guard filters the client-bound events by the agent's output
	// guardrails (guardrails.go); nil when it has none.
	guard *outputGuard
	// newSession is set when the run's turn began its session.
	newSession bool
}

// Run executes call and forwards its events to emit in order: Start once,
// then thinking, deltas, tool calls and tool results as the tool loop
// runs (the model asks for tools, the runtime runs them concurrently and
// feeds their results back, until an answer or the iteration bound), then
// Paused when a tool needs a person's confirmation, then Usage (summed
// over every model call; estimated and marked so when an upstream reports
// none) and Done. A session turn is stored before Done, so a client that
// saw the end of an answer can rely on the next turn seeing it.
//
// An agent with an orchestration pattern runs its sub-agents as the
// pattern says (Orchestrate, orchestrate.go).
func (rt *Runtime) Run(ctx context.Context, call *adapters.Call, emit adapters.Emit) (*Result, error) {
	if call.Agent.Orchestrates() {
		return rt.Orchestrate(ctx, call, emit)
	}
	return rt.run(ctx, call, emit, nil)
}

// run is Run for one agent's own tool loop; extra are runtime tools the
// run offers besides the operator's (an orchestrator's sub-agents).
func (rt *Runtime) run(ctx context.Context, call *adapters.Call, emit adapters.Emit, extra map[string]*tools.Method) (*Result, error) {
	start := rt.now()
	agent := call.Agent
	if !agent.Active() {
		return nil, adapters.NotActive(agent, "agent")
	}
	call, err := rt.guardInput(call)
	if err != nil {
		return nil, err
	}
	req, err := rt.buildRequest(ctx, call)
	if err != nil {
		return nil, err
	}
	methods, err := rt.runTools(call)
	if err != nil {
		return nil, err
	}
	for n, m := range extra {
		if methods == nil {
			methods = map[string]*tools.Method{}
		}
		methods[n] = m
	}
	req.Tools = appendTools(req.Tools, methods)
	runID := call.RunID
	if runID == "" {
		runID = NewID("run-")
	}
	sources, err := rt.augmentRequest(ctx, call, req, runID)
	if err != nil {
		return nil, err
	}
	st := &runState{call: call, req: req, methods: methods, emit: emit,
		res:  &Result{RunID: runID, SessionID: call.SessionID, Sources: sources},
		turn: append([]adapters.Message(nil), call.Messages...)}
	mem := rt.recallMemory(ctx, st)
	err = rt.loop(ctx, st)
	citeSources(st.res)
	st.res.Latency = rt.now().Sub(start)
	rt.rememberRun(st, mem, err)
	return st.res, err
}

// appendTools adds the runtime's tools to a request in name order: a
// stable request (golden files, upstream prompt caches) whatever order
// the map holds them in.
func appendTools(dst []adapters.Tool, methods map[string]*tools.Method) []adapters.Tool {
	names := make([]string, 0, len(methods))
	for n := range methods {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		dst = append(dst, methods[n].Tool())
	}
	return dst
}

// runTools resolves the operator-declared tools of a run. Tools a request
// names must exist (400 otherwise); an agent's own tools were checked
// when the agent was made, so one that has since left the configuration is
// skipped with a warning rather than failing every call to the agent.
func (rt *Runtime) runTools(call *adapters.Call) (map[string]*tools.Method, error) {
	if len(call.Agent.Tools) == 0 && len(call.Tools) == 0 {
		return nil, nil
	}
	out := map[string]*tools.Method{}
	for _, name := range call.Agent.Tools {
		if rt.tools == nil {
			break
		}
		ms, err := rt.tools.Resolve([]string{name})
		if err != nil {
			rt.log.Warn("agent names a tool that is not declared; skipped", zap.String("agent", call.Agent.ID), zap.String("tool", name))
			continue
		}
		for _, m := range ms {
			out[m.Name] = m
		}
	}
	if len(call.Tools) > 0 {
		if rt.tools == nil {
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "unknown_tool", Param: "tools",
				Message: "no tools are declared by the operator, but " + quote(call.Tools[0]) + " was asked for"}
		}
		ms, err := rt.tools.Resolve(call.Tools)
		if err != nil {
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "unknown_tool", Param: "tools",
				Message: err.Error() + "; declared toolkits: " + strings.Join(rt.tools.Names(), ", ")}
		}
		for _, m := range ms {
			out[m.Name] = m
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// loop runs model calls and tools until the run answers, pauses or hits
// its iteration bound.
func (rt *Runtime) loop(ctx context.Context, st *runState) error {
	if err := rt.guardStream(st); err != nil {
		return err
	}
	res := st.res
	maxIter := st.call.MaxIterations
	if maxIter <= 0 {
		maxIter = st.call.Agent.MaxIterations
	}
	if maxIter <= 0 {
		maxIter = DefaultMaxIterations
	}
	for {
		a, err := rt.complete(ctx, st)
		a, err = rt.guardAnswer(ctx, st, a, err)
		if a != nil {
			res.Usage.Add(a.usage)
			res.Text, res.Reasoning, res.ReasoningSignature = a.text.String(), a.thinking.String(), a.signature
			res.Model, res.Provider, res.FinishReason, res.StopSequence = a.model, a.provider, a.finish, a.stopSequence
		}
		if err != nil {
			return err
		}
		res.Iterations++
		var runtimeCalls, clientCalls []adapters.ToolCall
		for _, tc := range a.toolCalls {
			if _, ok := st.methods[tc.Name]; ok {
				runtimeCalls = append(runtimeCalls, tc)
			} else {
				clientCalls = append(clientCalls, tc)
			}
		}
		if len(runtimeCalls) == 0 || len(clientCalls) > 0 {
			// An answer, or calls only the client can run.
			res.ToolCalls = a.toolCalls
			return rt.finish(ctx, st, a.message(), StatusCompleted, a.finish)
		}
		assistant := a.message()
		st.req.Messages = append(st.req.Messages, assistant)
		st.turn = append(st.turn, assistant)
		if res.Iterations >= maxIter {
			return rt.finish(ctx, st, assistant, StatusMaxIterations, StatusMaxIterations)
		}
		var pending []state.PendingCall
		for _, tc := range runtimeCalls {
			m := st.methods[tc.Name]
			pending = append(pending, state.PendingCall{ToolCall: tc, Toolkit: m.Toolkit, RequiresConfirmation: m.RequiresConfirmation})
		}
		for _, pc := range pending {
			if pc.RequiresConfirmation {
				return rt.pause(ctx, st, pending)
			}
		}
		if err := rt.execute(ctx, st, pending, nil); err != nil {
			return err
		}
	}
}

// decision is what a person decided about one paused call.
type decision struct {
	confirmed bool
	args      json.RawMessage
}

// execute runs calls concurrently (declined ones are reported to the
// model as declined), then emits their results in call order and appends
// them to the conversation.
func (rt *Runtime) execute(ctx context.Context, st *runState, calls []state.PendingCall, decisions map[string]decision) error {
	steps := make([]Step, len(calls))
	var wg sync.WaitGroup
	for i, pc := range calls {
		steps[i] = Step{Call: pc.ToolCall, Toolkit: pc.Toolkit}
		if d, ok := decisions[pc.ID]; ok && !d.confirmed {
			steps[i].Declined, steps[i].Failed = true, true
			steps[i].Result = json.RawMessage(`{"error":"the user declined this tool call; do not retry it"}`)
			continue
		}
		wg.Add(1)
		go func(i int, m *tools.Method) {
			defer wg.Done()
			steps[i].Result, steps[i].Failed = tools.Run(ctx, m, json.RawMessage(steps[i].Call.Arguments))
		}(i, st.methods[pc.Name])
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range steps {
		s := &steps[i]
		call := s.Call
		if err := st.emit(adapters.Event{Type: adapters.EventToolResult, ToolCall: &call, ToolResult: string(s.Result),
			ToolError: s.Failed, Executed: true}); err != nil {
			return err
		}
		msg := adapters.TextMessage(adapters.RoleTool, string(s.Result))
		msg.ToolCallID, msg.Name = call.ID, call.Name
		st.req.Messages = append(st.req.Messages, msg)
		st.turn = append(st.turn, msg)
	}
	st.res.Steps = append(st.res.Steps, steps...)
	return nil
}

// finish ends a run: Usage, the session turn, Done.
func (rt *Runtime) finish(ctx context.Context, st *runState, final adapters.Message, status, finishReason string) error {
	res := st.res
	res.Status, res.FinishReason = status, finishReason
	if err := rt.sendStart(st); err != nil {
		return err
	}
	u := res.Usage
	if err := st.emit(adapters.Event{Type: adapters.EventUsage, Usage: &u}); err != nil {
		return err
	}
	if final.Role != "" && (len(st.turn) == 0 || !sameMessage(st.turn[len(st.turn)-1], final)) {
		st.turn = append(st.turn, final)
	}
	if err := rt.saveTurn(ctx, st); err != nil {
		return err
	}
	res.Turn = st.turn
	return st.emit(adapters.Event{Type: adapters.EventDone, Model: res.Model, FinishReason: finishReason, StopSequence: res.StopSequence})
}

// sendStart emits Start if no model call did (an empty answer, a
// cancelled run).
func (rt *Runtime) sendStart(st *runState) error {
	if st.startSent {
		return nil
	}
	st.startSent = true
	return st.emit(adapters.Event{Type: adapters.EventStart, Model: st.res.Model})
}

func sameMessage(a, b adapters.Message) bool {
	return a.Role == b.Role && a.Text() == b.Text() && len(a.ToolCalls) == len(b.ToolCalls)
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
	if call.PromptVars != nil {
		req.System = RenderPrompt(req.System, call.PromptVars)
	}
	req.Reasoning = reasoningOf(call)
	history, err := rt.history(ctx, call)
	if err != nil {
		return nil, err
	}
	if call.SessionID == "" {
		history = append([]adapters.Message(nil), call.History...)
	}
	req.Messages = append(history, call.Messages...)
	return req, nil
}

// reasoningOf is the thinking call asks for: the agent's default unless
// the call overrides it; nil when off.
func reasoningOf(call *adapters.Call) *adapters.Reasoning {
	agent := call.Agent
	reasoning := agent.Reasoning
	if call.Reasoning != nil {
		reasoning = *call.Reasoning
	}
	if !reasoning {
		return nil
	}
	effort := call.ReasoningEffort
	if effort == "" {
		effort = agent.ReasoningEffort
	}
	if effort == "" {
		effort = defaultReasoningEffort
	}
	return &adapters.Reasoning{Effort: effort, BudgetTokens: call.ReasoningBudget}
}

// history loads the earlier turns of call's session. A session is the
// conversation of one tenant with one agent (in one project): an id new to
// the called agent has none.
func (rt *Runtime) history(ctx context.Context, call *adapters.Call) ([]adapters.Message, error) {
	if call.SessionID == "" || call.Agent.NoHistory {
		return nil, nil // a turn without history is still stored
	}
	n := call.Agent.HistoryTurns
	if n == 0 {
		n = adapters.DefaultHistoryTurns
	}
	return rt.store.RecentTurns(ctx, sessionKey(call), n)
}

// sessionKey names call's session: its id with the called agent, in the
// call's project, of the caller's tenant.
func sessionKey(call *adapters.Call) state.SessionKey {
	return state.SessionKey{Tenant: call.Principal.Tenant, AgentID: call.Agent.ID, Project: call.Project, ID: call.SessionID}
}

// saveTurn appends the run's turn to its session (one round trip to the
// store) and notes whether it began the session.
func (rt *Runtime) saveTurn(ctx context.Context, st *runState) error {
	call := st.call
	if call.SessionID == "" {
		return nil
	}
	now := rt.now()
	s := &state.Session{ID: call.SessionID, Tenant: call.Principal.Tenant, AgentID: call.Agent.ID, Project: call.Project, Created: now, Updated: now}
	if err := rt.store.AppendTurn(ctx, s, st.turn); err != nil {
		return err
	}
	st.newSession = s.Turns == 1
	return nil
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
	parent := call.ParentRunID
	if id != runID {
		parent = runID
	}
	p := call.Principal
	at := rt.now()
	cost := rt.cost(a.usage, imagesIn(req.Messages), a.model, req.Model)
	rt.recorder.Record(state.UsageRecord{
		ID: id, ParentID: parent, Time: at, Tenant: p.Tenant, KeyID: p.KeyID, Dialect: call.Dialect,
		AgentID: call.Agent.ID, Model: a.model, Provider: a.provider, SessionID: call.SessionID,
		InputTokens: a.usage.InputTokens, OutputTokens: a.usage.OutputTokens,
		ReasoningTokens: a.usage.ReasoningTokens, CachedTokens: a.usage.CachedTokens,
		Estimated: a.usage.Estimated, LatencyMs: latency.Milliseconds(), Status: status, Cost: cost,
	})
	errCode := ""
	if err != nil {
		errCode = status
	}
	MeterFrom(ctx).recordCall(call.Agent.ID, a.model, a.provider, a.usage, cost, a.firstByte, latency, errCode, at)
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
