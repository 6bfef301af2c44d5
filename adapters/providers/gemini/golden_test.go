package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/providertest"
)

const testKey = "AIzaSy-secret-test-key-0123456789"

// newTestProvider builds a provider for base whose generated call ids are
// call_test_1, call_test_2, … so goldens are stable.
func newTestProvider(t testing.TB, base string, opts ...func(*adapters.ProviderConfig)) *Provider {
	t.Helper()
	cfg := adapters.ProviderConfig{Name: "test", BaseURL: base, APIKey: testKey}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := NewProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	p.newCallID = func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return "call_test_" + strconv.Itoa(n)
	}
	t.Cleanup(p.CloseIdleConnections)
	return p
}

// captured is what a test upstream received.
type captured struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Query  string          `json:"query,omitempty"`
	APIKey string          `json:"x_goog_api_key,omitempty"`
	Body   json.RawMessage `json:"body"`
}

// okServer answers every call with a minimal valid answer (JSON or SSE)
// and records what it received.
func okServer(t *testing.T) (*httptest.Server, func() []captured) {
	t.Helper()
	var mu sync.Mutex
	var got []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, captured{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, APIKey: r.Header.Get("x-goog-api-key"), Body: body})
		mu.Unlock()
		const answer = `{"candidates":[{"content":{"role":"model","parts":[{"text":"ok"}]},"finishReason":"STOP","index":0}],"modelVersion":"m"}`
		if r.URL.Query().Get("alt") == "sse" {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: "+answer+"\r\n\r\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []captured {
		mu.Lock()
		defer mu.Unlock()
		return append([]captured(nil), got...)
	}
}

