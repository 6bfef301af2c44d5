package engine

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/exchange"
	"go.uber.org/zap"
)

// Orchestration bounds.
const (
	// MaxOrchestrationDepth bounds how deep sub-agents nest: an
	// orchestrator's sub-agents are at depth 1, theirs at 2, …
	MaxOrchestrationDepth = 3
	// MaxSubAgents bounds the sub-agents of one agent.
	MaxSubAgents = 10
	// SubAgentTimeout bounds one sub-agent run started by a delegation
	// (HIERARCHICAL); the client going away ends it sooner.
	SubAgentTimeout = 10 * time.Minute
)

// SubAgentToolkit is the Toolkit of the Steps that are sub-agent runs
// (and of the tools a HIERARCHICAL agent delegates with): their Call
// names the sub-agent's tool, their Result is SubAgentResult as JSON.
const SubAgentToolkit = "agents"

// SubAgentResult is what a sub-agent run gives its orchestrator: the
// Result of a delegation step, and the tool result a HIERARCHICAL agent
// reads.
type SubAgentResult struct {
	AgentID string `json:"agent_id"`
	Name    string `json:"name"`
	Output  string `json:"output"`
	// Status is set when the sub-agent did not complete (max_iterations,
	// paused).
	Status string `json:"status,omitempty"`
}

// Orchestrate runs an agent with an orchestration pattern (Run calls it
// for such agents, so every dialect can invoke them):
//
//   - PatternSingle: a plain Run.
//   - PatternSequential: the sub-agents run in order; the first receives
//     the task (the text of the call's last user message), each later
//     one the task and the previous one's output. The agent then answers
//     in one more model call (its own model and system prompt, no tools),
//     with every stage's output in its context: the chain's final output
//     is the last one's, which it is asked to turn into the answer.
//   - PatternParallel: the sub-agents run concurrently on the task, then
//     the agent synthesises their answers in one more model call, as for
//     sequential.
//   - PatternHierarchical: the agent runs its own tool loop with its
//     sub-agents offered as tools (one each, named after the sub-agent's
//     id, taking {"task": "..."}): it delegates as it sees fit, bounded by
//     its iteration bound (call.MaxIterations, else the agent's).
//
// Every sub-agent run is a Run of its own, statelessly (no session),
// under its own iteration bound, with a fresh run id, its usage records
// naming the orchestrator's run as parent (call.RunID, made up front
// when empty) and a log line; it is cancelled with ctx. It shows in the
// orchestrator's events as a ToolCall (Executed, named after the
// sub-agent, arguments {"task": ...}) and a ToolResult (SubAgentResult),
// and in its Result as a Step whose Toolkit is SubAgentToolkit; its usage
// is added to the Result's and to the Usage event. Sequential and
// parallel stages emit Start, their ToolCall before the sub-agent runs
// and their ToolResult when it is done (parallel ones in sub-agent order
// once all are done); the answer's events follow. A sub-agent that fails
// fails the orchestration (parallel siblings are cancelled); one that
// hits its iteration bound passes on what it has, with its status.
func (e *Engine) Orchestrate(ctx context.Context, x *exchange.Exchange, call *adapters.Call, emit adapters.Emit) (*toolloop.Result, error) {
	agent := call.Agent
	if !agent.Orchestrates() {
		return e.run(ctx, x, call, emit, nil)
	}
	if !agent.Active() {
		return nil, adapters.NotActive(agent, "agent")
	}
	depth := call.Depth + 1
	if depth > MaxOrchestrationDepth {
		return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "orchestration_too_deep", Param: "sub_agents",
			Message: "agent " + adapters.Quote(agent.ID) + " nests sub-agents deeper than " + strconv.Itoa(MaxOrchestrationDepth) + " levels"}
	}
	// The agent's input guardrails apply before any sub-agent sees the
	// input (its own run applies them again: redaction is idempotent).
	call, err := e.guardInput(call)
	if err != nil {
		return nil, err
	}
	subs, err := e.subAgents(ctx, call)
	if err != nil {
		return nil, err
	}
	if err := x.Admit(ctx, orchestrationEstimate(call, subs)); err != nil {
		return nil, err
	}
	c := *call
	if c.RunID == "" {
		c.RunID = adapters.NewID("run-")
	}
	o := &orchestration{e: e, x: x, call: &c, subs: subs, emit: emit, depth: depth}
	switch agent.Pattern {
	case adapters.PatternSequential:
		return o.sequential(ctx)
	case adapters.PatternParallel:
		return o.parallel(ctx)
	case adapters.PatternHierarchical:
		return o.hierarchical(ctx)
	}
	return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "unknown_pattern", Param: "pattern",
		Message: "agent " + adapters.Quote(agent.ID) + " has the unknown orchestration pattern " + adapters.Quote(agent.Pattern)}
}

