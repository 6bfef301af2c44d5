package models

import (
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

func TestEstimateTokens(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{
		{"", 0},
		{"a", 1},
		{"abc", 1},
		{"abcd", 1},
		{"abcde", 2},
		{"abcdefgh", 2},
		{"abcdefghi", 3},
		{"héllo", 2}, // 6 bytes: bytes count, not runes
		{"日本語", 3},   // 9 bytes
		{strings.Repeat("x", 400), 100},
		{strings.Repeat("x", 401), 101},
	}
	for _, tc := range tests {
		if got := EstimateTokens(tc.text); got != tc.want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", tc.text, got, tc.want)
		}
	}
}

func TestEstimateRequestTokens(t *testing.T) {
	tests := []struct {
		name string
		req  adapters.Request
		want int
	}{
		{"empty", adapters.Request{}, 0},
		{"system only", adapters.Request{System: "abcdefgh"}, 2},
		{"one empty message", adapters.Request{Messages: []adapters.Message{{Role: adapters.RoleUser}}}, 4},
		{"system and text", adapters.Request{System: "abcd", Messages: []adapters.Message{userMsg("abcdefgh")}}, 1 + 2 + 4},
		{"several parts", adapters.Request{Messages: []adapters.Message{{Role: adapters.RoleUser, Parts: []adapters.Part{
			{Type: adapters.PartText, Text: "abcd"}, {Type: adapters.PartText, Text: "abcde"},
		}}}}, 1 + 2 + 4},
		{"image is flat 85", adapters.Request{Messages: []adapters.Message{{Role: adapters.RoleUser, Parts: []adapters.Part{
			{Type: adapters.PartImage, ImageURL: "https://example.com/" + strings.Repeat("x", 4000), Text: "ignored text"},
			{Type: adapters.PartText, Text: "abc"},
		}}}}, 85 + 1 + 4},
		{"tool calls count name and arguments", adapters.Request{Messages: []adapters.Message{
			{Role: adapters.RoleAssistant, ToolCalls: []adapters.ToolCall{
				{ID: "call_1", Name: "f", Arguments: `{"a":1}`},
				{ID: "call_2", Name: "lookup", Arguments: `{}`},
			}},
			{Role: adapters.RoleTool, ToolCallID: "call_1", Parts: []adapters.Part{{Type: adapters.PartText, Text: "result!!"}}},
		}}, (1 + 2) + (2 + 1) + 4 + 2 + 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EstimateRequestTokens(&tc.req); got != tc.want {
				t.Errorf("EstimateRequestTokens = %d, want %d", got, tc.want)
			}
		})
	}
}
