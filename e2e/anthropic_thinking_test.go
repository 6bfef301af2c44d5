package e2e

// Interleaved thinking end to end: several Anthropic thinking and
// redacted_thinking blocks in one assistant message, through a real Caddy
// to the fake Anthropic upstream (which verifies every signature it gets
// back), from the Anthropic SDK and from agent sessions that store an
// answer's blocks and replay them on the next turn.

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	oaOption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"
	"google.golang.org/genai"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
)

// thkBlocks is the fake model's answer: thinking, text, a second
// thinking, text.
var thkBlocks = []fakeupstream.AnthropicBlock{
	{Type: "thinking", Text: "The tool says sunny."},
	{Type: "text", Text: "It is sunny in Paris."},
	{Type: "thinking", Text: "Now tomorrow's forecast, from " + thkPhone + "."},
	{Type: "text", Text: "Tomorrow too. Call " + thkPhone + "."},
}

// thkPhone is a phone number in the answer, for output guardrails.
const thkPhone = "+1 415 555 2671"

// thkToolThought is the fake's thinking before it calls the calculator.
const thkToolThought = "I need the calculator."

// thkGateway starts the Anthropic fake answering thkBlocks (and calling
// the calculator, when offered, after thkToolThought) behind a gateway
// routing claude-* to it, with agents on it that think: one with the
// calculator, one with output guardrails.
func thkGateway(t *testing.T) (*testgate.Gateway, *fakeupstream.Anthropic) {
	t.Helper()
	up := (&fakeupstream.Anthropic{Blocks: thkBlocks, Reasoning: thkToolThought, ToolName: "calculator",
		ToolArgs: `{"expression":"6*7"}`, APIKey: "an-key"}).Start()
	t.Cleanup(up.Close)
	g := testgate.Start(t, testgate.Config{Block: `
		provider anthropic anthropic {
			base_url ` + up.URL + `
			api_key an-key
		}
		route claude-* anthropic
		agent claude-thinker {
			system_prompt "Think first."
			model claude-think
			provider anthropic
			reasoning on
			tools calculator
		}
		agent claude-guarded {
			system_prompt "Think first."
			model claude-think
			provider anthropic
			reasoning on
			guardrails {
				redact_pii phone
			}
		}
`})
	return g, up
}

// thkThinkingBlocks are the thinking and redacted_thinking blocks of
// content (a JSON array of content blocks), as JSON objects in order.
func thkThinkingBlocks(content gjson.Result) []map[string]any {
	var out []map[string]any
	for _, b := range content.Array() {
		if typ := b.Get("type").String(); typ == "thinking" || typ == "redacted_thinking" {
			var m map[string]any
			if err := json.Unmarshal([]byte(b.Raw), &m); err != nil {
				panic(err)
			}
			out = append(out, m)
		}
	}
	return out
}

// thkTypes are the types of content's blocks, comma-separated.
func thkTypes(content gjson.Result) string {
	var types []string
	for _, b := range content.Array() {
		types = append(types, b.Get("type").String())
	}
	return strings.Join(types, ",")
}

// thkWantAnswer checks that m is thkBlocks block by block, each thinking
// block with its own signature.
func thkWantAnswer(t *testing.T, what string, m *anthropic.Message) {
	t.Helper()
	if len(m.Content) != len(thkBlocks) {
		t.Fatalf("%s: %d content blocks, want one per upstream block (%d): %+v", what, len(m.Content), len(thkBlocks), m.Content)
	}
	for i, want := range thkBlocks {
		c := m.Content[i]
		switch {
		case c.Type != want.Type:
			t.Errorf("%s: block %d is %s, want %s", what, i, c.Type, want.Type)
		case want.Type == "thinking" && (c.Thinking != want.Text || c.Signature != fakeupstream.AnthropicSignature(want.Text)):
			t.Errorf("%s: block %d thinks %q signed %q, want %q signed %q", what, i, c.Thinking, c.Signature,
				want.Text, fakeupstream.AnthropicSignature(want.Text))
		case want.Type == "text" && c.Text != want.Text:
			t.Errorf("%s: block %d says %q, want %q", what, i, c.Text, want.Text)
		}
	}
}

