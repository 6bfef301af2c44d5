// Package egzora serves the Egzora API: POST /v1/chat (sessions,
// streaming, reasoning, images), GET /v1/agents, GET /v1/auth/profile and
// GET /v1/logs, over the shared agent runtime. The OpenAI-compatible part
// of Egzora's document (/v1/chat/completions, /v1/models) is the openai
// dialect's.
//
// POST /v1/chat answers, without "stream", one JSON object:
//
//	{"response": "...", "session_id": "..." | null, "agent_id", "model_id",
//	 "usage": {"input_tokens", "output_tokens", "total_tokens", "reasoning_tokens"},
//	 "finish_reason", "latency_ms", "run_id"}
//
// and with "stream": true, Server-Sent Events of data lines only, each one
// JSON: {"chunk": "..."} per token as the upstream produces it, then one
// {"done": true, ...every field above except "response"...}, or, if the run
// fails after the stream began, one {"error": {...}} instead. The
// concatenated chunks equal the non-streamed "response", thinking block
// included (see ThinkingHeader).
//
// A session_id is the caller's conversation with the agent it names: the
// same id with another agent (or another tenant) is another conversation,
// and an id new to the agent starts one.
//
// Every error, on every route and mid-stream, has one shape:
//
//	{"error": {"message": "...", "type": "...", "code": "...", "param": "images[1]" | null}}
//
// with the HTTP status of the failure: 400 for bad input (param names the
// field), 401 for a missing or bad key, 404 for an unknown agent, 413 for
// an oversized body, 429 (with Retry-After) for rate limits and quotas,
// 502/503/504 for upstream failures and 500 for anything else.
package egzora

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
)

// Name is the dialect's registered name, as usage records show it.
const Name = "egzora"

func init() {
	dialects.Register(Name, func(env *dialects.Env) dialects.Dialect { return &Dialect{env: env} })
}

// Dialect is the Egzora API.
type Dialect struct {
	env *dialects.Env
}

// Routes implements dialects.Dialect.
func (d *Dialect) Routes() []dialects.Route {
	return []dialects.Route{
		{Pattern: "POST /v1/chat", Handler: d.chat, CallsModel: true, Target: dialects.TargetField("agent_id")},
		{Pattern: "GET /v1/agents", Handler: d.listAgents},
		{Pattern: "GET /v1/auth/profile", Handler: d.profile},
		{Pattern: "GET /v1/logs", Handler: d.logs},
	}
}

// WriteError implements dialects.Dialect with Egzora's error object.
func (d *Dialect) WriteError(w http.ResponseWriter, err *adapters.Error) {
	if err.RetryAfter > 0 {
		secs := int64(err.RetryAfter.Seconds() + 0.999)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	dialects.WriteRawJSON(w, err.Status(), AppendError(nil, err))
}

// AppendError appends err as {"error":{"message","type","code","param"}}.
func AppendError(dst []byte, err *adapters.Error) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = dialects.AppendString(dst, err.Message)
	dst = append(dst, `,"type":`...)
	dst = dialects.AppendString(dst, errorType(err))
	dst = append(dst, `,"code":`...)
	dst = dialects.AppendString(dst, err.CodeOrDefault())
	dst = append(dst, `,"param":`...)
	if err.Param != "" {
		dst = dialects.AppendString(dst, err.Param)
	} else {
		dst = append(dst, "null"...)
	}
	return append(dst, "}}"...)
}

// errorType is the broad class of an error, one per status family.
func errorType(err *adapters.Error) string {
	switch err.Kind {
	case adapters.KindInvalidRequest:
		return "invalid_request_error"
	case adapters.KindUnauthenticated:
		return "authentication_error"
	case adapters.KindForbidden:
		return "permission_error"
	case adapters.KindNotFound:
		return "not_found_error"
	case adapters.KindConflict:
		return "conflict_error"
	case adapters.KindTooLarge:
		return "request_too_large"
	case adapters.KindRateLimited:
		return "rate_limit_error"
	case adapters.KindQuotaExceeded:
		return "quota_exceeded_error"
	case adapters.KindUpstream, adapters.KindUnavailable, adapters.KindTimeout:
		return "upstream_error"
	}
	return "server_error"
}

// egzoraError renames the runtime's generic "agent" field to this
// dialect's "agent_id" and points unknown agents at GET /v1/agents.
// Errors that are not *adapters.Error pass unchanged, so the Caddy handler
// still logs them.
func egzoraError(err error, agentID string) error {
	var e *adapters.Error
	if !errors.As(err, &e) || e.Param != "agent" {
		return err
	}
	c := *e
	c.Param = "agent_id"
	if c.Kind == adapters.KindNotFound {
		c.Message = "agent " + quote(agentID) + " not found: use an agent id or name from GET /v1/agents"
	}
	return &c
}

func quote(s string) string {
	if len(s) > 128 {
		s = s[:128] + "…"
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
		return []byte(`{"error":{"message":"encoding response","type":"server_error","code":"internal_error","param":null}}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
