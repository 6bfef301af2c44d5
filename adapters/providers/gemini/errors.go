package gemini

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
	"google.golang.org/genai"
)

// errCallTimeout is the cause of the per-call deadline the provider sets.
var errCallTimeout = errors.New("gemini: upstream call timed out")

// MapStatus turns a non-2xx Gemini answer, with its Google error body
// ({"error":{"code","message","status","details"}}), into the canonical
// error the gateway reports. The Google status decides when present, the
// HTTP status otherwise:
//
//   - RESOURCE_EXHAUSTED / 429 → rate limited, RetryAfter from the
//     google.rpc.RetryInfo detail or the Retry-After header;
//   - UNAVAILABLE / 502, 503 → unavailable (RetryAfter as above);
//   - INVALID_ARGUMENT, OUT_OF_RANGE / 400, 422 → invalid request with
//     Google's message, except a refused API key;
//   - PERMISSION_DENIED, UNAUTHENTICATED / 401, 403, and a refused API key →
//     upstream error (the gateway's own credentials), without Google's
//     message;
//   - NOT_FOUND / 404 → not found when the model does not exist, upstream
//     error otherwise;
//   - DEADLINE_EXCEEDED / 504, 408 → timeout;
//   - 413 → too large; anything else (INTERNAL, FAILED_PRECONDITION, …) →
//     upstream error.
//
// UpstreamStatus is always the HTTP status; a Retry-After date counts from
// now.
func MapStatus(status int, header http.Header, body []byte, now time.Time) *adapters.Error {
	var doc struct {
		Error *genai.APIError `json:"error"`
	}
	var apiErr genai.APIError
	if json.Unmarshal(body, &doc) == nil && doc.Error != nil {
		apiErr = *doc.Error
	}
	return fromAPIError(apiErr, status, header, now)
}

// fromAPIError maps a Google error. status and header are those of the
// HTTP answer when known (0 and nil for an error inside a stream); now is
// when it arrived, on the gateway's clock.
func fromAPIError(apiErr genai.APIError, status int, header http.Header, now time.Time) *adapters.Error {
	gs := apiErr.Status
	if !isGoogleStatus(gs) {
		gs = "" // a bare HTTP status line ("503 Service Unavailable")
	}
	code := apiErr.Code
	if status != 0 {
		code = status
	}
	if gs == "" {
		gs = statusFor(code)
	}
	msg := wire.Clip(strings.TrimSpace(apiErr.Message))
	if strings.HasPrefix(msg, "<") || !utf8.ValidString(msg) {
		msg = "" // an HTML page, not a message
	}
	label := gs
	if code != 0 {
		label = "HTTP " + strconv.Itoa(code) + " " + gs
	}
	e := &adapters.Error{UpstreamStatus: status}
	switch {
	case gs == "RESOURCE_EXHAUSTED":
		e.Kind = adapters.KindRateLimited
		e.Message = "upstream rate limit reached, retry later"
		e.RetryAfter = retryDelay(apiErr.Details, header, now)
		e.Reason = quotaReason(apiErr.Details)
	case gs == "UNAVAILABLE":
		e.Kind = adapters.KindUnavailable
		e.Message = "upstream unavailable (" + label + ")"
		e.RetryAfter = retryDelay(apiErr.Details, header, now)
	case gs == "UNAUTHENTICATED" || gs == "PERMISSION_DENIED" || keyRefused(apiErr):
		e.Kind = adapters.KindUpstream
		e.Message = "upstream rejected the gateway's credentials (" + label + ")"
		return e // what Google says about the key is not repeated, even in logs
	case gs == "INVALID_ARGUMENT" || gs == "OUT_OF_RANGE":
		e.Kind = adapters.KindInvalidRequest
		e.Message = wire.OrDefault(msg, "upstream rejected the request ("+label+")")
	case gs == "NOT_FOUND":
		if isModelNotFound(msg) {
			e.Kind = adapters.KindNotFound
			e.Message = wire.OrDefault(msg, "model not found")
			e.Code = "model_not_found"
			e.Param = "model"
		} else {
			e.Kind = adapters.KindUpstream
			e.Message = "upstream endpoint not found (" + label + ")"
		}
	case gs == "DEADLINE_EXCEEDED":
		e.Kind = adapters.KindTimeout
		e.Message = "upstream timed out (" + label + ")"
	case code == http.StatusRequestEntityTooLarge:
		e.Kind = adapters.KindTooLarge
		e.Message = wire.OrDefault(msg, "request too large for the upstream (HTTP 413)")
	default:
		e.Kind = adapters.KindUpstream
		e.Message = "upstream error (" + label + ")"
	}
	if e.Message != msg {
		e.Cause = wire.Said(msg)
	}
	return e
}

// statusFor is the Google status an HTTP status stands for.
func statusFor(code int) string {
	switch code {
	case 400, 422:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 408, 504:
		return "DEADLINE_EXCEEDED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 502, 503:
		return "UNAVAILABLE"
	case 500:
		return "INTERNAL"
	}
	return ""
}

func isGoogleStatus(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && c != '_' {
			return false
		}
	}
	return true
}

// keyRefused reports a 400 about the API key ("API key not valid").
func keyRefused(e genai.APIError) bool {
	for _, d := range e.Details {
		if r, _ := d["reason"].(string); strings.HasPrefix(r, "API_KEY_") {
			return true
		}
	}
	return strings.Contains(strings.ToLower(e.Message), "api key")
}

func isModelNotFound(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "model") &&
		(strings.Contains(m, "not found") || strings.Contains(m, "does not exist") || strings.Contains(m, "not supported"))
}

// retryDelay reads google.rpc.RetryInfo's retryDelay ("37s", "0.5s"), else
// the Retry-After header (seconds or an HTTP date).
func retryDelay(details []map[string]any, h http.Header, now time.Time) time.Duration {
	for _, d := range details {
		if t, _ := d["@type"].(string); !strings.HasSuffix(t, "google.rpc.RetryInfo") {
			continue
		}
		if v, ok := d["retryDelay"].(string); ok {
			if d, err := time.ParseDuration(strings.TrimSpace(v)); err == nil && d > 0 {
				return d
			}
		}
	}
	return wire.RetryAfterSeconds(h, now)
}

// quotaReason tells which limit a google.rpc.QuotaFailure names: "tokens"
// or "requests", or "" when it does not say.
func quotaReason(details []map[string]any) string {
	for _, d := range details {
		if t, _ := d["@type"].(string); !strings.HasSuffix(t, "google.rpc.QuotaFailure") {
			continue
		}
		vs, _ := d["violations"].([]any)
		for _, v := range vs {
			vm, _ := v.(map[string]any)
			metric, _ := vm["quotaMetric"].(string)
			id, _ := vm["quotaId"].(string)
			s := strings.ToLower(metric + " " + id)
			switch {
			case strings.Contains(s, "token"):
				return "tokens"
			case strings.Contains(s, "request"):
				return "requests"
			}
		}
	}
	return ""
}
