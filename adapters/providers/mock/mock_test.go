package mock

import (
	"context"
	"errors"
	"flag"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// The mock has no golden files; the flag exists so that
// go test ./adapters/providers/... -update works across packages.
var _ = flag.Bool("update", false, "rewrite golden files (none in this package)")

func newMock(t *testing.T, opts map[string]string) *Provider {
	t.Helper()
	p, err := NewProvider(adapters.ProviderConfig{Name: "mock", Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func user(text string) adapters.Message { return adapters.TextMessage(adapters.RoleUser, text) }

func run(t *testing.T, p *Provider, req *adapters.Request) ([]adapters.Event, error) {
	t.Helper()
	var evs []adapters.Event
	err := p.Chat(context.Background(), req, func(ev adapters.Event) error {
		evs = append(evs, ev)
		return nil
	})
	return evs, err
}

// summary folds events into what the tests compare.
type summary struct {
	types    []adapters.EventType
	thinking string
	text     string
	calls    []adapters.ToolCall
	usage    adapters.Usage
	model    string
	finish   string
}

func summarize(t *testing.T, evs []adapters.Event) summary {
	t.Helper()
	var s summary
	for i, ev := range evs {
		s.types = append(s.types, ev.Type)
		switch ev.Type {
		case adapters.EventStart:
			if i != 0 {
				t.Fatalf("Start at %d", i)
			}
			s.model = ev.Model
		case adapters.EventThinking:
			s.thinking += ev.Text
		case adapters.EventDelta:
			s.text += ev.Text
		case adapters.EventToolCall:
			s.calls = append(s.calls, *ev.ToolCall)
		case adapters.EventUsage:
			s.usage = *ev.Usage
		case adapters.EventDone:
			if i != len(evs)-1 {
				t.Fatalf("Done at %d of %d", i, len(evs))
			}
			if ev.Model != s.model {
				t.Fatalf("Done model %q, Start model %q", ev.Model, s.model)
			}
			s.finish = ev.FinishReason
		default:
			t.Fatalf("unexpected event %v", ev.Type)
		}
	}
	if len(evs) == 0 || evs[len(evs)-1].Type != adapters.EventDone {
		t.Fatalf("no Done: %+v", evs)
	}
	return s
}

var weatherTool = adapters.Tool{Name: "get_weather", Description: "weather"}

func TestChat(t *testing.T) {
	long := strings.Repeat("ä", 250)
	toolHistory := []adapters.Message{
		user("weather in Paris?"),
		{Role: adapters.RoleAssistant, ToolCalls: []adapters.ToolCall{{ID: "call_mock_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
		{Role: adapters.RoleTool, ToolCallID: "call_mock_1", Parts: []adapters.Part{{Type: adapters.PartText, Text: `{"temp_c":18}`}}},
	}
	tests := []struct {
		name     string
		opts     map[string]string
		req      adapters.Request
		text     string
		thinking string
		calls    []adapters.ToolCall
		usage    adapters.Usage
		finish   string
	}{
		{
			name:   "echo",
			req:    adapters.Request{Model: "m1", Messages: []adapters.Message{user("Hello there")}},
			text:   "This is a mock reply to: Hello there",
			usage:  adapters.Usage{InputTokens: 2, OutputTokens: 8},
			finish: "stop",
		},
		{
			name: "echo of the last user message, history counted",
			req: adapters.Request{Model: "m1", System: "be brief", Messages: []adapters.Message{
				user("first question"), adapters.TextMessage(adapters.RoleAssistant, "first answer"), user("second"),
			}},
			text:   "This is a mock reply to: second",
			usage:  adapters.Usage{InputTokens: 7, OutputTokens: 7},
			finish: "stop",
		},
		{
			name:   "echo truncated to 200 runes",
			req:    adapters.Request{Model: "m1", Messages: []adapters.Message{user(long)}},
			text:   "This is a mock reply to: " + strings.Repeat("ä", 200),
			usage:  adapters.Usage{InputTokens: 1, OutputTokens: 7},
			finish: "stop",
		},
		{
			name:   "no messages: input counts at least one",
			req:    adapters.Request{Model: "m1"},
			text:   "This is a mock reply to:",
			usage:  adapters.Usage{InputTokens: 1, OutputTokens: 6},
			finish: "stop",
		},
		{
			name:   "fixed reply",
			opts:   map[string]string{"reply": "Fixed  answer\nhere."},
			req:    adapters.Request{Model: "m1", Messages: []adapters.Message{user("anything")}},
			text:   "Fixed  answer\nhere.",
			usage:  adapters.Usage{InputTokens: 1, OutputTokens: 3},
			finish: "stop",
		},
		{
			name:   "tool result",
			req:    adapters.Request{Model: "m1", Tools: []adapters.Tool{weatherTool}, Messages: toolHistory},
			text:   `The tool get_weather returned: {"temp_c":18}.`,
			usage:  adapters.Usage{InputTokens: 4, OutputTokens: 5},
			finish: "stop",
		},
		{
			name: "tool result for an unknown call names the id",
			req: adapters.Request{Model: "m1", Messages: []adapters.Message{
				user("x"), {Role: adapters.RoleTool, ToolCallID: "call_zz", Parts: []adapters.Part{{Type: adapters.PartText, Text: "42"}}},
			}},
			text:   "The tool call_zz returned: 42.",
			usage:  adapters.Usage{InputTokens: 2, OutputTokens: 5},
			finish: "stop",
		},
		{
			name:   "tool call with JSON arguments",
			req:    adapters.Request{Model: "m1", Tools: []adapters.Tool{{Name: "get"}, weatherTool}, Messages: []adapters.Message{user(`please get_weather {"city": "Paris", "q": "}"} and {"b":2}`)}},
			calls:  []adapters.ToolCall{{ID: "call_mock_1", Name: "get_weather", Arguments: `{"city": "Paris", "q": "}"}`}},
			usage:  adapters.Usage{InputTokens: 8, OutputTokens: 0},
			finish: "tool_calls",
		},
		{
			name:   "tool call without arguments, IDs continue the history",
			req:    adapters.Request{Model: "m1", Tools: []adapters.Tool{weatherTool}, Messages: append(toolHistory[:3:3], adapters.TextMessage(adapters.RoleAssistant, "ok"), user("again get_weather {broken"))},
			calls:  []adapters.ToolCall{{ID: "call_mock_2", Name: "get_weather", Arguments: "{}"}},
			usage:  adapters.Usage{InputTokens: 8, OutputTokens: 0},
			finish: "tool_calls",
		},
		{
			name:   "tool not mentioned",
			req:    adapters.Request{Model: "m1", Tools: []adapters.Tool{weatherTool}, Messages: []adapters.Message{user("hi")}},
			text:   "This is a mock reply to: hi",
			usage:  adapters.Usage{InputTokens: 1, OutputTokens: 7},
			finish: "stop",
		},
		{
			name:     "reasoning",
			req:      adapters.Request{Model: "m1", Reasoning: &adapters.Reasoning{}, Messages: []adapters.Message{user("think")}},
			thinking: ReasoningText,
			text:     "This is a mock reply to: think",
			usage:    adapters.Usage{InputTokens: 1, OutputTokens: 15, ReasoningTokens: 8},
			finish:   "stop",
		},
		{
			name:     "reasoning then tool call",
			req:      adapters.Request{Model: "m1", Reasoning: &adapters.Reasoning{Effort: "high"}, Tools: []adapters.Tool{weatherTool}, Messages: []adapters.Message{user("get_weather")}},
			thinking: ReasoningText,
			calls:    []adapters.ToolCall{{ID: "call_mock_1", Name: "get_weather", Arguments: "{}"}},
			usage:    adapters.Usage{InputTokens: 1, OutputTokens: 8, ReasoningTokens: 8},
			finish:   "tool_calls",
		},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				opts := map[string]string{"delay": "0s"}
				for k, v := range tt.opts {
					opts[k] = v
				}
				p := newMock(t, opts)
				req := tt.req
				req.Stream = stream
				evs, err := run(t, p, &req)
				if err != nil {
					t.Fatal(err)
				}
				s := summarize(t, evs)
				if s.model != req.Model || s.text != tt.text || s.thinking != tt.thinking || s.usage != tt.usage || s.finish != tt.finish {
					t.Errorf("got model %q text %q thinking %q usage %+v finish %q\nwant text %q thinking %q usage %+v finish %q",
						s.model, s.text, s.thinking, s.usage, s.finish, tt.text, tt.thinking, tt.usage, tt.finish)
				}
				if !reflect.DeepEqual(s.calls, tt.calls) {
					t.Errorf("calls %+v, want %+v", s.calls, tt.calls)
				}
				// Streams send one word per event; non-streams one event per text.
				for _, ev := range evs {
					if ev.Type != adapters.EventDelta && ev.Type != adapters.EventThinking {
						continue
					}
					want := 1
					if !stream {
						want = len(strings.Fields(s.text))
						if ev.Type == adapters.EventThinking {
							want = len(strings.Fields(s.thinking))
						}
					}
					if n := len(strings.Fields(ev.Text)); n != want {
						t.Errorf("%v event %q has %d words, want %d", ev.Type, ev.Text, n, want)
					}
				}
			})
		}
	}
}

func TestStreamWordSplitting(t *testing.T) {
	p := newMock(t, map[string]string{"delay": "0"})
	evs, err := run(t, p, &adapters.Request{Model: "m", Stream: true, Messages: []adapters.Message{user("one two")}})
	if err != nil {
		t.Fatal(err)
	}
	var deltas []string
	for _, ev := range evs {
		if ev.Type == adapters.EventDelta {
			deltas = append(deltas, ev.Text)
		}
	}
	want := []string{"This ", "is ", "a ", "mock ", "reply ", "to: ", "one ", "two"}
	if strings.Join(deltas, "|") != strings.Join(want, "|") {
		t.Fatalf("deltas %q, want %q", deltas, want)
	}
	for _, text := range []string{"", "a", " lead", "trail ", "a  b\n\nc", "\t"} {
		if got := strings.Join(splitWords(text), ""); got != text {
			t.Errorf("splitWords(%q) joins to %q", text, got)
		}
	}
}

// The default stream delay is used without asserting any timing.
func TestDefaultDelayStream(t *testing.T) {
	p := newMock(t, nil)
	if p.delay != DefaultStreamDelay {
		t.Fatalf("delay %v", p.delay)
	}
	evs, err := run(t, p, &adapters.Request{Model: "m", Stream: true, Messages: []adapters.Message{user("x")}})
	if err != nil {
		t.Fatal(err)
	}
	if s := summarize(t, evs); s.text != "This is a mock reply to: x" {
		t.Fatalf("text %q", s.text)
	}
}

func TestErrorTrigger(t *testing.T) {
	tests := []struct {
		status int
		kind   adapters.ErrorKind
		retry  time.Duration
	}{
		{400, adapters.KindInvalidRequest, 0},
		{401, adapters.KindUpstream, 0},
		{404, adapters.KindNotFound, 0},
		{429, adapters.KindRateLimited, time.Second},
		{500, adapters.KindUpstream, 0},
		{502, adapters.KindUnavailable, 0},
		{503, adapters.KindUnavailable, time.Second},
		{504, adapters.KindUnavailable, 0},
	}
	p := newMock(t, map[string]string{"delay": "0s"})
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			req := &adapters.Request{Model: "m", Stream: stream, Messages: []adapters.Message{user("please fail [mock:error " + itoa(tt.status) + "] now")}}
			evs, err := run(t, p, req)
			var ae *adapters.Error
			if !errors.As(err, &ae) {
				t.Fatalf("%d: got %v", tt.status, err)
			}
			if len(evs) != 0 || ae.Kind != tt.kind || ae.UpstreamStatus != tt.status || ae.RetryAfter != tt.retry {
				t.Errorf("%d: got kind %v status %d retry %v events %d", tt.status, ae.Kind, ae.UpstreamStatus, ae.RetryAfter, len(evs))
			}
		}
	}
	// Not a trigger: malformed markers and markers in earlier messages.
	for _, msgs := range [][]adapters.Message{
		{user("[mock:error abc]")},
		{user("[mock:error 200]")},
		{user("[mock:error 503"), adapters.TextMessage(adapters.RoleAssistant, "x"), user("fine")},
		{user("[mock:error 503]"), adapters.TextMessage(adapters.RoleAssistant, "x"), user("fine")},
	} {
		if _, err := run(t, p, &adapters.Request{Model: "m", Messages: msgs}); err != nil {
			t.Errorf("%+v: %v", msgs, err)
		}
	}
}

func itoa(n int) string {
	return string(rune('0'+n/100)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10))
}

func TestCancel(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		p := newMock(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var n int
		err := p.Chat(ctx, &adapters.Request{Model: "m", Stream: true, Messages: []adapters.Message{user("x")}}, func(adapters.Event) error { n++; return nil })
		if !errors.Is(err, context.Canceled) || n != 0 {
			t.Fatalf("got %v after %d events", err, n)
		}
	})
	t.Run("mid-stream", func(t *testing.T) {
		// An hour between words: the test only ends if cancellation
		// interrupts the wait.
		p := newMock(t, map[string]string{"delay": "1h"})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var evs []adapters.Event
		err := p.Chat(ctx, &adapters.Request{Model: "m", Stream: true, Messages: []adapters.Message{user("x y z")}}, func(ev adapters.Event) error {
			evs = append(evs, ev)
			if ev.Type == adapters.EventDelta {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
		if len(evs) != 2 || evs[1].Text != "This " {
			t.Fatalf("events %+v", evs)
		}
	})
}

func TestEmitErrorStops(t *testing.T) {
	p := newMock(t, map[string]string{"delay": "0s"})
	gone := errors.New("gone")
	for _, stream := range []bool{false, true} {
		for stop := 1; stop <= 4; stop++ {
			n := 0
			err := p.Chat(context.Background(), &adapters.Request{Model: "m", Stream: stream, Messages: []adapters.Message{user("x")}}, func(adapters.Event) error {
				n++
				if n == stop {
					return gone
				}
				return nil
			})
			if err != gone || n != stop {
				t.Errorf("stream=%v stop=%d: %v after %d", stream, stop, err, n)
			}
		}
	}
}

func TestNew(t *testing.T) {
	for _, tt := range []struct {
		delay string
		ok    bool
	}{{"", true}, {"0", true}, {"5ms", true}, {"fast", false}, {"-1s", false}} {
		_, err := NewProvider(adapters.ProviderConfig{Options: map[string]string{"delay": tt.delay}})
		if (err == nil) != tt.ok {
			t.Errorf("delay %q: %v", tt.delay, err)
		}
	}
	p, err := adapters.NewProvider("mock", adapters.ProviderConfig{Name: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(adapters.Embedder); !ok {
		t.Fatal("mock is not an Embedder")
	}
}

func TestEmbed(t *testing.T) {
	p := newMock(t, nil)
	inputs := []string{"The cat sat", "the CAT sat!", "dogs bark loudly", ""}
	vecs, u, err := p.Embed(context.Background(), "any", inputs)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != len(inputs) || u.InputTokens != 9 {
		t.Fatalf("%d vectors, usage %+v", len(vecs), u)
	}
	for i, v := range vecs[:3] {
		if len(v) != EmbeddingDims {
			t.Fatalf("dims %d", len(v))
		}
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-5 {
			t.Errorf("vector %d has norm² %v", i, n)
		}
	}
	for _, x := range vecs[3] {
		if x != 0 {
			t.Fatal("empty input must give a zero vector")
		}
	}
	same := func(a, b []float32) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	if !same(vecs[0], vecs[1]) {
		t.Error("case and punctuation should not change the vector")
	}
	if same(vecs[0], vecs[2]) {
		t.Error("different texts gave the same vector")
	}
	again, _, _ := p.Embed(context.Background(), "any", inputs[:1])
	if !same(again[0], vecs[0]) {
		t.Error("not deterministic")
	}
}
