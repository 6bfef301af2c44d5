// Package engrami serves the Engrami API under /api/v1 over the shared
// agent runtime: agents with long-term memory (semantic, episodic and
// procedural) that remember across conversations and can show and forget
// what they remember.
//
//	GET    /api/v1/agents                          the tenant's agents: {"items", "total", "page", "per_page"}
//	POST   /api/v1/agents                          create an agent (201)
//	GET    /api/v1/agents/{id}                     one agent, with "statistics"
//	PUT    /api/v1/agents/{id}                     partial update → {"id", "name", "status", "updated_at"}
//	DELETE /api/v1/agents/{id}?delete_memory=      delete it, and its memory when delete_memory=true
//	POST   /api/v1/agents/{id}/chat                chat → {"response", "conversation_id", "message_id", "tokens_used", "memory_accessed", "latency_ms"}
//	POST   /api/v1/agents/{id}/chat/stream         the same as Server-Sent Events
//	GET    /api/v1/agents/{id}/memory?type=&limit=&user_id=   what the agent remembers: {"items", "total"}
//	POST   /api/v1/agents/{id}/memory              add knowledge or instructions (201)
//	DELETE /api/v1/agents/{id}/memory?type=&user_id=          forget: {"success", "deleted_count", "message"}
//	POST   /api/v1/agents/{id}/messages/{message_id}/feedback  {"rating": "up"|"down"} or {"thumbs_up": bool}
//
// Every route takes an optional tenant_id query parameter: it must be the
// caller's key's tenant (another tenant's is a 403); without it the key's
// tenant applies. Agents are the canonical ones: an agent created here is
// listed and callable by every dialect of its tenant, and agents declared
// in the gateway's configuration are listed here (they cannot be changed
// or deleted through the API: 403). Another tenant's agent is a 404,
// exactly like a missing one.
//
// Agents. POST takes name and model (both required), description,
// system_prompt, memory_config {semantic_enabled, episodic_enabled,
// procedural_enabled} (each defaults to true, true and false), tools,
// temperature (0 to 2), max_tokens, and beyond the document an optional
// caller-chosen id (letters, digits, "_" and "-"; a generated "agent_…"
// otherwise), status ("active", "inactive" or "draft": only active agents
// answer, the others are a 400 "agent_not_active" when chatted with) and
// memory_config.embedding_model. The model must be one the gateway
// routes, and tools must be tools or toolkits the operator declared (a
// 400 names the others): tenants cannot attach arbitrary tools. An agent
// is shown as {"id", "name", "description", "model", "system_prompt",
// "status", "memory_config", "tools", "temperature", "max_tokens",
// "created_at", "updated_at"}, with "statistics" on GET:
// total_conversations (conversations started with it), avg_response_time
// (mean latency of its answers, "2.3s") and satisfaction_rate (the share
// of thumbs up among end users' feedback, null until there is some).
//
// Chat. conversation_id continues the caller's conversation with this
// agent (an id new to the agent starts one; one is generated, "conv_…",
// when absent); context.user_id names the end user, whose
// memories are kept apart from every other user's; the other context
// fields fill {{name}} placeholders of the system prompt. The agent's
// standing instructions and the facts and earlier exchanges most relevant
// to the message are recalled into the context; memory_accessed lists
// their ids. After the answer the exchange is remembered in the
// background (an episode; facts and instructions the memory manager
// extracts). The stream is data-only events:
//
//	data: {"type":"start","message_id":"msg_…","conversation_id":"conv_…"}
//	data: {"type":"token","content":"…"}                    (one per delta)
//	data: {"type":"end","message_id","conversation_id","tokens_used","memory_accessed","latency_ms"}
//
// and a failure after the stream began ends it with
// {"type":"error","message_id","error":{"code","message","field"}}.
//
// Memory. Items are {"id", "type", "content", "embedding_model",
// "created_at"} (and "user_id" for an end user's), newest first; total
// counts every item matching the filter, limit (default 20, at most 100)
// bounds the items shown. POST adds one item {"content", "type" (semantic
// by default, or procedural), "user_id", "id", "metadata"} or several
// {"items": [...]}; items without user_id are knowledge of the agent,
// recalled for every end user. DELETE /agents/{id}?delete_memory=false
// (the default) keeps the deleted agent's memories in the store, where an
// operator can still read them (state.Store.ListMemories); true deletes
// them.
//
// Errors, on every route, have one shape:
//
//	{"success": false, "error": {"code": "...", "message": "...", "field": "name" | null}}
//
// with the status of the failure: 400 bad input (field names it), 401
// bad key, 403 another tenant's tenant_id or a declared agent, 404
// unknown agent, message or route object, 409 an id in use, 413 body too
// large, 429 limits (Retry-After), 502/503/504 upstream failures.
package engrami

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
)

// Name is the dialect's registered name, as usage records show it.
const Name = "engrami"

