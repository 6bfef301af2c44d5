// Package tenzro serves the Tenzro Agent API under /agent/agents over the
// shared agent runtime:
//
//	POST   /agent/agents                                      create an agent in the project (200)
//	GET    /agent/agents                                      the project's agents, with their executions
//	GET    /agent/agents/{id}                                 one agent (every setting)
//	PATCH  /agent/agents/{id}                                 change some settings
//	DELETE /agent/agents/{id}                                 delete it (soft)
//	POST   /agent/agents/{id}/chat                            chat (JSON, or SSE with "stream": true)
//	POST   /agent/agents/{id}/execute                         run a task to a JSON result
//	GET    /agent/agents/{id}/conversations/{conversation_id} a conversation's messages
//
// Projects. A request names its project in X-Project-ID (letters, digits,
// "_", "-", "." and ":", at most 128): malformed, it is a 400; a key limited
// to some projects (the Caddyfile's key { projects … }) gets a 403
// "project_forbidden" for any other. Creating and listing agents need it
// (missing, a 400), as the document's examples send it; the routes that
// name an agent may leave it out, as the document's chat, history, PATCH
// and DELETE examples do, and then work in the agent's own project (an
// agent of a project the key may not use is not found). An agent of no
// project has none to work in, so those requests must name one (missing,
// a 400): its conversations would otherwise be those of the project-less
// space other dialects use. Agents made here belong to the caller's
// tenant and project; agents of no project (operator-declared ones, and
// those other dialects made for the tenant) are usable in every project.
// Conversations are scoped to tenant, project and agent, and an agent's
// "executions" are counted per project.
//
// Agents. ai_model defaults to DefaultModel and must be served by the
// gateway's routes; tools must be operator-declared tools or toolkits
// (tools that need a person's confirmation are refused: this API has no
// way to give it); orchestration_pattern is SINGLE (default),
// SEQUENTIAL, PARALLEL or HIERARCHICAL; sub_agents (this gateway's field)
// lists, in order, the ids of the agents an orchestrating agent runs:
// required for any pattern but SINGLE, 1 to engine.MaxSubAgents agents
// of the same project (or of none), no cycles, nested at most
// engine.MaxOrchestrationDepth levels deep. temperature (0–2),
// max_iterations (1–MaxIterations, the agent's tool-loop bound), thinking
// (ask the model to reason first: "thinking" stream events) and status
// (active, inactive or draft; chat and execute of an agent that is not
// active are a 400 "agent_not_active") are optional. How the patterns run is
// engine.Engine.Orchestrate's documentation.
//
// Chat answers {"message": {"role": "assistant", "content"},
// "conversation_id", "tool_calls": [{"name", "arguments", "result"}]},
// tool_calls being the tools the runtime ran during this turn, sub-agent
// runs included (named after the sub-agent's id, arguments {"task"},
// result {"agent_id", "name", "output"}). Without a conversation_id one is
// made ("conv_…"); the id is also in the X-Conversation-ID header. The
// request's "context" object fills {{key}} and {{context.key}} placeholders
// of the system prompt ({{context}}: all of it, as JSON); a prompt without
// such placeholders gets the context appended as JSON. With
// "stream": true the answer is Server-Sent Events, data lines only, in the
// order things happen: {"type": "thinking", "content"}, {"type":
// "tool_call", "id", "name", "arguments"}, {"type": "tool_result", "id",
// "name", "result"}, {"type": "delta", "content"}, then data: [DONE]; a
// failure after the stream began ends it with data: {"error": {...}} and
// no [DONE].
//
// Execute takes {"task", "inputs" (object), "max_iterations" (default 10,
// 1–MaxIterations)} and answers {"execution_id": "exec_…", "status",
// "result", "steps": [{"action", "result"}]}: the agent is asked for a JSON
// object (a system instruction, and response_format json_object on calls
// that offer no tools, where providers allow it); an answer that is not one
// gets one repair attempt told the parse error. status is completed (result
// the object), max_iterations_reached (the tool loop hit its bound; result
// null, steps so far) or failed (result null); both of the latter add
// "error": {"code", "message"}. steps are the tool calls and sub-agent
// delegations in order: action the tool's name, result its JSON result.
// Usage records of the execution have its id; sub-agent runs name it as
// their parent.
//
// Every error has the document's shape, {"error": {"code", "message",
// "status"}}: validation_error 400 (the message names the field),
// unauthorized 401, forbidden / project_forbidden / agent_declared 403,
// agent_not_found / conversation_not_found (history of a conversation
// the agent does not have) / model_not_found 404,
// agent_in_use / tool_requires_confirmation / conflict 409,
// payload_too_large 413, rate_limited and
// quota_exceeded 429 (with Retry-After), upstream_error 502,
// service_unavailable 503, upstream_timeout 504, internal_error 500.
package tenzro

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
)

