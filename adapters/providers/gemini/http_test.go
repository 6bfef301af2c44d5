package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/providertest"
	"github.com/tidwall/gjson"
)

func TestRegistered(t *testing.T) {
	p, err := adapters.NewProvider("gemini", adapters.ProviderConfig{Name: "g", APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(adapters.Embedder); !ok {
		t.Fatal("gemini provider is not an Embedder")
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		base     string
		opts     map[string]string
		wantPath string // of a non-streamed call to model "m"
		wantErr  bool
	}{
		{base: "", wantErr: false},
		{base: "/", wantPath: "/v1beta/models/m:generateContent"},
		{base: "/v1beta", wantPath: "/v1beta/models/m:generateContent"},
		{base: "/v1/", wantPath: "/v1/models/m:generateContent"},
		{base: "/gemini", wantPath: "/gemini/v1beta/models/m:generateContent"},
		{base: "/gemini/v1alpha", wantPath: "/gemini/v1alpha/models/m:generateContent"},
		{base: "", opts: map[string]string{"api_version": "v1"}, wantPath: "/v1/models/m:generateContent"},
		{base: "localhost:8000", wantErr: true},
		{base: "ftp://x/v1", wantErr: true},
		{base: "http://h/?key=x", wantErr: true},
		{base: "http://h", opts: map[string]string{"dial_timeout": "soon"}, wantErr: true},
		{base: "http://h", opts: map[string]string{"header.x-goog-api-key": "x"}, wantErr: true},
		{base: "http://h", opts: map[string]string{"api_version": "v1/../x"}, wantErr: true},
		{base: "http://h", opts: map[string]string{"header_timeout": "30s", "unknown": "ignored"}},
	}
	for _, tt := range tests {
		srv, requests := okServer(t)
		base := tt.base
		if tt.wantPath != "" {
			base = srv.URL + tt.base
		}
		p, err := NewProvider(adapters.ProviderConfig{BaseURL: base, APIKey: "k", Options: tt.opts})
		if (err != nil) != tt.wantErr {
			t.Errorf("%q %v: err %v, want error %v", tt.base, tt.opts, err, tt.wantErr)
			continue
		}
		if err != nil || tt.wantPath == "" {
			continue
		}
		if err := p.Chat(context.Background(), &adapters.Request{Model: "m", Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "x")}}, providertest.Collect(new([]adapters.Event))); err != nil {
			t.Errorf("%q: %v", tt.base, err)
			continue
		}
		if got := requests(); len(got) != 1 || got[0].Path != tt.wantPath {
			t.Errorf("%q %v: requests %+v, want path %s", tt.base, tt.opts, got, tt.wantPath)
		}
	}
}

