// Package anthropic serves Anthropic's Messages API: POST /v1/messages
// (JSON and SSE), POST /v1/messages/count_tokens, and GET /v1/models and
// /v1/models/{id} for requests that carry anthropic-version (the openai
// dialect answers the others). The model names an agent (its system
// prompt, tools, memory and knowledge apply) or a routed model on any
// provider, so the Anthropic SDKs and Claude Code work unchanged on
// OpenAI-compatible, Gemini and Anthropic upstreams alike.
//
// Translation is pure: decodeMessages turns a body into a canonical Call,
// the encoder turns canonical events into the message object or the
// event stream; the handlers only join them to HTTP.
package anthropic

import (
	"net/http"
	"regexp"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
)

// Name is the dialect's registered name.
const Name = "anthropic"

func init() {
	dialects.Register(Name, func(env *dialects.Env) dialects.Dialect {
		return &Dialect{env: env, pingInterval: DefaultPingInterval}
	})
}

// Dialect is the Anthropic Messages API.
type Dialect struct {
	env *dialects.Env
	// pingInterval is the silence after which a stream gets a ping
	// (keepalive).
	pingInterval time.Duration
}

// versioned picks Anthropic's models routes: the SDKs send
// anthropic-version on every request, OpenAI's never do.
var versioned = dialects.HasHeader("Anthropic-Version")

// Routes implements dialects.Dialect.
func (d *Dialect) Routes() []dialects.Route {
	return []dialects.Route{
		{Pattern: "POST /v1/messages", Handler: d.messages, CallsModel: true},
		{Pattern: "POST /v1/messages/count_tokens", Handler: d.countTokens},
		{Pattern: "GET /v1/models", Handler: d.listModels, When: versioned},
		{Pattern: "GET /v1/models/{id...}", Handler: d.getModel, When: versioned},
	}
}

// WriteError implements dialects.Dialect with Anthropic's error object,
// {"type":"error","error":{"type":…,"message":…}}, so the SDKs raise the
// matching exception class; retry-after comes with rate limits.
func (d *Dialect) WriteError(w http.ResponseWriter, err *adapters.Error) {
	dialects.SetRetryAfter(w, err)
	setRequestID(w)
	_, status := errorType(err)
	dialects.WriteRawJSON(w, status, appendError(nil, err))
}

// setRequestID gives a response the request-id header Anthropic's
// responses carry (the SDKs attach it to errors), once.
func setRequestID(w http.ResponseWriter) {
	if w.Header().Get("Request-Id") == "" {
		w.Header().Set("Request-Id", adapters.NewID("req_"))
	}
}

// StatusOverloaded is Anthropic's status for an overloaded service.
const StatusOverloaded = 529

// errorType is Anthropic's error type and HTTP status for err.
func errorType(err *adapters.Error) (string, int) {
	switch err.Kind {
	case adapters.KindInvalidRequest:
		return "invalid_request_error", http.StatusBadRequest
	case adapters.KindConflict:
		return "invalid_request_error", http.StatusConflict
	case adapters.KindUnauthenticated:
		return "authentication_error", http.StatusUnauthorized
	case adapters.KindForbidden:
		return "permission_error", http.StatusForbidden
	case adapters.KindNotFound:
		return "not_found_error", http.StatusNotFound
	case adapters.KindTooLarge:
		return "request_too_large", http.StatusRequestEntityTooLarge
	case adapters.KindRateLimited, adapters.KindQuotaExceeded:
		return "rate_limit_error", http.StatusTooManyRequests
	case adapters.KindUnavailable:
		if err.UpstreamStatus != 0 { // the upstream is overloaded or down
			return "overloaded_error", StatusOverloaded
		}
		return "api_error", http.StatusServiceUnavailable
	case adapters.KindTimeout:
		return "timeout_error", http.StatusGatewayTimeout
	case adapters.KindUpstream:
		return "api_error", http.StatusBadGateway
	}
	return "api_error", http.StatusInternalServerError
}

// versionPattern is a dated anthropic-version: 2023-06-01, the 0.x SDKs'
// and the Go SDK v1's, and the newer dates the 1.x SDKs send
// (2026-10-21). agentgate speaks one Messages API for all of them.
var versionPattern = regexp.MustCompile(`^20[2-9][0-9]-[01][0-9]-[0-3][0-9]$`)

// checkVersion accepts any dated anthropic-version, or none (curl);
// anthropic-beta values are tolerated whatever they are.
func checkVersion(r *http.Request) error {
	v := r.Header.Get("Anthropic-Version")
	if v == "" || versionPattern.MatchString(v) {
		return nil
	}
	return &adapters.Error{Kind: adapters.KindInvalidRequest, Param: "anthropic-version",
		Message: "anthropic-version: " + v + " is not a version; send a date such as 2023-06-01"}
}
