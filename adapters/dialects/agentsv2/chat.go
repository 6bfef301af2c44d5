package agentsv2

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/state"
)

// chat answers POST /v2/agents/{id}/chat.
func (d *Dialect) chat(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, err := decodeChat(body, d.env.Limits, d.env.Engine.Tools())
	if err != nil {
		return err
	}
	ctx := r.Context()
	agent, err := d.agent(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	errs := &invalid{}
	model := req.model
	if model == "" {
		model = agent.Model
	}
	d.checkModel(errs, agent, model)
	if err := errs.err(); err != nil {
		return err
	}

	now := d.env.Engine.Now().In(req.loc)
	req.vars["current_time"] = now.Format(time.RFC3339)
	req.vars["current_date"] = now.Format(time.DateOnly)
	req.vars["agent_id"], req.vars["agent_name"] = agent.ID, agent.Name
	parts := make([]adapters.Part, 0, 1+len(req.images))
	parts = append(parts, adapters.Part{Type: adapters.PartText, Text: req.message})
	parts = append(parts, req.images...)
	call := &adapters.Call{
		Principal: p, Dialect: Name, Agent: agent, SessionID: req.sessionID,
		Messages: []adapters.Message{{Role: adapters.RoleUser, Parts: parts}},
		Tools:    req.tools, Sampling: req.sampling, Model: req.model, SystemPrompt: req.systemPrompt,
		PromptVars: req.vars, RunID: adapters.NewID("run-"), Stream: req.stream,
	}
	out := &answer{d: d, agentID: agent.ID, sessionID: req.sessionID, model: model, runID: call.RunID}
	return out.serve(w, req.stream, func(emit adapters.Emit) (*toolloop.Result, error) {
		return d.env.Engine.Run(ctx, x, call, emit)
	})
}

// checkModel adds a 422 item when no provider serves model for agent.
func (d *Dialect) checkModel(errs *invalid, agent *adapters.Agent, model string) {
	router := d.env.Engine.Models().Router()
	pinned := agent.Provider
	if model != agent.Model {
		if _, _, routed := router.Match(model); routed {
			pinned = ""
		}
	}
	if _, _, ok := router.Resolve(model, pinned); !ok {
		errs.add([]any{"body", "model"}, "value_error", "Value error, model "+quote(model)+" is not served by this gateway")
	}
}

// commit answers POST /v2/agents/{id}/chat/commit: the paused run resumes
// with the person's decisions and streams (or answers) like a chat; a
// commit that rejects every call and names no stream answers JSON.
func (d *Dialect) commit(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, err := decodeCommit(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	agent, err := d.agent(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	run, err := d.env.Engine.Store().GetRun(ctx, p.Tenant, req.runID)
	if errors.Is(err, state.ErrNotFound) || err == nil && run.AgentID != agent.ID {
		return &adapters.Error{Kind: adapters.KindNotFound, Code: "run_not_found", Param: "run_id",
			Message: "Run " + clip(req.runID) + " not found for agent " + agent.ID}
	}
	if err != nil {
		return err
	}
	errs := &invalid{}
	if run.SessionID != req.sessionID {
		errs.add([]any{"body", "session_id"}, "value_error", "Value error, run "+quote(req.runID)+" belongs to another session")
	}
	pending := map[string]state.PendingCall{}
	for _, pc := range run.Pending {
		pending[pc.ID] = pc
	}
	for i, dec := range req.decisions {
		if _, ok := pending[dec.ToolCallID]; !ok {
			errs.add([]any{"body", "updated_tools", i, "tool_call_id"}, "value_error",
				"Value error, tool call "+quote(dec.ToolCallID)+" is not pending in run "+quote(req.runID))
		}
	}
	model := req.model
	if model == "" {
		model = run.Model
	}
	if req.model != "" {
		d.checkModel(errs, agent, model)
	}
	if err := errs.err(); err != nil {
		return err
	}
	cancelling := rejectsAll(run.Pending, req.decisions)
	// stream defaults to true, but the document answers its cancel
	// example, which names no stream, with a JSON body: a cancellation
	// has no tokens to stream.
	stream := req.stream
	if cancelling && !req.streamGiven {
		stream = false
	}
	call := &adapters.Call{Principal: p, Dialect: Name, Agent: agent, SessionID: run.SessionID,
		Model: req.model, Stream: stream}
	out := &answer{d: d, agentID: agent.ID, sessionID: run.SessionID, model: model, runID: run.ID,
		cancelling: cancelling}
	return out.serve(w, stream, func(emit adapters.Emit) (*toolloop.Result, error) {
		return d.env.Engine.Resume(ctx, x, call, req.runID, req.decisions, emit)
	})
}

// rejectsAll reports whether decisions reject every pending call, so the
// runtime cancels the run (it runs calls that need no confirmation, and
// calls nobody decided on, as confirmed).
func rejectsAll(pending []state.PendingCall, decisions []toolloop.Decision) bool {
	byID := map[string]bool{}
	for _, d := range decisions {
		byID[d.ToolCallID] = d.Confirmed
	}
	for _, pc := range pending {
		confirmed, decided := byID[pc.ID]
		if !pc.RequiresConfirmation || !decided || confirmed {
			return false
		}
	}
	return true
}

// answer encodes one run, as JSON or as the v2 event stream.
type answer struct {
	d                         *Dialect
	agentID, sessionID, model string
	runID                     string
	cancelling                bool
	sse                       *dialects.SSE
	buf                       []byte
}

// tokenUsage is the run's token_usage.
type tokenUsage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// toolView is one item of a response's tools.
type toolView struct {
	ToolCallID           string          `json:"tool_call_id"`
	ToolName             string          `json:"tool_name"`
	RequiresConfirmation bool            `json:"requires_confirmation"`
	ToolArgs             json.RawMessage `json:"tool_args"`
	Result               json.RawMessage `json:"result"`
}

// response is the non-streamed body.
type response struct {
	Content    *string     `json:"content"`
	AgentID    string      `json:"agent_id"`
	SessionID  string      `json:"session_id"`
	Model      string      `json:"model"`
	TokenUsage *tokenUsage `json:"token_usage"`
	Status     string      `json:"status"`
	RunID      string      `json:"run_id"`
	Tools      []toolView  `json:"tools"`
}

// final is the last event of a stream: the response with status and
// run_id first, like the events before it.
type final struct {
	Content    *string     `json:"content"`
	Status     string      `json:"status"`
	RunID      string      `json:"run_id"`
	AgentID    string      `json:"agent_id"`
	SessionID  string      `json:"session_id"`
	Model      string      `json:"model"`
	TokenUsage *tokenUsage `json:"token_usage"`
	Tools      []toolView  `json:"tools"`
}

func (a *answer) serve(w http.ResponseWriter, stream bool, run func(adapters.Emit) (*toolloop.Result, error)) error {
	if !stream {
		res, err := run(func(adapters.Event) error { return nil })
		if err != nil {
			return err
		}
		v := a.response(res)
		dialects.WriteRawJSON(w, http.StatusOK, marshal(response{Content: v.Content, AgentID: v.AgentID,
			SessionID: v.SessionID, Model: v.Model, TokenUsage: v.TokenUsage, Status: v.Status, RunID: v.RunID, Tools: v.Tools}))
		return nil
	}
	a.sse = dialects.NewSSE(w)
	res, err := run(a.event)
	if err != nil {
		if !a.sse.Started() {
			return err
		}
		e := adapters.AsError(err)
		b := append(a.buf[:0], `{"detail":`...)
		b = dialects.AppendString(b, e.Message)
		b = append(b, `,"status":"error","run_id":`...)
		b = dialects.AppendString(b, a.runID)
		_ = a.sse.Event("error", append(b, '}'))
		return nil
	}
	_ = a.sse.Event("message", marshal(a.response(res)))
	return nil
}

// event streams one canonical event: deltas as "running" messages. The
// headers go out when the upstream has accepted the call.
func (a *answer) event(ev adapters.Event) error {
	switch ev.Type {
	case adapters.EventStart:
		return a.sse.Start()
	case adapters.EventDelta:
		if ev.Text == "" || a.cancelling {
			return nil
		}
		b := append(a.buf[:0], `{"content":`...)
		b = dialects.AppendString(b, ev.Text)
		b = append(b, `,"status":"running","run_id":`...)
		b = dialects.AppendString(b, a.runID)
		a.buf = append(b, '}')
		return a.sse.Event("message", a.buf)
	}
	return nil
}

// response folds a result into the final object. A stream's completed
// content is "" (its deltas carried the text); a paused one is null.
func (a *answer) response(res *toolloop.Result) final {
	f := final{Status: res.Status, RunID: res.RunID, AgentID: a.agentID, SessionID: a.sessionID, Model: a.model,
		TokenUsage: &tokenUsage{InputTokens: res.Usage.InputTokens, OutputTokens: res.Usage.OutputTokens,
			TotalTokens: res.Usage.Total()},
		Tools: []toolView{}}
	if f.RunID == "" {
		f.RunID = a.runID
	}
	switch res.Status {
	case toolloop.StatusPaused:
		for _, pc := range res.Pending {
			f.Tools = append(f.Tools, toolView{ToolCallID: pc.ID, ToolName: pc.Name,
				RequiresConfirmation: pc.RequiresConfirmation, ToolArgs: args(pc.Arguments), Result: json.RawMessage("null")})
		}
		return f
	case toolloop.StatusCancelled:
		text := toolloop.CancelledText
		f.Content = &text
	default:
		text := res.Text
		if a.sse != nil {
			text = ""
		}
		f.Content = &text
	}
	reg := a.d.env.Engine.Tools()
	for _, s := range res.Steps {
		v := toolView{ToolCallID: s.Call.ID, ToolName: s.Call.Name, ToolArgs: args(s.Call.Arguments), Result: s.Result}
		if reg != nil {
			if m, ok := reg.Method(s.Toolkit, s.Call.Name); ok {
				v.RequiresConfirmation = m.RequiresConfirmation
			}
		}
		if len(v.Result) == 0 || !json.Valid(v.Result) {
			v.Result = json.RawMessage("null")
		}
		f.Tools = append(f.Tools, v)
	}
	return f
}

// args shows a call's arguments as the object the model wrote, or, when
// it wrote no valid JSON object, as the text it wrote.
func args(s string) json.RawMessage {
	if s == "" {
		return json.RawMessage("{}")
	}
	b := []byte(s)
	if json.Valid(b) && kind(b) == '{' {
		return b
	}
	return dialects.AppendString(nil, s)
}
