package responses

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/runtime"
	"github.com/agentgate/agentgate/state"
	"github.com/tidwall/gjson"
)

// idPrefix starts every response id: resp_{conversationId}.
const idPrefix = "resp_"

// create answers POST /responses (and /agents/responses, /v1/responses).
func (d *Dialect) create(w http.ResponseWriter, r *http.Request, p *adapters.Principal) error {
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, err := decodeRequest(body, d.env.Limits)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rt := d.env.Runtime
	agent, err := d.resolve(ctx, p, req.model)
	if err != nil {
		return err
	}
	var prev *state.StoredResponse
	if req.previousID != "" {
		if prev, err = d.previous(ctx, p, req.previousID, agent, req.model); err != nil {
			return err
		}
	}
	// A continued conversation keeps its version unless the request
	// names one; a version since withdrawn (its agent made anew) gives way
	// to the latest.
	n := req.version
	inherited := n == 0 && prev != nil && prev.Version > 0
	if inherited {
		n = prev.Version
	}
	agent, version, err := rt.AgentAtVersion(ctx, p.Tenant, agent, n)
	if err != nil && inherited && adapters.AsError(err).Kind == adapters.KindNotFound {
		agent, version, err = rt.AgentAtVersion(ctx, p.Tenant, agent, 0)
	}
	if err != nil {
		return err
	}
	if !agent.Active() {
		return adapters.NotActive(agent, "model")
	}
	if err := linkOutputs(req, prev); err != nil {
		return err
	}

	sid := ""
	id := idPrefix + runtime.NewID("conv_")
	if prev != nil {
		sid, id = prev.ID, req.previousID
	} else if req.store {
		sid = id[len(idPrefix):]
	}
	call := &req.call
	call.Principal, call.Dialect, call.Agent, call.SessionID, call.Messages = p, Name, agent, sid, req.input
	if len(call.ClientTools) == 0 {
		delete(call.Extra, "parallel_tool_calls") // only allowed with tools
	}
	if req.instructions != nil {
		// The agent's own prompt stays first; instructions add to it for
		// this request only (they are not part of the stored turn).
		sp := *req.instructions
		if agent.SystemPrompt != "" {
			sp = agent.SystemPrompt + "\n\n" + sp
		}
		call.SystemPrompt = &sp
	}
	h := header{id: id, model: req.model, created: rt.Now().Unix(), previousID: req.previousID, version: version,
		store: req.store, sampling: agent.Sampling.Merge(call.Sampling), echo: req.echo}
	var sse *dialects.SSE
	if req.stream {
		sse = dialects.NewSSE(w)
	}
	b := newBuilder(h, req.summary, sse, func() int64 { return rt.Now().Unix() })
	var sv *saver
	if sid != "" {
		if rs, ok := rt.Store().(state.ResponseStore); ok {
			sv = &saver{rs: rs, rec: state.StoredResponse{ID: sid, Tenant: p.Tenant, AgentID: agent.ID, Version: version}}
			// The answer is complete when its usage arrives: storing it then
			// shares a commit with the turn the runtime stores next.
			b.onUsage = func() {
				status, reason := b.status()
				sv.start(context.WithoutCancel(ctx), b.render(status, reason, nil))
			}
		}
	}

	res, err := rt.Run(ctx, call, b.emit)
	if err == nil {
		err = b.end(res)
	}
	if err != nil {
		e := docError(adapters.AsError(err))
		if sv != nil {
			sv.abandon(context.WithoutCancel(ctx), b.render("failed", "", e))
		}
		if sse == nil || !sse.Started() {
			return err
		}
		_ = b.terminal("failed", b.render("failed", "", e))
		return nil
	}
	status, reason := b.status()
	obj := b.render(status, reason, nil)
	if sv != nil {
		if err := sv.finish(context.WithoutCancel(ctx), obj); err != nil {
			if sse == nil || !sse.Started() {
				return err
			}
			_ = b.terminal("failed", b.render("failed", "", docError(adapters.AsError(err))))
			return nil
		}
	}
	if sse == nil {
		dialects.WriteRawJSON(w, http.StatusOK, obj)
		return nil
	}
	if !b.began {
		if err := b.begin(); err != nil {
			return nil
		}
	}
	_ = b.terminal(status, obj)
	return nil
}

// resolve finds the agent a request's model names: an agent's key (or
// name) or, failing that, a routed upstream model called directly.
func (d *Dialect) resolve(ctx context.Context, p *adapters.Principal, model string) (*adapters.Agent, error) {
	rt := d.env.Runtime
	agent, err := rt.Agent(ctx, p, model)
	if err == nil || adapters.AsError(err).Kind != adapters.KindNotFound {
		return agent, err
	}
	agent, perr := rt.Passthrough(p, model)
	if perr == nil {
		return agent, nil
	}
	if adapters.AsError(perr).Kind == adapters.KindForbidden {
		return nil, perr
	}
	return nil, modelNotFound(model, err)
}