// The key goes in x-goog-api-key, never in the URL; without a configured
// key none is sent, even when the SDK's environment variables hold one.
func TestHeaders(t *testing.T) {
	t.Setenv("GEMINI_API_KEY", "env-key-must-not-be-used")
	t.Setenv("GOOGLE_API_KEY", "env-key-must-not-be-used")
	t.Setenv("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:1")
	for _, key := range []string{testKey, ""} {
		var got http.Header
		var query string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, query = r.Header.Clone(), r.URL.RawQuery
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"candidates":[{"content":{"parts":[{"text":"ok"}]},"finishReason":"STOP"}]}`)
		}))
		p := newTestProvider(t, srv.URL, func(c *adapters.ProviderConfig) {
			c.APIKey = key
			c.Options = map[string]string{"header.X-Title": "agentgate-test"}
		})
		err := p.Chat(context.Background(), textRequest(false), providertest.Collect(new([]adapters.Event)))
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got.Get("x-goog-api-key") != key || strings.Contains(query, "key") {
			t.Errorf("key %q: sent x-goog-api-key %q, query %q", key, got.Get("x-goog-api-key"), query)
		}
		if got.Get("X-Title") != "agentgate-test" || got.Get("Content-Type") != "application/json" ||
			!strings.Contains(got.Get("User-Agent"), "google-genai-sdk/") {
			t.Errorf("headers %v", got)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		kind       adapters.ErrorKind
		msg        string
		param      string
		code       string
		reason     string
		retryAfter time.Duration
	}{
		{name: "400", status: 400, body: `{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified\n","status":"INVALID_ARGUMENT"}}`,
			kind: adapters.KindInvalidRequest, msg: "contents is not specified"},
		{name: "400 echoing the key", status: 400, body: `{"error":{"code":400,"message":"Invalid value at 'contents[0]' (` + testKey + `)","status":"INVALID_ARGUMENT"}}`,
			kind: adapters.KindInvalidRequest, msg: "[redacted]"},
		{name: "400 bad key", status: 400, body: `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}]}}`,
			kind: adapters.KindUpstream, msg: "credentials"},
		{name: "400 precondition", status: 400, body: `{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}`,
			kind: adapters.KindUpstream, msg: "FAILED_PRECONDITION"},
		{name: "401", status: 401, body: `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`, kind: adapters.KindUpstream, msg: "credentials"},
		{name: "403", status: 403, body: `{"error":{"code":403,"message":"Permission denied: Consumer 'api_key:` + testKey + `' has been suspended.","status":"PERMISSION_DENIED"}}`,
			kind: adapters.KindUpstream, msg: "credentials"},
		{name: "404 model", status: 404, body: `{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.","status":"NOT_FOUND"}}`,
			kind: adapters.KindNotFound, msg: "gemini-9", param: "model", code: "model_not_found"},
		{name: "404 path", status: 404, body: "<html><body>Error 404 (Not Found)!!1</body></html>", kind: adapters.KindUpstream, msg: "not found"},
		{name: "413", status: 413, body: "", kind: adapters.KindTooLarge, msg: "too large"},
		{name: "429 RetryInfo", status: 429, body: `{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details. project 1234567","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}`,
			kind: adapters.KindRateLimited, msg: "rate limit", reason: "requests", retryAfter: 37 * time.Second},
		{name: "429 retry-after header", status: 429, header: map[string]string{"Retry-After": "3"}, body: `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count"}]}]}}`,
			kind: adapters.KindRateLimited, msg: "rate limit", reason: "tokens", retryAfter: 3 * time.Second},
		{name: "429 fractional RetryInfo", status: 429, body: `{"error":{"code":429,"message":"x","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.500s"}]}}`,
			kind: adapters.KindRateLimited, msg: "rate limit", retryAfter: 1500 * time.Millisecond},
		{name: "429 plain", status: 429, body: "Too Many Requests", kind: adapters.KindRateLimited, msg: "rate limit"},
		{name: "500", status: 500, body: `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`, kind: adapters.KindUpstream, msg: "INTERNAL"},
		{name: "502", status: 502, body: "<html>bad gateway</html>", kind: adapters.KindUnavailable, msg: "502"},
		{name: "503", status: 503, body: `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`, kind: adapters.KindUnavailable, msg: "UNAVAILABLE"},
		{name: "503 retry-after", status: 503, header: map[string]string{"Retry-After": "2"}, body: "", kind: adapters.KindUnavailable, msg: "503", retryAfter: 2 * time.Second},
		{name: "504", status: 504, body: `{"error":{"code":504,"message":"Deadline expired before operation could complete.","status":"DEADLINE_EXCEEDED"}}`, kind: adapters.KindTimeout, msg: "timed out"},
		{name: "499", status: 499, body: `{"error":{"code":499,"message":"The operation was cancelled.","status":"CANCELLED"}}`, kind: adapters.KindUpstream, msg: "CANCELLED"},
	}
	for _, stream := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var calls atomic.Int32
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					calls.Add(1)
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					w.Header().Set("Content-Type", "application/json; charset=UTF-8")
					w.WriteHeader(tt.status)
					_, _ = io.WriteString(w, tt.body)
				}))
				defer srv.Close()
				p := newTestProvider(t, srv.URL)
				var evs []adapters.Event
				err := p.Chat(context.Background(), textRequest(stream), providertest.Collect(&evs))
				if len(evs) != 0 {
					t.Fatalf("events emitted on an HTTP error: %+v", evs)
				}
				if n := calls.Load(); n != 1 {
					t.Errorf("%d upstream calls: the SDK must not retry", n)
				}
				var ae *adapters.Error
				if !errors.As(err, &ae) {
					t.Fatalf("got %T %v, want *adapters.Error", err, err)
				}
				if ae.Kind != tt.kind || ae.UpstreamStatus != tt.status || ae.Param != tt.param || ae.Code != tt.code ||
					ae.Reason != tt.reason || ae.RetryAfter != tt.retryAfter {
					t.Errorf("got kind %s status %d param %q code %q reason %q retry %v; want %s %d %q %q %q %v",
						providertest.KindName(ae.Kind), ae.UpstreamStatus, ae.Param, ae.Code, ae.Reason, ae.RetryAfter,
						providertest.KindName(tt.kind), tt.status, tt.param, tt.code, tt.reason, tt.retryAfter)
				}
				if !strings.Contains(strings.ToLower(ae.Message), strings.ToLower(tt.msg)) {
					t.Errorf("message %q lacks %q", ae.Message, tt.msg)
				}
				for _, secret := range []string{testKey, "AIza", "1234567", "<html"} {
					if strings.Contains(ae.Error(), secret) {
						t.Errorf("message leaks %q: %q", secret, ae.Error())
					}
				}
			})
		}
	}
}

