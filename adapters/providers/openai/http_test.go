package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"math"
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

const testKey = "sk-secret-test-key"

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
	return &adapters.Request{Model: "gpt-4o", Stream: stream,
		Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "hi")}}
}

func TestRegistered(t *testing.T) {
	p, err := adapters.NewProvider("openai", adapters.ProviderConfig{Name: "o"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(adapters.Embedder); !ok {
		t.Fatal("openai provider is not an Embedder")
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		base, wantChat string
		opts           map[string]string
		wantErr        bool
	}{
		{"", "https://api.openai.com/v1/chat/completions", nil, false},
		{"http://localhost:11434/v1/", "http://localhost:11434/v1/chat/completions", nil, false},
		{"http://h:8000/v1/chat/completions", "http://h:8000/v1/chat/completions", nil, false},
		{"localhost:8000", "", nil, true},
		{"ftp://x/v1", "", nil, true},
		{"http://h/v1", "", map[string]string{"dial_timeout": "soon"}, true},
		{"http://h/v1", "", map[string]string{"header.Authorization": "x"}, true},
		{"http://h/v1", "http://h/v1/chat/completions", map[string]string{"header_timeout": "30s", "unknown": "ignored"}, false},
	}
	for _, tt := range tests {
		p, err := NewProvider(adapters.ProviderConfig{BaseURL: tt.base, Options: tt.opts})
		if (err != nil) != tt.wantErr {
			t.Errorf("%q %v: err %v, want error %v", tt.base, tt.opts, err, tt.wantErr)
			continue
		}
		if err == nil && p.chatURL != tt.wantChat {
			t.Errorf("%q: chat URL %q, want %q", tt.base, p.chatURL, tt.wantChat)
		}
	}
}

// TestChatOverHTTP replays every recorded response through a real HTTP
// round trip and requires the golden events.
func TestChatOverHTTP(t *testing.T) {
	for _, f := range responseFixtures(t) {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			stream := strings.HasSuffix(f, ".sse")
			req := textRequest(stream)
			req.Model = "req-model"
			wantBody, _ := buildChatBody(nil, req)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				switch {
				case r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions":
					t.Errorf("got %s %s", r.Method, r.URL.Path)
				case r.Header.Get("Authorization") != "Bearer "+testKey:
					t.Errorf("Authorization %q", r.Header.Get("Authorization"))
				case r.Header.Get("Content-Type") != "application/json":
					t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
				case !bytes.Equal(body, wantBody):
					t.Errorf("body %s, want %s", body, wantBody)
				}
				if stream {
					w.Header().Set("Content-Type", "text/event-stream")
				} else {
					w.Header().Set("Content-Type", "application/json")
				}
				_, _ = w.Write(raw)
			}))
			defer srv.Close()
			p := newTestProvider(t, srv.URL+"/v1/")
			var evs []adapters.Event
			err = p.Chat(context.Background(), req, providertest.Collect(&evs))
			checkOrder(t, evs, err)
			golden := strings.TrimSuffix(strings.TrimSuffix(f, ".json"), ".sse") + ".golden.jsonl"
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if got := eventLines(t, evs, err); !bytes.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestNoKeyNoAuthorization(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v, ok := r.Header["Authorization"]; ok {
			t.Errorf("Authorization sent: %q", v)
		}
		if r.Header.Get("X-Title") != "agentgate-test" || r.Header.Get("OpenAI-Organization") != "org-1" {
			t.Errorf("option headers missing: %v", r.Header)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"model":"m","choices":[{"message":{"content":"x"},"finish_reason":"stop"}]}`)
	}))
	defer srv.Close()
	p := newTestProvider(t, srv.URL, func(c *adapters.ProviderConfig) {
		c.APIKey = ""
		c.Options = map[string]string{"header.X-Title": "agentgate-test", "organization": "org-1"}
	})
	var evs []adapters.Event
	if err := p.Chat(context.Background(), textRequest(false), providertest.Collect(&evs)); err != nil {
		t.Fatal(err)
	}
	checkOrder(t, evs, nil)
}

// A server that ignores "stream" and answers with JSON still works, and an
// SSE answer to a non-stream request is read as a stream.
func TestContentTypeDecides(t *testing.T) {
	for _, tt := range []struct {
		stream bool
		ct     string
		body   string
	}{
		{true, "application/json", `{"model":"m","choices":[{"message":{"content":"x"},"finish_reason":"stop"}]}`},
		{false, "text/event-stream; charset=utf-8", "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"},
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
		{name: "400", status: 400, body: `{"error":{"message":"Invalid value for 'temperature'.","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}`,
			kind: adapters.KindInvalidRequest, msg: "Invalid value for 'temperature'.", param: "temperature"},
		{name: "400 plain text", status: 400, body: "bad things", kind: adapters.KindInvalidRequest, msg: "bad things"},
		{name: "400 vllm", status: 400, body: `{"object":"error","message":"max_tokens too large","type":"BadRequestError","code":400}`,
			kind: adapters.KindInvalidRequest, msg: "max_tokens too large"},
		{name: "401", status: 401, body: `{"error":{"message":"Incorrect API key provided: ` + testKey + `.","type":"invalid_request_error","code":"invalid_api_key"}}`,
			kind: adapters.KindUpstream, msg: "credentials"},
		{name: "403", status: 403, body: `{"error":{"message":"Project ` + testKey + ` does not have access"}}`, kind: adapters.KindUpstream, msg: "credentials"},
		{name: "404 model", status: 404, body: `{"error":{"message":"The model 'gpt-9' does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`,
			kind: adapters.KindNotFound, msg: "gpt-9", param: "model"},
		{name: "404 ollama model", status: 404, body: `{"error":"model \"llama9\" not found, try pulling it first"}`, kind: adapters.KindNotFound, msg: "llama9", param: "model"},
		{name: "404 path", status: 404, body: "404 page not found", kind: adapters.KindUpstream, msg: "not found"},
		{name: "429 retry-after", status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"error":{"message":"Rate limit reached for org-secret","type":"requests","code":"rate_limit_exceeded"}}`,
			kind: adapters.KindRateLimited, msg: "rate limit", retryAfter: 7 * time.Second},
		{name: "429 retry-after-ms", status: 429, header: map[string]string{"Retry-After": "2", "Retry-After-Ms": "1500"}, kind: adapters.KindRateLimited, retryAfter: 1500 * time.Millisecond},
		{name: "500", status: 500, body: `{"error":{"message":"boom","type":"server_error"}}`, kind: adapters.KindUpstream, msg: "500"},
		{name: "502", status: 502, kind: adapters.KindUnavailable, msg: "502"},
		{name: "503", status: 503, body: "<html>overloaded</html>", kind: adapters.KindUnavailable, msg: "503"},
		{name: "504", status: 504, kind: adapters.KindUnavailable, msg: "504"},
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
				for _, secret := range []string{testKey, "sk-", "org-secret"} {
					if strings.Contains(ae.Error(), secret) {
						t.Errorf("message leaks %q: %q", secret, ae.Error())
					}
				}
			})
		}
	}
}

func TestConnectionRefused(t *testing.T) {
	p := newTestProvider(t, "http://"+providertest.RefusedAddr(t)+"/v1")
	var evs []adapters.Event
	err := p.Chat(context.Background(), textRequest(true), providertest.Collect(&evs))
	var ae *adapters.Error
	if !errors.As(err, &ae) || ae.Kind != adapters.KindUnavailable || ae.UpstreamStatus != 0 || len(evs) != 0 {
		t.Fatalf("got %v %+v", err, evs)
	}
	if _, _, err := p.Embed(context.Background(), "e", []string{"x"}); !errors.As(err, &ae) || ae.Kind != adapters.KindUnavailable {
		t.Fatalf("embed: got %v", err)
	}
}

// transportTests describes this provider to the transport tests every
// provider shares.
var transportTests = &providertest.Transport{
	New: func(t *testing.T, base string, opts ...func(*adapters.ProviderConfig)) adapters.Provider {
		return newTestProvider(t, base, opts...)
	},
	Request:    textRequest,
	FirstDelta: "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"first\"}}]}\n\n",
	CheckOrder: checkOrder,
}

func TestCancelAbortsUpstream(t *testing.T) {
	t.Run("mid-stream", transportTests.CancelMidStream)
	t.Run("before headers", func(t *testing.T) { transportTests.CancelBeforeHeaders(t, false) })
}

func TestTimeouts(t *testing.T) { transportTests.Timeouts(t) }

func TestBrokenConnectionMidStream(t *testing.T) { transportTests.BrokenMidStream(t) }

func TestEmitErrorStops(t *testing.T) {
	raw, err := os.ReadFile("testdata/responses/stream_text_usage_final.sse")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(raw)
	}))
	defer srv.Close()
	p := newTestProvider(t, srv.URL)
	gone := errors.New("client went away")
	for stop := 1; stop <= 6; stop++ {
		n := 0
		err := p.Chat(context.Background(), textRequest(true), func(ev adapters.Event) error {
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
			t.Errorf("stop at %d: got %v after %d events", stop, err, n)
		}
	}
}

func float32sBase64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestEmbed(t *testing.T) {
	a, b := []float32{0.25, -1.5, 3}, []float32{1e-3, 0, -0.125}
	tests := []struct {
		name string
		resp string
	}{
		{"float", `{"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.001,0,-0.125]},{"object":"embedding","index":0,"embedding":[0.25,-1.5,3]}],"model":"e","usage":{"prompt_tokens":5,"total_tokens":5}}`},
		{"base64", `{"object":"list","data":[{"object":"embedding","index":0,"embedding":"` + float32sBase64(a) + `"},{"object":"embedding","index":1,"embedding":"` + float32sBase64(b) + `"}],"model":"e","usage":{"prompt_tokens":5,"total_tokens":5}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if r.URL.Path != "/v1/embeddings" || string(body) != `{"model":"text-embedding-3-small","input":["hello","wörld"],"encoding_format":"float"}` {
					t.Errorf("got %s %s", r.URL.Path, body)
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tt.resp)
			}))
			defer srv.Close()
			p := newTestProvider(t, srv.URL+"/v1")
			vecs, u, err := p.Embed(context.Background(), "text-embedding-3-small", []string{"hello", "wörld"})
			if err != nil {
				t.Fatal(err)
			}
			if u.InputTokens != 5 || len(vecs) != 2 {
				t.Fatalf("usage %+v, %d vectors", u, len(vecs))
			}
			for i, want := range [][]float32{a, b} {
				if len(vecs[i]) != len(want) {
					t.Fatalf("vector %d: %v", i, vecs[i])
				}
				for j := range want {
					if vecs[i][j] != want[j] {
						t.Errorf("vector %d: %v, want %v", i, vecs[i], want)
						break
					}
				}
			}
		})
	}
}

func TestEmbedErrors(t *testing.T) {
	for _, tt := range []struct {
		status int
		resp   string
		kind   adapters.ErrorKind
	}{
		{200, `{"data":[{"index":0,"embedding":[1]}]}`, adapters.KindUpstream}, // one of two
		{200, `{"data":[{"index":0,"embedding":"!!"},{"index":1,"embedding":[1]}]}`, adapters.KindUpstream},
		{200, `{"data":[{"index":5,"embedding":[1]},{"index":1,"embedding":[1]}]}`, adapters.KindUpstream},
		{200, `not json`, adapters.KindUpstream},
		{400, `{"error":{"message":"input too long"}}`, adapters.KindInvalidRequest},
		{429, ``, adapters.KindRateLimited},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tt.status)
			_, _ = io.WriteString(w, tt.resp)
		}))
		p := newTestProvider(t, srv.URL)
		_, _, err := p.Embed(context.Background(), "e", []string{"a", "b"})
		srv.Close()
		var ae *adapters.Error
		if !errors.As(err, &ae) || ae.Kind != tt.kind || ae.UpstreamStatus != tt.status {
			t.Errorf("%d %s: got %v", tt.status, tt.resp, err)
		}
	}
	p := newTestProvider(t, "http://127.0.0.1:1")
	if v, _, err := p.Embed(context.Background(), "e", nil); v != nil || err != nil {
		t.Errorf("empty input: %v %v", v, err)
	}
}

// The request body is valid JSON whatever the strings hold.
func TestBodyAlwaysValid(t *testing.T) {
	weird := []string{"", "\x00", "\"}", "\\", "\xff\xfe", "a\u2028b", strings.Repeat("ü", 100)}
	for _, s := range weird {
		req := &adapters.Request{Model: s, System: s, Messages: []adapters.Message{
			adapters.TextMessage(adapters.RoleUser, s),
			{Role: adapters.RoleAssistant, ToolCalls: []adapters.ToolCall{{ID: s, Name: s, Arguments: s}}},
			{Role: adapters.RoleTool, ToolCallID: s, Parts: []adapters.Part{{Type: adapters.PartText, Text: s}, {Type: adapters.PartImage, ImageURL: s}}},
		}, Sampling: adapters.Sampling{Stop: []string{s}}}
		body, err := buildChatBody(nil, req)
		if err != nil || !gjson.ValidBytes(body) {
			t.Errorf("%q: %v %s", s, err, body)
		}
	}
}