// TestAnthropicInterleavedThinkingSDK: an Anthropic SDK client sends a
// tool loop whose assistant turn thought twice (a thinking and a
// redacted_thinking block) before its tool_use, after an earlier turn
// with interleaved thinking; the upstream gets every block in order,
// byte for byte, and the client's answer has one block per upstream
// block, each thinking block signed — streamed and not. The answer sent
// back on the next turn verifies upstream.
func TestAnthropicInterleavedThinkingSDK(t *testing.T) {
	g, up := thkGateway(t)
	client := anClient(g, testgate.KeyA)
	sig := fakeupstream.AnthropicSignature
	// history is written as the client's JSON, to compare with the
	// upstream's byte for byte.
	history := `[
		{"role":"user","content":"Hello"},
		{"role":"assistant","content":[
			{"type":"thinking","thinking":"A greeting.","signature":"` + sig("A greeting.") + `"},
			{"type":"text","text":"Hi."},
			{"type":"thinking","thinking":"Offer help.","signature":"` + sig("Offer help.") + `"},
			{"type":"text","text":"How can I help?"}]},
		{"role":"user","content":"Weather in Paris?"},
		{"role":"assistant","content":[
			{"type":"thinking","thinking":"I should call the tool.","signature":"` + sig("I should call the tool.") + `"},
			{"type":"redacted_thinking","data":"RU5DUllQVEVEIFRIT1VHSFQ="},
			{"type":"tool_use","id":"toolu_w1","name":"` + pvTool + `","input":{"city":"Paris"}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_w1","content":"Sunny, 21C"}]}]`
	var messages []anthropic.MessageParam
	if err := json.Unmarshal([]byte(history), &messages); err != nil {
		t.Fatal(err)
	}
	sent := gjson.Parse(history)
	for _, stream := range []bool{false, true} {
		what := fmt.Sprintf("stream=%v", stream)
		params := anthropic.MessageNewParams{Model: "claude-think", MaxTokens: 4096, Messages: messages,
			Thinking: anthropic.ThinkingConfigParamOfEnabled(2048), Tools: []anthropic.ToolUnionParam{anWeatherTool}}
		m := anCall(t, client, params, stream)
		thkWantAnswer(t, what, m)
		got := up.LastRequest().Get("messages")
		if got.Get("#").Int() != sent.Get("#").Int() {
			t.Fatalf("%s: upstream got %d messages, want %d: %s", what, got.Get("#").Int(), sent.Get("#").Int(), got.Raw)
		}
		for i, want := range sent.Array() {
			if !want.Get("content").IsArray() {
				continue
			}
			have := got.Get(fmt.Sprint(i, ".content"))
			if thkTypes(have) != thkTypes(want.Get("content")) ||
				!reflect.DeepEqual(thkThinkingBlocks(have), thkThinkingBlocks(want.Get("content"))) {
				t.Errorf("%s: message %d upstream is %s, want its blocks as sent: %s", what, i, have.Raw, want.Get("content").Raw)
			}
		}

		// The answer goes back as the SDK keeps it: the fake verifies
		// both signatures, and the blocks keep their order.
		next := params
		next.Messages = append(append([]anthropic.MessageParam(nil), messages...), m.ToParam(),
			anthropic.NewUserMessage(anthropic.NewTextBlock("Thanks.")))
		thkWantAnswer(t, what+" next turn", anCall(t, client, next, stream))
		back := up.LastRequest().Get(fmt.Sprint("messages.", len(messages), ".content"))
		if thkTypes(back) != "thinking,text,thinking,text" {
			t.Errorf("%s: the answer went back as %s", what, back.Raw)
		}
		for i, b := range thkThinkingBlocks(back) {
			want := thkBlocks[2*i].Text
			if b["thinking"] != want || b["signature"] != sig(want) {
				t.Errorf("%s: thinking block %d went back as %v, want %q signed", what, i, b, want)
			}
		}
	}
}