// subAgents resolves call's agent's sub-agents, by id, within the
// caller's tenant and the call's project.
func (e *Engine) subAgents(ctx context.Context, call *adapters.Call) ([]*adapters.Agent, error) {
	agent := call.Agent
	if len(agent.SubAgents) == 0 {
		return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "no_sub_agents", Param: "sub_agents",
			Message: "agent " + adapters.Quote(agent.ID) + " orchestrates (" + agent.Pattern + ") but has no sub-agents"}
	}
	out := make([]*adapters.Agent, 0, len(agent.SubAgents))
	for _, id := range agent.SubAgents {
		a, err := e.agents.Get(ctx, call.Principal, id)
		var e *adapters.Error
		if errors.As(err, &e) && e.Kind == adapters.KindNotFound || err == nil && (a.ID != id || !a.InProject(call.Project)) {
			return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "agent_not_found", Param: "sub_agents",
				Message: "sub-agent " + adapters.Quote(id) + " of agent " + adapters.Quote(agent.ID) + " not found"}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// orchestrationEstimate is what admission reserves for an orchestrated
// run of call: the client's messages under the orchestrator's prompt and
// its maximum output, at the prices of every model that may answer (the
// orchestrator's and its sub-agents'). The sub-agents' own runs and the
// answer's synthesis settle what they really use.
func orchestrationEstimate(call *adapters.Call, subs []*adapters.Agent) exchange.Estimate {
	agent := call.Agent
	req := &adapters.Request{System: agent.SystemPrompt, Messages: call.Messages, Tools: call.ClientTools,
		Sampling: agent.Sampling.Merge(call.Sampling)}
	est := models.EstimateCall(call, req)
	for _, a := range subs {
		est.Models = append(est.Models, a.Model)
	}
	return est
}

// orchestration is one orchestrated run in progress, for the request
// of exchange x, which its sub-agents' runs report into.
type orchestration struct {
	e    *Engine
	x    *exchange.Exchange
	call *adapters.Call
	subs []*adapters.Agent
	emit adapters.Emit
	// depth is the sub-agents' orchestration depth (adapters.Call.Depth).
	depth int

	started bool
	mu      sync.Mutex
	usage   adapters.Usage // of the sub-agent runs
}

// start emits Start once, before the first stage's events.
func (o *orchestration) start() error {
	if o.started {
		return nil
	}
	o.started = true
	return o.emit(adapters.Event{Type: adapters.EventStart, Model: o.call.Agent.Model})
}

// task is what sub-agents are asked: the text of the call's last user
// message.
func (o *orchestration) task() string {
	for i := len(o.call.Messages) - 1; i >= 0; i-- {
		if m := &o.call.Messages[i]; m.Role == adapters.RoleUser {
			return m.Text()
		}
	}
	return ""
}

// delegation is the call of sub-agent tool name with input as its task.
func delegation(name, input string) adapters.ToolCall {
	args, _ := json.Marshal(map[string]string{"task": input})
	return adapters.ToolCall{ID: adapters.NewID("call_"), Name: name, Arguments: string(args)}
}

// runSub runs sub-agent a on input (the task of tc) for the
// orchestrator, metered and logged under the orchestrator's run, and
// returns its result as a step.
func (o *orchestration) runSub(ctx context.Context, a *adapters.Agent, tc adapters.ToolCall, input string) (toolloop.Step, *toolloop.Result, error) {
	call := o.call
	// The sub-agent works for the orchestration's end user: it recalls
	// that user's memories, and its upstream is told who the user is.
	sub := &adapters.Call{Principal: call.Principal, Dialect: call.Dialect, Agent: a, Project: call.Project,
		UserID: call.UserID, UpstreamUser: call.UpstreamUser,
		Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, input)},
		RunID:    adapters.NewID("run-"), ParentRunID: call.RunID, Depth: o.depth}
	step := toolloop.Step{Call: tc, Toolkit: SubAgentToolkit}
	o.e.log.Info("sub-agent run", zap.String("parent_run_id", call.RunID), zap.String("run_id", sub.RunID),
		zap.String("agent", call.Agent.ID), zap.String("pattern", call.Agent.Pattern), zap.String("sub_agent", a.ID))
	res, err := o.e.Run(ctx, o.x, sub, func(adapters.Event) error { return ctx.Err() })
	if res != nil {
		o.mu.Lock()
		o.usage.Add(res.Usage)
		o.mu.Unlock()
	}
	if err != nil {
		return step, res, err
	}
	out := SubAgentResult{AgentID: a.ID, Name: a.Name, Output: res.Text}
	if res.Status != toolloop.StatusCompleted {
		out.Status, step.Failed = res.Status, true
	}
	step.Result, _ = json.Marshal(out)
	return step, res, nil
}

