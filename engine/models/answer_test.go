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
		{"thinking last", []adapters.Event{think("a", "s1"), {Type: adapters.EventDelta, Text: "x"}, think("b", "s2")},
			`{"reasoning":"ab","reasoning_signature":"s2","reasoning_blocks":[{"text":"a","signature":"s1"},{"text":"b","signature":"s2","at":1}]}`, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Answer{}
			for i := range tt.events {
				ev := &tt.events[i]
				switch ev.Type {
				case adapters.EventThinking:
					a.think(ev)
				case adapters.EventDelta:
					a.Text.WriteString(ev.Text)
				case adapters.EventToolCall:
					a.ToolCalls = append(a.ToolCalls, *ev.ToolCall)
				}
			}
			m := a.Message()
			got, _ := json.Marshal(adapters.Message{Role: "x", Reasoning: m.Reasoning, ReasoningSignature: m.ReasoningSignature,
				RedactedReasoning: m.RedactedReasoning, ReasoningBlocks: m.ReasoningBlocks})
			if string(got) != `{"role":"x",`+tt.want[1:] {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			var texts []string
			for _, p := range m.Parts {
				texts = append(texts, p.Text)
			}
			if tt.parts != "" && strings.Join(texts, "|") != tt.parts {
				t.Errorf("text parts %q, want %s", texts, tt.parts)
			}
		})
	}
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
