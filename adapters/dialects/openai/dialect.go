// Package openai serves the OpenAI-compatible surface: Chat Completions
// and Models, with an agent's id or name as the model. Any OpenAI SDK
// pointed at agentgate's /v1 works unchanged.
package openai

import (
	"net/http"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
)

// Name is the dialect's registered name.
const Name = "openai"

func init() {
	dialects.Register(Name, func(env *dialects.Env) dialects.Dialect { return &Dialect{env: env} })
}

// Dialect is the OpenAI-compatible API.
type Dialect struct {
	env *dialects.Env
}

// Routes implements dialects.Dialect.
func (d *Dialect) Routes() []dialects.Route {
	routes := []dialects.Route{
		{Pattern: "POST /v1/chat/completions", Handler: d.chatCompletions, CallsModel: true, Target: dialects.TargetField("model")},
		{Pattern: "GET /v1/models", Handler: d.listModels},
		{Pattern: "GET /v1/models/{id...}", Handler: d.getModel},
		{Pattern: "POST /v1/embeddings", Handler: d.embeddings, CallsModel: true, Target: dialects.TargetField("model")},
	}
	if d.env.Passthrough {
		routes = append(routes, d.forwardRoutes()...)
	}
	return routes
}

// WriteError implements dialects.Dialect with OpenAI's error object, so the
// SDKs raise the matching exception class.
func (d *Dialect) WriteError(w http.ResponseWriter, err *adapters.Error) {
	WriteError(w, err)
}

// WriteError answers with err as an OpenAI error object; other dialects
// that present OpenAI's API (Responses) share it.
func WriteError(w http.ResponseWriter, err *adapters.Error) {
	dialects.SetRetryAfter(w, err)
	dialects.WriteRawJSON(w, err.Status(), AppendError(nil, err))
}

// AppendError appends err's OpenAI error object ({"error":{…}}) to dst.
func AppendError(dst []byte, err *adapters.Error) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = dialects.AppendString(dst, err.Message)
	dst = append(dst, `,"type":`...)
	dst = dialects.AppendString(dst, errorType(err))
	dst = append(dst, `,"param":`...)
	if err.Param != "" {
		dst = dialects.AppendString(dst, err.Param)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"code":`...)
	dst = dialects.AppendString(dst, err.CodeOrDefault())
	return append(dst, "}}"...)
}

func errorType(err *adapters.Error) string {
	switch err.Kind {
	case adapters.KindInvalidRequest, adapters.KindNotFound, adapters.KindTooLarge, adapters.KindConflict:
		return "invalid_request_error"
	case adapters.KindUnauthenticated:
		return "authentication_error"
	case adapters.KindForbidden:
		return "permission_error"
	case adapters.KindRateLimited:
		if err.Reason == "requests" || err.Reason == "tokens" {
			return err.Reason // what OpenAI itself sends
		}
		return "rate_limit_exceeded"
	case adapters.KindQuotaExceeded:
		return "insufficient_quota"
	}
	return "server_error"
}

// NotFound implements dialects.NotFounder: a path under /v1/ nothing
// serves gets OpenAI's own answer, a JSON 404 "Invalid URL".
func (d *Dialect) NotFound(r *http.Request) *adapters.Error {
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		return nil
	}
	return invalidURL(r.Method, r.URL.Path)
}