// Name is the dialect's registered name, as usage records show it.
const Name = "tenzro"

// DefaultModel is the model of agents created without ai_model (the
// document's example).
const DefaultModel = "gemini-2.5-flash"

// MaxIterations bounds max_iterations, of agents and of executions;
// DefaultExecuteIterations is an execution's default.
const (
	MaxIterations            = 50
	DefaultExecuteIterations = 10
)

// ProjectHeader names the request's project.
const ProjectHeader = "X-Project-ID"

func init() {
	dialects.Register(Name, func(env *dialects.Env) dialects.Dialect { return &Dialect{env: env} })
}

// Dialect is the Tenzro Agent API.
type Dialect struct {
	env *dialects.Env
}

// handler serves one route for a caller in a project it may use.
type handler func(w http.ResponseWriter, r *http.Request, x *exchange.Exchange, project string) error

// Routes implements dialects.Dialect.
func (d *Dialect) Routes() []dialects.Route {
	return []dialects.Route{
		{Pattern: "POST /agent/agents", Handler: d.scoped(d.create)},
		{Pattern: "GET /agent/agents", Handler: d.scoped(d.list)},
		{Pattern: "GET /agent/agents/{id}", Handler: d.scoped(d.get)},
		{Pattern: "PATCH /agent/agents/{id}", Handler: d.scoped(d.patch)},
		{Pattern: "DELETE /agent/agents/{id}", Handler: d.scoped(d.delete)},
		{Pattern: "POST /agent/agents/{id}/chat", Handler: d.scoped(d.chat), CallsModel: true},
		{Pattern: "POST /agent/agents/{id}/execute", Handler: d.scoped(d.execute), CallsModel: true},
		{Pattern: "GET /agent/agents/{id}/conversations/{conversation_id}", Handler: d.scoped(d.conversation)},
	}
}

// scoped checks the request's project before h runs.
func (d *Dialect) scoped(h handler) dialects.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
		project, err := projectOf(r, x.Principal)
		if id := r.PathValue("id"); id != "" && len(r.Header.Values(ProjectHeader)) == 0 {
			project, err = d.agentProject(r.Context(), x.Principal, id)
		}
		if err != nil {
			return err
		}
		return h(w, r, x, project)
	}
}

// projectOf is the request's project, which p's key must be allowed to
// use.
func projectOf(r *http.Request, p *adapters.Principal) (string, error) {
	vals := r.Header.Values(ProjectHeader)
	if len(vals) == 0 || strings.TrimSpace(vals[0]) == "" {
		return "", &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "validation_error", Param: ProjectHeader,
			Message: "the " + ProjectHeader + " header is required: name the project the request belongs to"}
	}
	if len(vals) > 1 {
		return "", &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "validation_error", Param: ProjectHeader,
			Message: "send one " + ProjectHeader + " header, not " + strconv.Itoa(len(vals))}
	}
	project := strings.TrimSpace(vals[0])
	if !adapters.ValidProject(project) {
		return "", &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "validation_error", Param: ProjectHeader,
			Message: ProjectHeader + " must be " + adapters.ProjectRule + ", not " + quote(project)}
	}
	if !p.AllowsProject(project) {
		return "", &adapters.Error{Kind: adapters.KindForbidden, Code: "project_forbidden", Param: ProjectHeader,
			Message: "this API key may not use project " + quote(project)}
	}
	return project, nil
}

