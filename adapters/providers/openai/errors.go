package openai

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
var errCallTimeout = errors.New("openai: upstream call timed out")

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// MapStatus turns a non-2xx upstream answer into the canonical error the
// gateway reports: 400/422 → invalid request with the upstream's message,
// 401/403 → upstream error (the gateway's own credentials were refused),
// 404 → not found when the upstream says the model does not exist and an
// upstream error otherwise, 408 → timeout, 413 → too large, 429 → rate
// limited with RetryAfter from retry-after-ms or retry-after, 502/503/504 →
// unavailable and any other status → upstream error. UpstreamStatus is
// always set. Messages never repeat what an upstream says about the
// gateway's own key or account.
//
// It is exported so other providers (the mock among them) report statuses
// exactly as this one does.
func MapStatus(status int, header http.Header, body []byte) *adapters.Error {
	msg, code, param := errorDetails(body)
	e := &adapters.Error{UpstreamStatus: status}
	switch {
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		e.Kind = adapters.KindInvalidRequest
		e.Message = orDefault(msg, fmt.Sprintf("upstream rejected the request (HTTP %d)", status))
		e.Param = param
		e.Code = code
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = adapters.KindUpstream
		e.Message = fmt.Sprintf("upstream rejected the gateway's credentials (HTTP %d)", status)
	case status == http.StatusNotFound:
		if isModelNotFound(msg, code) {
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

// errorDetails extracts message, code and param from the error bodies of
// OpenAI ({"error":{"message","code","param"}}), Ollama ({"error":"…"}),
// vLLM ({"message":…}), FastAPI ({"detail":…}) and plain text.
func errorDetails(body []byte) (msg, code, param string) {
	if len(body) == 0 {
		return "", "", ""
	}
	if gjson.ValidBytes(body) {
		doc := gjson.ParseBytes(body)
		if ev := doc.Get("error"); ev.Exists() {
			if ev.Type == gjson.String {
				return clip(ev.Str), "", ""
			}
			msg = ev.Get("message").String()
			if c := ev.Get("code"); c.Type == gjson.String {
				code = c.Str
			}
			if p := ev.Get("param"); p.Type == gjson.String {
				param = p.Str
			}
			return clip(msg), code, param
		}
		if m := doc.Get("message"); m.Type == gjson.String {
			return clip(m.Str), "", ""
		}
		if d := doc.Get("detail"); d.Type == gjson.String {
			return clip(d.Str), "", ""
		}
		return "", "", ""
	}
	// Plain text: keep it only when it looks like a sentence, not a page.
	s := strings.TrimSpace(string(body))
	if strings.HasPrefix(s, "<") || !utf8.ValidString(s) {
		return "", "", ""
	}
	return clip(s), "", ""
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

func isModelNotFound(msg, code string) bool {
	if code == "model_not_found" {
		return true
	}
	m := strings.ToLower(msg)
	return strings.Contains(m, "model") &&
		(strings.Contains(m, "not found") || strings.Contains(m, "does not exist") || strings.Contains(m, "not exist"))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// retryAfter reads retry-after-ms (milliseconds, OpenAI) or retry-after
// (seconds or an HTTP date).
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms > 0 && finite(ms) {
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