// TestAnthropicInterleavedThinkingSession: an agent whose model is on
// the Anthropic upstream thinks before calling its calculator and twice
// in its answer; the agent's session keeps every block with its
// signature, and the next turn replays them upstream — through Egzora's
// /v1/chat (streamed and not), the Responses API's previous_response_id
// and with output guardrails on.
func TestAnthropicInterleavedThinkingSession(t *testing.T) {
	g, up := thkGateway(t)
	sig := fakeupstream.AnthropicSignature

	// checkReplay checks the upstream request of a session's second turn:
	// the assistant messages hold their blocks in order (wantTypes), the
	// thinking ones (wantThoughts) each signed as the upstream signed it,
	// and the answer's texts between them as they came.
	checkReplay := func(t *testing.T, req gjson.Result, wantTypes, wantThoughts []string, redact func(string) string) {
		t.Helper()
		var thoughts, types []string
		for _, m := range req.Get("messages").Array() {
			if m.Get("role").String() != "assistant" {
				continue
			}
			types = append(types, thkTypes(m.Get("content")))
			for _, b := range thkThinkingBlocks(m.Get("content")) {
				text, _ := b["thinking"].(string)
				if b["signature"] != sig(text) {
					t.Errorf("thinking %q replayed signed %v", text, b["signature"])
				}
				thoughts = append(thoughts, text)
			}
			if thkTypes(m.Get("content")) == "thinking,text,thinking,text" &&
				(m.Get("content.1.text").String() != redact(thkBlocks[1].Text) || m.Get("content.3.text").String() != redact(thkBlocks[3].Text)) {
				t.Errorf("answer replayed as %s", m.Get("content").Raw)
			}
		}
		if !reflect.DeepEqual(types, wantTypes) || !reflect.DeepEqual(thoughts, wantThoughts) {
			t.Errorf("replayed blocks %q, thoughts %q; want %q, %q: %s", types, thoughts, wantTypes, wantThoughts, req.Get("messages").Raw)
		}
	}
	answer := thkBlocks[1].Text + thkBlocks[3].Text

	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("egzora/stream=%v", stream), func(t *testing.T) {
			session := fmt.Sprintf("thk-%v", stream)
			chat := func(msg string) string {
				body := map[string]any{"agent_id": "claude-thinker", "message": msg, "session_id": session}
				if stream {
					text, _, _ := egzStreamChat(t, g, testgate.KeyA, body)
					return text
				}
				status, res := egzChat(t, g, testgate.KeyA, body)
				if status != 200 {
					t.Fatalf("chat: %d %s", status, res.Raw)
				}
				return res.Get("response").String()
			}
			calls := len(up.Requests())
			if got := chat("What is 6*7?"); !strings.HasSuffix(got, answer) {
				t.Errorf("first turn answered %q, want %q", got, answer)
			}
			reqs := up.Requests()
			if len(reqs)-calls != 2 {
				t.Fatalf("first turn made %d upstream calls, want the calculator's and the answer's", len(reqs)-calls)
			}
			// The tool loop inside the run replays the thinking before
			// the call (the fake rejects it otherwise).
			loop := gjson.ParseBytes(reqs[len(reqs)-1]).Get("messages")
			if b := loop.Get("1.content"); thkTypes(b) != "thinking,tool_use" || b.Get("0.thinking").String() != thkToolThought {
				t.Errorf("tool loop replayed %s", loop.Raw)
			}
			if got := chat("And tomorrow?"); !strings.HasSuffix(got, answer) {
				t.Errorf("second turn answered %q, want %q", got, answer)
			}
			// The second turn's own tool loop: the first turn's call and
			// answer, then this turn's call.
			checkReplay(t, up.LastRequest(), []string{"thinking,tool_use", "thinking,text,thinking,text", "thinking,tool_use"},
				[]string{thkToolThought, thkBlocks[0].Text, thkBlocks[2].Text, thkToolThought}, func(s string) string { return s })
		})
	}

	// claude-guarded redacts phone numbers from its output.
	redactPhone := func(s string) string { return strings.ReplaceAll(s, thkPhone, "[REDACTED_PHONE]") }
	t.Run("responses/guardrails", func(t *testing.T) {
		client := rspClient(g, "/v1", testgate.KeyA)
		ctx := t.Context()
		input := func(text string) responses.ResponseNewParamsInputUnion {
			return responses.ResponseNewParamsInputUnion{OfString: openai.String(text)}
		}
		first, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "claude-guarded", Input: input("Hello")})
		if err != nil {
			t.Fatal(err)
		}
		if first.OutputText() != redactPhone(answer) {
			t.Errorf("first answer %q, want %q", first.OutputText(), answer)
		}
		second, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "claude-guarded", Input: input("And tomorrow?"),
			PreviousResponseID: openai.String(first.ID)})
		if err != nil {
			t.Fatal(err)
		}
		if second.OutputText() != redactPhone(answer) {
			t.Errorf("second answer %q, want %q", second.OutputText(), answer)
		}
		// The text is stored as the client saw it; the thinking, which
		// the client does not see here, as signed, so it verifies.
		checkReplay(t, up.LastRequest(), []string{"thinking,text,thinking,text"}, []string{thkBlocks[0].Text, thkBlocks[2].Text}, redactPhone)
	})
}

