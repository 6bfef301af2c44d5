package models

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

// An answer's thinking blocks become its message's reasoning: one block
// first is the single-block form (no ReasoningBlocks), several keep each
// its signature and place, and unsigned thoughts are whole.
func TestAnswerMessageReasoning(t *testing.T) {
	think := func(text, sig string) adapters.Event {
		return adapters.Event{Type: adapters.EventThinking, Text: text, Signature: sig}
	}
	redacted := adapters.Event{Type: adapters.EventThinking, Redacted: "R"}
	call := func(id string) adapters.Event {
		return adapters.Event{Type: adapters.EventToolCall, ToolCall: &adapters.ToolCall{ID: id, Name: "f", Arguments: "{}"}}
	}
	text := func(s string) adapters.Event { return adapters.Event{Type: adapters.EventDelta, Text: s} }
	tests := []struct {
		name   string
		events []adapters.Event
		want   string // the message's reasoning fields as JSON
		// parts are the message's text parts joined by "|", when checked.
		parts string
	}{
		{"one signed block", []adapters.Event{think("a", ""), think("b", ""), think("", "s1"), {Type: adapters.EventDelta, Text: "x"}},
			`{"reasoning":"ab","reasoning_signature":"s1"}`, ""},
		{"one block then redacted", []adapters.Event{think("a", "s1"), redacted},
			`{"reasoning":"a","reasoning_signature":"s1","redacted_reasoning":["R"]}`, ""},
		{"unsigned", []adapters.Event{think("a", ""), {Type: adapters.EventDelta, Text: "x"}, think("b", "")},
			`{"reasoning":"ab"}`, ""},
		{"two signed blocks", []adapters.Event{think("a", ""), think("", "s1"), think("b", "s2")},
			`{"reasoning":"ab","reasoning_signature":"s2","reasoning_blocks":[{"text":"a","signature":"s1"},{"text":"b","signature":"s2"}]}`, ""},
		{"redacted first", []adapters.Event{redacted, think("a", "s1")},
			`{"reasoning":"a","reasoning_signature":"s1","redacted_reasoning":["R"],"reasoning_blocks":[{"redacted":"R"},{"text":"a","signature":"s1"}]}`, ""},
		{"interleaved with text and calls", []adapters.Event{think("a", "s1"), redacted, {Type: adapters.EventDelta, Text: "x"}, call("c1"), think("b", ""), think("", "s2"), call("c2")},
			`{"reasoning":"ab","reasoning_signature":"s2","redacted_reasoning":["R"],"reasoning_blocks":[{"text":"a","signature":"s1"},{"redacted":"R"},{"text":"b","signature":"s2","at":2}]}`, "x"},
		{"thinking between texts", []adapters.Event{think("a", "s1"), {Type: adapters.EventDelta, Text: "x"}, {Type: adapters.EventDelta, Text: "y"},
			think("b", ""), think("", "s2"), {Type: adapters.EventDelta, Text: "z"}, redacted, think("c", "s3"), call("c1")},
			`{"reasoning":"abc","reasoning_signature":"s3","redacted_reasoning":["R"],"reasoning_blocks":[{"text":"a","signature":"s1"},{"text":"b","signature":"s2","at":1},{"redacted":"R","at":2},{"text":"c","signature":"s3","at":2}]}`, "xy|z"},
		{"redacted between texts", []adapters.Event{redacted, text("x"), {Type: adapters.EventThinking, Redacted: "R2"}, text("y")},
			`{"redacted_reasoning":["R","R2"],"reasoning_blocks":[{"redacted":"R"},{"redacted":"R2","at":1}]}`, "x|y"},
		{"redacted after text and before a call", []adapters.Event{text("x"), redacted, call("c1")},
			`{"redacted_reasoning":["R"],"reasoning_blocks":[{"redacted":"R","at":1}]}`, "x"},
		{"unsigned then redacted", []adapters.Event{think("a", ""), redacted, text("x")},
			`{"reasoning":"a","redacted_reasoning":["R"]}`, "x"},
		// Gemini: a signature on the text part after the thoughts.
		{"signature after text", []adapters.Event{think("a", ""), text("x"), think("", "s1"), text("y")},
			`{"reasoning":"a","reasoning_signature":"s1"}`, "xy"},
		{"thinking last", []adapters.Event{think("a", "s1"), {Type: adapters.EventDelta, Text: "x"}, think("b", "s2")},
			`{"reasoning":"ab","reasoning_signature":"s2","reasoning_blocks":[{"text":"a","signature":"s1"},{"text":"b","signature":"s2","at":1}]}`, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reasoning, parts := messageOf(answerOf(tt.events))
			if reasoning != tt.want {
				t.Errorf("got  %s\nwant %s", reasoning, tt.want)
			}
			if tt.parts != "" && parts != tt.parts {
				t.Errorf("text parts %q, want %q", parts, tt.parts)
			}
		})
	}
}

// answerOf folds events into an answer as the forwarder does.
func answerOf(events []adapters.Event) *Answer {
	a := &Answer{}
	for i := range events {
		ev := &events[i]
		switch ev.Type {
		case adapters.EventThinking:
			a.think(ev)
		case adapters.EventDelta:
			a.Text.WriteString(ev.Text)
		case adapters.EventToolCall:
			a.ToolCalls = append(a.ToolCalls, *ev.ToolCall)
		}
	}
	return a
}