// previous loads the conversation of agent (named model in the request)
// that a previous_response_id continues: its stored response or, for a
// conversation another dialect began with the agent, its session.
// Unknown ids, other agents' and other tenants' are the same 404.
func (d *Dialect) previous(ctx context.Context, p *adapters.Principal, id string, agent *adapters.Agent, model string) (*state.StoredResponse, error) {
	notFound := &adapters.Error{Kind: adapters.KindNotFound, Code: "previous_response_not_found", Param: "previous_response_id",
		Message: "Previous response with id " + q(id) + " not found."}
	sid, ok := strings.CutPrefix(id, idPrefix)
	if !ok || sid == "" {
		return nil, notFound
	}
	store := d.env.Runtime.Store()
	if rs, ok := store.(state.ResponseStore); ok {
		rec, err := rs.GetResponse(ctx, p.Tenant, sid)
		if err == nil && rec.AgentID != agent.ID {
			notFound.Message = "Previous response with id " + q(id) + " not found for agent " + q(model) + "."
			return nil, notFound
		}
		if err == nil {
			return rec, nil
		}
		if !errors.Is(err, state.ErrNotFound) {
			return nil, err
		}
	}
	_, err := store.GetSession(ctx, state.SessionKey{Tenant: p.Tenant, AgentID: agent.ID, ID: sid})
	if errors.Is(err, state.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	return &state.StoredResponse{ID: sid, Tenant: p.Tenant, AgentID: agent.ID}, nil
}

// linkOutputs names the function each function_call_output answers (some
// providers need the name) and checks the outputs against the calls they
// answer: those of the input, and those the previous response asked for,
// which must all be answered.
func linkOutputs(req *decoded, prev *state.StoredResponse) error {
	var pending map[string]string
	var order []string
	if prev != nil && len(prev.Body) > 0 {
		for _, it := range gjson.GetBytes(prev.Body, "output").Array() {
			if it.Get("type").Str != "function_call" {
				continue
			}
			if pending == nil {
				pending = map[string]string{}
			}
			id := it.Get("call_id").Str
			pending[id] = it.Get("name").Str
			order = append(order, id)
		}
	}
	answered := map[string]bool{}
	for _, o := range req.outputs {
		name, ok := req.calls[o.callID]
		if !ok {
			name, ok = pending[o.callID]
		}
		if !ok {
			where := "in input"
			if prev != nil {
				where = "in the previous response or in input"
			}
			return adapters.BadField(o.field, "no function call with call_id %q %s", clip(o.callID), where)
		}
		req.input[o.msg].Name = name
		answered[o.callID] = true
	}
	for _, id := range order {
		if !answered[id] {
			return adapters.BadField("input", "the previous response called %s (call_id %q): send its result as a function_call_output item", pending[id], id)
		}
	}
	return nil
}

// saver stores a conversation's latest response.
type saver struct {
	rs      state.ResponseStore
	rec     state.StoredResponse
	pending chan error
	body    []byte
}

// start stores body in the background.
func (s *saver) start(ctx context.Context, body []byte) {
	s.body = body
	s.pending = make(chan error, 1)
	rec := s.rec
	rec.Body = body
	go func() { s.pending <- s.rs.PutResponse(ctx, &rec) }()
}

// wait returns the background store's result, if one was started.
func (s *saver) wait() (started bool, err error) {
	if s.pending == nil {
		return false, nil
	}
	err = <-s.pending
	s.pending = nil
	return true, err
}

// finish makes body the stored response: the background store already
// did when it stored the same bytes.
func (s *saver) finish(ctx context.Context, body []byte) error {
	if started, err := s.wait(); started && err == nil && bytes.Equal(body, s.body) {
		return nil
	}
	rec := s.rec
	rec.Body = body
	return s.rs.PutResponse(ctx, &rec)
}

// abandon replaces a response stored before the run failed with the
// failed one, so it is not retrieved as complete.
func (s *saver) abandon(ctx context.Context, failed []byte) {
	if started, err := s.wait(); started && err == nil {
		rec := s.rec
		rec.Body = failed
		_ = s.rs.PutResponse(ctx, &rec)
	}
}

// retrieve answers GET /responses/{id}: the conversation's latest stored
// response.
func (d *Dialect) retrieve(w http.ResponseWriter, r *http.Request, p *adapters.Principal) error {
	id := r.PathValue("id")
	notFound := &adapters.Error{Kind: adapters.KindNotFound, Code: "response_not_found", Param: "response_id",
		Message: "Response with id " + q(id) + " not found."}
	sid, ok := strings.CutPrefix(id, idPrefix)
	rs, stores := d.env.Runtime.Store().(state.ResponseStore)
	if !ok || sid == "" || !stores {
		return notFound
	}
	rec, err := rs.GetResponse(r.Context(), p.Tenant, sid)
	if errors.Is(err, state.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	dialects.WriteRawJSON(w, http.StatusOK, rec.Body)
	return nil
}
