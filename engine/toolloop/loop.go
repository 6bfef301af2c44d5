// Package toolloop runs an agent's tool loop: model call, the tools the
// model asks for (independent calls concurrently), their results back to
// the model, until an answer or the iteration bound; a tool that needs a
// person's confirmation pauses the run, which is stored (paused-run
// storage) until Resume commits it. The engine assembles each run's
// context and hooks its guardrails and sessions in (Hooks); model calls
// go through engine/models.
package toolloop

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/exchange"
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
	// Steps are the tools the run executed itself, in order, with their results.
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
	Sources []adapters.Source
	// Turn is what the run added to its conversation: the call's
	// messages, then the model's (tool calls, tool results, the answer).
	// It is set when the run finishes.
	Turn []adapters.Message
}

// Step is one tool the run executed itself.
type Step struct {
	Call    adapters.ToolCall
	Toolkit string
	Result  json.RawMessage
	Failed  bool
	// Declined marks a call a person rejected.
	Declined bool
}

// DefaultMaxIterations bounds a run's model calls when neither the agent
// nor the request does.
const DefaultMaxIterations = 10

// CancelledText answers a run whose every paused tool call was rejected.
const CancelledText = "Tool execution cancelled by user."

// State is a run in progress.
type State struct {
	Call    *adapters.Call
	Request *adapters.Request
	Result  *Result
	// Methods are the tools the run executes itself, by name.
	Methods map[string]*tools.Method
	// Turn is what the session gains when the run completes: the new
	// messages and every assistant and tool message after them.
	Turn []adapters.Message
	// Model is the run's side of its model calls; its Emit receives the
	// events the client sees.
	Model *models.Run
	// NewSession is set (by Hooks.SaveTurn) when the run's turn began its
	// session.
	NewSession bool
	// check vets the run's answers (the engine's output guardrails); nil
	// when the agent has none. guarded tells it was asked for.
	check   Checker
	guarded bool
}

// NewState returns the state of a run of call for the request of
// exchange x, sending req, executing methods itself, reporting into res
// and emitting to emit; turn is what its session gains so far.
func NewState(x *exchange.Exchange, call *adapters.Call, req *adapters.Request, methods map[string]*tools.Method, res *Result,
	turn []adapters.Message, emit adapters.Emit) *State {
	return &State{Call: call, Request: req, Result: res, Methods: methods, Turn: turn,
		Model: &models.Run{Call: call, X: x, ID: res.RunID, Emit: emit, Executes: func(name string) bool {
			_, ok := methods[name]
			return ok
		}}}
}

// emit sends ev to the run's client side.
func (st *State) emit(ev adapters.Event) error { return st.Model.Emit(ev) }

// Hooks are the engine's parts of a run, which the loop calls at fixed
// points.
type Hooks interface {
	// Guard puts the agent's output guardrails between st and its client
	// (wrapping st.Model.Emit) before st's first model call, and returns
	// the check of st's answers; nil when the agent has none.
	Guard(st *State) (Checker, error)
	// SaveTurn stores st's turn in its session, noting in st.NewSession
	// whether it began it; the loop calls it before Done, so a client that
	// saw the end of an answer can rely on the next turn seeing it.
	SaveTurn(ctx context.Context, st *State) error
}

// Checker vets the answers of one run: the answer as the loop is to keep
// it, or the error that ends the run. It may ask the model again (a
// repair) with models.Complete.
type Checker interface {
	Check(ctx context.Context, st *State, a *models.Answer, err error) (*models.Answer, error)
}