// TestRequestGolden sends every canonical request fixture through the SDK
// to a test upstream and compares what arrived (method, path, query and
// body, exactly as genai encoded it) with the golden file. Streamed and
// non-streamed calls must send the same body.
func TestRequestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/requests/*.json")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.json") {
			continue
		}
		n++
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			srv, requests := okServer(t)
			p := newTestProvider(t, srv.URL)
			req := providertest.LoadRequest(t, f)
			if err := p.Chat(context.Background(), req, providertest.Collect(new([]adapters.Event))); err != nil {
				t.Fatal(err)
			}
			other := *req
			other.Stream = !req.Stream
			if err := p.Chat(context.Background(), &other, providertest.Collect(new([]adapters.Event))); err != nil {
				t.Fatal(err)
			}
			got := requests()
			if len(got) != 2 {
				t.Fatalf("%d requests", len(got))
			}
			if !bytes.Equal(got[0].Body, got[1].Body) {
				t.Errorf("stream and non-stream bodies differ:\n%s\n%s", got[0].Body, got[1].Body)
			}
			if got[0].APIKey != testKey {
				t.Errorf("x-goog-api-key %q", got[0].APIKey)
			}
			wantPath := "/v1beta/models/" + strings.TrimPrefix(req.Model, "models/") + ":"
			if req.Stream {
				wantPath += "streamGenerateContent"
			} else {
				wantPath += "generateContent"
			}
			if got[0].Path != wantPath {
				t.Errorf("path %q, want %q", got[0].Path, wantPath)
			}
			c := got[0]
			c.APIKey = ""
			var body bytes.Buffer
			if err := json.Indent(&body, c.Body, "  ", "  "); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, c.Body)
			}
			c.Body = bytes.TrimSpace(body.Bytes())
			out, err := json.MarshalIndent(c, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			providertest.CheckGolden(t, strings.TrimSuffix(f, ".json")+".golden.json", append(out, '\n'))
		})
	}
	if n < 8 {
		t.Fatalf("found %d request fixtures", n)
	}
}

// goldenEvent is an event as response goldens show it: adapters.Event's
// own JSON, with errors' kinds by name.
type goldenEvent struct {
	adapters.Event
	Err *goldenError `json:"error,omitempty"`
}

type goldenError struct {
	Kind           string `json:"kind"`
	Status         int    `json:"status"`
	Code           string `json:"code,omitempty"`
	Param          string `json:"param,omitempty"`
	Message        string `json:"message"`
	RetryAfter     string `json:"retry_after,omitempty"`
	UpstreamStatus int    `json:"upstream_status,omitempty"`
}

func toGoldenError(err error) *goldenError {
	if err == nil {
		return nil
	}
	var ae *adapters.Error
	if !errors.As(err, &ae) {
		return &goldenError{Message: "non-canonical error: " + err.Error()}
	}
	g := &goldenError{Kind: providertest.KindName(ae.Kind), Status: ae.Status(), Code: ae.Code, Param: ae.Param, Message: ae.Message, UpstreamStatus: ae.UpstreamStatus}
	if ae.RetryAfter != 0 {
		g.RetryAfter = ae.RetryAfter.String()
	}
	return g
}

// eventLines serialises events and the returned error, one JSON per line.
func eventLines(t testing.TB, evs []adapters.Event, err error) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, ev := range evs {
		g := goldenEvent{Event: ev}
		if ev.Err != nil {
			g.Err = toGoldenError(ev.Err)
		}
		if e := enc.Encode(g); e != nil {
			t.Fatal(e)
		}
	}
	if err != nil {
		if e := enc.Encode(struct {
			Returned *goldenError `json:"returned"`
		}{toGoldenError(err)}); e != nil {
			t.Fatal(e)
		}
	}
	return b.Bytes()
}

// checkOrder verifies the provider contract on an event sequence.
func checkOrder(t testing.TB, evs []adapters.Event, err error) {
	t.Helper()
	providertest.CheckToolCallDeltas(t, evs)
	if err != nil {
		var ae *adapters.Error
		if errors.As(err, &ae) && len(evs) > 0 {
			last := evs[len(evs)-1]
			if last.Type != adapters.EventError || last.Err != ae {
				t.Fatalf("error %v after Start without a matching Error event: %+v", err, evs)
			}
		}
		for i, ev := range evs {
			if ev.Type == adapters.EventDone {
				t.Fatalf("Done at %d on a failed call", i)
			}
			if ev.Type == adapters.EventError && i != len(evs)-1 {
				t.Fatalf("Error event not last")
			}
		}
		if len(evs) > 0 && evs[0].Type != adapters.EventStart {
			t.Fatalf("first event %v", evs[0].Type)
		}
		return
	}
	if len(evs) < 2 || evs[0].Type != adapters.EventStart || evs[len(evs)-1].Type != adapters.EventDone {
		t.Fatalf("want Start … Done, got %+v", evs)
	}
	phase := 0 // 0 content, 1 tool calls, 2 usage
	for _, ev := range evs[1 : len(evs)-1] {
		switch ev.Type {
		case adapters.EventThinking, adapters.EventDelta, adapters.EventToolCallDelta:
			if phase > 0 {
				t.Fatalf("text after tool calls or usage: %+v", evs)
			}
		case adapters.EventToolCall:
			if phase > 1 {
				t.Fatalf("tool call after usage: %+v", evs)
			}
			if ev.ToolCall == nil || ev.ToolCall.ID == "" || ev.ToolCall.Name == "" || !json.Valid([]byte(ev.ToolCall.Arguments)) {
				t.Fatalf("incomplete tool call %+v", ev.ToolCall)
			}
			phase = 1
		case adapters.EventUsage:
			if phase == 2 {
				t.Fatalf("two usage events")
			}
			phase = 2
		default:
			t.Fatalf("unexpected %v in %+v", ev.Type, evs)
		}
	}
	switch r := evs[len(evs)-1].FinishReason; r {
	case "stop", "length", "tool_calls", "content_filter":
	default:
		t.Fatalf("finish reason %q", r)
	}
}

// replayServer answers every call with raw, written chunk bytes at a time
// with a flush after each write (0: all at once), as JSON or SSE.
func replayServer(t testing.TB, raw []byte, sse bool, chunk int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		if sse {
			if r.URL.Query().Get("alt") != "sse" || !strings.HasSuffix(r.URL.Path, ":streamGenerateContent") {
				t.Errorf("stream call to %s?%s", r.URL.Path, r.URL.RawQuery)
			}
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			if !strings.HasSuffix(r.URL.Path, ":generateContent") {
				t.Errorf("call to %s", r.URL.Path)
			}
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		}
		if chunk <= 0 {
			_, _ = w.Write(raw)
			return
		}
		rc := http.NewResponseController(w)
		for i := 0; i < len(raw); i += chunk {
			if _, err := w.Write(raw[i:min(i+chunk, len(raw))]); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func textRequest(stream bool) *adapters.Request {
	return &adapters.Request{Model: "req-model", Stream: stream,
		Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "hi")}}
}

// runFixture replays a recorded response through the SDK over HTTP, all at
// once, one byte per write and three bytes per write, and requires the
// same events each time.
func runFixture(t *testing.T, path string) ([]adapters.Event, error) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sse := strings.HasSuffix(path, ".sse")
	var first []byte
	var evs0 []adapters.Event
	var err0 error
	for i, chunk := range []int{0, 1, 3} {
		srv := replayServer(t, raw, sse, chunk)
		p := newTestProvider(t, srv.URL)
		var evs []adapters.Event
		err := p.Chat(context.Background(), textRequest(sse), providertest.Collect(&evs))
		lines := eventLines(t, evs, err)
		if i == 0 {
			first, evs0, err0 = lines, evs, err
			continue
		}
		if !bytes.Equal(lines, first) {
			t.Fatalf("%d-byte writes differ:\n--- whole\n%s\n--- %d bytes\n%s", chunk, first, chunk, lines)
		}
	}
	return evs0, err0
}

// responseFixtures lists this provider's recorded responses, of which
// there are at least 15.
func responseFixtures(t *testing.T) []string { return providertest.ResponseFixtures(t, 15) }

func TestResponseGolden(t *testing.T) {
	for _, f := range responseFixtures(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			evs, err := runFixture(t, f)
			checkOrder(t, evs, err)
			golden := strings.TrimSuffix(strings.TrimSuffix(f, ".json"), ".sse") + ".golden.jsonl"
			providertest.CheckGolden(t, golden, eventLines(t, evs, err))
		})
	}
}
