package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/providertest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// loadRequest decodes a canonical request fixture.
func loadRequest(t *testing.T, path string) *adapters.Request {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var req adapters.Request
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &req
}

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
			req := loadRequest(t, f)
			body, err := buildChatBody(nil, req)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(body) {
				t.Fatalf("invalid JSON body: %s", body)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, body); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(compact.Bytes(), body) {
				t.Errorf("body is not compact:\n%s", body)
			}
			// Deterministic despite Extra being a map.
			for range 20 {
				again, err := buildChatBody(make([]byte, 0, bodySize(req)), req)
				if err != nil || !bytes.Equal(again, body) {
					t.Fatalf("body not deterministic:\n%s\n%s", body, again)
				}
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, body, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			checkGolden(t, strings.TrimSuffix(f, ".json")+".golden.json", pretty.Bytes())
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
	return &goldenError{Kind: kindName(ae.Kind), Status: ae.Status(), Message: ae.Message, UpstreamStatus: ae.UpstreamStatus}
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

func collect(evs *[]adapters.Event) adapters.Emit {
	return func(ev adapters.Event) error {
		*evs = append(*evs, ev)
		return nil
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
		err := readResponse(string(raw), "req-model", 200, collect(&evs))
		return evs, nil, err
	}
	var whole, bytewise []adapters.Event
	var read []int64
	errWhole := readStream(context.Background(), bytes.NewReader(raw), "req-model", 200, DefaultTimeout, collect(&whole))
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
	errHalves := readStream(context.Background(), iotest.HalfReader(bytes.NewReader(raw)), "req-model", 200, DefaultTimeout, collect(&halves))
	if c := eventLines(t, halves, errHalves); !bytes.Equal(a, c) {
		t.Fatalf("half reads differ:\n--- whole\n%s\n--- halves\n%s", a, c)
	}
	return whole, providertest.Arrivals(bytewise, read, int64(len(raw))), errWhole
}

func responseFixtures(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"testdata/responses/*.json", "testdata/responses/*.sse"} {
		files, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, files...)
	}
	if len(out) < 10 {
		t.Fatalf("found %d response fixtures", len(out))
	}
	return out
}

func TestResponseGolden(t *testing.T) {
	for _, f := range responseFixtures(t) {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			evs, arrivals, err := runFixture(t, f)
			checkOrder(t, evs, err)
			base := strings.TrimSuffix(strings.TrimSuffix(f, ".json"), ".sse")
			checkGolden(t, base+".golden.jsonl", eventLines(t, evs, err))
			if slices.ContainsFunc(evs, func(ev adapters.Event) bool { return ev.Type == adapters.EventToolCallDelta }) {
				// Tool-call deltas leave as their bytes arrive, not at the
				// end of the stream.
				checkGolden(t, base+".arrival.golden", arrivals)
			}
		})
	}
}

var kindNames = map[adapters.ErrorKind]string{
	adapters.KindInvalidRequest:  "invalid_request",
	adapters.KindUnauthenticated: "unauthenticated",
	adapters.KindForbidden:       "forbidden",
	adapters.KindNotFound:        "not_found",
	adapters.KindConflict:        "conflict",
	adapters.KindTooLarge:        "too_large",
	adapters.KindRateLimited:     "rate_limited",
	adapters.KindQuotaExceeded:   "quota_exceeded",
	adapters.KindUpstream:        "upstream",
	adapters.KindUnavailable:     "unavailable",
	adapters.KindTimeout:         "timeout",
	adapters.KindInternal:        "internal",
}

func kindName(k adapters.ErrorKind) string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return "kind_" + strconv.Itoa(int(k))
}