// TestAnthropicInterleavedThinkingGuarded: with output guardrails on, an
// agent's interleaved answer reaches an Anthropic SDK client block by
// block — the filter's held-back text goes out in its own text block
// before the next thinking block — with the phone number redacted.
func TestAnthropicInterleavedThinkingGuarded(t *testing.T) {
	g, _ := thkGateway(t)
	client := anClient(g, testgate.KeyA)
	redact := func(s string) string { return strings.ReplaceAll(s, thkPhone, "[REDACTED_PHONE]") }
	for _, stream := range []bool{false, true} {
		what := fmt.Sprintf("stream=%v", stream)
		m := anCall(t, client, anthropic.MessageNewParams{Model: "claude-guarded", MaxTokens: 4096,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hi"))},
			Thinking: anthropic.ThinkingConfigParamOfEnabled(2048)}, stream)
		if len(m.Content) != len(thkBlocks) {
			t.Fatalf("%s: %d blocks, want %d: %+v", what, len(m.Content), len(thkBlocks), m.Content)
		}
		for i, want := range thkBlocks {
			c := m.Content[i]
			got := c.Text
			if c.Type == "thinking" {
				got = c.Thinking
				if c.Signature != fakeupstream.AnthropicSignature(want.Text) {
					t.Errorf("%s: block %d signed %q", what, i, c.Signature)
				}
			}
			if c.Type != want.Type || got != redact(want.Text) {
				t.Errorf("%s: block %d is %s %q, want %s %q", what, i, c.Type, got, want.Type, redact(want.Text))
			}
		}
	}
}

// TestGeminiSDKInterleavedThinking: a Gen AI SDK chat with a Claude model
// through the gateway, thoughts shown or not, streamed or not: the model
// thinks before calling a function, the function's response comes back,
// the answer thinks twice between its texts, and the next turn sends the
// whole chat history back — the Anthropic upstream gets every thinking
// block in its place with its own signature (and would refuse any other).
func TestGeminiSDKInterleavedThinking(t *testing.T) {
	g, up := thkGateway(t)
	client := gmClient(t, g, testgate.KeyA)
	ctx := t.Context()
	calculator := &genai.Tool{FunctionDeclarations: []*genai.FunctionDeclaration{{Name: "calculator", Description: "Evaluates arithmetic",
		Parameters: &genai.Schema{Type: genai.TypeObject, Properties: map[string]*genai.Schema{"expression": {Type: genai.TypeString}}}}}}
	for _, show := range []bool{true, false} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("show=%v/stream=%v", show, stream), func(t *testing.T) {
				chat, err := client.Chats.Create(ctx, "claude-think", &genai.GenerateContentConfig{Tools: []*genai.Tool{calculator},
					ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: show, ThinkingBudget: genai.Ptr[int32](2048)}}, nil)
				if err != nil {
					t.Fatal(err)
				}
				send := func(part genai.Part) *gmAnswer {
					t.Helper()
					a := &gmAnswer{}
					if !stream {
						resp, err := chat.SendMessage(ctx, part)
						if err != nil {
							t.Fatal(err)
						}
						gmTake(a, resp)
						return a
					}
					for resp, err := range chat.SendMessageStream(ctx, part) {
						if err != nil {
							t.Fatal(err)
						}
						gmTake(a, resp)
					}
					return a
				}
				first := send(genai.Part{Text: "What is 6*7?"})
				var call *genai.FunctionCall
				for _, p := range first.content.Parts {
					if p.FunctionCall != nil {
						call = p.FunctionCall
					}
				}
				if call == nil || call.Name != "calculator" {
					t.Fatalf("no call of the calculator: %+v", first.content.Parts)
				}
				answer := send(genai.Part{FunctionResponse: &genai.FunctionResponse{ID: call.ID, Name: call.Name,
					Response: map[string]any{"result": 42}}})
				wantThoughts, wantText := "", thkBlocks[1].Text+thkBlocks[3].Text
				if show {
					wantThoughts = thkBlocks[0].Text + thkBlocks[2].Text
				}
				if answer.text != wantText || answer.thoughts != wantThoughts {
					t.Errorf("answer %q thinking %q, want %q thinking %q", answer.text, answer.thoughts, wantText, wantThoughts)
				}
				send(genai.Part{Text: "Thanks."})
				var types []string
				var thoughts []string
				for _, m := range up.LastRequest().Get("messages").Array() {
					if m.Get("role").Str != "assistant" {
						continue
					}
					types = append(types, thkTypes(m.Get("content")))
					for _, b := range thkThinkingBlocks(m.Get("content")) {
						text, _ := b["thinking"].(string)
						if b["signature"] != fakeupstream.AnthropicSignature(text) {
							t.Errorf("thinking %q went back signed %v", text, b["signature"])
						}
						thoughts = append(thoughts, text)
					}
				}
				wantTypes := []string{"thinking,tool_use", "thinking,text,thinking,text"}
				if want := []string{thkToolThought, thkBlocks[0].Text, thkBlocks[2].Text}; !reflect.DeepEqual(types, wantTypes) || !reflect.DeepEqual(thoughts, want) {
					t.Errorf("history went upstream as %q thinking %q, want %q thinking %q: %s", types, thoughts, wantTypes, want,
						up.LastRequest().Get("messages").Raw)
				}
			})
		}
	}
}