func init() {
	dialects.Register(Name, func(env *dialects.Env) dialects.Dialect { return &Dialect{env: env} })
}

// Dialect is the Engrami API.
type Dialect struct {
	env *dialects.Env
}

// Routes implements dialects.Dialect.
func (d *Dialect) Routes() []dialects.Route {
	const agent = "/api/v1/agents/{agent_id}"
	return []dialects.Route{
		{Pattern: "GET /api/v1/agents", Handler: d.tenanted(d.list)},
		{Pattern: "POST /api/v1/agents", Handler: d.tenanted(d.create)},
		{Pattern: "GET " + agent, Handler: d.tenanted(d.get)},
		{Pattern: "PUT " + agent, Handler: d.tenanted(d.update)},
		{Pattern: "DELETE " + agent, Handler: d.tenanted(d.delete)},
		{Pattern: "POST " + agent + "/chat", Handler: d.tenanted(d.chat), CallsModel: true, Target: dialects.TargetPath("agent_id")},
		{Pattern: "POST " + agent + "/chat/stream", Handler: d.tenanted(d.chatStream), CallsModel: true, Target: dialects.TargetPath("agent_id")},
		{Pattern: "GET " + agent + "/memory", Handler: d.tenanted(d.listMemory)},
		// Adding memory may embed it: a model call.
		{Pattern: "POST " + agent + "/memory", Handler: d.tenanted(d.addMemory), CallsModel: true},
		{Pattern: "DELETE " + agent + "/memory", Handler: d.tenanted(d.clearMemory)},
		{Pattern: "POST " + agent + "/messages/{message_id}/feedback", Handler: d.tenanted(d.feedback)},
	}
}

// tenanted checks the tenant_id query parameter before h: absent or
// empty means the key's tenant, the key's tenant passes, another is 403.
func (d *Dialect) tenanted(h dialects.HandlerFunc) dialects.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p *adapters.Principal) error {
		if t := r.URL.Query().Get("tenant_id"); t != "" && t != p.Tenant {
			return &adapters.Error{Kind: adapters.KindForbidden, Code: "tenant_forbidden", Param: "tenant_id",
				Message: "tenant_id " + quote(t) + " is not the tenant of this API key"}
		}
		return h(w, r, p)
	}
}

// WriteError implements dialects.Dialect with Engrami's error object.
func (d *Dialect) WriteError(w http.ResponseWriter, err *adapters.Error) {
	dialects.SetRetryAfter(w, err)
	dialects.WriteRawJSON(w, err.Status(), append(append([]byte(`{"success":false,"error":`), appendError(nil, err)...), '}'))
}

// appendError appends {"code","message","field"}.
func appendError(dst []byte, err *adapters.Error) []byte {
	dst = append(dst, `{"code":`...)
	dst = dialects.AppendString(dst, err.CodeOrDefault())
	dst = append(dst, `,"message":`...)
	dst = dialects.AppendString(dst, err.Message)
	dst = append(dst, `,"field":`...)
	if err.Param != "" {
		dst = dialects.AppendString(dst, err.Param)
	} else {
		dst = append(dst, "null"...)
	}
	return append(dst, '}')
}

// agentError renames the runtime's generic fields to this dialect's:
// "agent" to "agent_id", "session_id" to "conversation_id". Errors that
// are not *adapters.Error pass unchanged, so the Caddy handler still logs
// them.
func agentError(err error) error {
	var e *adapters.Error
	if !errors.As(err, &e) {
		return err
	}
	var param, msg string
	switch e.Param {
	case "agent":
		param = "agent_id"
	case "session_id":
		param, msg = "conversation_id", strings.Replace(e.Message, "session ", "conversation ", 1)
	default:
		return err
	}
	c := *e
	c.Param = param
	if msg != "" {
		c.Message = msg
	}
	return &c
}

func notFound(id string) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindNotFound, Code: "agent_not_found", Param: "agent_id",
		Message: "agent " + quote(id) + " not found"}
}

func quote(s string) string {
	if len(s) > 128 {
		s = s[:128] + "…"
	}
	return "'" + s + "'"
}

// timestamp formats t as the document does: RFC 3339 in UTC, whole
// seconds ("2024-01-15T10:30:00Z").
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// marshal encodes v as compact JSON without HTML escaping (prompts and
// answers read as written).
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{"success":false,"error":{"code":"internal_error","message":"encoding response","field":null}}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	dialects.WriteRawJSON(w, status, marshal(v))
}

// queryInt reads an integer query parameter: absent or empty gives def,
// anything but an integer of at least min is a 400 naming it.
func queryInt(r *http.Request, name string, def, min int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min {
		return 0, adapters.BadField(name, "must be an integer of at least %d, got %s", min, strconv.Quote(clipString(s, 32)))
	}
	return n, nil
}

func clipString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
