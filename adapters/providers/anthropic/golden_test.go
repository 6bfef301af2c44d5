package anthropic

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

// fixtureOptions are the provider options a request fixture is encoded
// with: files named adaptive_* use adaptive thinking.
func fixtureOptions(path string) requestOptions {
	return requestOptions{adaptive: strings.HasPrefix(filepath.Base(path), "adaptive_")}
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
			req := providertest.LoadRequest(t, f)
			opts := fixtureOptions(f)
			body, err := buildBody(nil, req, opts)
			if err != nil {
				t.Fatal(err)
			}
			checkWireRules(t, body)
			providertest.CheckRequestBody(t, strings.TrimSuffix(f, ".json")+".golden.json", body, func() ([]byte, error) {
				return buildBody(make([]byte, 0, bodySize(req)), req, opts)
			})
		})
	}
	if n < 10 {
		t.Fatalf("found %d request fixtures", n)
	}
}

// checkWireRules checks the Messages API rules every body must keep,
// whatever the fixture: max_tokens set, roles alternate between user and
// assistant, no empty content or text blocks, tool_result blocks first in
// their message and answering a tool_use of the message before, thinking
// in assistant messages only, no temperature with thinking.
func checkWireRules(t *testing.T, body []byte) {
	t.Helper()
	var b struct {
		MaxTokens   int      `json:"max_tokens"`
		Temperature *float64 `json:"temperature"`
		Thinking    *struct {
			Type   string `json:"type"`
			Budget int    `json:"budget_tokens"`
		} `json:"thinking"`
		Messages []struct {
			Role    string `json:"role"`
			Content []struct {
				Type      string          `json:"type"`
				Text      *string         `json:"text"`
				ID        string          `json:"id"`
				ToolUseID string          `json:"tool_use_id"`
				Input     json.RawMessage `json:"input"`
			} `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	if b.MaxTokens <= 0 {
		t.Errorf("max_tokens %d", b.MaxTokens)
	}
	if b.Thinking != nil && b.Thinking.Type == "enabled" && (b.Thinking.Budget < MinThinkingBudget || b.Thinking.Budget >= b.MaxTokens) {
		t.Errorf("budget_tokens %d with max_tokens %d", b.Thinking.Budget, b.MaxTokens)
	}
	if b.Thinking != nil && b.Temperature != nil {
		t.Errorf("temperature with thinking")
	}
	prevUses := map[string]bool{}
	for i, m := range b.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			t.Errorf("message %d: role %q", i, m.Role)
		}
		if i > 0 && m.Role == b.Messages[i-1].Role {
			t.Errorf("messages %d and %d share role %s", i-1, i, m.Role)
		}
		if len(m.Content) == 0 {
			t.Errorf("message %d: empty content", i)
		}
		uses := map[string]bool{}
		seenOther := false
		for j, c := range m.Content {
			switch c.Type {
			case "text":
				if c.Text == nil || *c.Text == "" {
					t.Errorf("message %d block %d: empty text", i, j)
				}
			case "tool_result":
				if seenOther || m.Role != "user" || !prevUses[c.ToolUseID] {
					t.Errorf("message %d block %d: misplaced tool_result for %q", i, j, c.ToolUseID)
				}
				continue
			case "thinking", "redacted_thinking":
				// First, or (interleaved thinking) in its place after
				// the text or tool_use it followed.
				if m.Role != "assistant" {
					t.Errorf("message %d block %d: misplaced thinking", i, j)
				}
			case "tool_use":
				uses[c.ID] = true
				if len(c.Input) == 0 || c.Input[0] != '{' {
					t.Errorf("message %d block %d: input %s", i, j, c.Input)
				}
			}
			seenOther = true
		}
		prevUses = uses
	}
}

func TestRequestErrors(t *testing.T) {
	num := func(f float64) *float64 { return &f }
	n := func(i int) *int { return &i }
	inf := 1.0
	for range 2000 {
		inf *= 10
	}
	user := []adapters.Message{adapters.TextMessage(adapters.RoleUser, "hi")}
	tests := []struct {
		name  string
		req   adapters.Request
		param string
	}{
		{"bad role", adapters.Request{Model: "m", Messages: []adapters.Message{{Role: "robot"}}}, "messages"},
		{"bad parameters", adapters.Request{Model: "m", Messages: user, Tools: []adapters.Tool{{Name: "t", Parameters: json.RawMessage(`{"type":`)}}}, "tools"},
		{"array parameters", adapters.Request{Model: "m", Messages: user, Tools: []adapters.Tool{{Name: "t", Parameters: json.RawMessage(`[]`)}}}, "tools"},
		{"tool without name", adapters.Request{Model: "m", Messages: user, Tools: []adapters.Tool{{}}}, "tools"},
		{"bad tool_choice", adapters.Request{Model: "m", Messages: user, Tools: []adapters.Tool{{Name: "t"}}, ToolChoice: json.RawMessage(`{`)}, "tool_choice"},
		{"unknown tool_choice", adapters.Request{Model: "m", Messages: user, Tools: []adapters.Tool{{Name: "t"}}, ToolChoice: json.RawMessage(`"sometimes"`)}, "tool_choice"},
		{"infinite temperature", adapters.Request{Model: "m", Messages: user, Sampling: adapters.Sampling{Temperature: num(inf)}}, "temperature"},
		{"infinite top_p", adapters.Request{Model: "m", Messages: user, Sampling: adapters.Sampling{TopP: num(-inf)}}, "top_p"},
		{"zero max_tokens", adapters.Request{Model: "m", Messages: user, Sampling: adapters.Sampling{MaxTokens: n(0)}}, "max_tokens"},
		{"budget over max_tokens", adapters.Request{Model: "m", Messages: user, Sampling: adapters.Sampling{MaxTokens: n(2000)},
			Reasoning: &adapters.Reasoning{BudgetTokens: 2000}}, "max_tokens"},
		{"max_tokens too small to think", adapters.Request{Model: "m", Messages: user, Sampling: adapters.Sampling{MaxTokens: n(1024)},
			Reasoning: &adapters.Reasoning{Effort: "low"}}, "max_tokens"},
		{"tool result without id", adapters.Request{Model: "m", Messages: []adapters.Message{adapters.TextMessage(adapters.RoleTool, "x")}}, "messages"},
		{"ftp image", adapters.Request{Model: "m", Messages: []adapters.Message{{Role: adapters.RoleUser,
			Parts: []adapters.Part{{Type: adapters.PartImage, ImageURL: "ftp://x/y.png"}}}}}, "messages"},
		{"non-base64 data URL", adapters.Request{Model: "m", Messages: []adapters.Message{{Role: adapters.RoleUser,
			Parts: []adapters.Part{{Type: adapters.PartImage, ImageURL: "data:image/svg+xml,<svg/>"}}}}}, "messages"},
		{"data URL without type", adapters.Request{Model: "m", Messages: []adapters.Message{{Role: adapters.RoleUser,
			Parts: []adapters.Part{{Type: adapters.PartImage, ImageURL: "data:;base64,AAAA"}}}}}, "messages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildBody(nil, &tt.req, requestOptions{})
			var ae *adapters.Error
			if !errors.As(err, &ae) || ae.Kind != adapters.KindInvalidRequest || ae.Param != tt.param {
				t.Fatalf("got %#v, want invalid request on %s", err, tt.param)
			}
		})
	}
}

func TestDefaultMaxTokensOption(t *testing.T) {
	req := &adapters.Request{Model: "m", Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "hi")}}
	body, err := buildBody(nil, req, requestOptions{defMaxTokens: 1000})
	if err != nil || !bytes.Contains(body, []byte(`"max_tokens":1000,`)) {
		t.Fatalf("%s %v", body, err)
	}
	req.Reasoning = &adapters.Reasoning{Effort: "low"}
	body, err = buildBody(nil, req, requestOptions{defMaxTokens: 1000})
	if err != nil || !bytes.Contains(body, []byte(`"max_tokens":2024,`)) || !bytes.Contains(body, []byte(`"budget_tokens":1024}`)) {
		t.Fatalf("%s %v", body, err)
	}
}

// goldenEvent is the JSON-lines form of an event in response goldens.
type goldenEvent struct {
	Type         string             `json:"type"`
	Model        string             `json:"model,omitempty"`
	Text         string             `json:"text,omitempty"`
	Signature    string             `json:"signature,omitempty"`
	Redacted     string             `json:"redacted,omitempty"`
	ToolCall     *adapters.ToolCall `json:"tool_call,omitempty"`
	Usage        *adapters.Usage    `json:"usage,omitempty"`
	FinishReason string             `json:"finish_reason,omitempty"`
	StopSequence string             `json:"stop_sequence,omitempty"`
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
func eventLines(t testing.TB, evs []adapters.Event, err error) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, ev := range evs {
		g := goldenEvent{Type: ev.Type.String(), Model: ev.Model, Text: ev.Text, Signature: ev.Signature, Redacted: ev.Redacted,
			ToolCall: ev.ToolCall, Usage: ev.Usage, FinishReason: ev.FinishReason, StopSequence: ev.StopSequence}
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

// checkOrder verifies the provider contract on an event sequence: one
// Start first; Thinking, Delta and ToolCall; at most one Usage, right
// before Done; Done last with a normalised finish reason. A failed call
// after Start ends with an Error event carrying the returned error.
func checkOrder(t testing.TB, evs []adapters.Event, err error) {
	t.Helper()
	providertest.CheckToolCallDeltas(t, evs)
	if len(evs) > 0 && evs[0].Type != adapters.EventStart {
		t.Fatalf("first event %v", evs[0].Type)
	}
	for i, ev := range evs {
		if i > 0 && ev.Type == adapters.EventStart {
			t.Fatalf("second Start at %d", i)
		}
		if ev.Type == adapters.EventToolCall && (ev.ToolCall == nil || ev.ToolCall.Arguments == "") {
			t.Fatalf("incomplete tool call %+v", ev)
		}
	}
	if err != nil {
		var ae *adapters.Error
		if errors.As(err, &ae) && len(evs) > 0 {
			last := evs[len(evs)-1]
			if last.Type != adapters.EventError || last.Err != ae {
				t.Fatalf("error %v after Start without a matching Error event: %+v", err, evs)
			}
		}
		for i, ev := range evs {
			if ev.Type == adapters.EventDone || ev.Type == adapters.EventUsage {
				t.Fatalf("%v at %d on a failed call", ev.Type, i)
			}
			if ev.Type == adapters.EventError && i != len(evs)-1 {
				t.Fatalf("Error event not last")
			}
		}
		return
	}
	if len(evs) < 2 || evs[len(evs)-1].Type != adapters.EventDone {
		t.Fatalf("want Start … Done, got %+v", evs)
	}
	for i, ev := range evs[1 : len(evs)-1] {
		switch ev.Type {
		case adapters.EventThinking, adapters.EventDelta, adapters.EventToolCall, adapters.EventToolCallDelta:
		case adapters.EventUsage:
			if i != len(evs)-3 {
				t.Fatalf("Usage not right before Done: %+v", evs)
			}
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

// runFixture feeds a recorded response through the parser; streams are
// fed whole, one byte at a time and in halves, and must give identical
// events. For a stream it also returns when each event left: the bytes
// read, one at a time, by then (providertest.Arrivals).
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
	var whole, bytewise, halves []adapters.Event
	var read []int64
	errWhole := readStream(context.Background(), bytes.NewReader(raw), "req-model", 200, DefaultTimeout, providertest.Collect(&whole))
	oneByte := &providertest.Reader{R: iotest.OneByteReader(bytes.NewReader(raw))}
	errByte := readStream(context.Background(), oneByte, "req-model", 200, DefaultTimeout, func(ev adapters.Event) error {
		bytewise, read = append(bytewise, ev), append(read, oneByte.N)
		return nil
	})
	errHalves := readStream(context.Background(), iotest.HalfReader(bytes.NewReader(raw)), "req-model", 200, DefaultTimeout, providertest.Collect(&halves))
	a := eventLines(t, whole, errWhole)
	if b := eventLines(t, bytewise, errByte); !bytes.Equal(a, b) {
		t.Fatalf("one-byte reads differ:\n--- whole\n%s\n--- one byte\n%s", a, b)
	}
	if c := eventLines(t, halves, errHalves); !bytes.Equal(a, c) {
		t.Fatalf("half reads differ:\n--- whole\n%s\n--- halves\n%s", a, c)
	}
	return whole, providertest.Arrivals(bytewise, read, int64(len(raw))), errWhole
}

// responseFixtures lists this provider's recorded responses, of which
// there are at least 15.
func responseFixtures(t *testing.T) []string { return providertest.ResponseFixtures(t, 15) }

func goldenPath(fixture string) string {
	return strings.TrimSuffix(strings.TrimSuffix(fixture, ".json"), ".sse") + ".golden.jsonl"
}

func TestResponseGolden(t *testing.T) {
	for _, f := range responseFixtures(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			evs, arrivals, err := runFixture(t, f)
			checkOrder(t, evs, err)
			providertest.CheckGolden(t, goldenPath(f), eventLines(t, evs, err))
			if slices.ContainsFunc(evs, func(ev adapters.Event) bool { return ev.Type == adapters.EventToolCallDelta }) {
				// Tool-call deltas leave as their bytes arrive, not when
				// the block or the stream ends.
				providertest.CheckGolden(t, strings.TrimSuffix(goldenPath(f), ".golden.jsonl")+".arrival.golden", arrivals)
			}
		})
	}
}

// assistantTurn folds a call's events into the assistant message a
// runtime stores, following the documented rule: Thinking texts are
// concatenated and the last non-empty Signature is kept.
func assistantTurn(evs []adapters.Event) adapters.Message {
	var text, thinking strings.Builder
	m := adapters.Message{Role: adapters.RoleAssistant}
	for _, ev := range evs {
		switch ev.Type {
		case adapters.EventThinking:
			thinking.WriteString(ev.Text)
			if ev.Signature != "" {
				m.ReasoningSignature = ev.Signature
			}
		case adapters.EventDelta:
			text.WriteString(ev.Text)
		case adapters.EventToolCall:
			m.ToolCalls = append(m.ToolCalls, *ev.ToolCall)
		}
	}
	if text.Len() > 0 {
		m.Parts = []adapters.Part{{Type: adapters.PartText, Text: text.String()}}
	}
	m.Reasoning = thinking.String()
	return m
}

// A signed thinking block, streamed or not, is replayed byte for byte on
// the next turn.
func TestThinkingReplayedNextTurn(t *testing.T) {
	for _, f := range []string{"testdata/responses/stream_thinking_signature.sse", "testdata/responses/thinking_tool_use.json"} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			evs, _, err := runFixture(t, f)
			if err != nil {
				t.Fatal(err)
			}
			turn := assistantTurn(evs)
			if turn.Reasoning == "" || turn.ReasoningSignature == "" {
				t.Fatalf("no signed reasoning in %+v", turn)
			}
			msgs := []adapters.Message{adapters.TextMessage(adapters.RoleUser, "q"), turn}
			for _, tc := range turn.ToolCalls {
				msgs = append(msgs, adapters.Message{Role: adapters.RoleTool, ToolCallID: tc.ID, Parts: []adapters.Part{{Type: adapters.PartText, Text: "ok"}}})
			}
			if len(turn.ToolCalls) == 0 {
				msgs = append(msgs, adapters.TextMessage(adapters.RoleUser, "next"))
			}
			req := &adapters.Request{Model: "m", Messages: msgs, Reasoning: &adapters.Reasoning{Effort: "low"}}
			body, err := buildBody(nil, req, requestOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkWireRules(t, body)
			var b struct {
				Thinking json.RawMessage `json:"thinking"`
				Messages []struct {
					Content []struct {
						Type      string `json:"type"`
						Thinking  string `json:"thinking"`
						Signature string `json:"signature"`
					} `json:"content"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(body, &b); err != nil {
				t.Fatal(err)
			}
			first := b.Messages[1].Content[0]
			if first.Type != "thinking" || first.Thinking != turn.Reasoning || first.Signature != turn.ReasoningSignature || b.Thinking == nil {
				t.Fatalf("thinking not replayed: %s", body)
			}
		})
	}
}
