package fakeupstream_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/agentgate/agentgate/internal/fakeupstream"
)

// The fake's scripted blocks are the same streamed (as the real SDK
// accumulates them) and not: an empty thinking block is sent signed, as
// Anthropic streams it (content_block_start, then its signature_delta),
// and an empty text block not at all.
func TestAnthropicBlocksStreamedOrNot(t *testing.T) {
	up := (&fakeupstream.Anthropic{Reasoning: "on", Blocks: []fakeupstream.AnthropicBlock{
		{Type: "thinking"}, {Type: "text", Text: "Hi."}, {Type: "thinking", Text: "More thoughts."},
		{Type: "redacted_thinking", Data: "R"}, {Type: "text"}, {Type: "text", Text: "Bye."},
	}}).Start()
	defer up.Close()
	c := anthropic.NewClient(option.WithBaseURL(up.URL), option.WithAPIKey("k"), option.WithMaxRetries(0))
	params := anthropic.MessageNewParams{Model: "claude-test", MaxTokens: 2048,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
		Thinking: anthropic.ThinkingConfigParamOfEnabled(1024)}
	want := [][4]string{
		{"thinking", "", fakeupstream.AnthropicSignature(""), ""}, {"text", "Hi.", "", ""},
		{"thinking", "More thoughts.", fakeupstream.AnthropicSignature("More thoughts."), ""},
		{"redacted_thinking", "", "", "R"}, {"text", "Bye.", "", ""},
	}
	blocks := func(m *anthropic.Message) [][4]string {
		var out [][4]string
		for _, b := range m.Content {
			out = append(out, [4]string{b.Type, b.Text + b.Thinking, b.Signature, b.Data})
		}
		return out
	}

	whole, err := c.Messages.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if got := blocks(whole); !reflect.DeepEqual(got, want) {
		t.Errorf("non-streamed blocks %q\nwant %q", got, want)
	}
	stream := c.Messages.NewStreaming(context.Background(), params)
	defer stream.Close()
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := blocks(&acc); !reflect.DeepEqual(got, want) {
		t.Errorf("streamed blocks %q\nwant %q", got, want)
	}
}
