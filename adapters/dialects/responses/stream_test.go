package responses

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	name string
	data string
}

func parseSSE(t *testing.T, body string) []sseEvent {
	t.Helper()
	if !strings.HasSuffix(body, "\n\n") {
		t.Fatalf("stream does not end with a blank line: %q", body[max(0, len(body)-40):])
	}
	var out []sseEvent
	for _, block := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		lines := strings.Split(block, "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "event: ") || !strings.HasPrefix(lines[1], "data: ") {
			t.Fatalf("event is not one event: line and one data: line: %q", block)
		}
		out = append(out, sseEvent{name: lines[0][len("event: "):], data: lines[1][len("data: "):]})
	}
	return out
}

// TestStreamMatchesResponse checks, for every script, with and without
// reasoning summaries: every event is named as its type, sequence
// numbers count from 0, the deltas add up to the items' text, items are
// announced and ended in order, and the terminal response is the
// non-streamed response.
func TestStreamMatchesResponse(t *testing.T) {
	scripts := map[string]string{"text": evText, "thinking": evThinking, "tools": evToolCall, "length": evLength, "empty": evEmpty}
	for name, script := range scripts {
		for _, extra := range []string{``, `,"reasoning":{"summary":"auto"}`, `,"tools":[` + weatherTool + `]`} {
			h := newHarness(t, []string{script})
			base := `{"model":"support-bot","input":"Hi"` + extra
			plain := do(h, post(base+`}`))
			if plain.Code != 200 {
				t.Fatalf("%s: %d %s", name, plain.Code, plain.Body)
			}
			streamed := do(h, post(base+`,"stream":true}`))
			events := parseSSE(t, streamed.Body.String())
			texts := map[string]*strings.Builder{}
			open := map[int64]bool{}
			var final string
			for i, ev := range events {
				d := gjson.Parse(ev.data)
				if d.Get("type").Str != ev.name {
					t.Fatalf("%s: event %q carries type %q", name, ev.name, d.Get("type").Str)
				}
				if d.Get("sequence_number").Int() != int64(i) {
					t.Fatalf("%s: event %d has sequence_number %d", name, i, d.Get("sequence_number").Int())
				}
				if d.Get("error").Exists() {
					t.Fatalf("%s: a top-level error key makes the SDKs fail: %s", name, ev.data)
				}
				id := d.Get("item_id").Str
				switch ev.name {
				case "response.output_item.added":
					idx := d.Get("output_index").Int()
					if open[idx] {
						t.Fatalf("%s: item %d added twice", name, idx)
					}
					open[idx] = true
				case "response.output_item.done":
					delete(open, d.Get("output_index").Int())
				case "response.output_text.delta", "response.reasoning_text.delta", "response.reasoning_summary_text.delta",
					"response.function_call_arguments.delta":
					if texts[id] == nil {
						texts[id] = &strings.Builder{}
					}
					texts[id].WriteString(d.Get("delta").Str)
				case "response.output_text.done", "response.reasoning_text.done", "response.reasoning_summary_text.done":
					if got := ""; texts[id] != nil {
						got = texts[id].String()
						if got != d.Get("text").Str {
							t.Errorf("%s: deltas of %s add up to %q, done says %q", name, id, got, d.Get("text").Str)
						}
					}
				case "response.function_call_arguments.done":
					if texts[id] != nil && texts[id].String() != d.Get("arguments").Str {
						t.Errorf("%s: argument deltas of %s differ from done", name, id)
					}
				case "response.completed", "response.incomplete":
					if i != len(events)-1 {
						t.Fatalf("%s: %s is not last", name, ev.name)
					}
					final = d.Get("response").Raw
				}
			}
			if len(open) != 0 {
				t.Errorf("%s: items never ended: %v", name, open)
			}
			want := normalizeIDs(plain.Body.Bytes())
			if got := normalizeIDs([]byte(final)); !bytes.Equal(got, want) {
				t.Errorf("%s%s: streamed response\n%s\n!= response\n%s", name, extra, got, want)
			}
		}
	}
}

// normalizeIDs replaces generated ids and compacts JSON.
func normalizeIDs(b []byte) []byte {
	var buf bytes.Buffer
	_ = json.Compact(&buf, normalize(b))
	return buf.Bytes()
}
