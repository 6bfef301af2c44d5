package anthropic

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/providertest"
	"github.com/tidwall/gjson"
)

const testKey = "sk-ant-secret-test-key"

func newTestProvider(t *testing.T, base string, opts ...func(*adapters.ProviderConfig)) *Provider {
	t.Helper()
	cfg := adapters.ProviderConfig{Name: "test", BaseURL: base, APIKey: testKey}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := NewProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.CloseIdleConnections)
	return p
}

func textRequest(stream bool) *adapters.Request {
	return &adapters.Request{Model: "claude-sonnet-4-5", Stream: stream,
		Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "hi")}}
}

func TestRegistered(t *testing.T) {
	p, err := adapters.NewProvider("anthropic", adapters.ProviderConfig{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if p.(*Provider).messagesURL != "https://api.anthropic.com/v1/messages" {
		t.Fatalf("default URL %q", p.(*Provider).messagesURL)
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		base, want string
		opts       map[string]string
		wantErr    bool
	}{
		{"", "https://api.anthropic.com/v1/messages", nil, false},
		{"https://api.anthropic.com/", "https://api.anthropic.com/v1/messages", nil, false},
		{"http://h:8080/v1", "http://h:8080/v1/messages", nil, false},
		{"http://h:8080/proxy/anthropic/v1/messages", "http://h:8080/proxy/anthropic/v1/messages", nil, false},
		{"localhost:8000", "", nil, true},
		{"ftp://x", "", nil, true},
		{"http://h", "", map[string]string{"dial_timeout": "soon"}, true},
		{"http://h", "", map[string]string{"header.X-Api-Key": "x"}, true},
		{"http://h", "", map[string]string{"header.authorization": "x"}, true},
		{"http://h", "", map[string]string{"auth": "basic"}, true},
		{"http://h", "", map[string]string{"max_tokens": "-1"}, true},
		{"http://h", "", map[string]string{"thinking": "always"}, true},
		{"http://h", "http://h/v1/messages", map[string]string{"header_timeout": "30s", "beta": "b1", "version": "2099-01-01",
			"auth": "bearer", "max_tokens": "8192", "thinking": "adaptive", "unknown": "ignored"}, false},
	}
	for _, tt := range tests {
		p, err := NewProvider(adapters.ProviderConfig{BaseURL: tt.base, Options: tt.opts})
		if (err != nil) != tt.wantErr {
			t.Errorf("%q %v: err %v, want error %v", tt.base, tt.opts, err, tt.wantErr)
			continue
		}
		if err == nil && p.messagesURL != tt.want {
			t.Errorf("%q: URL %q, want %q", tt.base, p.messagesURL, tt.want)
		}
	}
}

// TestChatOverHTTP replays every recorded response through a real HTTP
// round trip and requires the golden events and the right request.
func TestChatOverHTTP(t *testing.T) {
	for _, f := range responseFixtures(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			stream := strings.HasSuffix(f, ".sse")
			req := textRequest(stream)
			req.Model = "req-model"
			wantBody, _ := buildBody(nil, req, requestOptions{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				switch {
				case r.Method != http.MethodPost || r.URL.Path != "/v1/messages":
					t.Errorf("got %s %s", r.Method, r.URL.Path)
				case r.Header.Get("X-Api-Key") != testKey || r.Header.Get("Authorization") != "":
					t.Errorf("x-api-key %q, Authorization %q", r.Header.Get("X-Api-Key"), r.Header.Get("Authorization"))
				case r.Header.Get("Anthropic-Version") != DefaultVersion:
					t.Errorf("anthropic-version %q", r.Header.Get("Anthropic-Version"))
				case r.Header.Get("Content-Type") != "application/json":
					t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
				case !bytes.Equal(body, wantBody):
					t.Errorf("body %s, want %s", body, wantBody)
				}
				if stream {
					w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
				} else {
					w.Header().Set("Content-Type", "application/json")
				}
				_, _ = w.Write(raw)
			}))
			defer srv.Close()
			p := newTestProvider(t, srv.URL)
			var evs []adapters.Event
			err = p.Chat(context.Background(), req, providertest.Collect(&evs))
			checkOrder(t, evs, err)
			want, rerr := os.ReadFile(goldenPath(f))
			if rerr != nil {
				t.Fatal(rerr)
			}
			if got := eventLines(t, evs, err); !bytes.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestOptionHeaders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testKey || r.Header.Get("X-Api-Key") != "" {
			t.Errorf("auth headers: %v", r.Header)
		}
		if r.Header.Get("Anthropic-Beta") != "b1,b2" || r.Header.Get("Anthropic-Version") != "2099-01-01" || r.Header.Get("X-Title") != "agentgate-test" {
			t.Errorf("option headers missing: %v", r.Header)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"type":"message","model":"m","content":[{"type":"text","text":"x"}],"stop_reason":"end_turn"}`)
	}))
	defer srv.Close()
	p := newTestProvider(t, srv.URL, func(c *adapters.ProviderConfig) {
		c.Options = map[string]string{"auth": "bearer", "beta": "b1,b2", "version": "2099-01-01", "header.X-Title": "agentgate-test"}
	})
	var evs []adapters.Event
	if err := p.Chat(context.Background(), textRequest(false), providertest.Collect(&evs)); err != nil {
		t.Fatal(err)
	}
	checkOrder(t, evs, nil)

	// Without a key, no key header at all.
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Header["X-Api-Key"]; ok {
			t.Errorf("x-api-key sent")
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"type":"message","model":"m","content":[],"stop_reason":"end_turn"}`)
	}))
	defer srv2.Close()
	p2 := newTestProvider(t, srv2.URL, func(c *adapters.ProviderConfig) { c.APIKey = "" })
	if err := p2.Chat(context.Background(), textRequest(false), providertest.Collect(new([]adapters.Event))); err != nil {
		t.Fatal(err)
	}
}

