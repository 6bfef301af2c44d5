// Package agentsv2 serves the Agents v2 API under /v2/agents over the
// shared agent runtime:
//
//	GET    /v2/agents                      the agents the caller's tenant can use
//	GET    /v2/agents/{id}                 one agent
//	POST   /v2/agents/batch                several agents ({"agent_ids": [...]}; unknown ids left out)
//	POST   /v2/agents                      create an agent of the caller's tenant (201)
//	DELETE /v2/agents/{id}                 soft-delete it
//	POST   /v2/agents/{id}/chat            chat (JSON, or SSE by default)
//	POST   /v2/agents/{id}/chat/commit     resume a paused run with the person's decisions
//	GET    /v2/agents/{id}/toolkit/run     run a toolkit method directly
//
// Agents are the canonical ones: an agent made here is listed by every
// dialect of its tenant, and declared agents are listed here. The view
// maps template to the system prompt, config.enable_reasoning to the
// reasoning default, num_history_runs to the turns a session replays,
// enable_history false to no replay at all, enable_memory to the memory
// kinds, and keeps worker_config as written; its tools, and any top-level
// "tools", become the agent's tools, which must be operator-declared
// toolkits or methods, and its MCP servers may only name MCP servers the
// operator declared. Beyond the document, create takes a top-level
// "status" (active by default, inactive or draft) and every view shows
// it: chat and commit of an agent that is not active are a 400.
//
// Chat. The agent's template (or the request's system_prompt) is a prompt
// template: {{user_id}}, {{session_id}}, {{timezone}}, {{locale}},
// {{current_time}} (RFC 3339 in the request's time zone), {{current_date}},
// {{agent_id}}, {{agent_name}}, {{user_profile}} and {{tenant_profile}}
// (as JSON) and their fields ({{user_profile.full_name}},
// {{tenant_profile.name}}, nested fields with more dots) are filled in;
// anything else is left exactly as written, and nothing is evaluated.
// Reasoning (enable_reasoning with reasoning_min_steps/max_steps) is asked
// of the model natively where its route can take it, with an effort from
// the step budget (max ≤ 3: low, ≤ 10: medium, more: high); where the
// operator declared that the model cannot reason, the runtime asks for
// the bounded steps explicitly in the system prompt instead.
//
// A non-streamed chat answers one object,
//
//	{"content", "agent_id", "session_id", "model", "token_usage":
//	 {"input_tokens", "output_tokens", "total_tokens"}, "status", "run_id",
//	 "tools": [{"tool_call_id", "tool_name", "requires_confirmation",
//	            "tool_args", "result"}]}
//
// where status is completed, paused (content null, tools the calls
// waiting for confirmation with result null), cancelled (content "Tool
// execution cancelled by user.") or max_iterations (the tool loop hit its
// bound), tools of a completed run the tools the runtime ran, and model the
// model asked for (the request's, the paused run's, or the agent's). A
// streamed one is "event: message" Server-Sent Events: one
// {"content": "<delta>", "status": "running", "run_id"} per delta as the
// model produces it, then one final event {"content", "status", "run_id",
// "agent_id", "session_id", "model", "token_usage", "tools"} whose content
// is "" when completed (the deltas hold the answer), null when paused and
// the cancellation text when cancelled. A failure after the stream began
// ends it with "event: error" and {"detail", "status": "error", "run_id"}.
// stream defaults to true for chat and commit alike, except that a commit
// rejecting every pending call and naming no stream answers the JSON
// object, as the document's cancel example shows.
//
// Errors: 422 {"detail": [{"loc": ["body", "<field>", ...], "msg",
// "type"}]} listing every invalid field (["query", "<name>"] for query
// parameters, ["path", "id"] for the agent of the path), and
// {"detail": "<message>"} with the status otherwise: 401 bad key, 403 a
// declared agent cannot be deleted, 404 unknown agent ("Agent <id> not
// found"), run, toolkit or method, 409 duplicate id, run already
// committed, or a method that needs confirmation run directly, 413 body
// too large, 429 limits (with Retry-After), 502/503/504 upstream, and 400
// {"detail": "agent '<id>' is not active (status draft)"} for a chat or
// commit of an agent that is not active.
package agentsv2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/tidwall/gjson"
)

// Name is the dialect's registered name, as usage records show it.
const Name = "agentsv2"

// Version is what the view shows for agents that carry no version.
const Version = "2.0"

// DefaultModel is the documented default of a chat's model; agents made
// through this API use it unless the request names a "model".
const DefaultModel = "gemini-2.5-pro"

