package e2e

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
)

// sseLines reads the data lines of an SSE response one at a time.
type sseLines struct{ r *bufio.Reader }

func (s sseLines) next() (string, error) {
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if data, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data: "); ok {
			return data, nil
		}
	}
}

// TestToolCallDeltasStreamAsTheyArrive: the upstream streams a tool call
// in fragments, then holds its finish until released. A gateway that held
// tool calls until the end of the upstream stream could not show the
// client any of the call before the release; the deadline only turns
// such a gateway into a failure instead of a hang.
func TestToolCallDeltasStreamAsTheyArrive(t *testing.T) {
	weather := `{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}`
	for _, tc := range []struct {
		name, path, body string
		// first tells the event that shows the call; args reads its
		// arguments from the events that carry them.
		first func(gjson.Result) bool
		args  func(gjson.Result) string
		last  string
	}{
		{"chat completions", "/v1/chat/completions",
			`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Weather in Paris?"}],"tools":[` + weather + `]}`,
			func(ev gjson.Result) bool {
				return ev.Get("choices.0.delta.tool_calls.0.id").String() == "call_w1" &&
					ev.Get("choices.0.delta.tool_calls.0.function.name").String() == "get_weather"
			},
			func(ev gjson.Result) string {
				return ev.Get("choices.0.delta.tool_calls.0.function.arguments").String()
			},
			"[DONE]"},
		{"responses", "/v1/responses",
			`{"model":"gpt-4o-mini","stream":true,"input":"Weather in Paris?","tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]}`,
			func(ev gjson.Result) bool {
				return ev.Get("type").String() == "response.output_item.added" && ev.Get("item.call_id").String() == "call_w1"
			},
			func(ev gjson.Result) string {
				if ev.Get("type").String() == "response.function_call_arguments.delta" {
					return ev.Get("delta").String()
				}
				return ""
			},
			"response.completed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hold := make(chan struct{})
			up := (&fakeupstream.OpenAI{ToolCalls: []fakeupstream.ToolCall{{ID: "call_w1", Name: "get_weather", Args: `{"city":"Paris"}`}},
				HoldFinish: hold}).Start()
			defer up.Close()
			g := testgate.Start(t, testgate.Config{Block: passthroughBlock(up)})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, "POST", g.URL+tc.path, bytes.NewReader([]byte(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+testgate.KeyA)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			s := sseLines{bufio.NewReader(resp.Body)}
			var args strings.Builder
			for {
				data, err := s.next()
				if err != nil {
					t.Fatalf("the tool call did not reach the client while the upstream was streaming: %v", err)
				}
				ev := gjson.Parse(data)
				args.WriteString(tc.args(ev))
				if tc.first(ev) {
					break
				}
			}
			// The call's arguments follow, still before the upstream ends.
			for args.String() != `{"city":"Paris"}` {
				data, err := s.next()
				if err != nil {
					t.Fatalf("arguments %q so far: %v", args.String(), err)
				}
				args.WriteString(tc.args(gjson.Parse(data)))
			}
			close(hold)
			for {
				data, err := s.next()
				if err != nil {
					t.Fatalf("stream ended without %s: %v", tc.last, err)
				}
				if data == tc.last || gjson.Get(data, "type").String() == tc.last {
					break
				}
				if a := tc.args(gjson.Parse(data)); a != "" {
					t.Fatalf("more arguments after the whole call: %q", a)
				}
			}
		})
	}
}