// TestInterleavedThinkingOtherDialects: clients of dialects without
// Anthropic's blocks talk to an agent on the Anthropic upstream whose
// runs think before a tool call and twice in their answers, and send the
// conversation back on the next turn: a Gen AI SDK chat replays every
// thinking block signed (the upstream refuses any other), a Chat
// Completions client its texts; nothing fails.
func TestInterleavedThinkingOtherDialects(t *testing.T) {
	g, up := thkGateway(t)
	ctx := t.Context()
	answer := thkBlocks[1].Text + thkBlocks[3].Text

	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("gemini/stream=%v", stream), func(t *testing.T) {
			chat, err := gmClient(t, g, testgate.KeyA).Chats.Create(ctx, "claude-thinker", &genai.GenerateContentConfig{
				ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: true}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for turn, msg := range []string{"What is 6*7?", "And tomorrow?"} {
				a := &gmAnswer{}
				if stream {
					for resp, err := range chat.SendMessageStream(ctx, genai.Part{Text: msg}) {
						if err != nil {
							t.Fatal(err)
						}
						gmTake(a, resp)
					}
				} else {
					resp, err := chat.SendMessage(ctx, genai.Part{Text: msg})
					if err != nil {
						t.Fatal(err)
					}
					gmTake(a, resp)
				}
				if a.text != answer || a.thoughts != thkToolThought+thkBlocks[0].Text+thkBlocks[2].Text {
					t.Errorf("turn %d: answer %q thinking %q", turn, a.text, a.thoughts)
				}
			}
			// The second run's first call: the first run's answer as the
			// client kept it (the call the gateway ran is not the
			// client's), every thinking block signed in its place.
			reqs := up.Requests()
			sent := gjson.ParseBytes(reqs[len(reqs)-2]).Get("messages")
			prev := sent.Get("1.content")
			if sent.Get("#").Int() != 3 || thkTypes(prev) != "thinking,thinking,text,thinking,text" {
				t.Fatalf("second turn went upstream as %s", sent.Raw)
			}
			for i, want := range []string{thkToolThought, thkBlocks[0].Text, thkBlocks[2].Text} {
				b := thkThinkingBlocks(prev)[i]
				if b["thinking"] != want || b["signature"] != fakeupstream.AnthropicSignature(want) {
					t.Errorf("thinking block %d went back as %v, want %q signed", i, b, want)
				}
			}
			if prev.Get("2.text").Str != thkBlocks[1].Text || prev.Get("4.text").Str != thkBlocks[3].Text {
				t.Errorf("the answer's texts went back as %s", prev.Raw)
			}
		})
	}

	t.Run("chat completions", func(t *testing.T) {
		client := openai.NewClient(oaOption.WithBaseURL(g.URL+"/v1"), oaOption.WithAPIKey(testgate.KeyA), oaOption.WithMaxRetries(0))
		messages := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is 6*7?")}
		for turn := range 2 {
			res, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "claude-thinker", Messages: messages})
			if err != nil {
				t.Fatalf("turn %d: %v", turn, err)
			}
			if got := res.Choices[0].Message.Content; got != answer {
				t.Errorf("turn %d: answer %q, want %q", turn, got, answer)
			}
			messages = append(messages, res.Choices[0].Message.ToParam(), openai.UserMessage("And tomorrow?"))
		}
		reqs := up.Requests()
		sent := gjson.ParseBytes(reqs[len(reqs)-2]).Get("messages")
		if prev := sent.Get("1.content"); thkTypes(prev) != "text" || prev.Get("0.text").Str != answer {
			t.Errorf("the first answer went back as %s", sent.Raw)
		}
	})
}