func init() {
	dialects.Register(Name, func(env *dialects.Env) dialects.Dialect { return &Dialect{env: env} })
}

// Dialect is the Agents v2 API.
type Dialect struct {
	env *dialects.Env
}

type handler func(w http.ResponseWriter, r *http.Request, p *adapters.Principal) error

// Routes implements dialects.Dialect.
func (d *Dialect) Routes() []dialects.Route {
	return []dialects.Route{
		{Pattern: "GET /v2/agents", Handler: wrap(d.list)},
		{Pattern: "POST /v2/agents", Handler: wrap(d.create)},
		{Pattern: "POST /v2/agents/batch", Handler: wrap(d.batch)},
		{Pattern: "GET /v2/agents/{id}", Handler: wrap(d.get)},
		{Pattern: "DELETE /v2/agents/{id}", Handler: wrap(d.delete)},
		{Pattern: "POST /v2/agents/{id}/chat", Handler: wrap(d.chat), CallsModel: true, Target: target},
		{Pattern: "POST /v2/agents/{id}/chat/commit", Handler: wrap(d.commit), CallsModel: true, Target: target},
		{Pattern: "GET /v2/agents/{id}/toolkit/run", Handler: wrap(d.toolkitRun)},
	}
}

// target is what a chat (or its commit) calls: the path's agent, or the
// model the body names instead of the agent's.
func target(r *http.Request, body []byte) dialects.Target {
	return dialects.Target{Name: r.PathValue("id"), Model: gjson.GetBytes(body, "model").Str}
}

// wrap answers validation failures (every invalid field at once) itself;
// other errors go to the frame, which answers them with WriteError.
func wrap(h handler) dialects.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p *adapters.Principal) error {
		err := h(w, r, p)
		var v *invalid
		if errors.As(err, &v) {
			writeDetails(w, v.details)
			return nil
		}
		return err
	}
}

func writeDetails(w http.ResponseWriter, details []detail) {
	dialects.WriteRawJSON(w, http.StatusUnprocessableEntity, marshal(struct {
		Detail []detail `json:"detail"`
	}{details}))
}

// WriteError implements dialects.Dialect: 422 with a detail list for bad
// input, {"detail": "..."} with the error's status otherwise. An agent
// that is not active is no fault of the request's fields: 400 with a
// detail message, as FastAPI's HTTPException(400) answers.
func (d *Dialect) WriteError(w http.ResponseWriter, err *adapters.Error) {
	dialects.SetRetryAfter(w, err)
	if err.Kind == adapters.KindInvalidRequest && err.Code != "agent_not_active" {
		writeDetails(w, []detail{{Loc: paramLoc(err.Param), Msg: err.Message, Type: err.CodeOrDefault()}})
		return
	}
	b := append([]byte(nil), `{"detail":`...)
	b = dialects.AppendString(b, err.Message)
	dialects.WriteRawJSON(w, err.Status(), append(b, '}'))
}

// paramLoc turns a canonical error's field ("images[1]", "config.tools")
// into a FastAPI location. The runtime's "agent" is the path's id.
func paramLoc(param string) []any {
	switch param {
	case "":
		return []any{"body"}
	case "agent":
		return []any{"path", "id"}
	}
	loc := []any{"body"}
	for _, part := range strings.Split(param, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			loc = append(loc, name)
		}
		for rest != "" {
			idx, after, ok := strings.Cut(rest, "]")
			if !ok {
				loc = append(loc, rest)
				break
			}
			if n, err := strconv.Atoi(idx); err == nil {
				loc = append(loc, n)
			} else {
				loc = append(loc, idx)
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return loc
}

// notFound is the documented 404 of an unknown agent.
func notFound(id string) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindNotFound, Code: "agent_not_found", Param: "agent",
		Message: "Agent " + clip(id) + " not found"}
}

// agent returns the agent id the caller may use, by id only (other
// dialects also find agents by name; here the path is an id).
func (d *Dialect) agent(ctx context.Context, p *adapters.Principal, id string) (*adapters.Agent, error) {
	a, err := d.env.Engine.Agents().Get(ctx, p, id)
	var e *adapters.Error
	if errors.As(err, &e) && e.Kind == adapters.KindNotFound || err == nil && a.ID != id {
		return nil, notFound(id)
	}
	return a, err
}

// clip shortens a client-given string for a message.
func clip(s string) string {
	if len(s) > 256 {
		s = s[:256]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		return s + "…"
	}
	return s
}

// marshal encodes v as compact JSON without HTML escaping (prompts and
// answers read as written).
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{"detail":"encoding response"}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