// MapStatus is the same mapping for callers holding a raw answer.
func TestMapStatus(t *testing.T) {
	e := MapStatus(429, http.Header{}, []byte(`{"error":{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"5s"}]}}`), time.Time{})
	if e.Kind != adapters.KindRateLimited || e.RetryAfter != 5*time.Second || e.UpstreamStatus != 429 {
		t.Errorf("got %+v", e)
	}
	e = MapStatus(503, nil, []byte("overloaded"), time.Time{})
	if e.Kind != adapters.KindUnavailable || e.UpstreamStatus != 503 {
		t.Errorf("got %+v", e)
	}
	e = MapStatus(400, nil, []byte(`{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}`), time.Time{})
	if e.Kind != adapters.KindInvalidRequest || e.Message != "Invalid JSON payload received." {
		t.Errorf("got %+v", e)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := http.Header{"Retry-After": {now.Add(30 * time.Second).Format(http.TimeFormat)}}
	if got := retryDelay(nil, h, now); got != 30*time.Second {
		t.Errorf("HTTP-date Retry-After: got %v", got)
	}
	for _, v := range []string{"-3", "soon", "NaN", ""} {
		if got := retryDelay(nil, http.Header{"Retry-After": {v}}, now); got != 0 {
			t.Errorf("%q: got %v", v, got)
		}
	}
}

func TestConnectionRefused(t *testing.T) {
	p := newTestProvider(t, "http://"+providertest.RefusedAddr(t))
	for _, stream := range []bool{false, true} {
		var evs []adapters.Event
		err := p.Chat(context.Background(), textRequest(stream), providertest.Collect(&evs))
		var ae *adapters.Error
		if !errors.As(err, &ae) || ae.Kind != adapters.KindUnavailable || ae.UpstreamStatus != 0 || len(evs) != 0 {
			t.Fatalf("stream %v: got %v %+v", stream, err, evs)
		}
	}
	var ae *adapters.Error
	if _, _, err := p.Embed(context.Background(), "e", []string{"x"}); !errors.As(err, &ae) || ae.Kind != adapters.KindUnavailable {
		t.Fatalf("embed: got %v", err)
	}
}

// A 200 stream that ends without a chunk is reported once: the SDK's
// automatic continuation (which would repeat the call) is off.
func TestNoHiddenRetries(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
	}))
	defer srv.Close()
	p := newTestProvider(t, srv.URL)
	err := p.Chat(context.Background(), textRequest(true), providertest.Collect(new([]adapters.Event)))
	var ae *adapters.Error
	if !errors.As(err, &ae) || ae.Kind != adapters.KindUpstream || calls.Load() != 1 {
		t.Fatalf("got %v after %d calls", err, calls.Load())
	}
}