// callEvent and resultEvent show a sub-agent step in the event stream.
func callEvent(s *toolloop.Step) adapters.Event {
	c := s.Call
	return adapters.Event{Type: adapters.EventToolCall, ToolCall: &c, Executed: true}
}

func resultEvent(s *toolloop.Step) adapters.Event {
	c := s.Call
	return adapters.Event{Type: adapters.EventToolResult, ToolCall: &c, ToolResult: string(s.Result), ToolError: s.Failed, Executed: true}
}

func (o *orchestration) sequential(ctx context.Context) (*toolloop.Result, error) {
	task := o.task()
	names := subToolNames(o.e, o.subs)
	steps := make([]toolloop.Step, 0, len(o.subs))
	var outputs strings.Builder
	prev := ""
	for i, a := range o.subs {
		input := task
		if i > 0 {
			input = task + "\n\nOutput of the previous agent (" + o.subs[i-1].Name + "):\n" + prev
		}
		if err := o.start(); err != nil {
			return o.partial(steps), err
		}
		pending := toolloop.Step{Call: delegation(names[i], input)}
		if err := o.emit(callEvent(&pending)); err != nil {
			return o.partial(steps), err
		}
		step, res, err := o.runSub(ctx, a, pending.Call, input)
		if err != nil {
			return o.partial(steps), err
		}
		if err := o.emit(resultEvent(&step)); err != nil {
			return o.partial(append(steps, step)), err
		}
		steps = append(steps, step)
		prev = res.Text
		outputs.WriteString("\n\n### Step " + strconv.Itoa(i+1) + ": " + a.Name + " (" + a.ID + ")\n" + res.Text)
	}
	section := "Your sub-agents worked on the user's request in sequence, each one building on the previous one's output." +
		outputs.String() + "\n\nThe last step's output is the result of the chain: give the user the final answer from it."
	return o.synthesise(ctx, steps, section)
}

