package anthropic

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/internal/dialecttest"
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

// metadata.user_id is kept as sent when Anthropic would take it (a string
// of at most 256 printable characters, or null); anything else is a 400
// in Anthropic's shape naming it.
func TestMetadataUserID(t *testing.T) {
	long := strings.Repeat("é", 256)
	tests := []struct {
		name, metadata string
		want           string // the call's user
		bad            bool   // a 400
	}{
		{"absent", `{}`, "", false},
		{"null", `{"user_id":null}`, "", false},
		{"uuid", `{"user_id":"5f0c7c1e-4bb8-4c9c-9c3e-2a4f0a1b2c3d"}`, "5f0c7c1e-4bb8-4c9c-9c3e-2a4f0a1b2c3d", false},
		{"Claude Code's JSON", `{"user_id":"{\"device_id\":\"d1\",\"session_id\":\"s 1\"}"}`, `{"device_id":"d1","session_id":"s 1"}`, false},
		{"256 characters", `{"user_id":"` + long + `"}`, long, false},
		{"257 characters", `{"user_id":"` + long + `x"}`, "", true},
		{"a newline", `{"user_id":"alice\nINFO forged"}`, "", true},
		{"a NUL", `{"user_id":"a\u0000b"}`, "", true},
		{"a bidi override", `{"user_id":"a\u202eb"}`, "", true},
		{"a number", `{"user_id":42}`, "", true},
		{"an object", `{"user_id":{"id":"a"}}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"model":"assistant","max_tokens":10,"metadata":` + tt.metadata + `,"messages":[{"role":"user","content":"hi"}]}`
			if !tt.bad {
				req, err := decodeMessages([]byte(body), dialects.Limits{}, false)
				if err != nil {
					t.Fatal(err)
				}
				if req.call.UserID != tt.want || req.call.UpstreamUser != tt.want {
					t.Fatalf("user %q, upstream user %q, want %q", req.call.UserID, req.call.UpstreamUser, tt.want)
				}
				return
			}
			rec := harness(t, &dialecttest.Script{}).Do("POST", "/v1/messages", []byte(body), "Anthropic-Version", "2023-06-01")
			if msg := gjson.Get(rec.Body.String(), "error.message").Str; rec.Code != 400 ||
				gjson.Get(rec.Body.String(), "error.type").Str != "invalid_request_error" || !strings.HasPrefix(msg, "metadata.user_id") {
				t.Fatalf("%d %s, want a 400 naming metadata.user_id", rec.Code, rec.Body)
			}
		})
	}
}