// transportTests describes this provider to the transport tests every
// provider shares.
var transportTests = &providertest.Transport{
	New: func(t *testing.T, base string, opts ...func(*adapters.ProviderConfig)) adapters.Provider {
		return newTestProvider(t, base, opts...)
	},
	Request:    textRequest,
	FirstDelta: "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"first\"}],\"role\":\"model\"}}],\"modelVersion\":\"m\"}\n\n",
	CheckOrder: checkOrder,
}

func TestCancelAbortsUpstream(t *testing.T) {
	t.Run("mid-stream", transportTests.CancelMidStream)
	// The SDK's streamed and non-streamed calls are two paths here.
	for _, stream := range []bool{false, true} {
		t.Run("before headers", func(t *testing.T) { transportTests.CancelBeforeHeaders(t, stream) })
	}
}

func TestTimeouts(t *testing.T) { transportTests.Timeouts(t) }

func TestBrokenConnectionMidStream(t *testing.T) {
	if ae := transportTests.BrokenMidStream(t); ae.UpstreamStatus != 200 {
		t.Fatalf("got %v", ae)
	}
}

func TestEmitErrorStops(t *testing.T) {
	raw, err := os.ReadFile("testdata/responses/stream_thinking.sse")
	if err != nil {
		t.Fatal(err)
	}
	for _, sse := range []bool{true, false} {
		body := raw
		if !sse {
			body, err = os.ReadFile("testdata/responses/tool_calls_parallel.json")
			if err != nil {
				t.Fatal(err)
			}
		}
		srv := replayServer(t, body, sse, 0)
		p := newTestProvider(t, srv.URL)
		gone := errors.New("client went away")
		for stop := 1; stop <= 7; stop++ {
			n := 0
			err := p.Chat(context.Background(), textRequest(sse), func(ev adapters.Event) error {
				n++
				if ev.Type == adapters.EventError {
					t.Errorf("Error event after emit failed")
				}
				if n == stop {
					return gone
				}
				return nil
			})
			if err != gone || n != stop {
				t.Errorf("stream %v, stop at %d: got %v after %d events", sse, stop, err, n)
			}
		}
	}
}