// messageOf is a's message: its reasoning fields as JSON, and its text
// parts joined by "|".
func messageOf(a *Answer) (reasoning, parts string) {
	m := a.Message()
	b, _ := json.Marshal(adapters.Message{Reasoning: m.Reasoning, ReasoningSignature: m.ReasoningSignature,
		RedactedReasoning: m.RedactedReasoning, ReasoningBlocks: m.ReasoningBlocks})
	var texts []string
	for _, p := range m.Parts {
		texts = append(texts, p.Text)
	}
	return strings.Replace(string(b), `"role":"",`, "", 1), strings.Join(texts, "|")
}

// EditText rewrites each text part on its own and keeps the thinking
// blocks between the rewritten parts.
func TestAnswerEditText(t *testing.T) {
	a := &Answer{}
	for _, ev := range []adapters.Event{{Type: adapters.EventThinking, Text: "a", Signature: "s1"}, {Type: adapters.EventDelta, Text: "mail ann@x.org"},
		{Type: adapters.EventThinking, Text: "b", Signature: "s2"}, {Type: adapters.EventDelta, Text: "bye"}} {
		if ev.Type == adapters.EventThinking {
			a.think(&ev)
		} else {
			a.Text.WriteString(ev.Text)
		}
	}
	a.EditText(func(s string) string { return strings.ReplaceAll(s, "ann@x.org", "[EMAIL]") })
	m := a.Message()
	if len(m.Parts) != 2 || m.Parts[0].Text != "mail [EMAIL]" || m.Parts[1].Text != "bye" || a.Text.String() != "mail [EMAIL]bye" ||
		len(m.ReasoningBlocks) != 2 || m.ReasoningBlocks[1].At != 1 {
		t.Errorf("edited answer %+v", m)
	}
}

// SetText makes the text one part after the thinking blocks that came
// among the old text (the output guard releases a held answer after
// them); blocks after tool calls stay after them.
func TestAnswerSetText(t *testing.T) {
	think := func(text, sig string) adapters.Event {
		return adapters.Event{Type: adapters.EventThinking, Text: text, Signature: sig}
	}
	text := func(s string) adapters.Event { return adapters.Event{Type: adapters.EventDelta, Text: s} }
	call := adapters.Event{Type: adapters.EventToolCall, ToolCall: &adapters.ToolCall{ID: "c1", Name: "f", Arguments: "{}"}}
	tests := []struct {
		name   string
		events []adapters.Event
		want   string
	}{
		{"thinking cut the text", []adapters.Event{think("a", "s1"), text("```json\n"), think("b", "s2"), text("3\n```")},
			`{"reasoning":"ab","reasoning_signature":"s2","reasoning_blocks":[{"text":"a","signature":"s1"},{"text":"b","signature":"s2"}]}`},
		{"thinking last", []adapters.Event{text("x"), think("a", "s1"), {Type: adapters.EventThinking, Redacted: "R"}},
			`{"reasoning":"a","reasoning_signature":"s1","redacted_reasoning":["R"]}`},
		{"thinking after a call", []adapters.Event{think("a", "s1"), text("x"), think("b", "s2"), text("z"), call, think("c", "s3")},
			`{"reasoning":"abc","reasoning_signature":"s3","reasoning_blocks":[{"text":"a","signature":"s1"},{"text":"b","signature":"s2"},{"text":"c","signature":"s3","at":2}]}`},
		{"no text", []adapters.Event{think("a", "s1"), call, think("b", "s2")},
			`{"reasoning":"ab","reasoning_signature":"s2","reasoning_blocks":[{"text":"a","signature":"s1"},{"text":"b","signature":"s2","at":2}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := answerOf(tt.events)
			a.SetText("doc")
			reasoning, parts := messageOf(a)
			if reasoning != tt.want || parts != "doc" || a.Text.String() != "doc" {
				t.Errorf("got  %s, text parts %q\nwant %s", reasoning, parts, tt.want)
			}
		})
	}
}

// EditThinking rewrites unsigned thoughts block by block, each keeping
// its text in its place beside encrypted ones.
func TestAnswerEditThinking(t *testing.T) {
	a := answerOf([]adapters.Event{{Type: adapters.EventThinking, Text: "mail ann@x.org"}, {Type: adapters.EventThinking, Redacted: "R"},
		{Type: adapters.EventThinking, Text: "then ann@x.org"}, {Type: adapters.EventDelta, Text: "ok"}})
	a.EditThinking(func(s string) string { return strings.ReplaceAll(s, "ann@x.org", "[EMAIL]") })
	reasoning, _ := messageOf(a)
	want := `{"reasoning":"mail [EMAIL]then [EMAIL]","redacted_reasoning":["R"],"reasoning_blocks":[{"text":"mail [EMAIL]"},{"redacted":"R"},{"text":"then [EMAIL]"}]}`
	if reasoning != want || a.Thinking.String() != "mail [EMAIL]then [EMAIL]" {
		t.Errorf("got  %s\nwant %s", reasoning, want)
	}
}
