package responses

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/state"
	"github.com/tidwall/gjson"
)

// idPrefix starts every response id: resp_{node id}, the node naming
// the conversation that ends with it (tree.go).
const idPrefix = "resp_"

// create answers POST /responses (and /agents/responses, /v1/responses).
func (d *Dialect) create(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, err := decodeRequest(body, d.env.Limits)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rt := d.env.Engine
	agent, err := d.resolve(ctx, p, req.model)
	if err != nil {
		return err
	}
	var from origin
	switch {
	case req.previousID != "":
		if from, err = d.continued(ctx, p, req.previousID, agent, req.model); err != nil {
			return err
		}
	case req.conversation != "":
		if from, err = d.inConversation(ctx, p, req.conversation); err != nil {
			return err
		}
	}
	// A continued conversation keeps its version unless the request
	// names one; a version since withdrawn (its agent made anew) gives way
	// to the latest.
	n := req.version
	inherited := n == 0 && from.prev != nil && from.prev.Version > 0
	if inherited {
		n = from.prev.Version
	}
	agent, version, err := rt.Agents().AtVersion(ctx, p.Tenant, agent, n)
	if err != nil && inherited && adapters.AsError(err).Kind == adapters.KindNotFound {
		agent, version, err = rt.Agents().AtVersion(ctx, p.Tenant, agent, 0)
	}
	if err != nil {
		return err
	}
	if !agent.Active() {
		return adapters.NotActive(agent, "model")
	}
	if err := linkOutputs(req, from.prev); err != nil {
		return err
	}
	node := &from.link
	node.ID, node.Tenant, node.AgentID, node.Version = adapters.NewID("conv_"), p.Tenant, agent.ID, version
	segs, err := d.context(ctx, p.Tenant, node, historyTurns(agent))
	if err != nil {
		return err
	}

	call := &req.call
	call.Principal, call.Dialect, call.Agent, call.Messages, call.History = p, Name, agent, req.input, messagesOf(segs)
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
	h := header{id: idPrefix + node.ID, model: req.model, created: rt.Now().Unix(), previousID: req.previousID, version: version,
		store: req.store, sampling: agent.Sampling.Merge(call.Sampling), echo: req.echo}
	if from.join {
		h.conversation = from.link.Conversation
	}
	var sse *dialects.SSE
	if req.stream {
		sse = dialects.NewSSE(w)
	}
	b := newBuilder(h, req.summary, sse, func() int64 { return rt.Now().Unix() })

	res, err := rt.Run(ctx, x, call, b.emit)
	if err == nil {
		err = b.end(res)
	}
	if err != nil {
		e := docError(adapters.AsError(err))
		failed := b.render("failed", "", e)
		if req.store && x.Admitted() {
			// A failed response is kept as such: fetching it says so (a
			// request its limits refused, or its guardrails denied, made
			// none).
			_ = d.keep(context.WithoutCancel(ctx), node, &from, req, nil, failed)
		}
		if sse == nil || !sse.Started() {
			return err
		}
		_ = b.terminal("failed", failed)
		return nil
	}
	status, reason := b.status()
	obj := b.render(status, reason, nil)
	if req.store {
		// Kept before the client sees the end of the answer: a client that
		// saw it can continue from it.
		if err := d.keep(context.WithoutCancel(ctx), node, &from, req, res, obj); err != nil {
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

// keep stores the response as a node (its turn: the run's, or only the
// input of a run that failed) and, in a conversation it joined, adds its
// input and output items there. What it keeps of the input is what the
// model was sent: redacted by the agent's guardrails.
func (d *Dialect) keep(ctx context.Context, node *state.StoredResponse, from *origin, req *decoded, res *toolloop.Result, obj []byte) error {
	store := d.env.Engine.Store()
	now := d.env.Engine.Now()
	input, err := d.env.Engine.RedactInput(&req.call)
	if err != nil {
		return err
	}
	inputItems := req.inputItems
	if !slices.EqualFunc(input, req.input, sameMessage) {
		inputItems = messageItems(input, seededIDs(node.ID+"/input"))
	}
	node.Body, node.Created, node.Updated = obj, now, now
	node.Turn = input
	if res != nil && res.Turn != nil {
		node.Turn = res.Turn
	}
	node.InputItems = joinItems(inputItems)
	if err := store.PutResponse(ctx, node); err != nil {
		return err
	}
	if !from.join {
		return nil
	}
	items := append([]json.RawMessage(nil), inputItems...)
	for _, it := range gjson.GetBytes(obj, "output").Array() {
		items = append(items, json.RawMessage(it.Raw))
	}
	add := make([]state.ConversationItem, len(items))
	for i, it := range items {
		add[i] = state.ConversationItem{ID: gjson.GetBytes(it, "id").Str, Item: it}
	}
	_, err = store.AppendConversationItems(ctx, node.Tenant, node.Conversation, add)
	return err
}

// sameMessage reports whether the guardrails left a message as it was:
// only the text of its parts may change.
func sameMessage(a, b adapters.Message) bool {
	return slices.EqualFunc(a.Parts, b.Parts, func(p, q adapters.Part) bool { return p.Text == q.Text })
}

// resolve finds the agent a request's model names: an agent's key (or
// name) or, failing that, a routed upstream model called directly.
func (d *Dialect) resolve(ctx context.Context, p *adapters.Principal, model string) (*adapters.Agent, error) {
	rt := d.env.Engine
	agent, err := rt.Agents().Get(ctx, p, model)
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

// continued resolves a previous_response_id: a response of the agent
// (named model in the request), a Conversations API conversation
// (resp_{conversation id}) or a conversation another dialect keeps with
// the agent (resp_{session id}). The new response continues it as it
// stands: a stored node becomes its Previous; a conversation kept
// elsewhere (or a response an older store kept per session) is copied
// into its Base, so what happens there later stays there. Unknown ids,
// other agents' and other tenants' are the same 404.
func (d *Dialect) continued(ctx context.Context, p *adapters.Principal, id string, agent *adapters.Agent, model string) (origin, error) {
	notFound := &adapters.Error{Kind: adapters.KindNotFound, Code: "previous_response_not_found", Param: "previous_response_id",
		Message: "Previous response with id " + q(id) + " not found."}
	nid, ok := strings.CutPrefix(id, idPrefix)
	if !ok || nid == "" {
		return origin{}, notFound
	}
	store := d.env.Engine.Store()
	rec, err := store.GetResponse(ctx, p.Tenant, nid)
	switch {
	case err == nil && rec.AgentID != agent.ID:
		notFound.Message = "Previous response with id " + q(id) + " not found for agent " + q(model) + "."
		return origin{}, notFound
	case err == nil && rec.Node():
		return origin{prev: rec, link: state.StoredResponse{Previous: rec.ID}}, nil
	case err == nil:
		base, err := d.sessionBase(ctx, p, agent, nid)
		return origin{prev: rec, link: state.StoredResponse{Base: base}}, err
	case !errors.Is(err, state.ErrNotFound):
		return origin{}, err
	}
	conv, err := store.GetConversation(ctx, p.Tenant, nid)
	if err == nil {
		return origin{link: state.StoredResponse{Conversation: conv.ID, ConversationSeq: conv.LastSeq}}, nil
	}
	if !errors.Is(err, state.ErrNotFound) {
		return origin{}, err
	}
	_, err = store.GetSession(ctx, state.SessionKey{Tenant: p.Tenant, AgentID: agent.ID, ID: nid})
	if errors.Is(err, state.ErrNotFound) {
		return origin{}, notFound
	}
	if err != nil {
		return origin{}, err
	}
	base, err := d.sessionBase(ctx, p, agent, nid)
	return origin{link: state.StoredResponse{Base: base}}, err
}

// sessionBase copies the recent turns of the agent's session id: the
// context of a response branching off a conversation kept as a session.
func (d *Dialect) sessionBase(ctx context.Context, p *adapters.Principal, agent *adapters.Agent, id string) ([]adapters.Message, error) {
	msgs, err := d.env.Engine.Store().RecentTurns(ctx, state.SessionKey{Tenant: p.Tenant, AgentID: agent.ID, ID: id}, historyTurns(agent))
	if msgs == nil {
		msgs = []adapters.Message{} // an empty base is still one
	}
	return msgs, err
}

// inConversation resolves the conversation parameter: the tenant's
// Conversations API conversation, whose items the response sees and adds
// to.
func (d *Dialect) inConversation(ctx context.Context, p *adapters.Principal, id string) (origin, error) {
	conv, err := d.env.Engine.Store().GetConversation(ctx, p.Tenant, id)
	if errors.Is(err, state.ErrNotFound) {
		return origin{}, &adapters.Error{Kind: adapters.KindNotFound, Code: "conversation_not_found", Param: "conversation",
			Message: "Conversation with id " + q(id) + " not found."}
	}
	if err != nil {
		return origin{}, err
	}
	return origin{join: true, link: state.StoredResponse{Conversation: conv.ID, ConversationSeq: conv.LastSeq}}, nil
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
