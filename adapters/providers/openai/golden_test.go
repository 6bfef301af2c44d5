package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/providertest"
)

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
			req := providertest.LoadRequest(t, f)
			body, err := buildChatBody(nil, req)
			if err != nil {
				t.Fatal(err)
			}
			// Deterministic despite Extra being a map.
			providertest.CheckRequestBody(t, strings.TrimSuffix(f, ".json")+".golden.json", body, func() ([]byte, error) {
				return buildChatBody(make([]byte, 0, bodySize(req)), req)
			})
		})
	}
	if n < 6 {
		t.Fatalf("found %d request fixtures", n)
	}
}

func TestRequestErrors(t *testing.T) {
	temp := func(f float64) *float64 { return &f }
	inf := 1.0
	for i := 0; i < 2000; i++ {
		inf *= 10
	}
	tests := []struct {
		name  string
		req   adapters.Request
		param string
	}{
		{"bad role", adapters.Request{Model: "m", Messages: []adapters.Message{{Role: "robot"}}}, "messages"},
		{"bad parameters", adapters.Request{Model: "m", Tools: []adapters.Tool{{Name: "t", Parameters: json.RawMessage(`{"type":`)}}}, "tools"},
		{"tool without name", adapters.Request{Model: "m", Tools: []adapters.Tool{{}}}, "tools"},
		{"bad tool_choice", adapters.Request{Model: "m", Tools: []adapters.Tool{{Name: "t"}}, ToolChoice: json.RawMessage(`{`)}, "tool_choice"},
		{"infinite temperature", adapters.Request{Model: "m", Sampling: adapters.Sampling{Temperature: temp(inf)}}, "temperature"},
		{"bad response_format", adapters.Request{Model: "m", Sampling: adapters.Sampling{ResponseFormat: json.RawMessage(`nope`)}}, "response_format"},
		{"bad extra", adapters.Request{Model: "m", Extra: map[string]json.RawMessage{"user": json.RawMessage(`{x}`)}}, "user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildChatBody(nil, &tt.req)
			var ae *adapters.Error
			if !errors.As(err, &ae) || ae.Kind != adapters.KindInvalidRequest || ae.Param != tt.param {
				t.Fatalf("got %#v, want invalid request on %s", err, tt.param)
			}
		})
	}
}

// goldenEvent is the JSON-lines form of an event in response goldens.
type goldenEvent struct {
	Type         string             `json:"type"`
	Model        string             `json:"model,omitempty"`
	Text         string             `json:"text,omitempty"`
	ToolCall     *adapters.ToolCall `json:"tool_call,omitempty"`
	Usage        *adapters.Usage    `json:"usage,omitempty"`
	FinishReason string             `json:"finish_reason,omitempty"`
	Err          *goldenError       `json:"error,omitempty"`
}

type goldenError struct {
	Kind           string `json:"kind"`
	Status         int    `json:"status"`
	Message        string `json:"message"`
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
	return &goldenError{Kind: providertest.KindName(ae.Kind), Status: ae.Status(), Message: ae.Message, UpstreamStatus: ae.UpstreamStatus}
}

// eventLines serialises events and the returned error, one JSON per line.
func eventLines(t *testing.T, evs []adapters.Event, err error) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, ev := range evs {
		g := goldenEvent{Type: ev.Type.String(), Model: ev.Model, Text: ev.Text, ToolCall: ev.ToolCall,
			Usage: ev.Usage, FinishReason: ev.FinishReason}
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
	if err != nil {
		providertest.CheckToolCallDeltas(t, evs)
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
	providertest.CheckToolCallDeltas(t, evs)
	phase := 0 // 0 content, 1 tool calls, 2 usage
	for _, ev := range evs[1 : len(evs)-1] {
		switch ev.Type {
		case adapters.EventThinking, adapters.EventDelta:
			if phase > 0 {
				t.Fatalf("text after tool calls or usage: %+v", evs)
			}
		case adapters.EventToolCallDelta:
			if phase > 1 {
				t.Fatalf("tool-call delta after usage: %+v", evs)
			}
		case adapters.EventToolCall:
			if phase > 1 {
				t.Fatalf("tool call after usage: %+v", evs)
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

// runFixture feeds a recorded response through the parser, whole and one
// byte at a time, and requires identical events. For a stream it also
// returns when each event left: the bytes read, one at a time, by then
// (providertest.Arrivals).
func runFixture(t *testing.T, path string) ([]adapters.Event, []byte, error) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".json") {
		var evs []adapters.Event
		err := readResponse(string(raw), "req-model", 200, providertest.Collect(&evs))
		return evs, nil, err
	}
	var whole, bytewise []adapters.Event
	var read []int64
	errWhole := readStream(context.Background(), bytes.NewReader(raw), "req-model", 200, DefaultTimeout, providertest.Collect(&whole))
	oneByte := &providertest.Reader{R: iotest.OneByteReader(bytes.NewReader(raw))}
	errByte := readStream(context.Background(), oneByte, "req-model", 200, DefaultTimeout, func(ev adapters.Event) error {
		bytewise, read = append(bytewise, ev), append(read, oneByte.N)
		return nil
	})
	a, b := eventLines(t, whole, errWhole), eventLines(t, bytewise, errByte)
	if !bytes.Equal(a, b) {
		t.Fatalf("one-byte reads differ:\n--- whole\n%s\n--- one byte\n%s", a, b)
	}
	// Half-split reads too (CRLF split across reads and the like).
	var halves []adapters.Event
	errHalves := readStream(context.Background(), iotest.HalfReader(bytes.NewReader(raw)), "req-model", 200, DefaultTimeout, providertest.Collect(&halves))
	if c := eventLines(t, halves, errHalves); !bytes.Equal(a, c) {
		t.Fatalf("half reads differ:\n--- whole\n%s\n--- halves\n%s", a, c)
	}
	return whole, providertest.Arrivals(bytewise, read, int64(len(raw))), errWhole
}

// responseFixtures lists this provider's recorded responses, of which
// there are at least 10.
func responseFixtures(t *testing.T) []string { return providertest.ResponseFixtures(t, 10) }

func TestResponseGolden(t *testing.T) {
	for _, f := range responseFixtures(t) {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			evs, arrivals, err := runFixture(t, f)
			checkOrder(t, evs, err)
			base := strings.TrimSuffix(strings.TrimSuffix(f, ".json"), ".sse")
			providertest.CheckGolden(t, base+".golden.jsonl", eventLines(t, evs, err))
			if slices.ContainsFunc(evs, func(ev adapters.Event) bool { return ev.Type == adapters.EventToolCallDelta }) {
				// Tool-call deltas leave as their bytes arrive, not at the
				// end of the stream.
				providertest.CheckGolden(t, base+".arrival.golden", arrivals)
			}
		})
	}
}
