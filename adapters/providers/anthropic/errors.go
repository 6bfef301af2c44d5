package anthropic

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
	"github.com/agentgate/agentgate/internal/validjson"
	"github.com/tidwall/gjson"
)

// errCallTimeout is the cause of the per-call deadline the provider sets.
var errCallTimeout = errors.New("anthropic: upstream call timed out")

// maxRetryAfterMs bounds retry-after-ms, as Anthropic's SDKs do.
const maxRetryAfterMs = 1e12

// StatusOverloaded is Anthropic's "overloaded_error" status.
const StatusOverloaded = 529

// MapStatus turns a non-2xx answer from the Messages API into the canonical
// error the gateway reports. Anthropic error bodies are
// {"type":"error","error":{"type":…,"message":…},"request_id":…}:
//
//   - 400 invalid_request_error (and 422) → invalid request, with the
//     upstream's message;
//   - 401 authentication_error, 403 permission_error → upstream error: the
//     gateway's own credentials were refused, and nothing the upstream says
//     about them is repeated;
//   - 404 not_found_error → not found on param "model" (the only resource
//     a Messages call names); a 404 without an Anthropic error body (a
//     wrong base URL) → upstream error;
//   - 408 → timeout; 413 request_too_large → too large;
//   - 429 rate_limit_error → rate limited, RetryAfter from retry-after-ms
//     or retry-after;
//   - 529 overloaded_error, 502, 503, 504 → unavailable, with RetryAfter
//     when the upstream sent one;
//   - 500 api_error and anything else → upstream error.
//
// An overloaded_error body makes any status unavailable. UpstreamStatus is
// always set; a Retry-After date counts from now.
func MapStatus(status int, header http.Header, body []byte, now time.Time) *adapters.Error {
	typ, msg := errorDetails(body)
	if typ == "overloaded_error" || status == StatusOverloaded {
		return &adapters.Error{Kind: adapters.KindUnavailable, UpstreamStatus: status, Cause: wire.Said(msg),
			Message:    fmt.Sprintf("upstream overloaded (HTTP %d)", status),
			RetryAfter: wire.RetryAfter(header, now, maxRetryAfterMs)}
	}
	return wire.MapHTTPStatus(status, header, now, wire.StatusDetails{
		Message: msg, ModelNotFound: typ == "not_found_error",
	}, maxRetryAfterMs)
}

// streamError is the error for an "error" event in a stream (or an error
// object in a 200 response): the same types as HTTP errors, without a
// status to go by.
func streamError(ev gjson.Result, status int) *adapters.Error {
	typ, msg := ev.Get("type").String(), wire.Clip(ev.Get("message").String())
	e := &adapters.Error{UpstreamStatus: status}
	switch typ {
	case "overloaded_error":
		e.Kind, e.Message = adapters.KindUnavailable, "upstream overloaded"
	case "rate_limit_error":
		e.Kind, e.Message = adapters.KindRateLimited, "upstream rate limit reached, retry later"
	case "request_too_large":
		e.Kind, e.Message = adapters.KindTooLarge, wire.OrDefault(msg, "request too large for the upstream")
	case "invalid_request_error":
		e.Kind, e.Message = adapters.KindInvalidRequest, wire.OrDefault(msg, "upstream rejected the request")
	case "authentication_error", "permission_error":
		e.Kind, e.Message = adapters.KindUpstream, "upstream rejected the gateway's credentials"
	case "timeout_error":
		e.Kind, e.Message = adapters.KindTimeout, "upstream timed out"
	default:
		e.Kind = adapters.KindUpstream
		if msg == "" {
			e.Message = "upstream reported an error"
		} else {
			e.Message = "upstream error: " + msg
		}
	}
	if typ != "authentication_error" && typ != "permission_error" && !strings.Contains(e.Message, msg) {
		e.Cause = wire.Said(msg)
	}
	return e
}

// errorDetails extracts the error type and message of an Anthropic error
// body, or the message of a few common non-Anthropic shapes (a proxy in
// front of it) and of short plain text.
func errorDetails(body []byte) (typ, msg string) {
	if len(body) == 0 {
		return "", ""
	}
	if validjson.Bytes(body) {
		doc := gjson.ParseBytes(body)
		if ev := doc.Get("error"); ev.Exists() {
			if ev.Type == gjson.String {
				return "", wire.Clip(ev.Str)
			}
			return ev.Get("type").String(), wire.Clip(ev.Get("message").String())
		}
		if m := doc.Get("message"); m.Type == gjson.String {
			return "", wire.Clip(m.Str)
		}
		return "", ""
	}
	s := strings.TrimSpace(string(body))
	if strings.HasPrefix(s, "<") || !utf8.ValidString(s) {
		return "", ""
	}
	return "", wire.Clip(s)
}