// WriteError implements dialects.Dialect: {"error": {"code", "message",
// "status"}} with the error's status, and Retry-After when the client
// should come back later.
func (d *Dialect) WriteError(w http.ResponseWriter, err *adapters.Error) {
	dialects.SetRetryAfter(w, err)
	dialects.WriteRawJSON(w, err.Status(), appendError(nil, err))
}

// appendError appends err in the document's shape.
func appendError(dst []byte, err *adapters.Error) []byte {
	dst = append(dst, `{"error":{"code":`...)
	dst = dialects.AppendString(dst, errorCode(err))
	dst = append(dst, `,"message":`...)
	dst = dialects.AppendString(dst, err.Message)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(err.Status()), 10)
	return append(dst, "}}"...)
}

// passThrough are the specific codes clients see as they are; other
// errors get their kind's code.
var passThrough = map[string]bool{
	"agent_not_active": true, "project_forbidden": true, "agent_declared": true, "model_not_allowed": true,
	"agent_in_use": true, "tool_requires_confirmation": true,
}

// errorCode is the document's machine-readable code of err.
func errorCode(err *adapters.Error) string {
	if passThrough[err.Code] {
		return err.Code
	}
	switch err.Kind {
	case adapters.KindInvalidRequest:
		return "validation_error"
	case adapters.KindUnauthenticated:
		return "unauthorized"
	case adapters.KindForbidden:
		return "forbidden"
	case adapters.KindNotFound:
		if strings.HasSuffix(err.Code, "_not_found") {
			return err.Code
		}
		return "not_found"
	case adapters.KindConflict:
		return "conflict"
	case adapters.KindTooLarge:
		return "payload_too_large"
	case adapters.KindRateLimited:
		return "rate_limited"
	case adapters.KindQuotaExceeded:
		return "quota_exceeded"
	case adapters.KindUpstream:
		return "upstream_error"
	case adapters.KindUnavailable:
		return "service_unavailable"
	case adapters.KindTimeout:
		return "upstream_timeout"
	}
	return "internal_error"
}

// notFound is the document's 404 of an unknown agent.
func notFound(id string) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindNotFound, Code: "agent_not_found", Param: "agent",
		Message: "Agent " + quote(id) + " not found"}
}

// agentProject is the project of a request that names agent id and no
// project: the agent's own, which an agent of no project lacks (a 400).
// The registry finds no agent of a project the key may not use, so such a
// request is a 404, as from another project.
func (d *Dialect) agentProject(ctx context.Context, p *adapters.Principal, id string) (string, error) {
	a, err := d.env.Engine.Agents().Get(ctx, p, id)
	var e *adapters.Error
	if errors.As(err, &e) && e.Kind == adapters.KindNotFound || err == nil && a.ID != id {
		return "", notFound(id)
	}
	if err != nil {
		return "", err
	}
	// Without a project, the agent's conversations would be those of the
	// space no project names, which other dialects' requests share.
	if a.Project == "" {
		return "", &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "validation_error", Param: ProjectHeader,
			Message: "the " + ProjectHeader + " header is required: agent " + quote(id) + " belongs to no project, so name the one the request is in"}
	}
	return a.Project, nil
}

// agent returns the agent id, by id, that p may use in project.
func (d *Dialect) agent(ctx context.Context, p *adapters.Principal, project, id string) (*adapters.Agent, error) {
	a, err := d.env.Engine.Agents().Get(ctx, p, id)
	var e *adapters.Error
	if errors.As(err, &e) && e.Kind == adapters.KindNotFound || err == nil && (a.ID != id || !a.InProject(project)) {
		return nil, notFound(id)
	}
	return a, err
}

// timestamp formats t as the document does: UTC, whole seconds.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// quote quotes a client-given string for a message, shortened.
func quote(s string) string {
	if len(s) > 128 {
		s = s[:128]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return "'" + s + "'"
}

// marshal encodes v as compact JSON without HTML escaping (prompts and
// answers read as written).
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{"error":{"code":"internal_error","message":"encoding the response","status":500}}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	dialects.WriteRawJSON(w, status, marshal(v))
}
