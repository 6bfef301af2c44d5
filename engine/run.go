package engine

import (
	"context"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/knowledge"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/state"
)

// Run executes call and forwards its events to emit in order: Start once,
// then thinking, deltas, tool calls and tool results as the tool loop
// runs (the model asks for tools, the loop runs them concurrently and
// feeds their results back, until an answer or the iteration bound), then
// Paused when a tool needs a person's confirmation, then Usage (summed
// over every model call; estimated and marked so when an upstream reports
// none) and Done. A session turn is stored before Done, so a client that
// saw the end of an answer can rely on the next turn seeing it.
//
// An agent with an orchestration pattern runs its sub-agents as the
// pattern says (Orchestrate, orchestrate.go).
//
// x is the request's exchange, which every model call of the run is
// accounted to. The run admits x's request (Exchange.Admit) once its
// prompt is known (the agent's system prompt, the session's history, the
// client's messages, the tools offered) and before its first model call:
// a refusal is returned before anything else happens.
//
// When the request is traced, the run is a span of its own
// ("invoke_agent {agent}", tracing.go) with its model calls, tools,
// memory recall, retrieval and sub-agents below it.
func (e *Engine) Run(ctx context.Context, x *exchange.Exchange, call *adapters.Call, emit adapters.Emit) (res *toolloop.Result, err error) {
	ctx, span := startRun(ctx, call)
	defer func() { endRun(ctx, span, res, err) }()
	if call.Agent.Orchestrates() {
		return e.Orchestrate(ctx, x, call, emit)
	}
	return e.run(ctx, x, call, emit, nil)
}

// Resume commits a paused run (toolloop.Loop.Resume): confirmed calls
// run, rejected ones are reported to the model as declined, and the run
// continues to its end. It admits x's request before the run is claimed
// (toolloop.Loop.Resume).
func (e *Engine) Resume(ctx context.Context, x *exchange.Exchange, call *adapters.Call, runID string, decisions []toolloop.Decision, emit adapters.Emit) (res *toolloop.Result, err error) {
	ctx, span := startRun(ctx, call)
	defer func() { endRun(ctx, span, res, err) }()
	return e.loop.Resume(ctx, x, call, runID, decisions, emit)
}

// run is Run for one agent's own tool loop; extra are tools the run
// offers besides the operator's (an orchestrator's sub-agents).
func (e *Engine) run(ctx context.Context, x *exchange.Exchange, call *adapters.Call, emit adapters.Emit, extra map[string]*tools.Method) (*toolloop.Result, error) {
	start := e.now()
	agent := call.Agent
	if !agent.Active() {
		return nil, adapters.NotActive(agent, "agent")
	}
	call, err := e.guardInput(call)
	if err != nil {
		return nil, err
	}
	req, err := e.buildRequest(ctx, call)
	if err != nil {
		return nil, err
	}
	methods, err := e.loop.Methods(call)
	if err != nil {
		return nil, err
	}
	for n, m := range extra {
		if methods == nil {
			methods = map[string]*tools.Method{}
		}
		methods[n] = m
	}
	req.Tools = toolloop.AppendTools(req.Tools, methods)
	// Admission, before knowledge and memory (whose lookups may call an
	// embedding model) and the run's first model call.
	if err := x.Admit(ctx, models.EstimateCall(call, req)); err != nil {
		return nil, err
	}
	runID := call.RunID
	if runID == "" {
		runID = adapters.NewID("run-")
	}
	sources, err := e.augmentRequest(ctx, x, call, req, runID)
	if err != nil {
		return nil, err
	}
	st := toolloop.NewState(x, call, req, methods, &toolloop.Result{RunID: runID, SessionID: call.SessionID, Sources: sources},
		append([]adapters.Message(nil), call.Messages...), emit)
	mem := e.recallMemory(ctx, st)
	err = e.loop.Run(ctx, st)
	knowledge.Cite(st.Result.Sources, st.Result.Text)
	st.Result.Latency = e.now().Sub(start)
	if err == nil && st.Result.Status == toolloop.StatusCompleted {
		e.knowledge.Remember(st.Call, runID, mem, st.Result.Text, st.Result.Latency, st.NewSession)
	}
	return st.Result, err
}

