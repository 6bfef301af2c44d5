package openai

import (
	"errors"
	"math"
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
var errCallTimeout = errors.New("openai: upstream call timed out")

// maxRetryAfterMs bounds retry-after-ms: OpenAI's is taken as sent.
var maxRetryAfterMs = math.Inf(1)

// MapStatus turns a non-2xx upstream answer into the canonical error the
// gateway reports: 400/422 → invalid request with the upstream's message,
// 401/403 → upstream error (the gateway's own credentials were refused),
// 404 → not found when the upstream says the model does not exist and an
// upstream error otherwise, 408 → timeout, 413 → too large, 429 → rate
// limited with RetryAfter from retry-after-ms or retry-after, 502/503/504 →
// unavailable and any other status → upstream error. UpstreamStatus is
// always set; a Retry-After date counts from now. Messages never repeat what an upstream says about the
// gateway's own key or account.
//
// It is exported so other providers (the mock among them) report statuses
// exactly as this one does.
func MapStatus(status int, header http.Header, body []byte, now time.Time) *adapters.Error {
	msg, code, param := errorDetails(body)
	return wire.MapHTTPStatus(status, header, now, wire.StatusDetails{
		Message: msg, Code: code, Param: param, ModelNotFound: status == http.StatusNotFound && isModelNotFound(msg, code),
	}, maxRetryAfterMs)
}

// errorDetails extracts message, code and param from the error bodies of
// OpenAI ({"error":{"message","code","param"}}), Ollama ({"error":"…"}),
// vLLM ({"message":…}), FastAPI ({"detail":…}) and plain text.
func errorDetails(body []byte) (msg, code, param string) {
	if len(body) == 0 {
		return "", "", ""
	}
	if validjson.Bytes(body) {
		doc := gjson.ParseBytes(body)
		if ev := doc.Get("error"); ev.Exists() {
			if ev.Type == gjson.String {
				return wire.Clip(ev.Str), "", ""
			}
			msg = ev.Get("message").String()
			if c := ev.Get("code"); c.Type == gjson.String {
				code = c.Str
			}
			if p := ev.Get("param"); p.Type == gjson.String {
				param = p.Str
			}
			return wire.Clip(msg), code, param
		}
		if m := doc.Get("message"); m.Type == gjson.String {
			return wire.Clip(m.Str), "", ""
		}
		if d := doc.Get("detail"); d.Type == gjson.String {
			return wire.Clip(d.Str), "", ""
		}
		return "", "", ""
	}
	// Plain text: keep it only when it looks like a sentence, not a page.
	s := strings.TrimSpace(string(body))
	if strings.HasPrefix(s, "<") || !utf8.ValidString(s) {
		return "", "", ""
	}
	return wire.Clip(s), "", ""
}

func isModelNotFound(msg, code string) bool {
	if code == "model_not_found" {
		return true
	}
	m := strings.ToLower(msg)
	return strings.Contains(m, "model") &&
		(strings.Contains(m, "not found") || strings.Contains(m, "does not exist") || strings.Contains(m, "not exist"))
}
