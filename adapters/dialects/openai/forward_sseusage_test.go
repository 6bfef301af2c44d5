package openai

import (
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/tidwall/gjson"
)

// observeAll shows stream to a fresh sseUsage in pieces cut at cuts
// (indexes into stream, in any order; out-of-range ones are ignored), then
// finishes it.
func observeAll(stream []byte, cuts ...int) sseUsage {
	var s sseUsage
	last := 0
	for _, c := range cuts {
		if c > last && c < len(stream) {
			s.observe(stream[last:c])
			last = c
		}
	}
	s.observe(stream[last:])
	s.finish()
	return s
}

// TestSSEUsage: the usage of a passed-through stream is found whatever
// its line endings (LF, CRLF, CR — all valid SSE), wherever the reads cut
// it, including a final event without its blank line.
func TestSSEUsage(t *testing.T) {
	chunk := `{"id":"c","choices":[{"delta":{"content":"hi"}}]}`
	usage := `{"id":"c","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"completion_tokens_details":{"reasoning_tokens":1},"prompt_tokens_details":{"cached_tokens":2}}}`
	want := adapters.Usage{InputTokens: 7, OutputTokens: 3, ReasoningTokens: 1, CachedTokens: 2}
	stream := func(eol string, lines ...string) string { return strings.Join(lines, eol) }
	for _, c := range []struct {
		name, stream string
		found        bool
		want         adapters.Usage
	}{
		{"LF", stream("\n", "data: "+chunk, "", "data: "+usage, "", "data: [DONE]", "", ""), true, want},
		{"CRLF", stream("\r\n", "data: "+chunk, "", "data: "+usage, "", "data: [DONE]", "", ""), true, want},
		{"CR", stream("\r", "data: "+chunk, "", "data: "+usage, "", "data: [DONE]", "", ""), true, want},
		{"mixed", "data: " + chunk + "\r\n\rdata: " + usage + "\n\r\ndata: [DONE]\r\r", true, want},
		{"usage in the last chunk, no blank line", stream("\n", "data: "+chunk, "", "data: "+usage), true, want},
		{"usage in the last chunk, CR, no terminator", stream("\r", "data: "+chunk, "", "data:"+usage), true, want},
		{"BOM and comments", "\xEF\xBB\xBF: keep-alive\n\nevent: x\ndata: " + usage + "\n\n", true, want},
		{"data split over lines", "data: {\"usage\":\ndata: {\"input_tokens\":5,\"output_tokens\":6}}\n\n", true, adapters.Usage{InputTokens: 5, OutputTokens: 6}},
		{"responses API", "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":4,\"output_tokens\":2}}}\n\n", true, adapters.Usage{InputTokens: 4, OutputTokens: 2}},
		{"last usage wins", stream("\n", `data: {"usage":{"prompt_tokens":1}}`, "", "data: "+usage, "", ""), true, want},
		{"no usage", stream("\n", "data: "+chunk, "", "data: [DONE]", "", ""), false, adapters.Usage{}},
		{"usage null", stream("\n", `data: {"usage":null}`, "", ""), false, adapters.Usage{}},
		{"not a data field", stream("\n", `datum: {"usage":{"prompt_tokens":1}}`, "", ""), false, adapters.Usage{}},
		{"overlong line dropped with its event", stream("\n", `data: {"usage":{"prompt_tokens":1},"x":"`+strings.Repeat("a", maxSSELine)+`"}`, "", ""), false, adapters.Usage{}},
		{"overlong line does not hide the next event", stream("\n", ": "+strings.Repeat("a", maxSSELine+1), "", "data: "+usage, "", ""), true, want},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := []byte(c.stream)
			// Whole, then cut at every byte boundary by one-byte reads.
			whole := observeAll(b)
			if whole.found != c.found || whole.usage != c.want {
				t.Fatalf("whole: found %v usage %+v; want %v %+v", whole.found, whole.usage, c.found, c.want)
			}
			if len(b) > 4096 {
				return
			}
			var s sseUsage
			for i := range b {
				s.observe(b[i : i+1])
			}
			s.finish()
			if s.found != c.found || s.usage != c.want {
				t.Fatalf("byte by byte: found %v usage %+v; want %v %+v", s.found, s.usage, c.found, c.want)
			}
			for cut := range b {
				if got := observeAll(b, cut); got.found != c.found || got.usage != c.want {
					t.Fatalf("cut at %d (%q|%q): found %v usage %+v", cut, b[:cut], b[cut:], got.found, got.usage)
				}
			}
		})
	}
}

// TestJSONUsage: every shape of OpenAI's usage object reads the same way.
func TestJSONUsage(t *testing.T) {
	for _, c := range []struct {
		json  string
		found bool
		want  adapters.Usage
	}{
		{`{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}`, true, adapters.Usage{InputTokens: 3, OutputTokens: 4}},
		{`{"input_tokens":3,"output_tokens":4,"output_tokens_details":{"reasoning_tokens":2},"input_tokens_details":{"cached_tokens":1}}`, true, adapters.Usage{InputTokens: 3, OutputTokens: 4, ReasoningTokens: 2, CachedTokens: 1}},
		{`{"prompt_tokens":5,"total_tokens":5}`, true, adapters.Usage{InputTokens: 5}},
		{`{"total_tokens":9}`, true, adapters.Usage{InputTokens: 9}},
		{`{"prompt_tokens":"3"}`, true, adapters.Usage{}},
		{`{}`, true, adapters.Usage{}},
		{`null`, false, adapters.Usage{}},
		{`[1]`, false, adapters.Usage{}},
		{`7`, false, adapters.Usage{}},
	} {
		got, found := jsonUsage(gjson.Parse(c.json))
		if found != c.found || got != c.want {
			t.Errorf("%s: %+v %v; want %+v %v", c.json, got, found, c.want, c.found)
		}
	}
}

// FuzzSSEUsage: no stream makes sseUsage panic, and the usage it finds
// does not depend on where the upstream's reads cut the stream.
func FuzzSSEUsage(f *testing.F) {
	for _, s := range []string{
		"data: {\"usage\":{\"prompt_tokens\":7}}\n\n",
		"data: {\"usage\":{\"prompt_tokens\":7}}\r\rdata: [DONE]\r\r",
		"data: {\"usage\":{\"prompt_tokens\":7}}\r\n\r\n",
		"data: {\"usage\":\r\ndata: {\"input_tokens\":1}}",
		"\xEF\xBB\xBFdata: {\"response\":{\"usage\":{\"input_tokens\":2}}}\r",
		": c\revent: e\rdata\r\r", "\r", "\n\r", "",
	} {
		f.Add([]byte(s), uint16(1), uint16(7))
	}
	f.Fuzz(func(t *testing.T, stream []byte, cut1, cut2 uint16) {
		whole := observeAll(stream)
		cut := observeAll(stream, int(cut1), int(cut2))
		if whole.found != cut.found || whole.usage != cut.usage {
			t.Fatalf("whole: %v %+v; cut at %d, %d: %v %+v", whole.found, whole.usage, cut1, cut2, cut.found, cut.usage)
		}
		var s sseUsage
		for i := range stream {
			s.observe(stream[i : i+1])
		}
		s.finish()
		if whole.found != s.found || whole.usage != s.usage {
			t.Fatalf("whole: %v %+v; byte by byte: %v %+v", whole.found, whole.usage, s.found, s.usage)
		}
	})
}