// A large non-streamed answer is refused rather than read without bound.
func TestResponseTooLarge(t *testing.T) {
	defer func(n int64) { maxResponseBody = n }(maxResponseBody)
	maxResponseBody = 4 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"candidates":[{"content":{"parts":[{"text":"`)
		chunk := strings.Repeat("x", 1<<20)
		for range maxResponseBody>>20 + 1 {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `"}]}}]}`)
	}))
	defer srv.Close()
	p := newTestProvider(t, srv.URL)
	err := p.Chat(context.Background(), textRequest(false), providertest.Collect(new([]adapters.Event)))
	var ae *adapters.Error
	if !errors.As(err, &ae) || ae.Kind != adapters.KindUpstream || !strings.Contains(ae.Message, "too large") {
		t.Fatalf("got %v", err)
	}
}

func TestRequestErrors(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	i64 := func(v int64) *int64 { return &v }
	user := []adapters.Message{adapters.TextMessage(adapters.RoleUser, "hi")}
	inf := 1.0
	for range 2000 {
		inf *= 10
	}
	tests := []struct {
		name  string
		req   adapters.Request
		param string
	}{
		{"no model", adapters.Request{Messages: user}, "model"},
		{"bad model", adapters.Request{Model: "m?key=x", Messages: user}, "model"},
		{"no messages", adapters.Request{Model: "m", System: "s"}, "messages"},
		{"bad role", adapters.Request{Model: "m", Messages: []adapters.Message{{Role: "robot"}}}, "messages"},
		{"orphan tool result", adapters.Request{Model: "m", Messages: append(user, adapters.Message{Role: adapters.RoleTool, ToolCallID: "nope"})}, "messages"},
		{"nameless tool call", adapters.Request{Model: "m", Messages: append(user, adapters.Message{Role: adapters.RoleAssistant, ToolCalls: []adapters.ToolCall{{ID: "c"}}})}, "messages"},
		{"bad image", adapters.Request{Model: "m", Messages: []adapters.Message{{Role: adapters.RoleUser, Parts: []adapters.Part{{Type: adapters.PartImage, ImageURL: "file:///etc/passwd"}}}}}, "messages"},
		{"bad data URL", adapters.Request{Model: "m", Messages: []adapters.Message{{Role: adapters.RoleUser, Parts: []adapters.Part{{Type: adapters.PartImage, ImageURL: "data:image/png;base64,!!!"}}}}}, "messages"},
		{"data URL without type", adapters.Request{Model: "m", Messages: []adapters.Message{{Role: adapters.RoleUser, Parts: []adapters.Part{{Type: adapters.PartImage, ImageURL: "data:;base64,AAAA"}}}}}, "messages"},
		{"bad parameters", adapters.Request{Model: "m", Messages: user, Tools: []adapters.Tool{{Name: "t", Parameters: json.RawMessage(`{"type":`)}}}, "tools"},
		{"tool without name", adapters.Request{Model: "m", Messages: user, Tools: []adapters.Tool{{}}}, "tools"},
		{"bad tool_choice", adapters.Request{Model: "m", Messages: user, Tools: []adapters.Tool{{Name: "t"}}, ToolChoice: json.RawMessage(`"sometimes"`)}, "tool_choice"},
		{"nameless tool_choice", adapters.Request{Model: "m", Messages: user, Tools: []adapters.Tool{{Name: "t"}}, ToolChoice: json.RawMessage(`{"type":"function"}`)}, "tool_choice"},
		{"infinite temperature", adapters.Request{Model: "m", Messages: user, Sampling: adapters.Sampling{Temperature: f(inf)}}, "temperature"},
		{"zero max_tokens", adapters.Request{Model: "m", Messages: user, Sampling: adapters.Sampling{MaxTokens: i(0)}}, "max_tokens"},
		{"huge seed", adapters.Request{Model: "m", Messages: user, Sampling: adapters.Sampling{Seed: i64(1 << 40)}}, "seed"},
		{"bad response_format", adapters.Request{Model: "m", Messages: user, Sampling: adapters.Sampling{ResponseFormat: json.RawMessage(`{"type":"yaml"}`)}}, "response_format"},
		{"bad effort", adapters.Request{Model: "m", Messages: user, Reasoning: &adapters.Reasoning{Effort: "extreme"}}, "reasoning_effort"},
		{"negative budget", adapters.Request{Model: "m", Messages: user, Reasoning: &adapters.Reasoning{BudgetTokens: -1}}, "budget_tokens"},
	}
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	p := newTestProvider(t, srv.URL)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var evs []adapters.Event
			err := p.Chat(context.Background(), &tt.req, providertest.Collect(&evs))
			var ae *adapters.Error
			if !errors.As(err, &ae) || ae.Kind != adapters.KindInvalidRequest || ae.Param != tt.param || len(evs) != 0 {
				t.Fatalf("got %#v, want invalid request on %s", err, tt.param)
			}
		})
	}
	if calls.Load() != 0 {
		t.Errorf("%d invalid requests reached the upstream", calls.Load())
	}
}