func (o *orchestration) parallel(ctx context.Context) (*toolloop.Result, error) {
	task := o.task()
	names := subToolNames(o.e, o.subs)
	if err := o.start(); err != nil {
		return o.partial(nil), err
	}
	calls := make([]adapters.ToolCall, len(o.subs))
	for i := range o.subs {
		calls[i] = delegation(names[i], task)
		pending := toolloop.Step{Call: calls[i]}
		if err := o.emit(callEvent(&pending)); err != nil {
			return o.partial(nil), err
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	steps := make([]toolloop.Step, len(o.subs))
	results := make([]*toolloop.Result, len(o.subs))
	errs := make([]error, len(o.subs))
	var wg sync.WaitGroup
	for i, a := range o.subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Out of reach of the HTTP handler's recover: a panic here
			// would end the process. It fails the orchestration.
			defer func() {
				if r := recover(); r != nil {
					o.e.log.Error("a sub-agent's run panicked", zap.String("agent", a.ID), zap.Any("panic", r), zap.Stack("stack"))
					errs[i] = &adapters.Error{Kind: adapters.KindInternal, Message: "a sub-agent's run failed with an internal error"}
					cancel()
				}
			}()
			steps[i], results[i], errs[i] = o.runSub(cctx, a, calls[i], task)
			if errs[i] != nil {
				cancel() // one failure fails the orchestration: stop the others
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return o.partial(nil), err
	}
	// The first failure that is not a sibling's cancellation.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return o.partial(nil), first
	}
	var outputs strings.Builder
	for i := range steps {
		if err := o.emit(resultEvent(&steps[i])); err != nil {
			return o.partial(steps[:i]), err
		}
		a := o.subs[i]
		outputs.WriteString("\n\n### " + a.Name + " (" + a.ID + ")\n" + results[i].Text)
	}
	section := "Your sub-agents worked on the user's request in parallel. Their answers:" + outputs.String() +
		"\n\nSynthesise them into one answer for the user."
	return o.synthesise(ctx, steps, section)
}

// synthesise makes the orchestrator's answer: one model call of the
// agent with the stages' outputs added to its system prompt, no tools,
// and the call's session, so the conversation keeps the user's message
// and the answer.
func (o *orchestration) synthesise(ctx context.Context, steps []toolloop.Step, section string) (*toolloop.Result, error) {
	call := *o.call
	agent := *call.Agent
	agent.Tools, agent.Pattern, agent.SubAgents = nil, adapters.PatternSingle, nil
	call.Agent, call.Tools = &agent, nil
	system := o.call.Agent.SystemPrompt
	if call.SystemPrompt != nil {
		system = *call.SystemPrompt
	}
	if call.PromptVars != nil {
		// Rendered here, so nothing a sub-agent wrote is taken for a
		// placeholder.
		system = RenderPrompt(system, call.PromptVars)
		call.PromptVars = nil
	}
	if system != "" {
		system += "\n\n"
	}
	system += section
	call.SystemPrompt = &system
	res, err := o.e.run(ctx, o.x, &call, o.wrapEmit(), nil)
	return o.merge(res, steps), err
}

// wrapEmit passes the answer's events on, without a second Start and
// with the sub-agents' usage added to the Usage event.
func (o *orchestration) wrapEmit() adapters.Emit {
	return func(ev adapters.Event) error {
		switch ev.Type {
		case adapters.EventStart:
			if o.started {
				return nil
			}
			o.started = true
		case adapters.EventUsage:
			u := *ev.Usage
			o.mu.Lock()
			u.Add(o.usage)
			o.mu.Unlock()
			ev.Usage = &u
		}
		return o.emit(ev)
	}
}

// merge adds the sub-agent steps (before the agent's own) and usage to
// the agent's result.
func (o *orchestration) merge(res *toolloop.Result, steps []toolloop.Step) *toolloop.Result {
	if res == nil {
		return o.partial(steps)
	}
	res.Steps = append(slices.Clip(steps), res.Steps...)
	o.mu.Lock()
	res.Usage.Add(o.usage)
	o.mu.Unlock()
	return res
}

// partial is the result of an orchestration that ended early.
func (o *orchestration) partial(steps []toolloop.Step) *toolloop.Result {
	o.mu.Lock()
	defer o.mu.Unlock()
	return &toolloop.Result{RunID: o.call.RunID, SessionID: o.call.SessionID, Steps: steps, Usage: o.usage}
}

// hierarchical runs the agent's own tool loop with a delegation tool per
// sub-agent.
func (o *orchestration) hierarchical(ctx context.Context) (*toolloop.Result, error) {
	names := subToolNames(o.e, o.subs)
	extra := make(map[string]*tools.Method, len(o.subs))
	for i, a := range o.subs {
		desc := "Delegate a task to the sub-agent " + strconv.Quote(a.Name)
		if a.Description != "" {
			desc += " (" + a.Description + ")"
		}
		desc += " and get its answer. Give it everything it needs in the task: it sees nothing else."
		name := names[i]
		extra[name] = &tools.Method{
			Toolkit: SubAgentToolkit, Name: name, Description: desc, Timeout: SubAgentTimeout,
			Parameters: json.RawMessage(`{"type":"object","properties":{"task":{"type":"string","description":"the task for the sub-agent, with the details it needs"}},"required":["task"]}`),
			Call: func(ctx context.Context, args json.RawMessage) (json.RawMessage, error) {
				var in struct {
					Task string `json:"task"`
				}
				if err := json.Unmarshal(args, &in); err != nil || strings.TrimSpace(in.Task) == "" {
					return nil, errors.New(`expected {"task": "<what the sub-agent should do>"}`)
				}
				step, _, err := o.runSub(ctx, a, delegation(name, in.Task), in.Task)
				if err != nil {
					return nil, errors.New("sub-agent " + a.ID + " failed: " + adapters.AsError(err).Message)
				}
				return step.Result, nil
			},
		}
	}
	res, err := o.e.run(ctx, o.x, o.call, o.wrapEmit(), extra)
	if res != nil {
		o.mu.Lock()
		res.Usage.Add(o.usage)
		o.mu.Unlock()
	}
	return res, err
}

// subToolNames names the tools and steps of sub-agents: each one's id,
// made a valid tool name (letters, digits, _ and -, at most 64), unique
// among them and the operator's tools.
func subToolNames(e *Engine, subs []*adapters.Agent) []string {
	out := make([]string, len(subs))
	taken := map[string]bool{}
	for i, a := range subs {
		base := toolName(a.ID)
		name := base
		for n := 2; taken[name] || e.operatorTool(name); n++ {
			suffix := "_" + strconv.Itoa(n)
			name = base[:min(len(base), 64-len(suffix))] + suffix
		}
		taken[name] = true
		out[i] = name
	}
	return out
}

func (e *Engine) operatorTool(name string) bool {
	if e.tools == nil {
		return false
	}
	_, ok := e.tools.Method("", name)
	return ok
}

func toolName(id string) string {
	b := make([]byte, 0, min(len(id), 64))
	for i := 0; i < len(id) && len(b) < 64; i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	if len(b) == 0 {
		return "agent"
	}
	return string(b)
}

// CheckOrchestration validates agent a's pattern and sub-agents as they
// would be stored for p in project (a may be new or an update of a
// stored agent): the pattern is known; an orchestrating agent has 1 to
// MaxSubAgents sub-agents, a single one none; each sub-agent is named
// once, is not a itself, and is an agent p may use in project (by id); no
// cycle goes through a; and neither a nor any agent that reaches a
// nests sub-agents deeper than MaxOrchestrationDepth. Failures are 400s
// naming "sub_agents" (or "pattern").
func (e *Engine) CheckOrchestration(ctx context.Context, p *adapters.Principal, project string, a *adapters.Agent) error {
	bad := func(format string, args ...any) error { return adapters.BadField("sub_agents", format, args...) }
	if a.Pattern != "" && !slices.Contains(adapters.Patterns, a.Pattern) {
		return adapters.BadField("pattern", "unknown orchestration pattern %s (known: %s)", adapters.Quote(a.Pattern), strings.Join(adapters.Patterns, ", "))
	}
	if !a.Orchestrates() {
		if len(a.SubAgents) > 0 {
			return bad("a %s agent has no sub-agents; choose another orchestration pattern to use them", adapters.PatternSingle)
		}
		return nil
	}
	switch n := len(a.SubAgents); {
	case n == 0:
		return bad("the %s pattern needs at least one sub-agent", a.Pattern)
	case n > MaxSubAgents:
		return bad("at most %d sub-agents, not %d", MaxSubAgents, n)
	}
	agents, err := e.agents.List(ctx, p)
	if err != nil {
		return err
	}
	graph := map[string][]string{}
	for _, x := range agents {
		if x.InProject(project) && x.Orchestrates() {
			graph[x.ID] = x.SubAgents
		} else if x.InProject(project) {
			graph[x.ID] = nil
		}
	}
	seen := map[string]bool{}
	for _, id := range a.SubAgents {
		switch {
		case id == a.ID:
			return bad("agent %s cannot be its own sub-agent", adapters.Quote(id))
		case seen[id]:
			return bad("sub-agent %s is named twice", adapters.Quote(id))
		}
		seen[id] = true
		if _, ok := graph[id]; !ok {
			return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "agent_not_found", Param: "sub_agents",
				Message: "sub_agents: agent " + adapters.Quote(id) + " not found in this project"}
		}
	}
	graph[a.ID] = a.SubAgents

	// depth(x): the sub-agent levels below x; a cycle is reported.
	const visiting = -1
	depths := map[string]int{}
	var cycle []string
	var depth func(id string, path []string) int
	depth = func(id string, path []string) int {
		if d, ok := depths[id]; ok {
			if d == visiting && cycle == nil {
				cycle = append(slices.Clone(path[slices.Index(path, id):]), id)
			}
			return max(d, 0)
		}
		subs, ok := graph[id]
		if !ok {
			return 0 // a dangling reference: the engine reports it when run
		}
		depths[id] = visiting
		d := 0
		for _, s := range subs {
			d = max(d, 1+depth(s, append(path, id)))
		}
		depths[id] = d
		return d
	}
	if d := depth(a.ID, nil); cycle != nil {
		return bad("a cycle of sub-agents: %s", strings.Join(cycle, " → "))
	} else if d > MaxOrchestrationDepth {
		return bad("agent %s would nest sub-agents %d levels deep; at most %d", adapters.Quote(a.ID), d, MaxOrchestrationDepth)
	}
	// Agents that reach a: a's depth adds to theirs.
	for id := range graph {
		if id == a.ID || !reaches(graph, id, a.ID) {
			continue
		}
		if d := depth(id, nil); cycle != nil {
			return bad("a cycle of sub-agents: %s", strings.Join(cycle, " → "))
		} else if d > MaxOrchestrationDepth {
			return bad("agent %s, which runs %s, would nest sub-agents %d levels deep; at most %d", adapters.Quote(id), adapters.Quote(a.ID), d, MaxOrchestrationDepth)
		}
	}
	return nil
}

// reaches reports whether to is a (transitive) sub-agent of from.
func reaches(graph map[string][]string, from, to string) bool {
	seen := map[string]bool{}
	stack := []string{from}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, s := range graph[id] {
			if s == to {
				return true
			}
			if !seen[s] {
				seen[s] = true
				stack = append(stack, s)
			}
		}
	}
	return false
}
