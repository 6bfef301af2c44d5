package anthropic

import (
	"encoding/json"
	"strings"
	"testing"
)

// An assistant turn's thinking blocks keep their places as the provider
// writes the turn back: its text parts, then its tool_use blocks, each
// block among them where it came. Text after a tool_use goes back before
// it, and a thinking block after a tool_use stays after it.
func TestAssistantThinkingPlaces(t *testing.T) {
	thinking := func(s string) string { return `{"type":"thinking","thinking":"` + s + `","signature":"sig_` + s + `"}` }
	text := func(s string) string { return `{"type":"text","text":"` + s + `"}` }
	call := func(id string) string { return `{"type":"tool_use","id":"` + id + `","name":"f","input":{}}` }
	redacted := `{"type":"redacted_thinking","data":"R"}`
	tests := []struct {
		name   string
		blocks []string
		want   string // the message's reasoning blocks
	}{
		{"text then calls", []string{thinking("x"), text("a"), call("t1"), thinking("y"), call("t2")},
			`[{"text":"x","signature":"sig_x"},{"text":"y","signature":"sig_y","at":2}]`},
		{"text after a call", []string{thinking("x"), text("a"), call("t1"), thinking("y"), text("b"), call("t2")},
			`[{"text":"x","signature":"sig_x"},{"text":"y","signature":"sig_y","at":3}]`},
		{"thinking among text after a call", []string{text("a"), call("t1"), text("b"), redacted, text("c")},
			`[{"redacted":"R","at":4}]`},
		{"thinking among text before a call", []string{text("a"), redacted, call("t1"), text("b"), thinking("y")},
			`[{"redacted":"R","at":1},{"text":"y","signature":"sig_y","at":3}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := message{Role: "assistant", Content: json.RawMessage(`[` + strings.Join(tt.blocks, ",") + `]`)}
			out, err := (&messageDecoder{}).message(nil, 1, &m)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := json.Marshal(out[0].ReasoningBlocks); string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
