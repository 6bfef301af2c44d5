package adapters

import (
	"encoding/json"
	"testing"
)

// SetReasoning keeps the single-block form when it says the blocks
// exactly, and the blocks beside it otherwise.
func TestSetReasoning(t *testing.T) {
	tests := []struct {
		name   string
		blocks []ReasoningBlock
		want   string
	}{
		{"none", nil, `{"role":""}`},
		{"one signed", []ReasoningBlock{{Text: "a", Signature: "s"}}, `{"role":"","reasoning":"a","reasoning_signature":"s"}`},
		{"one then redacted", []ReasoningBlock{{Text: "a", Signature: "s"}, {Redacted: "R1"}, {Redacted: "R2"}},
			`{"role":"","reasoning":"a","reasoning_signature":"s","redacted_reasoning":["R1","R2"]}`},
		{"redacted only", []ReasoningBlock{{Redacted: "R"}}, `{"role":"","redacted_reasoning":["R"]}`},
		{"redacted first", []ReasoningBlock{{Redacted: "R"}, {Text: "a", Signature: "s"}},
			`{"role":"","reasoning":"a","reasoning_signature":"s","redacted_reasoning":["R"],"reasoning_blocks":[{"redacted":"R"},{"text":"a","signature":"s"}]}`},
		{"two signed", []ReasoningBlock{{Text: "a", Signature: "s1"}, {Text: "b", Signature: "s2"}},
			`{"role":"","reasoning":"ab","reasoning_signature":"s2","reasoning_blocks":[{"text":"a","signature":"s1"},{"text":"b","signature":"s2"}]}`},
		{"after text", []ReasoningBlock{{Text: "a", Signature: "s", At: 1}},
			`{"role":"","reasoning":"a","reasoning_signature":"s","reasoning_blocks":[{"text":"a","signature":"s","at":1}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Message{Reasoning: "stale", ReasoningSignature: "stale", RedactedReasoning: []string{"stale"}}
			m.SetReasoning(tt.blocks)
			got, _ := json.Marshal(&m)
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