// Config is what a Loop is built from.
type Config struct {
	Models *models.Models
	// Store keeps paused runs.
	Store state.Store
	// Tools are the operator-declared toolkits; nil when none.
	Tools *tools.Registry
	Hooks Hooks
	// PausedRunTTL is how long a paused run waits for its commit;
	// default 24h.
	PausedRunTTL time.Duration
	Logger       *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Loop runs tool loops. It is safe for concurrent use.
type Loop struct {
	models    *models.Models
	store     state.Store
	tools     *tools.Registry
	hooks     Hooks
	pausedTTL time.Duration
	log       *zap.Logger
	now       func() time.Time
}

// New returns a Loop over cfg.
func New(cfg Config) *Loop {
	l := &Loop{models: cfg.Models, store: cfg.Store, tools: cfg.Tools, hooks: cfg.Hooks, pausedTTL: cfg.PausedRunTTL,
		log: cfg.Logger, now: cfg.Now}
	if l.pausedTTL <= 0 {
		l.pausedTTL = 24 * time.Hour
	}
	if l.log == nil {
		l.log = zap.NewNop()
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// AppendTools adds the run's own tools to a request in name order: a
// stable request (golden files, upstream prompt caches) whatever order
// the map holds them in.
func AppendTools(dst []adapters.Tool, methods map[string]*tools.Method) []adapters.Tool {
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

// Methods resolves the operator-declared tools of a run of call. Tools a request
// names must exist (400 otherwise); an agent's own tools were checked
// when the agent was made, so one that has since left the configuration is
// skipped with a warning rather than failing every call to the agent.
func (l *Loop) Methods(call *adapters.Call) (map[string]*tools.Method, error) {
	if len(call.Agent.Tools) == 0 && len(call.Tools) == 0 {
		return nil, nil
	}
	out := map[string]*tools.Method{}
	for _, name := range call.Agent.Tools {
		if l.tools == nil {
			break
		}
		ms, err := l.tools.Resolve([]string{name})
		if err != nil {
			l.log.Warn("agent names a tool that is not declared; skipped", zap.String("agent", call.Agent.ID), zap.String("tool", name))
			continue
		}
		for _, m := range ms {
			out[m.Name] = m
		}
	}
	if len(call.Tools) > 0 {
		if l.tools == nil {
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "unknown_tool", Param: "tools",
				Message: "no tools are declared by the operator, but " + adapters.Quote(call.Tools[0]) + " was asked for"}
		}
		ms, err := l.tools.Resolve(call.Tools)
		if err != nil {
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "unknown_tool", Param: "tools",
				Message: err.Error() + "; declared toolkits: " + strings.Join(l.tools.Names(), ", ")}
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

// Run runs model calls and tools for st until the run answers, pauses or
// hits its iteration bound.
func (l *Loop) Run(ctx context.Context, st *State) error {
	if !st.guarded {
		check, err := l.hooks.Guard(st)
		if err != nil {
			return err
		}
		st.check, st.guarded = check, true
	}
	res := st.Result
	maxIter := st.Call.MaxIterations
	if maxIter <= 0 {
		maxIter = st.Call.Agent.MaxIterations
	}
	if maxIter <= 0 {
		maxIter = DefaultMaxIterations
	}
	for {
		a, err := l.models.Complete(ctx, st.Model, st.Request)
		if st.check != nil {
			a, err = st.check.Check(ctx, st, a, err)
		}
		if a != nil {
			res.Usage.Add(a.Usage)
			res.Text, res.Reasoning, res.ReasoningSignature = a.Text.String(), a.Thinking.String(), a.Signature
			res.Model, res.Provider, res.FinishReason, res.StopSequence = a.Model, a.Provider, a.Finish, a.StopSequence
		}
		if err != nil {
			return err
		}
		res.Iterations++
		var runtimeCalls, clientCalls []adapters.ToolCall
		for _, tc := range a.ToolCalls {
			if _, ok := st.Methods[tc.Name]; ok {
				runtimeCalls = append(runtimeCalls, tc)
			} else {
				clientCalls = append(clientCalls, tc)
			}
		}
		if len(runtimeCalls) == 0 || len(clientCalls) > 0 {
			// An answer, or calls only the client can run.
			res.ToolCalls = a.ToolCalls
			return l.finish(ctx, st, a.Message(), StatusCompleted, a.Finish)
		}
		assistant := a.Message()
		st.Request.Messages = append(st.Request.Messages, assistant)
		st.Turn = append(st.Turn, assistant)
		if res.Iterations >= maxIter {
			return l.finish(ctx, st, assistant, StatusMaxIterations, StatusMaxIterations)
		}
		var pending []state.PendingCall
		for _, tc := range runtimeCalls {
			m := st.Methods[tc.Name]
			pending = append(pending, state.PendingCall{ToolCall: tc, Toolkit: m.Toolkit, RequiresConfirmation: m.RequiresConfirmation})
		}
		for _, pc := range pending {
			if pc.RequiresConfirmation {
				return l.pause(ctx, st, pending)
			}
		}
		if err := l.execute(ctx, st, pending, nil); err != nil {
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
func (l *Loop) execute(ctx context.Context, st *State, calls []state.PendingCall, decisions map[string]decision) error {
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
			// A tool runs out of reach of the HTTP handler's recover: a
			// panic here would end the process. It is a failed call.
			defer func() {
				if r := recover(); r != nil {
					l.log.Error("a tool panicked; its call fails", zap.String("tool", steps[i].Call.Name),
						zap.Any("panic", r), zap.Stack("stack"))
					steps[i].Result, steps[i].Failed = json.RawMessage(`{"error":"the tool failed with an internal error"}`), true
				}
			}()
			tctx, span := startTool(ctx, m, steps[i].Call)
			steps[i].Result, steps[i].Failed = tools.Run(tctx, m, json.RawMessage(steps[i].Call.Arguments))
			endTool(tctx, span, &steps[i])
		}(i, st.Methods[pc.Name])
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
		st.Request.Messages = append(st.Request.Messages, msg)
		st.Turn = append(st.Turn, msg)
	}
	st.Result.Steps = append(st.Result.Steps, steps...)
	return nil
}

// finish ends a run: Usage, the session turn, Done.
func (l *Loop) finish(ctx context.Context, st *State, final adapters.Message, status, finishReason string) error {
	res := st.Result
	res.Status, res.FinishReason = status, finishReason
	if err := st.Model.Start(res.Model); err != nil {
		return err
	}
	u := res.Usage
	if err := st.emit(adapters.Event{Type: adapters.EventUsage, Usage: &u}); err != nil {
		return err
	}
	if final.Role != "" && (len(st.Turn) == 0 || !sameMessage(st.Turn[len(st.Turn)-1], final)) {
		st.Turn = append(st.Turn, final)
	}
	if err := l.hooks.SaveTurn(ctx, st); err != nil {
		return err
	}
	res.Turn = st.Turn
	return st.emit(adapters.Event{Type: adapters.EventDone, Model: res.Model, FinishReason: finishReason, StopSequence: res.StopSequence})
}

func sameMessage(a, b adapters.Message) bool {
	return a.Role == b.Role && a.Text() == b.Text() && len(a.ToolCalls) == len(b.ToolCalls)
}
