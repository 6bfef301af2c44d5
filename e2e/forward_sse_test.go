package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

// TestForwardCompletionsStreamMetered: a streamed /v1/completions is
// billed with the upstream's usage whether or not the client asked for
// it: the gateway asks (stream_options.include_usage) and drops the usage
// chunk the client did not ask for, so the client gets what the upstream
// would have sent it; leaving stream_options out skips no quota.
func TestForwardCompletionsStreamMetered(t *testing.T) {
	const chunks = `data: {"id":"cmpl-1","object":"text_completion","model":"M","choices":[{"index":0,"text":"hi","finish_reason":null}]}` + "\n\n" +
		`data: {"id":"cmpl-1","object":"text_completion","model":"M","choices":[{"index":0,"text":"","finish_reason":"length"}]}` + "\n\n"
	const usage = `data: {"id":"cmpl-1","object":"text_completion","model":"M","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":13,"total_tokens":24}}` + "\n\n"
	const done = "data: [DONE]\n\n"
	asked := map[string]string{} // model: the upstream's stream_options
	var mu sync.Mutex
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		model := gjson.GetBytes(body, "model").Str
		mu.Lock()
		asked[model] = gjson.GetBytes(body, "stream_options").Raw
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		out := strings.ReplaceAll(chunks, `"M"`, `"`+model+`"`)
		if gjson.GetBytes(body, "stream_options.include_usage").Bool() {
			out += strings.ReplaceAll(usage, `"M"`, `"`+model+`"`)
		}
		_, _ = io.WriteString(w, out+done)
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
	for _, tc := range []struct {
		model, options string
		wantUsage      bool // the client gets the usage chunk
	}{
		{"gpt-none", ``, false},
		{"gpt-refused", `,"stream_options":{"include_usage":false}`, false},
		{"gpt-asked", `,"stream_options":{"include_usage":true}`, true},
	} {
		status, body, _ := g.Do("POST", "/v1/completions", testgate.KeyA, `{"model":"`+tc.model+`","prompt":"x","stream":true`+tc.options+`}`)
		want := strings.ReplaceAll(chunks, `"M"`, `"`+tc.model+`"`)
		if tc.wantUsage {
			want += strings.ReplaceAll(usage, `"M"`, `"`+tc.model+`"`)
		}
		if want += done; status != 200 || string(body) != want {
			t.Errorf("%s: %d\n%s\nwant\n%s", tc.model, status, body, want)
		}
		mu.Lock()
		if got := asked[tc.model]; got != `{"include_usage":true}` {
			t.Errorf("%s: the upstream got stream_options %s", tc.model, got)
		}
		mu.Unlock()
	}
	_, body, _ := g.Do("GET", "/v1/logs?limit=50", testgate.KeyA, nil)
	found := map[string]string{}
	for _, r := range gjson.ParseBytes(body).Array() {
		found[r.Get("model_id").Str] = r.Get("input_tokens").Raw + "/" + r.Get("output_tokens").Raw + "/" + r.Get("estimated").Raw
	}
	for _, model := range []string{"gpt-none", "gpt-refused", "gpt-asked"} {
		if found[model] != "11/13/false" {
			t.Errorf("usage record of %s: %q, want the upstream's 11/13, not estimated (all: %v)", model, found[model], found)
		}
	}
	// A body an upstream might read as another stream than the gateway
	// did is refused, naming the field.
	status, body, _ := g.Do("POST", "/v1/completions", testgate.KeyA, `{"model":"gpt-x","prompt":"x","stream":false,"stream":true}`)
	if status != 400 || gjson.GetBytes(body, "error.param").Str != "stream" {
		t.Errorf("duplicate stream: %d %s", status, body)
	}
}
