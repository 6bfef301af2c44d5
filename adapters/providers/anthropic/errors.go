package anthropic

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/tidwall/gjson"
)

// errCallTimeout is the cause of the per-call deadline the provider sets.
var errCallTimeout = errors.New("anthropic: upstream call timed out")

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

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
// always set.
func MapStatus(status int, header http.Header, body []byte) *adapters.Error {
	typ, msg := errorDetails(body)
	e := &adapters.Error{UpstreamStatus: status}
	switch {
	case typ == "overloaded_error" || status == StatusOverloaded:
		e.Kind = adapters.KindUnavailable
		e.Message = fmt.Sprintf("upstream overloaded (HTTP %d)", status)
		e.RetryAfter = retryAfter(header, time.Now())
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		e.Kind = adapters.KindInvalidRequest
		e.Message = orDefault(msg, fmt.Sprintf("upstream rejected the request (HTTP %d)", status))
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = adapters.KindUpstream
		e.Message = fmt.Sprintf("upstream rejected the gateway's credentials (HTTP %d)", status)
	case status == http.StatusNotFound:
		if typ == "not_found_error" {
			e.Kind = adapters.KindNotFound
			e.Message = orDefault(msg, "model not found")
			e.Code = "model_not_found"
			e.Param = "model"
		} else {
			e.Kind = adapters.KindUpstream
			e.Message = "upstream endpoint not found (HTTP 404)"
		}
	case status == http.StatusRequestTimeout:
		e.Kind = adapters.KindTimeout
		e.Message = "upstream timed out (HTTP 408)"
	case status == http.StatusRequestEntityTooLarge:
		e.Kind = adapters.KindTooLarge
		e.Message = orDefault(msg, "request too large for the upstream (HTTP 413)")
	case status == http.StatusTooManyRequests:
		e.Kind = adapters.KindRateLimited
		e.Message = "upstream rate limit reached, retry later"
		e.RetryAfter = retryAfter(header, time.Now())
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		e.Kind = adapters.KindUnavailable
		e.Message = fmt.Sprintf("upstream unavailable (HTTP %d)", status)
		e.RetryAfter = retryAfter(header, time.Now())
	default:
		e.Kind = adapters.KindUpstream
		e.Message = fmt.Sprintf("upstream error (HTTP %d)", status)
	}
	return e
}

// streamError is the error for an "error" event in a stream (or an error
// object in a 200 response): the same types as HTTP errors, without a
// status to go by.
func streamError(ev gjson.Result, status int) *adapters.Error {
	typ, msg := ev.Get("type").String(), clip(ev.Get("message").String())
	e := &adapters.Error{UpstreamStatus: status}
	switch typ {
	case "overloaded_error":
		e.Kind, e.Message = adapters.KindUnavailable, "upstream overloaded"
	case "rate_limit_error":
		e.Kind, e.Message = adapters.KindRateLimited, "upstream rate limit reached, retry later"
	case "request_too_large":
		e.Kind, e.Message = adapters.KindTooLarge, orDefault(msg, "request too large for the upstream")
	case "invalid_request_error":
		e.Kind, e.Message = adapters.KindInvalidRequest, orDefault(msg, "upstream rejected the request")
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
	return e
}

// errorDetails extracts the error type and message of an Anthropic error
// body, or the message of a few common non-Anthropic shapes (a proxy in
// front of it) and of short plain text.
func errorDetails(body []byte) (typ, msg string) {
	if len(body) == 0 {
		return "", ""
	}
	if gjson.ValidBytes(body) {
		doc := gjson.ParseBytes(body)
		if ev := doc.Get("error"); ev.Exists() {
			if ev.Type == gjson.String {
				return "", clip(ev.Str)
			}
			return ev.Get("type").String(), clip(ev.Get("message").String())
		}
		if m := doc.Get("message"); m.Type == gjson.String {
			return "", clip(m.Str)
		}
		return "", ""
	}
	s := strings.TrimSpace(string(body))
	if strings.HasPrefix(s, "<") || !utf8.ValidString(s) {
		return "", ""
	}
	return "", clip(s)
}

func clip(s string) string {
	const max = 1000
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// retryAfter reads retry-after-ms (milliseconds) or retry-after (seconds
// or an HTTP date), as Anthropic's SDKs do.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms > 0 && finite(ms) && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 && finite(s) && s < 1e9 {
			return time.Duration(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// transportError classifies a failure to reach or read the upstream. ctx is
// the call's context (with the provider's deadline). It returns ctx's error
// unchanged when the caller cancelled, and an *adapters.Error otherwise.
func transportError(ctx context.Context, err error, timeout time.Duration) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(context.Cause(ctx), errCallTimeout) {
			return &adapters.Error{Kind: adapters.KindTimeout, Message: fmt.Sprintf("upstream did not finish within %s", timeout)}
		}
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return &adapters.Error{Kind: adapters.KindTimeout, Message: "upstream did not finish before the request deadline"}
		}
		return ctxErr
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return &adapters.Error{Kind: adapters.KindUnavailable, Message: "upstream unreachable"}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return &adapters.Error{Kind: adapters.KindUnavailable, Message: "upstream unreachable (DNS)"}
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return &adapters.Error{Kind: adapters.KindTimeout, Message: "upstream timed out"}
	}
	return &adapters.Error{Kind: adapters.KindUnavailable, Message: "upstream connection failed"}
}