// TestToolRoundTrip runs a function call turn and the turn that answers it:
// the call's generated id maps the result back to its name, and its thought
// signature (and the turn's) go back unchanged.
func TestToolRoundTrip(t *testing.T) {
	var bodies []gjson.Result
	turn := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, gjson.ParseBytes(b))
		turn++
		w.Header().Set("Content-Type", "text/event-stream")
		if turn == 1 {
			_, _ = io.WriteString(w, `data: {"candidates":[{"content":{"parts":[{"text":"Planning.","thought":true}],"role":"model"}}],"modelVersion":"gemini-3-pro-preview"}`+"\n\n")
			_, _ = io.WriteString(w, `data: {"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"AQIDBA=="},{"functionCall":{"name":"get_weather","args":{"city":"Rome"}}}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":3,"totalTokenCount":18},"modelVersion":"gemini-3-pro-preview"}`+"\n\n")
			return
		}
		_, _ = io.WriteString(w, `data: {"candidates":[{"content":{"parts":[{"text":"Sunny in both."}],"role":"model"},"finishReason":"STOP"}],"modelVersion":"gemini-3-pro-preview"}`+"\n\n")
	}))
	defer srv.Close()
	p, err := NewProvider(adapters.ProviderConfig{BaseURL: srv.URL, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	req := &adapters.Request{Model: "gemini-3-pro-preview", Stream: true, Reasoning: &adapters.Reasoning{},
		Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "Weather in Paris and Rome?")},
		Tools:    []adapters.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}}}
	var evs []adapters.Event
	if err := p.Chat(context.Background(), req, providertest.Collect(&evs)); err != nil {
		t.Fatal(err)
	}
	checkOrder(t, evs, nil)
	assistant := adapters.Message{Role: adapters.RoleAssistant}
	for _, ev := range evs {
		switch ev.Type {
		case adapters.EventThinking:
			assistant.Reasoning += ev.Text
			if ev.Signature != "" {
				assistant.ReasoningSignature = ev.Signature
			}
		case adapters.EventToolCall:
			assistant.ToolCalls = append(assistant.ToolCalls, *ev.ToolCall)
		}
	}
	if len(assistant.ToolCalls) != 2 || assistant.ToolCalls[0].Signature != "AQIDBA==" || assistant.ToolCalls[1].Signature != "" {
		t.Fatalf("tool calls %+v", assistant.ToolCalls)
	}
	id0, id1 := assistant.ToolCalls[0].ID, assistant.ToolCalls[1].ID
	if !strings.HasPrefix(id0, "call_") || len(id0) != 29 || id0 == id1 {
		t.Fatalf("generated ids %q %q", id0, id1)
	}
	if evs[len(evs)-1].FinishReason != "tool_calls" {
		t.Fatalf("finish %q", evs[len(evs)-1].FinishReason)
	}
	req.Messages = append(req.Messages, assistant,
		adapters.Message{Role: adapters.RoleTool, ToolCallID: id1, Parts: []adapters.Part{{Type: adapters.PartText, Text: `{"sky":"sunny","temp_c":24}`}}},
		adapters.Message{Role: adapters.RoleTool, ToolCallID: id0, Parts: []adapters.Part{{Type: adapters.PartText, Text: "sunny, 21°C"}}})
	evs = nil
	if err := p.Chat(context.Background(), req, providertest.Collect(&evs)); err != nil {
		t.Fatal(err)
	}
	checkOrder(t, evs, nil)
	b := bodies[1]
	model := b.Get("contents.1")
	if model.Get("role").String() != "model" ||
		model.Get("parts.0.functionCall.name").String() != "get_weather" ||
		model.Get("parts.0.thoughtSignature").String() != "AQIDBA==" ||
		model.Get("parts.0.functionCall.id").Exists() ||
		model.Get("parts.1.thoughtSignature").Exists() ||
		model.Get("parts.1.functionCall.args.city").String() != "Rome" {
		t.Errorf("model turn %s", model.Raw)
	}
	res := b.Get("contents.2")
	if res.Get("role").String() != "user" || len(res.Get("parts").Array()) != 2 ||
		res.Get("parts.0.functionResponse.name").String() != "get_weather" ||
		res.Get("parts.0.functionResponse.response.temp_c").Int() != 24 ||
		res.Get("parts.1.functionResponse.response.result").String() != "sunny, 21°C" {
		t.Errorf("function responses %s", res.Raw)
	}
	if !b.Get("generationConfig.thinkingConfig.includeThoughts").Bool() {
		t.Errorf("thinking config %s", b.Get("generationConfig").Raw)
	}
}

func TestLimitedBody(t *testing.T) {
	for _, tt := range []struct {
		body  string
		limit int64
		ok    bool
	}{{"abcd", 4, true}, {"abcd", 5, true}, {"abcde", 4, false}, {"", 0, true}} {
		b := &limitedBody{rc: io.NopCloser(strings.NewReader(tt.body)), left: tt.limit}
		got, err := io.ReadAll(b)
		if tt.ok != (err == nil) || (tt.ok && string(got) != tt.body) || (!tt.ok && !errors.Is(err, errTooLarge)) {
			t.Errorf("%q limit %d: %q %v", tt.body, tt.limit, got, err)
		}
	}
}
