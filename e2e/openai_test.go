package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"
)

// openaiBlock declares an openai provider on up and two agents: one
// shared by every tenant, one private to tenant-a.
func openaiBlock(up *fakeupstream.OpenAI) string {
	return `
		provider up openai {
			base_url ` + up.URL + `
			api_key sk-upstream
		}
		agent assistant {
			name "Assistant"
			system_prompt "You are the agent prompt."
			model gpt-test
			provider up
		}
		agent secret-a {
			name "Secret A"
			tenant tenant-a
			model gpt-test
			provider up
		}
`
}

func sdk(g *testgate.Gateway, key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(g.URL+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

func TestChatCompletionsWithOpenAISDK(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "Hello there friend."}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: openaiBlock(up)})
	client := sdk(g, testgate.KeyA)
	ctx := context.Background()

	t.Run("non-streaming", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "assistant",
			Messages: []openai.ChatCompletionMessageParamUnion{
				openai.SystemMessage("Client system."),
				openai.UserMessage("Hi"),
			},
			Temperature: openai.Float(0.7),
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != "Hello there friend." {
			t.Errorf("content = %q", got)
		}
		if resp.Usage.PromptTokens != int64(fakeupstream.PromptTokens(3)) || resp.Usage.CompletionTokens != 3 {
			t.Errorf("usage = %+v", resp.Usage)
		}
		sent := up.LastRequest()
		if sent.Get("model").String() != "gpt-test" {
			t.Errorf("upstream model = %s", sent.Get("model"))
		}
		roles := []string{}
		for _, m := range sent.Get("messages").Array() {
			roles = append(roles, m.Get("role").String()+":"+m.Get("content").String())
		}
		want := []string{"system:You are the agent prompt.", "system:Client system.", "user:Hi"}
		if strings.Join(roles, "|") != strings.Join(want, "|") {
			t.Errorf("upstream messages = %v, want %v", roles, want)
		}
		if sent.Get("temperature").Float() != 0.7 {
			t.Errorf("temperature not passed through: %s", sent.Raw)
		}
	})

	t.Run("streaming with usage", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "Assistant", // by name
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Stream please")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if got := acc.Choices[0].Message.Content; got != "Hello there friend." {
			t.Errorf("content = %q", got)
		}
		if acc.Usage.TotalTokens != int64(fakeupstream.PromptTokens(2)+3) {
			t.Errorf("usage = %+v", acc.Usage)
		}
		if chunks < 5 {
			t.Errorf("got %d chunks, want one per token plus role, finish and usage", chunks)
		}
		if !up.LastRequest().Get("stream_options.include_usage").Bool() {
			t.Error("upstream was not asked for stream usage")
		}
	})

	t.Run("models list", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID+"="+gjson.Get(m.RawJSON(), "name").String())
		}
		if strings.Join(ids, ",") != "assistant=Assistant,secret-a=Secret A" {
			t.Errorf("models = %v", ids)
		}
	})

	t.Run("tool call round trip", func(t *testing.T) {
		up.ToolName, up.ToolArgs = "get_weather", `{"city":"Paris"}`
		defer func() { up.ToolName = "" }()
		tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
			Name:        "get_weather",
			Description: openai.String("Weather of a city"),
			Parameters:  openai.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})}
		params := openai.ChatCompletionNewParams{
			Model:    "assistant",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")},
			Tools:    tools,
		}
		for _, streaming := range []bool{false, true} {
			var msg openai.ChatCompletionMessage
			if streaming {
				stream := client.Chat.Completions.NewStreaming(ctx, params)
				var acc openai.ChatCompletionAccumulator
				for stream.Next() {
					acc.AddChunk(stream.Current())
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				msg = acc.Choices[0].Message
			} else {
				resp, err := client.Chat.Completions.New(ctx, params)
				if err != nil {
					t.Fatal(err)
				}
				if resp.Choices[0].FinishReason != "tool_calls" {
					t.Errorf("finish_reason = %q", resp.Choices[0].FinishReason)
				}
				msg = resp.Choices[0].Message
			}
			if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "get_weather" || msg.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` {
				t.Fatalf("streaming=%v: tool calls = %+v", streaming, msg.ToolCalls)
			}
			if got := up.LastRequest().Get("tools.0.function.name").String(); got != "get_weather" {
				t.Errorf("tools not passed upstream: %s", got)
			}
			follow := params
			follow.Messages = append(append([]openai.ChatCompletionMessageParamUnion{}, params.Messages...),
				msg.ToParam(), openai.ToolMessage(`{"temp":21}`, msg.ToolCalls[0].ID))
			resp, err := client.Chat.Completions.New(ctx, follow)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Choices[0].Message.Content != "Hello there friend." {
				t.Errorf("final answer = %q", resp.Choices[0].Message.Content)
			}
			sent := up.LastRequest().Get("messages")
			if sent.Get("@reverse.0.role").String() != "tool" || sent.Get("@reverse.0.tool_call_id").String() != msg.ToolCalls[0].ID ||
				sent.Get("@reverse.1.tool_calls.0.function.arguments").String() != `{"city":"Paris"}` {
				t.Errorf("tool round trip not sent upstream intact: %s", sent.Raw)
			}
		}
	})
}

func TestTenantIsolationOpenAI(t *testing.T) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: openaiBlock(up)})
	ctx := context.Background()
	clientB := sdk(g, testgate.KeyB)

	page, err := clientB.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range page.Data {
		if m.ID == "secret-a" {
			t.Fatal("tenant B sees tenant A's agent in /v1/models")
		}
	}
	for _, model := range []string{"secret-a", "Secret A"} {
		_, err = clientB.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		var apiErr *openai.Error
		if !asAPIError(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
			t.Fatalf("tenant B chatting with %q: err = %v", model, err)
		}
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("upstream called %d times for rejected requests", n)
	}
	status, _, _ := g.Do("GET", "/v1/models/secret-a", testgate.KeyB, nil)
	if status != 404 {
		t.Fatalf("GET /v1/models/secret-a as tenant B = %d", status)
	}
}

func TestOpenAIBadInput(t *testing.T) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: openaiBlock(up) + "\t\tmax_body_bytes 2048\n"})
	cases := []struct {
		name   string
		key    string
		body   string
		status int
		param  string
		code   string
	}{
		{"no key", "", `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`, 401, "", "missing_api_key"},
		{"wrong key", "agk_wrong_wrong_wrong_wrong", `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`, 401, "", "invalid_api_key"},
		{"malformed json", testgate.KeyA, `{"model":"assistant",`, 400, "", "invalid_json"},
		{"not an object", testgate.KeyA, `[1,2]`, 400, "", "invalid_json"},
		{"empty body", testgate.KeyA, ``, 400, "", "invalid_json"},
		{"model wrong type", testgate.KeyA, `{"model":5,"messages":[]}`, 400, "model", "invalid_type"},
		{"messages wrong type", testgate.KeyA, `{"model":"assistant","messages":"hi"}`, 400, "messages", "invalid_type"},
		{"missing messages", testgate.KeyA, `{"model":"assistant"}`, 400, "messages", ""},
		{"missing model", testgate.KeyA, `{"messages":[{"role":"user","content":"hi"}]}`, 400, "model", ""},
		{"bad role", testgate.KeyA, `{"model":"assistant","messages":[{"role":"wizard","content":"hi"}]}`, 400, "messages[0].role", ""},
		{"bad part", testgate.KeyA, `{"model":"assistant","messages":[{"role":"user","content":[{"type":"video"}]}]}`, 400, "messages[0].content[0].type", ""},
		{"unknown agent", testgate.KeyA, `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, 404, "model", "model_not_found"},
		{"oversized", testgate.KeyA, `{"model":"assistant","messages":[{"role":"user","content":"` + strings.Repeat("x", 4096) + `"}]}`, 413, "", "request_too_large"},
	}
	for i, c := range cases {
		status, body, _ := g.Do("POST", "/v1/chat/completions", c.key, c.body)
		e := gjson.GetBytes(body, "error")
		if status != c.status || !e.Get("message").Exists() || !e.Get("type").Exists() {
			t.Errorf("case %d %s: status %d body %s", i, c.name, status, body)
			continue
		}
		if c.param != "" && e.Get("param").String() != c.param {
			t.Errorf("case %d %s: param = %s, want %s", i, c.name, e.Get("param"), c.param)
		}
		if c.code != "" && e.Get("code").String() != c.code {
			t.Errorf("case %d %s: code = %s, want %s", i, c.name, e.Get("code"), c.code)
		}
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("upstream called %d times for bad requests", n)
	}
}

func TestUnmatchedRoutesFallThrough(t *testing.T) {
	g := testgate.Start(t, testgate.Config{Block: mockBlock})
	status, body, _ := g.Do("GET", "/some/app/page", "", nil)
	if status != 404 || string(body) != "not agentgate" {
		t.Fatalf("unmatched route: %d %s", status, body)
	}
	// A known path with another method is not agentgate's either.
	status, body, _ = g.Do("DELETE", "/v1/chat/completions", "", nil)
	if status != 404 || string(body) != "not agentgate" {
		t.Fatalf("unmatched method: %d %s", status, body)
	}
}

const mockBlock = `
		provider mock mock {
			delay 1ms
		}
		agent demo {
			model mock-1
			provider mock
		}
`

func asAPIError(err error, target **openai.Error) bool {
	if err == nil {
		return false
	}
	e, ok := err.(*openai.Error)
	if !ok {
		return false
	}
	*target = e
	return true
}