// A proxy that answers a stream with one JSON message still works, and an
// SSE answer to a non-stream request is read as a stream.
func TestContentTypeDecides(t *testing.T) {
	for _, tt := range []struct {
		stream bool
		ct     string
		body   string
	}{
		{true, "application/json", `{"type":"message","model":"m","content":[{"type":"text","text":"x"}],"stop_reason":"end_turn"}`},
		{false, "text/event-stream", "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\"}}\n\n" +
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", tt.ct)
			_, _ = io.WriteString(w, tt.body)
		}))
		p := newTestProvider(t, srv.URL)
		var evs []adapters.Event
		err := p.Chat(context.Background(), textRequest(tt.stream), providertest.Collect(&evs))
		srv.Close()
		checkOrder(t, evs, err)
		if err != nil || len(evs) != 3 || evs[1].Text != "x" {
			t.Errorf("stream=%v ct=%s: %v %+v", tt.stream, tt.ct, err, evs)
		}
	}
}

func anthropicErrorBody(typ, msg string) string {
	return `{"type":"error","error":{"type":"` + typ + `","message":"` + msg + `"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		kind       adapters.ErrorKind
		msg        string // substring of the message
		param      string
		retryAfter time.Duration
	}{
		{name: "400", status: 400, body: anthropicErrorBody("invalid_request_error", "max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-5"),
			kind: adapters.KindInvalidRequest, msg: "max_tokens: 100000 > 64000"},
		{name: "400 plain text", status: 400, body: "bad things", kind: adapters.KindInvalidRequest, msg: "bad things"},
		{name: "400 empty", status: 400, kind: adapters.KindInvalidRequest, msg: "HTTP 400"},
		{name: "401", status: 401, body: anthropicErrorBody("authentication_error", "invalid x-api-key "+testKey), kind: adapters.KindUpstream, msg: "credentials"},
		{name: "403", status: 403, body: anthropicErrorBody("permission_error", "Your API key "+testKey+" does not have permission"), kind: adapters.KindUpstream, msg: "credentials"},
		{name: "404 model", status: 404, body: anthropicErrorBody("not_found_error", "model: claude-9"), kind: adapters.KindNotFound, msg: "claude-9", param: "model"},
		{name: "404 path", status: 404, body: "404 page not found", kind: adapters.KindUpstream, msg: "not found"},
		{name: "408", status: 408, kind: adapters.KindTimeout, msg: "timed out"},
		{name: "413", status: 413, body: anthropicErrorBody("request_too_large", "Request exceeds the maximum allowed number of bytes."), kind: adapters.KindTooLarge, msg: "maximum allowed"},
		{name: "429 retry-after", status: 429, header: map[string]string{"Retry-After": "7", "Anthropic-Ratelimit-Requests-Remaining": "0"},
			body: anthropicErrorBody("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit (org-secret)"), kind: adapters.KindRateLimited, msg: "rate limit", retryAfter: 7 * time.Second},
		{name: "429 retry-after-ms", status: 429, header: map[string]string{"Retry-After": "2", "Retry-After-Ms": "1500"}, kind: adapters.KindRateLimited, retryAfter: 1500 * time.Millisecond},
		{name: "500", status: 500, body: anthropicErrorBody("api_error", "Internal server error"), kind: adapters.KindUpstream, msg: "500"},
		{name: "500 overloaded body", status: 500, body: anthropicErrorBody("overloaded_error", "Overloaded"), kind: adapters.KindUnavailable, msg: "overloaded"},
		{name: "502", status: 502, kind: adapters.KindUnavailable, msg: "502"},
		{name: "503", status: 503, body: "<html>unavailable</html>", kind: adapters.KindUnavailable, msg: "503"},
		{name: "504", status: 504, header: map[string]string{"Retry-After": "3"}, kind: adapters.KindUnavailable, msg: "504", retryAfter: 3 * time.Second},
		{name: "529", status: 529, header: map[string]string{"Retry-After": "10"}, body: anthropicErrorBody("overloaded_error", "Overloaded"),
			kind: adapters.KindUnavailable, msg: "overloaded (HTTP 529)", retryAfter: 10 * time.Second},
		{name: "418", status: 418, kind: adapters.KindUpstream, msg: "418"},
	}
	for _, stream := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					w.Header().Set("Content-Type", "application/json")
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
				var ae *adapters.Error
				if !errors.As(err, &ae) {
					t.Fatalf("got %T %v, want *adapters.Error", err, err)
				}
				if ae.Kind != tt.kind || ae.UpstreamStatus != tt.status || ae.Param != tt.param || ae.RetryAfter != tt.retryAfter {
					t.Errorf("got kind %s status %d param %q retry %v; want %s %d %q %v",
						providertest.KindName(ae.Kind), ae.UpstreamStatus, ae.Param, ae.RetryAfter, providertest.KindName(tt.kind), tt.status, tt.param, tt.retryAfter)
				}
				if !strings.Contains(strings.ToLower(ae.Message), strings.ToLower(tt.msg)) {
					t.Errorf("message %q lacks %q", ae.Message, tt.msg)
				}
				for _, secret := range []string{testKey, "sk-ant", "org-secret", "req_011"} {
					if strings.Contains(ae.Error(), secret) {
						t.Errorf("message leaks %q: %q", secret, ae.Error())
					}
				}
			})
		}
	}
}

func TestStreamErrorTypes(t *testing.T) {
	for typ, kind := range map[string]adapters.ErrorKind{
		"overloaded_error":      adapters.KindUnavailable,
		"rate_limit_error":      adapters.KindRateLimited,
		"api_error":             adapters.KindUpstream,
		"invalid_request_error": adapters.KindInvalidRequest,
		"request_too_large":     adapters.KindTooLarge,
		"authentication_error":  adapters.KindUpstream,
		"timeout_error":         adapters.KindTimeout,
		"brand_new_error":       adapters.KindUpstream,
	} {
		e := streamError(gjson.Parse(`{"type":"`+typ+`","message":"key `+testKey+`"}`), 200)
		if e.Kind != kind || e.UpstreamStatus != 200 {
			t.Errorf("%s: got %s", typ, providertest.KindName(e.Kind))
		}
		if (typ == "authentication_error" || typ == "overloaded_error" || typ == "rate_limit_error") && strings.Contains(e.Message, testKey) {
			t.Errorf("%s leaks: %q", typ, e.Message)
		}
	}
}

func TestConnectionRefused(t *testing.T) {
	p := newTestProvider(t, "http://"+providertest.RefusedAddr(t))
	var evs []adapters.Event
	err := p.Chat(context.Background(), textRequest(true), providertest.Collect(&evs))
	var ae *adapters.Error
	if !errors.As(err, &ae) || ae.Kind != adapters.KindUnavailable || ae.UpstreamStatus != 0 || len(evs) != 0 {
		t.Fatalf("got %v %+v", err, evs)
	}
}

// transportTests describes this provider to the transport tests every
// provider shares.
var transportTests = &providertest.Transport{
	New: func(t *testing.T, base string, opts ...func(*adapters.ProviderConfig)) adapters.Provider {
		return newTestProvider(t, base, opts...)
	},
	Request: textRequest,
	FirstDelta: "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"first\"}}\n\n",
	CheckOrder: checkOrder,
}

func TestCancelAbortsUpstream(t *testing.T) {
	t.Run("mid-stream", transportTests.CancelMidStream)
	t.Run("before headers", func(t *testing.T) { transportTests.CancelBeforeHeaders(t, false) })
}

func TestTimeouts(t *testing.T) {
	transportTests.Timeouts(t)
	// The whole call's timeout also ends a stream under way.
	t.Run("provider timeout mid-stream", func(t *testing.T) {
		srv, _, done := transportTests.BlockingServer(t, true)
		p := newTestProvider(t, srv.URL, func(c *adapters.ProviderConfig) { c.Timeout = 200 * time.Millisecond })
		var evs []adapters.Event
		err := p.Chat(context.Background(), textRequest(true), providertest.Collect(&evs))
		var ae *adapters.Error
		if !errors.As(err, &ae) || ae.Kind != adapters.KindTimeout {
			t.Fatalf("got %v", err)
		}
		checkOrder(t, evs, err)
		providertest.WaitFor(t, done, "server to see the timeout")
	})
}

func TestBrokenConnectionMidStream(t *testing.T) { transportTests.BrokenMidStream(t) }

func TestEmitErrorStops(t *testing.T) {
	for _, f := range []string{"testdata/responses/stream_thinking_signature.sse", "testdata/responses/stream_tool_use.sse", "testdata/responses/thinking_tool_use.json"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stream := strings.HasSuffix(f, ".sse")
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if stream {
				w.Header().Set("Content-Type", "text/event-stream")
			} else {
				w.Header().Set("Content-Type", "application/json")
			}
			_, _ = w.Write(raw)
		}))
		p := newTestProvider(t, srv.URL)
		var all []adapters.Event
		if err := p.Chat(context.Background(), textRequest(stream), providertest.Collect(&all)); err != nil {
			t.Fatal(err)
		}
		gone := errors.New("client went away")
		for stop := 1; stop <= len(all); stop++ {
			n := 0
			err := p.Chat(context.Background(), textRequest(stream), func(ev adapters.Event) error {
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
				t.Errorf("%s: stop at %d: got %v after %d events", f, stop, err, n)
			}
		}
		srv.Close()
	}
}

// The request body is valid JSON whatever the strings hold.
func TestBodyAlwaysValid(t *testing.T) {
	weird := []string{"", "\x00", "\"}", "\\", "\xff\xfe", "a\u2028b", strings.Repeat("ü", 100)}
	for _, s := range weird {
		req := &adapters.Request{Model: s, System: s, Messages: []adapters.Message{
			adapters.TextMessage(adapters.RoleUser, s),
			adapters.TextMessage(adapters.RoleSystem, s),
			{Role: adapters.RoleAssistant, Reasoning: s, ReasoningSignature: s + "x", ToolCalls: []adapters.ToolCall{{ID: s, Name: s, Arguments: s}}},
			{Role: adapters.RoleTool, ToolCallID: s + "id", Parts: []adapters.Part{{Type: adapters.PartText, Text: s}, {Type: adapters.PartImage, ImageURL: "https://x/" + s}}},
			{Role: adapters.RoleUser, Parts: []adapters.Part{{Type: adapters.PartImage, ImageURL: "data:image/png;base64," + s}}},
		}, Sampling: adapters.Sampling{Stop: []string{s}}, Tools: []adapters.Tool{{Name: s + "t", Description: s}}}
		body, err := buildBody(nil, req, requestOptions{})
		if err != nil || !gjson.ValidBytes(body) {
			t.Errorf("%q: %v %s", s, err, body)
		}
	}
}
