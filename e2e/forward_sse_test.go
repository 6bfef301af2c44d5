package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
)

// TestForwardStreamUsageAnyLineEnding: a passed-through stream is billed
// with the usage its events report whatever line endings the upstream
// uses (LF, CRLF, CR-only — all valid SSE), and when its last event lacks
// the closing blank line: the usage record has the upstream's counts,
// not an estimate.
func TestForwardStreamUsageAnyLineEnding(t *testing.T) {
	cases := map[string]struct{ eol, tail string }{
		"gpt-lf":   {"\n", "\n\n"},
		"gpt-crlf": {"\r\n", "\r\n\r\n"},
		"gpt-cr":   {"\r", "\r\r"},
		"gpt-open": {"\r", ""}, // the usage event is the last, unterminated
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		model := gjson.GetBytes(body, "model").Str
		c := cases[model]
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := `data: {"id":"cmpl-1","object":"text_completion","model":"` + model + `","choices":[{"index":0,"text":"hi","finish_reason":null}]}`
		usage := `data: {"id":"cmpl-1","object":"text_completion","model":"` + model + `","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":13,"total_tokens":24}}`
		if model == "gpt-open" {
			_, _ = io.WriteString(w, chunk+c.eol+c.eol+usage)
			return
		}
		_, _ = io.WriteString(w, chunk+c.eol+c.eol+usage+c.eol+c.eol+"data: [DONE]"+c.tail)
	}))
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: `
		provider up openai {
			base_url ` + up.URL + `
			api_key sk-upstream
		}
		route gpt-* up
		passthrough up
`})
	for model := range cases {
		status, body, _ := g.Do("POST", "/v1/completions", testgate.KeyA, `{"model":"`+model+`","prompt":"x","stream":true,"stream_options":{"include_usage":true}}`)
		if status != 200 || !strings.Contains(string(body), `"prompt_tokens":11`) {
			t.Fatalf("%s: %d %q", model, status, body)
		}
	}
	_, body, _ := g.Do("GET", "/v1/logs?limit=50", testgate.KeyA, nil)
	found := map[string]string{}
	for _, r := range gjson.ParseBytes(body).Array() {
		found[r.Get("model_id").Str] = r.Get("input_tokens").Raw + "/" + r.Get("output_tokens").Raw + "/" + r.Get("estimated").Raw
	}
	for model := range cases {
		if found[model] != "11/13/false" {
			t.Errorf("usage record of %s: %q, want the upstream's 11/13, not estimated (all: %v)", model, found[model], found)
		}
	}
}
