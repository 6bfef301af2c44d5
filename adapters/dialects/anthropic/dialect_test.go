package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/internal/dialecttest"
)

func answerScript() *dialecttest.Script {
	return &dialecttest.Script{Events: [][]adapters.Event{{
		{Type: adapters.EventStart}, {Type: adapters.EventDelta, Text: "ok"},
		{Type: adapters.EventUsage, Usage: &adapters.Usage{InputTokens: 3, OutputTokens: 1}},
		{Type: adapters.EventDone, FinishReason: "stop"},
	}}}
}

// TestBadInput: every malformed request gets Anthropic's error object
// with the status and type the API uses, naming the field at fault.
func TestBadInput(t *testing.T) {
	h := harness(t, answerScript())
	ok := `"model":"assistant","max_tokens":16,"messages":[{"role":"user","content":"hi"}]`
	for _, c := range []struct {
		name, body, version string
		status              int
		typ, field          string
	}{
		{"not json", `{"model":`, "", 400, "invalid_request_error", "malformed JSON"},
		{"empty", ``, "", 400, "invalid_request_error", "empty"},
		{"no model", `{"max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, "", 400, "invalid_request_error", "model:"},
		{"no max_tokens", `{"model":"assistant","messages":[{"role":"user","content":"x"}]}`, "", 400, "invalid_request_error", "max_tokens:"},
		{"zero max_tokens", `{"model":"assistant","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, "", 400, "invalid_request_error", "max_tokens:"},
		{"no messages", `{"model":"assistant","max_tokens":1,"messages":[]}`, "", 400, "invalid_request_error", "messages:"},
		{"system role", `{"model":"assistant","max_tokens":1,"messages":[{"role":"system","content":"x"}]}`, "", 400, "invalid_request_error", "messages.0.role:"},
		{"empty content", `{"model":"assistant","max_tokens":1,"messages":[{"role":"user","content":""}]}`, "", 400, "invalid_request_error", "messages.0.content:"},
		{"bad block", `{"model":"assistant","max_tokens":1,"messages":[{"role":"user","content":[{"type":"video"}]}]}`, "", 400, "invalid_request_error", "messages.0.content.0.type:"},
		{"image media type", `{"model":"assistant","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/tiff","data":"AAAA"}}]}]}`, "", 400, "invalid_request_error", "messages.0.content.0.source.media_type:"},
		{"image too large", `{"model":"assistant","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + strings.Repeat("A", 100000) + `"}}]}]}`, "", 413, "request_too_large", "messages.0.content.0.source.data:"},
		{"document file source", `{"model":"assistant","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"file","file_id":"f"}}]}]}`, "", 400, "invalid_request_error", "messages.0.content.0.source.type:"},
		{"tool_use in user turn", `{"model":"assistant","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"n","input":{}}]}]}`, "", 400, "invalid_request_error", "messages.0.content.0.type:"},
		{"tool_result without id", `{"model":"assistant","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, "", 400, "invalid_request_error", "messages.0.content.0.tool_use_id:"},
		{"thinking without signature", `{"model":"assistant","max_tokens":1,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"thinking","thinking":"t"}]}]}`, "", 400, "invalid_request_error", "messages.1.content.0:"},
		{"server tool", `{` + ok + `,"tools":[{"type":"web_search_20250305","name":"web_search"}]}`, "", 400, "invalid_request_error", "tools.0.type:"},
		{"tool without schema", `{` + ok + `,"tools":[{"name":"t"}]}`, "", 400, "invalid_request_error", "tools.0.input_schema:"},
		{"tool choice", `{` + ok + `,"tool_choice":{"type":"required"}}`, "", 400, "invalid_request_error", "tool_choice.type:"},
		{"tool choice without name", `{` + ok + `,"tool_choice":{"type":"tool"}}`, "", 400, "invalid_request_error", "tool_choice.name:"},
		{"cache_control type", `{` + ok + `,"system":[{"type":"text","text":"s","cache_control":{"type":"forever"}}]}`, "", 400, "invalid_request_error", "system.0.cache_control:"},
		{"thinking budget", `{` + ok + `,"thinking":{"type":"enabled","budget_tokens":100}}`, "", 400, "invalid_request_error", "thinking.budget_tokens:"},
		{"thinking budget over max", `{"model":"assistant","max_tokens":2000,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled","budget_tokens":4000}}`, "", 400, "invalid_request_error", "thinking.budget_tokens:"},
		{"thinking type", `{` + ok + `,"thinking":{"type":"on"}}`, "", 400, "invalid_request_error", "thinking.type:"},
		{"top_k", `{` + ok + `,"top_k":0}`, "", 400, "invalid_request_error", "top_k:"},
		{"wrong type", `{` + ok + `,"temperature":"hot"}`, "", 400, "invalid_request_error", "temperature"},
		{"version", `{` + ok + `}`, "latest", 400, "invalid_request_error", "anthropic-version:"},
		{"unknown model", `{"model":"nope","max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, "", 404, "not_found_error", "model: nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			version := c.version
			if version == "" {
				version = "2023-06-01"
			}
			rec := h.Do("POST", "/v1/messages", []byte(c.body), "Anthropic-Version", version)
			body := gjson.Parse(rec.Body.String())
			if rec.Code != c.status || body.Get("type").String() != "error" || body.Get("error.type").String() != c.typ ||
				!strings.Contains(body.Get("error.message").String(), c.field) {
				t.Errorf("%d %s, want %d %s naming %q", rec.Code, rec.Body, c.status, c.typ, c.field)
			}
			if rec.Header().Get("Request-Id") == "" {
				t.Error("no request-id header")
			}
		})
	}
}

// TestAcceptedInput: what the SDKs and Claude Code send goes through:
// every dated anthropic-version or none, unknown anthropic-beta values,
// unknown top-level fields, explicit nulls.
func TestAcceptedInput(t *testing.T) {
	h := harness(t, answerScript())
	for _, c := range []struct {
		name, body string
		header     []string
	}{
		{"2023-06-01", `{"model":"assistant","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`, []string{"Anthropic-Version", "2023-06-01"}},
		{"newer version", `{"model":"assistant","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`, []string{"Anthropic-Version", "2026-10-21"}},
		{"no version", `{"model":"assistant","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`, nil},
		{"betas and unknown fields", `{"model":"assistant","max_tokens":16,"messages":[{"role":"user","content":"hi"}],"service_tier":"auto","context_management":{"edits":[]},"system":null,"metadata":{"user_id":null}}`,
			[]string{"Anthropic-Version", "2023-06-01", "Anthropic-Beta", "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14,some-future-beta"}},
		{"passthrough", `{"model":"claude-test","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := h.Do("POST", "/v1/messages", []byte(c.body), c.header...)
			if rec.Code != 200 || gjson.Get(rec.Body.String(), "content.0.text").String() != "ok" {
				t.Errorf("%d %s", rec.Code, rec.Body)
			}
		})
	}
}

// TestErrorTypes maps every error kind to Anthropic's type and status.
func TestErrorTypes(t *testing.T) {
	for _, c := range []struct {
		err    adapters.Error
		typ    string
		status int
	}{
		{adapters.Error{Kind: adapters.KindInvalidRequest}, "invalid_request_error", 400},
		{adapters.Error{Kind: adapters.KindUnauthenticated}, "authentication_error", 401},
		{adapters.Error{Kind: adapters.KindForbidden}, "permission_error", 403},
		{adapters.Error{Kind: adapters.KindNotFound}, "not_found_error", 404},
		{adapters.Error{Kind: adapters.KindConflict}, "invalid_request_error", 409},
		{adapters.Error{Kind: adapters.KindTooLarge}, "request_too_large", 413},
		{adapters.Error{Kind: adapters.KindRateLimited}, "rate_limit_error", 429},
		{adapters.Error{Kind: adapters.KindQuotaExceeded}, "rate_limit_error", 429},
		{adapters.Error{Kind: adapters.KindUnavailable, UpstreamStatus: 529}, "overloaded_error", 529},
		{adapters.Error{Kind: adapters.KindUnavailable, UpstreamStatus: 503}, "overloaded_error", 529},
		{adapters.Error{Kind: adapters.KindUnavailable}, "api_error", 503},
		{adapters.Error{Kind: adapters.KindTimeout}, "timeout_error", 504},
		{adapters.Error{Kind: adapters.KindUpstream}, "api_error", 502},
		{adapters.Error{Kind: adapters.KindInternal}, "api_error", 500},
	} {
		if typ, status := errorType(&c.err); typ != c.typ || status != c.status {
			t.Errorf("kind %d: %s %d, want %s %d", c.err.Kind, typ, status, c.typ, c.status)
		}
	}
}

// TestModelsAndCountTokens: the models list in Anthropic's page shape
// with its cursors, one model, and count_tokens.
func TestModelsAndCountTokens(t *testing.T) {
	h := harness(t, answerScript())
	for _, id := range []string{"b-agent", "c-agent"} {
		if err := h.Engine.Agents().Create(context.Background(), &adapters.Agent{ID: id, Name: strings.ToUpper(id), Tenant: "tenant-a",
			Model: "gpt-test", Provider: "script", Status: adapters.StatusActive, CreatedAt: dialecttest.Clock}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(q string) gjson.Result {
		rec := h.Do("GET", "/v1/models"+q, nil, "Anthropic-Version", "2023-06-01")
		if rec.Code != 200 {
			t.Fatalf("GET /v1/models%s: %d %s", q, rec.Code, rec.Body)
		}
		return gjson.Parse(rec.Body.String())
	}
	all := list("")
	if ids := all.Get("data.#.id").String(); ids != `["assistant","b-agent","c-agent"]` || all.Get("has_more").Bool() ||
		all.Get("first_id").String() != "assistant" || all.Get("last_id").String() != "c-agent" {
		t.Errorf("list %s", all.Raw)
	}
	if m := all.Get("data.1"); m.Get("type").String() != "model" || m.Get("display_name").String() != "B-AGENT" ||
		m.Get("created_at").String() != "2026-11-22T10:30:00Z" {
		t.Errorf("model object %s", m.Raw)
	}
	if p := list("?limit=1&after_id=assistant"); p.Get("data.#.id").String() != `["b-agent"]` || !p.Get("has_more").Bool() {
		t.Errorf("page after assistant: %s", p.Raw)
	}
	if p := list("?limit=5&before_id=c-agent"); p.Get("data.#.id").String() != `["assistant","b-agent"]` || p.Get("has_more").Bool() {
		t.Errorf("page before c-agent: %s", p.Raw)
	}
	if rec := h.Do("GET", "/v1/models?limit=0", nil); rec.Code != 400 || !strings.Contains(rec.Body.String(), "limit") {
		t.Errorf("limit=0: %d %s", rec.Code, rec.Body)
	}
	if rec := h.Do("GET", "/v1/models/b-agent", nil); rec.Code != 200 || gjson.Get(rec.Body.String(), "id").String() != "b-agent" {
		t.Errorf("GET /v1/models/b-agent: %d %s", rec.Code, rec.Body)
	}
	if rec := h.Do("GET", "/v1/models/nope", nil); rec.Code != 404 || gjson.Get(rec.Body.String(), "error.type").String() != "not_found_error" {
		t.Errorf("GET /v1/models/nope: %d %s", rec.Code, rec.Body)
	}

	// The agent's system prompt (18 bytes: 5 tokens), the message (2 + 4
	// framing) and the tool's name, description and schema count.
	body := `{"model":"assistant","system":"Be brief.","messages":[{"role":"user","content":"Hello"}],
		"tools":[{"name":"get_time","description":"Time now","input_schema":{"type":"object"}}]}`
	rec := h.Do("POST", "/v1/messages/count_tokens", []byte(body), "Anthropic-Version", "2023-06-01")
	want := 5 + (3 + 4) + (2 + 4) + 2 + 2 + 5
	if rec.Code != 200 || gjson.Get(rec.Body.String(), "input_tokens").Int() != int64(want) {
		t.Errorf("count_tokens: %d %s, want %d", rec.Code, rec.Body, want)
	}
	if n := len(h.Script.Requests()); n != 0 {
		t.Errorf("count_tokens called the model %d times", n)
	}
	if rec := h.Do("POST", "/v1/messages/count_tokens", []byte(`{"model":"assistant","messages":[]}`)); rec.Code != 400 {
		t.Errorf("count_tokens without messages: %d %s", rec.Code, rec.Body)
	}
}

// TestTenantIsolation: an agent of tenant A is invisible to tenant B on
// every route of the dialect.
func TestTenantIsolation(t *testing.T) {
	h := harness(t, answerScript())
	if err := h.Engine.Agents().Create(context.Background(), &adapters.Agent{ID: "private", Tenant: "tenant-a", Model: "gpt-test",
		Provider: "script", Status: adapters.StatusActive}); err != nil {
		t.Fatal(err)
	}
	msg := []byte(`{"model":"private","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`)
	for _, c := range []struct {
		method, path string
		body         []byte
	}{
		{"POST", "/v1/messages", msg},
		{"POST", "/v1/messages/count_tokens", msg},
		{"GET", "/v1/models/private", nil},
	} {
		if rec := h.Do(c.method, c.path, c.body, "Anthropic-Version", "2023-06-01"); rec.Code != 200 {
			t.Errorf("tenant A %s %s: %d %s", c.method, c.path, rec.Code, rec.Body)
		}
		rec := h.Do(c.method, c.path, c.body, "Anthropic-Version", "2023-06-01", "X-Test-Tenant", "b")
		if rec.Code != http.StatusNotFound || gjson.Get(rec.Body.String(), "error.type").String() != "not_found_error" {
			t.Errorf("tenant B %s %s: %d %s, want 404 not_found_error", c.method, c.path, rec.Code, rec.Body)
		}
	}
	rec := h.Do("GET", "/v1/models", nil, "Anthropic-Version", "2023-06-01", "X-Test-Tenant", "b")
	if ids := gjson.Get(rec.Body.String(), "data.#.id").String(); ids != `["assistant"]` {
		t.Errorf("tenant B lists %s", ids)
	}
	if n := len(h.Script.Requests()); n != 1 {
		t.Errorf("%d model calls, want tenant A's one", n)
	}
}

// TestAgentToolsRunInTheGateway: an agent's own tools run in the gateway
// and stay out of the answer (no tool_use the client would try to run);
// the text of each model call is a block of its own, streamed or not,
// and the usage sums both calls.
func TestAgentToolsRunInTheGateway(t *testing.T) {
	reg, err := tools.NewRegistry(&tools.Toolkit{Name: "Research", Kind: tools.KindHTTP, Methods: []*tools.Method{{
		Name: "web_search", Description: "Search the web",
		Call: func(context.Context, json.RawMessage) (json.RawMessage, error) {
			return json.RawMessage(`{"hits":1}`), nil
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	script := &dialecttest.Script{Events: [][]adapters.Event{{
		{Type: adapters.EventStart}, {Type: adapters.EventDelta, Text: "Searching."},
		{Type: adapters.EventToolCall, ToolCall: &adapters.ToolCall{ID: "call_1", Name: "web_search", Arguments: `{"q":"x"}`}},
		{Type: adapters.EventUsage, Usage: &adapters.Usage{InputTokens: 10, OutputTokens: 4}},
		{Type: adapters.EventDone, FinishReason: "tool_calls"},
	}, {
		{Type: adapters.EventStart}, {Type: adapters.EventDelta, Text: "Found it."},
		{Type: adapters.EventUsage, Usage: &adapters.Usage{InputTokens: 20, OutputTokens: 3}},
		{Type: adapters.EventDone, FinishReason: "stop"},
	}}}
	researcher := &adapters.Agent{ID: "researcher", Model: "gpt-test", Tools: []string{"Research"}, Status: adapters.StatusActive}
	for _, stream := range []bool{false, true} {
		h := dialecttest.NewWith(t, Name, &dialecttest.Script{Events: script.Events}, dialecttest.Options{Tools: reg}, researcher)
		body := fmt.Sprintf(`{"model":"researcher","max_tokens":64,"stream":%v,"messages":[{"role":"user","content":"Look it up"}]}`, stream)
		rec := h.Do("POST", "/v1/messages", []byte(body))
		msg := rec.Body.String()
		if stream {
			msg = accumulate(t, rec)
		}
		m := gjson.Parse(msg)
		if m.Get("content.#.type").String() != `["text","text"]` || m.Get("content.#.text").String() != `["Searching.","Found it."]` ||
			m.Get("stop_reason").String() != "end_turn" || m.Get("usage.input_tokens").Int() != 30 || m.Get("usage.output_tokens").Int() != 7 {
			t.Errorf("stream=%v: %s", stream, msg)
		}
	}
}

// accumulate reads a recorded stream with the official SDK into the
// message it carries, as JSON.
func accumulate(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	res := &http.Response{StatusCode: rec.Code, Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes()))}
	stream := ssestream.NewStream[sdk.MessageStreamEventUnion](ssestream.NewDecoder(res), nil)
	var acc sdk.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(acc)
	return string(b)
}