func (e *Engine) buildRequest(ctx context.Context, call *adapters.Call) (*adapters.Request, error) {
	agent := call.Agent
	req := &adapters.Request{
		System:     agent.SystemPrompt,
		Tools:      call.ClientTools,
		ToolChoice: call.ToolChoice,
		Stream:     call.Stream,
		Sampling:   agent.Sampling.Merge(call.Sampling),
		Extra:      call.Extra,
		User:       call.UpstreamUser,
	}
	if call.SystemPrompt != nil {
		req.System = *call.SystemPrompt
	}
	if call.PromptVars != nil {
		req.System = RenderPrompt(req.System, call.PromptVars)
	}
	req.Reasoning = models.Reasoning(call)
	history, err := e.history(ctx, call)
	if err != nil {
		return nil, err
	}
	if call.SessionID == "" {
		history = append([]adapters.Message(nil), call.History...)
	}
	req.Messages = append(history, call.Messages...)
	return req, nil
}

// augmentRequest adds to req's system prompt what the agent's
// configuration contributes beyond its prompt: the knowledge section
// (the chunks retrieved for the caller's last message, which it returns)
// and the output schema's instruction.
func (e *Engine) augmentRequest(ctx context.Context, x *exchange.Exchange, call *adapters.Call, req *adapters.Request, runID string) ([]adapters.Source, error) {
	section, sources, err := e.knowledge.Retrieve(ctx, x, call, runID)
	if err != nil {
		return nil, err
	}
	req.System = appendSection(req.System, section)
	if g := call.Agent.Guardrails; g != nil && len(g.OutputJSONSchema) > 0 {
		cg, err := e.compileGuard(g)
		if err != nil {
			return nil, err
		}
		if cg != nil && cg.Schema != nil {
			req.System = appendSection(req.System, schemaInstruction(cg.SchemaJSON))
		}
	}
	return sources, nil
}

func appendSection(system, section string) string {
	switch {
	case section == "":
		return system
	case system == "":
		return section
	default:
		return system + "\n\n" + section
	}
}

// recallMemory adds what the agent remembers to the run's system prompt
// and reports it on the result; what it returns is for the write-back.
func (e *Engine) recallMemory(ctx context.Context, st *toolloop.State) *knowledge.Recollection {
	rc := e.knowledge.Recall(ctx, st.Call, st.Result.RunID)
	if rc != nil && rc.Section != "" {
		if st.Request.System != "" {
			st.Request.System += "\n\n"
		}
		st.Request.System += rc.Section
		st.Result.MemoryAccessed = rc.IDs
	}
	return rc
}

// history loads the earlier turns of call's session. A session is the
// conversation of one tenant with one agent (in one project): an id new to
// the called agent has none.
func (e *Engine) history(ctx context.Context, call *adapters.Call) ([]adapters.Message, error) {
	if call.SessionID == "" || call.Agent.NoHistory {
		return nil, nil // a turn without history is still stored
	}
	n := call.Agent.HistoryTurns
	if n == 0 {
		n = adapters.DefaultHistoryTurns
	}
	return e.store.RecentTurns(ctx, sessionKey(call), n)
}

// sessionKey names call's session: its id with the called agent, in the
// call's project, of the caller's tenant.
func sessionKey(call *adapters.Call) state.SessionKey {
	return state.SessionKey{Tenant: call.Principal.Tenant, AgentID: call.Agent.ID, Project: call.Project, ID: call.SessionID}
}

// saveTurn appends the run's turn to its session (one round trip to the
// store) and notes whether it began the session.
func (e *Engine) saveTurn(ctx context.Context, st *toolloop.State) error {
	call := st.Call
	if call.SessionID == "" {
		return nil
	}
	now := e.now()
	s := &state.Session{ID: call.SessionID, Tenant: call.Principal.Tenant, AgentID: call.Agent.ID, Project: call.Project, Created: now, Updated: now}
	if err := e.store.AppendTurn(ctx, s, st.Turn); err != nil {
		return err
	}
	st.NewSession = s.Turns == 1
	return nil
}

// hooks are the engine's parts of a run the tool loop calls: output
// guardrails and the session.
type hooks struct{ e *Engine }

func (h hooks) Guard(st *toolloop.State) (toolloop.Checker, error) { return h.e.guardStream(st) }

func (h hooks) SaveTurn(ctx context.Context, st *toolloop.State) error { return h.e.saveTurn(ctx, st) }
