package e2e

// Acceptance tests of issue 6: the same end-to-end suite through a real
// Caddy against each of the three provider types (OpenAI-compatible,
// Gemini, Anthropic), through the OpenAI-compatible surface (the official
// openai-go SDK) and Egzora's POST /v1/chat; fallbacks and retries; key
// pools; per-route capabilities; embeddings routed to Gemini and OpenAI.
//
// Every upstream is a fake on loopback speaking its provider's real wire
// format (internal/fakeupstream) with deterministic usage: PromptTokens(n)
// prompt tokens for n messages (a system prompt counts as one), one token
// per answer and reasoning word, 5 for a tool call.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters/dialects/egzora"
	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"
)

const (
	pvReply     = "Paris is sunny and mild today."
	pvReasoning = "The user asks about weather so I answer briefly."
	pvSystem    = "You are the agent prompt."
	pvToolArgs  = `{"city":"Paris"}`
	pvTool      = "get_weather"
	pvToolOut   = `{"temp":21}`
)

// pvUpstream describes one fake upstream behind the gateway: how to count
// and read what it was sent, in its own wire format.
type pvUpstream struct {
	// name is the provider type, also the provider's name in the
	// Caddyfile; agent is the agent on it and model the agent's model.
	name, agent, model string
	calls              func() int
	last               func() gjson.Result
	// streamed reports whether the last request asked for a stream.
	streamed func() bool
	// system is the system prompt of a request.
	system func(req gjson.Result) string
	// userText is the text of the last user turn of a request.
	userText func(req gjson.Result) string
	// image is the image of the last user turn as a data URL ("" if none).
	image func(req gjson.Result) string
	// reasoned reports whether a request asked the model to reason.
	reasoned func(req gjson.Result) bool
	// tool is the name of the first tool a request offers.
	tool func(req gjson.Result) string
	// countsReasoning is whether the provider's usage breaks out
	// reasoning tokens: Anthropic's counts thinking in output_tokens
	// without saying how much of it was thinking.
	countsReasoning bool
	// toolResult checks that a request ends with the result out of the
	// call callID the client got.
	toolResult func(req gjson.Result, callID string) error
}

// pvField reads a proto3 JSON field by its lowerCamel or snake_case name.
func pvField(v gjson.Result, camel, snake string) gjson.Result {
	if r := v.Get(camel); r.Exists() {
		return r
	}
	return v.Get(snake)
}

func pvOpenAIUpstream(o *fakeupstream.OpenAI, name, agent, model string) *pvUpstream {
	lastUser := func(req gjson.Result) gjson.Result {
		msgs := req.Get("messages").Array()
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].Get("role").String() == "user" {
				return msgs[i]
			}
		}
		return gjson.Result{}
	}
	return &pvUpstream{
		name: name, agent: agent, model: model, countsReasoning: true,
		calls:    func() int { return len(o.Requests()) },
		last:     o.LastRequest,
		streamed: func() bool { return o.LastRequest().Get("stream").Bool() },
		system: func(req gjson.Result) string {
			if m := req.Get("messages.0"); m.Get("role").String() == "system" {
				return m.Get("content").String()
			}
			return ""
		},
		userText: func(req gjson.Result) string {
			c := lastUser(req).Get("content")
			if c.Type == gjson.String {
				return c.String()
			}
			var b strings.Builder
			for _, p := range c.Array() {
				if p.Get("type").String() == "text" {
					b.WriteString(p.Get("text").String())
				}
			}
			return b.String()
		},
		image: func(req gjson.Result) string {
			for _, p := range lastUser(req).Get("content").Array() {
				if p.Get("type").String() == "image_url" {
					return p.Get("image_url.url").String()
				}
			}
			return ""
		},
		reasoned: func(req gjson.Result) bool { return req.Get("reasoning_effort").Exists() },
		tool:     func(req gjson.Result) string { return req.Get("tools.0.function.name").String() },
		toolResult: func(req gjson.Result, callID string) error {
			m := req.Get("messages.@reverse.0")
			if m.Get("role").String() != "tool" || m.Get("tool_call_id").String() != callID || m.Get("content").String() != pvToolOut {
				return fmt.Errorf("last message %s, want the tool result of %s", m.Raw, callID)
			}
			prev := req.Get("messages.@reverse.1.tool_calls.0")
			if prev.Get("id").String() != callID || prev.Get("function.name").String() != pvTool ||
				!pvJSONEqual(prev.Get("function.arguments").String(), pvToolArgs) {
				return fmt.Errorf("assistant tool call sent back as %s", prev.Raw)
			}
			return nil
		},
	}
}

func pvGeminiUpstream(g *fakeupstream.Gemini, name, agent, model string) *pvUpstream {
	lastUser := func(req gjson.Result) gjson.Result {
		cs := req.Get("contents").Array()
		for i := len(cs) - 1; i >= 0; i-- {
			if cs[i].Get("role").String() == "user" {
				return cs[i]
			}
		}
		return gjson.Result{}
	}
	return &pvUpstream{
		name: name, agent: agent, model: model, countsReasoning: true,
		calls: func() int { return len(g.Requests()) },
		last:  g.LastRequest,
		streamed: func() bool {
			urls := g.RequestURLs()
			return len(urls) > 0 && strings.Contains(urls[len(urls)-1], ":streamGenerateContent?alt=sse")
		},
		system: func(req gjson.Result) string {
			var parts []string
			for _, p := range pvField(req, "systemInstruction", "system_instruction").Get("parts").Array() {
				parts = append(parts, p.Get("text").String())
			}
			return strings.Join(parts, "\n")
		},
		userText: func(req gjson.Result) string {
			var b strings.Builder
			for _, p := range lastUser(req).Get("parts").Array() {
				b.WriteString(p.Get("text").String())
			}
			return b.String()
		},
		image: func(req gjson.Result) string {
			for _, p := range lastUser(req).Get("parts").Array() {
				if d := pvField(p, "inlineData", "inline_data"); d.Exists() {
					return "data:" + pvField(d, "mimeType", "mime_type").String() + ";base64," + d.Get("data").String()
				}
			}
			return ""
		},
		reasoned: func(req gjson.Result) bool {
			gen := pvField(req, "generationConfig", "generation_config")
			return pvField(pvField(gen, "thinkingConfig", "thinking_config"), "includeThoughts", "include_thoughts").Bool()
		},
		tool: func(req gjson.Result) string {
			return pvField(req.Get("tools.0"), "functionDeclarations", "function_declarations").Get("0.name").String()
		},
		toolResult: func(req gjson.Result, callID string) error {
			// Gemini issued no call id: the gateway made one up for the
			// client and maps the result back to the call by name.
			c := req.Get("contents.@reverse.0")
			fr := pvField(c.Get("parts.0"), "functionResponse", "function_response")
			if c.Get("role").String() != "user" || fr.Get("name").String() != pvTool || fr.Get("response.temp").Int() != 21 {
				return fmt.Errorf("last content %s, want the functionResponse of %s", c.Raw, pvTool)
			}
			call := pvField(req.Get("contents.@reverse.1.parts.0"), "functionCall", "function_call")
			if req.Get("contents.@reverse.1.role").String() != "model" || call.Get("name").String() != pvTool ||
				!pvJSONEqual(call.Get("args").Raw, pvToolArgs) {
				return fmt.Errorf("model turn sent back as %s", req.Get("contents.@reverse.1").Raw)
			}
			return nil
		},
	}
}

func pvAnthropicUpstream(a *fakeupstream.Anthropic, name, agent, model string) *pvUpstream {
	lastUser := func(req gjson.Result) gjson.Result {
		msgs := req.Get("messages").Array()
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].Get("role").String() == "user" {
				return msgs[i]
			}
		}
		return gjson.Result{}
	}
	text := func(c gjson.Result) string {
		if c.Type == gjson.String {
			return c.String()
		}
		var b strings.Builder
		for _, p := range c.Array() {
			if p.Get("type").String() == "text" {
				b.WriteString(p.Get("text").String())
			}
		}
		return b.String()
	}
	return &pvUpstream{
		name: name, agent: agent, model: model,
		calls:    func() int { return len(a.Requests()) },
		last:     a.LastRequest,
		streamed: func() bool { return a.LastRequest().Get("stream").Bool() },
		system:   func(req gjson.Result) string { return text(req.Get("system")) },
		userText: func(req gjson.Result) string { return text(lastUser(req).Get("content")) },
		image: func(req gjson.Result) string {
			for _, p := range lastUser(req).Get("content").Array() {
				if p.Get("type").String() == "image" && p.Get("source.type").String() == "base64" {
					return "data:" + p.Get("source.media_type").String() + ";base64," + p.Get("source.data").String()
				}
			}
			return ""
		},
		reasoned: func(req gjson.Result) bool {
			t := req.Get("thinking.type").String()
			return t == "enabled" || t == "adaptive"
		},
		tool: func(req gjson.Result) string { return req.Get("tools.0.name").String() },
		toolResult: func(req gjson.Result, callID string) error {
			b := req.Get("messages.@reverse.0.content.0")
			if b.Get("type").String() != "tool_result" || b.Get("tool_use_id").String() != callID || text(b.Get("content")) != pvToolOut {
				return fmt.Errorf("last message %s, want the tool_result of %s", req.Get("messages.@reverse.0").Raw, callID)
			}
			var use gjson.Result
			for _, p := range req.Get("messages.@reverse.1.content").Array() {
				if p.Get("type").String() == "tool_use" {
					use = p
				}
			}
			if use.Get("id").String() != callID || use.Get("name").String() != pvTool || !pvJSONEqual(use.Get("input").Raw, pvToolArgs) {
				return fmt.Errorf("assistant tool_use sent back as %s", req.Get("messages.@reverse.1").Raw)
			}
			return nil
		},
	}
}

func pvJSONEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// pvProviders starts the three fakes of the suite, each answering pvReply,
// reasoning pvReasoning when asked, and calling pvTool when offered it, and
// returns them with the Caddyfile block declaring them, prefix routes and
// one agent per provider (no provider pinned: the model's route decides).
func pvProviders(t *testing.T) ([]*pvUpstream, string) {
	t.Helper()
	oa := (&fakeupstream.OpenAI{Reply: pvReply, Reasoning: pvReasoning, ToolName: pvTool, ToolArgs: pvToolArgs}).Start()
	gm := (&fakeupstream.Gemini{Reply: pvReply, Reasoning: pvReasoning, ToolName: pvTool, ToolArgs: pvToolArgs, APIKey: "gm-key"}).Start()
	an := (&fakeupstream.Anthropic{Reply: pvReply, Reasoning: pvReasoning, ToolName: pvTool, ToolArgs: pvToolArgs, APIKey: "an-key"}).Start()
	t.Cleanup(oa.Close)
	t.Cleanup(gm.Close)
	t.Cleanup(an.Close)
	ups := []*pvUpstream{
		pvOpenAIUpstream(oa, "openai", "on-openai", "gpt-suite"),
		pvGeminiUpstream(gm, "gemini", "on-gemini", "gemini-suite"),
		pvAnthropicUpstream(an, "anthropic", "on-anthropic", "claude-suite"),
	}
	block := threeProviders(oa.URL, gm.URL, an.URL)
	for _, u := range ups {
		block += fmt.Sprintf(`
		agent %s {
			system_prompt %q
			model %s
		}
`, u.agent, pvSystem, u.model)
	}
	return ups, block
}

// pvLogs returns the tenant's most recent usage records, newest first.
func pvLogs(t *testing.T, g *testgate.Gateway, limit int) []gjson.Result {
	t.Helper()
	status, body, _ := g.Do("GET", fmt.Sprintf("/v1/logs?limit=%d", limit), testgate.KeyA, nil)
	if status != 200 {
		t.Fatalf("GET /v1/logs: %d %s", status, body)
	}
	return gjson.ParseBytes(body).Array()
}

// pvLog returns the usage record of run id.
func pvLog(t *testing.T, g *testgate.Gateway, id string) gjson.Result {
	t.Helper()
	for _, rec := range pvLogs(t, g, 100) {
		if rec.Get("run_id").String() == id {
			return rec
		}
	}
	t.Fatalf("no usage record %s in GET /v1/logs", id)
	return gjson.Result{}
}

// pvCheckRecord checks a usage record against the call it describes.
func pvCheckRecord(t *testing.T, what string, rec gjson.Result, dialect string, u *pvUpstream, in, out, reasoning int) {
	t.Helper()
	if rec.Get("provider").String() != u.name || rec.Get("model_id").String() != u.model || rec.Get("status").String() != "ok" ||
		rec.Get("dialect").String() != dialect || rec.Get("estimated").Bool() ||
		rec.Get("input_tokens").Int() != int64(in) || rec.Get("output_tokens").Int() != int64(out) ||
		rec.Get("reasoning_tokens").Int() != int64(reasoning) || rec.Get("total_tokens").Int() != int64(in+out) {
		t.Errorf("%s: usage record %s, want provider %s, model %s, status ok, dialect %s, %d in, %d out, %d reasoning",
			what, rec.Raw, u.name, u.model, dialect, in, out, reasoning)
	}
}

// pvLastRecord checks the tenant's newest usage record against the call
// it describes. A call is accounted once its answer ended, which a client
// reading a stream's last bytes can see before: the record is waited for
// (a few seconds at most) before it is checked.
func pvLastRecord(t *testing.T, g *testgate.Gateway, u *pvUpstream, dialect, what string, in, out, reasoning int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs := pvLogs(t, g, 1)
		if len(logs) == 1 && logs[0].Get("input_tokens").Int() == int64(in) && logs[0].Get("output_tokens").Int() == int64(out) ||
			time.Now().After(deadline) {
			if len(logs) != 1 {
				t.Fatalf("%s: no usage record", what)
			}
			pvCheckRecord(t, what, logs[0], dialect, u, in, out, reasoning)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pvSent checks the last request u received: the model, the agent's
// system prompt, the user's text and whether it streamed.
func pvSent(t *testing.T, u *pvUpstream, what, text string, stream bool) gjson.Result {
	t.Helper()
	sent := u.last()
	if got := sent.Get("model").String(); got != u.model && u.name != "gemini" { // Gemini's model is in the URL
		t.Errorf("%s: upstream model %q, want %q", what, got, u.model)
	}
	if got := u.system(sent); got != pvSystem {
		t.Errorf("%s: upstream system prompt %q, want %q", what, got, pvSystem)
	}
	if got := u.userText(sent); got != text {
		t.Errorf("%s: upstream user text %q, want %q", what, got, text)
	}
	if u.streamed() != stream {
		t.Errorf("%s: upstream streamed = %v, want %v", what, u.streamed(), stream)
	}
	return sent
}

// pvUsage checks an OpenAI usage object to the token.
func pvUsage(t *testing.T, what string, u openai.CompletionUsage, in, out, reasoning int) {
	t.Helper()
	if u.PromptTokens != int64(in) || u.CompletionTokens != int64(out) || u.TotalTokens != int64(in+out) ||
		u.CompletionTokensDetails.ReasoningTokens != int64(reasoning) {
		t.Errorf("%s: usage %d prompt, %d completion, %d total, %d reasoning; want %d prompt, %d completion, %d reasoning",
			what, u.PromptTokens, u.CompletionTokens, u.TotalTokens, u.CompletionTokensDetails.ReasoningTokens, in, out, reasoning)
	}
}

// pvStreamed is an openai-go stream read to its end by pvReadStream: the
// answer text, the reasoning_content, how many chunks carried answer text,
// the accumulated message and usage, and the stream's error.
type pvStreamed struct {
	text, reasoning string
	textChunks      int
	acc             openai.ChatCompletionAccumulator
	err             error
}

func pvReadStream(client openai.Client, params openai.ChatCompletionNewParams) *pvStreamed {
	stream := client.Chat.Completions.NewStreaming(context.Background(), params)
	defer stream.Close()
	s := &pvStreamed{}
	var text, reasoning strings.Builder
	for stream.Next() {
		c := stream.Current()
		s.acc.AddChunk(c)
		if len(c.Choices) > 0 {
			if c.Choices[0].Delta.Content != "" {
				s.textChunks++
				text.WriteString(c.Choices[0].Delta.Content)
			}
			reasoning.WriteString(gjson.Get(c.Choices[0].Delta.RawJSON(), "reasoning_content").String())
		}
	}
	s.text, s.reasoning, s.err = text.String(), reasoning.String(), stream.Err()
	return s
}

func pvUserTurn(text string, img string) openai.ChatCompletionMessageParamUnion {
	if img == "" {
		return openai.UserMessage(text)
	}
	return openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
		openai.TextContentPart(text),
		openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: img}),
	})
}

// TestProviderSuite runs the same end-to-end suite against each provider
// type, through both dialects.
func TestProviderSuite(t *testing.T) {
	ups, block := pvProviders(t)
	g := testgate.Start(t, testgate.Config{Block: block})
	img := egzJPEG(t)
	for _, u := range ups {
		t.Run(u.name, func(t *testing.T) {
			t.Run("openai surface", func(t *testing.T) { pvOpenAISurface(t, g, u, img) })
			t.Run("egzora", func(t *testing.T) { pvEgzoraSurface(t, g, u, img) })
		})
	}
}

func pvOpenAISurface(t *testing.T, g *testgate.Gateway, u *pvUpstream, img string) {
	client := sdk(g, testgate.KeyA)
	ctx := context.Background()
	words, thoughts := egzWords(pvReply), egzWords(pvReasoning)
	in2 := fakeupstream.PromptTokens(2) // the agent's system prompt and the user's message
	counted := thoughts                 // reasoning tokens the usage reports
	if !u.countsReasoning {
		counted = 0
	}
	lastLog := func(t *testing.T, what string, in, out, reasoning int) {
		t.Helper()
		pvLastRecord(t, g, u, "openai", what, in, out, reasoning)
	}
	upstreamGot := func(t *testing.T, what, text string, stream bool) gjson.Result {
		t.Helper()
		return pvSent(t, u, what, text, stream)
	}

	t.Run("non-streaming", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: u.agent, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")}})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != pvReply || resp.Choices[0].FinishReason != "stop" {
			t.Errorf("answer %q (finish %q), want %q", got, resp.Choices[0].FinishReason, pvReply)
		}
		pvUsage(t, "response", resp.Usage, in2, words, 0)
		if sent := upstreamGot(t, "request", "Weather in Paris?", false); u.reasoned(sent) {
			t.Errorf("upstream asked to reason without reasoning_effort: %s", sent.Raw)
		}
		lastLog(t, "log", in2, words, 0)
	})

	t.Run("streaming with usage", func(t *testing.T) {
		s := pvReadStream(client, openai.ChatCompletionNewParams{
			Model: u.agent, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Stream it")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
		if s.err != nil {
			t.Fatal(s.err)
		}
		if s.text != pvReply || s.acc.Choices[0].Message.Content != pvReply {
			t.Errorf("streamed answer %q, want %q", s.text, pvReply)
		}
		if s.textChunks != words {
			t.Errorf("answer came in %d chunks, want one per upstream token (%d)", s.textChunks, words)
		}
		if s.acc.Choices[0].FinishReason != "stop" {
			t.Errorf("finish_reason %q", s.acc.Choices[0].FinishReason)
		}
		pvUsage(t, "stream usage", s.acc.Usage, in2, words, 0)
		upstreamGot(t, "request", "Stream it", true)
		lastLog(t, "log", in2, words, 0)
	})

	t.Run("image", func(t *testing.T) {
		for _, stream := range []bool{false, true} {
			what := fmt.Sprintf("stream=%v", stream)
			params := openai.ChatCompletionNewParams{Model: u.agent,
				Messages: []openai.ChatCompletionMessageParamUnion{pvUserTurn("What is in this picture?", img)}}
			var text string
			var usage openai.CompletionUsage
			if stream {
				params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
				s := pvReadStream(client, params)
				if s.err != nil {
					t.Fatalf("%s: %v", what, s.err)
				}
				text, usage = s.text, s.acc.Usage
			} else {
				resp, err := client.Chat.Completions.New(ctx, params)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				text, usage = resp.Choices[0].Message.Content, resp.Usage
			}
			if text != pvReply {
				t.Errorf("%s: answer %q", what, text)
			}
			pvUsage(t, what, usage, in2, words, 0)
			sent := upstreamGot(t, what, "What is in this picture?", stream)
			if got := u.image(sent); got != img {
				t.Errorf("%s: upstream image %q, want the client's %q", what, got, img)
			}
			lastLog(t, what+" log", in2, words, 0)
		}
	})

	t.Run("tool round trip", func(t *testing.T) {
		tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
			Name:        pvTool,
			Description: openai.String("Weather of a city"),
			Parameters: openai.FunctionParameters{"type": "object",
				"properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}},
		})}
		params := openai.ChatCompletionNewParams{Model: u.agent, Tools: tools,
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}}
		for _, stream := range []bool{false, true} {
			what := fmt.Sprintf("stream=%v", stream)
			var msg openai.ChatCompletionMessage
			var usage openai.CompletionUsage
			var finish string
			if stream {
				s := pvReadStream(client, params)
				if s.err != nil {
					t.Fatalf("%s: %v", what, s.err)
				}
				msg, usage, finish = s.acc.Choices[0].Message, s.acc.Usage, s.acc.Choices[0].FinishReason
			} else {
				p := params
				p.StreamOptions = openai.ChatCompletionStreamOptionsParam{}
				resp, err := client.Chat.Completions.New(ctx, p)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				msg, usage, finish = resp.Choices[0].Message, resp.Usage, resp.Choices[0].FinishReason
			}
			if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != pvTool || msg.ToolCalls[0].ID == "" ||
				!pvJSONEqual(msg.ToolCalls[0].Function.Arguments, pvToolArgs) {
				t.Fatalf("%s: tool calls %+v", what, msg.ToolCalls)
			}
			if finish != "tool_calls" {
				t.Errorf("%s: finish_reason %q, want tool_calls", what, finish)
			}
			pvUsage(t, what+" call", usage, in2, 5, 0)
			if sent := upstreamGot(t, what, "Weather in Paris?", stream); u.tool(sent) != pvTool {
				t.Errorf("%s: tool not offered upstream: %s", what, sent.Raw)
			}
			lastLog(t, what+" call log", in2, 5, 0)

			follow := params
			follow.Messages = append(append([]openai.ChatCompletionMessageParamUnion{}, params.Messages...),
				msg.ToParam(), openai.ToolMessage(pvToolOut, msg.ToolCalls[0].ID))
			var answer string
			if stream {
				s := pvReadStream(client, follow)
				if s.err != nil {
					t.Fatalf("%s: follow-up: %v", what, s.err)
				}
				answer, usage = s.text, s.acc.Usage
			} else {
				follow.StreamOptions = openai.ChatCompletionStreamOptionsParam{}
				resp, err := client.Chat.Completions.New(ctx, follow)
				if err != nil {
					t.Fatalf("%s: follow-up: %v", what, err)
				}
				answer, usage = resp.Choices[0].Message.Content, resp.Usage
			}
			if answer != pvReply {
				t.Errorf("%s: answer after the tool result %q", what, answer)
			}
			// System prompt, user, assistant tool call, tool result.
			pvUsage(t, what+" answer", usage, fakeupstream.PromptTokens(4), words, 0)
			if err := u.toolResult(u.last(), msg.ToolCalls[0].ID); err != nil {
				t.Errorf("%s: tool round trip not sent upstream intact: %v", what, err)
			}
			lastLog(t, what+" answer log", fakeupstream.PromptTokens(4), words, 0)
		}
	})

	t.Run("reasoning", func(t *testing.T) {
		params := openai.ChatCompletionNewParams{Model: u.agent, ReasoningEffort: openai.ReasoningEffortMedium,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Think, then answer")}}
		for _, stream := range []bool{false, true} {
			what := fmt.Sprintf("stream=%v", stream)
			var text, reasoning string
			var usage openai.CompletionUsage
			if stream {
				params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
				s := pvReadStream(client, params)
				if s.err != nil {
					t.Fatalf("%s: %v", what, s.err)
				}
				text, reasoning, usage = s.text, s.reasoning, s.acc.Usage
			} else {
				resp, err := client.Chat.Completions.New(ctx, params)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				text, usage = resp.Choices[0].Message.Content, resp.Usage
				reasoning = gjson.Get(resp.Choices[0].Message.RawJSON(), "reasoning_content").String()
			}
			if text != pvReply || reasoning != pvReasoning {
				t.Errorf("%s: answer %q, reasoning %q; want %q, %q", what, text, reasoning, pvReply, pvReasoning)
			}
			pvUsage(t, what, usage, in2, words+thoughts, counted)
			if sent := upstreamGot(t, what, "Think, then answer", stream); !u.reasoned(sent) {
				t.Errorf("%s: upstream not asked to reason: %s", what, sent.Raw)
			}
			lastLog(t, what+" log", in2, words+thoughts, counted)
		}
	})
}

func pvEgzoraSurface(t *testing.T, g *testgate.Gateway, u *pvUpstream, img string) {
	words, thoughts := egzWords(pvReply), egzWords(pvReasoning)
	in2 := fakeupstream.PromptTokens(2)
	counted := thoughts // reasoning tokens the usage reports
	if !u.countsReasoning {
		counted = 0
	}
	// chat runs one Egzora chat and checks the answer, its usage to the
	// token, and its usage record.
	chat := func(t *testing.T, what string, body map[string]any, stream bool, want string, out, reasoning int) []string {
		t.Helper()
		var got string
		var chunks []string
		var res gjson.Result
		if stream {
			got, chunks, res = egzStreamChat(t, g, testgate.KeyA, body)
		} else {
			body["stream"] = false
			var status int
			status, res = egzChat(t, g, testgate.KeyA, body)
			if status != 200 {
				t.Fatalf("%s: %d %s", what, status, res.Raw)
			}
			got = res.Get("response").String()
		}
		if got != want {
			t.Errorf("%s: response %q, want %q", what, got, want)
		}
		us := res.Get("usage")
		if us.Get("input_tokens").Int() != int64(in2) || us.Get("output_tokens").Int() != int64(out) ||
			us.Get("reasoning_tokens").Int() != int64(reasoning) || us.Get("total_tokens").Int() != int64(in2+out) {
			t.Errorf("%s: usage %s, want %d in, %d out, %d reasoning", what, us.Raw, in2, out, reasoning)
		}
		if res.Get("model_id").String() != u.model || res.Get("agent_id").String() != u.agent {
			t.Errorf("%s: summary %s", what, res.Raw)
		}
		pvCheckRecord(t, what, pvLog(t, g, res.Get("run_id").String()), "egzora", u, in2, out, reasoning)
		sent := u.last()
		if u.streamed() != stream || u.system(sent) != pvSystem || u.userText(sent) != body["message"] {
			t.Errorf("%s: upstream request (streamed %v) %s", what, u.streamed(), sent.Raw)
		}
		return chunks
	}
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain/stream=%v", stream), func(t *testing.T) {
			chunks := chat(t, "chat", map[string]any{"agent_id": u.agent, "message": "Weather in Paris?"}, stream, pvReply, words, 0)
			if stream && len(chunks) != words {
				t.Errorf("chunks %q, want one per upstream token", chunks)
			}
			if sent := u.last(); u.reasoned(sent) {
				t.Errorf("upstream asked to reason: %s", sent.Raw)
			}
		})
		t.Run(fmt.Sprintf("reasoning/stream=%v", stream), func(t *testing.T) {
			chunks := chat(t, "chat", map[string]any{"agent_id": u.agent, "message": "Think first", "reasoning_enabled": true},
				stream, egzThinking(pvReasoning, pvReply), words+thoughts, counted)
			if stream && (len(chunks) == 0 || chunks[0] != egzora.ThinkingHeader) {
				t.Errorf("chunks %q: the heading is not the first chunk", chunks)
			}
			if sent := u.last(); !u.reasoned(sent) {
				t.Errorf("upstream not asked to reason: %s", sent.Raw)
			}
		})
		t.Run(fmt.Sprintf("image/stream=%v", stream), func(t *testing.T) {
			chat(t, "chat", map[string]any{"agent_id": u.agent, "message": "What is in this picture?", "images": []string{img}},
				stream, pvReply, words, 0)
			if got := u.image(u.last()); got != img {
				t.Errorf("upstream image %q, want %q", got, img)
			}
		})
	}
}

// pvFallbackBlock declares, for each provider type, a healthy upstream and
// one answering 503, and an agent per type whose model is on the failing
// one with a fallback on the next type.
func pvFallbackBlock(down, ok []string) string {
	return fmt.Sprintf(`
		provider openai-down openai {
			base_url %s
			api_key sk-down
		}
		provider gemini-down gemini {
			base_url %s
			api_key gm-key
		}
		provider anthropic-down anthropic {
			base_url %s
			api_key an-key
		}
		provider openai openai {
			base_url %s
			api_key sk-oa
		}
		provider gemini gemini {
			base_url %s
			api_key gm-key
		}
		provider anthropic anthropic {
			base_url %s
			api_key an-key
		}
		route gpt-down-* openai-down
		route gemini-down-* gemini-down
		route claude-down-* anthropic-down
		route gpt-* openai
		route gemini-* gemini
		route claude-* anthropic
		retries {
			max 1
			backoff 1ms
			max_backoff 2ms
		}
		agent fb-openai {
			system_prompt "You are the agent prompt."
			model gpt-down-1
			fallbacks gemini-ok
		}
		agent fb-gemini {
			system_prompt "You are the agent prompt."
			model gemini-down-1
			fallbacks claude-ok
		}
		agent fb-anthropic {
			system_prompt "You are the agent prompt."
			model claude-down-1
			fallbacks gpt-ok
		}
`, down[0], down[1], down[2], ok[0], ok[1], ok[2])
}

// TestFallbackAcrossProviders: the primary answers 503 to both tries (one
// retry), then the fallback model on another provider answers. The client
// sees one clean answer, streamed or not, through both dialects; the usage
// log shows all three attempts.
func TestFallbackAcrossProviders(t *testing.T) {
	oaDown := (&fakeupstream.OpenAI{Status: 503}).Start()
	gmDown := (&fakeupstream.Gemini{Status: 503}).Start()
	anDown := (&fakeupstream.Anthropic{Status: 503}).Start()
	oa := (&fakeupstream.OpenAI{Reply: "Answer from the openai fallback."}).Start()
	gm := (&fakeupstream.Gemini{Reply: "Answer from the gemini fallback.", APIKey: "gm-key"}).Start()
	an := (&fakeupstream.Anthropic{Reply: "Answer from the anthropic fallback.", APIKey: "an-key"}).Start()
	for _, c := range []func(){oaDown.Close, gmDown.Close, anDown.Close, oa.Close, gm.Close, an.Close} {
		t.Cleanup(c)
	}
	g := testgate.Start(t, testgate.Config{Block: pvFallbackBlock(
		[]string{oaDown.URL, gmDown.URL, anDown.URL}, []string{oa.URL, gm.URL, an.URL})})

	type tcase struct {
		agent         string
		primary, fall *pvUpstream
		reply         string
	}
	cases := []tcase{
		{"fb-openai", pvOpenAIUpstream(oaDown, "openai-down", "fb-openai", "gpt-down-1"),
			pvGeminiUpstream(gm, "gemini", "fb-openai", "gemini-ok"), gm.Reply},
		{"fb-gemini", pvGeminiUpstream(gmDown, "gemini-down", "fb-gemini", "gemini-down-1"),
			pvAnthropicUpstream(an, "anthropic", "fb-gemini", "claude-ok"), an.Reply},
		{"fb-anthropic", pvAnthropicUpstream(anDown, "anthropic-down", "fb-anthropic", "claude-down-1"),
			pvOpenAIUpstream(oa, "openai", "fb-anthropic", "gpt-ok"), oa.Reply},
	}
	client := sdk(g, testgate.KeyA)
	in2 := fakeupstream.PromptTokens(2)
	for _, c := range cases {
		words := egzWords(c.reply)
		for _, dialect := range []string{"openai", "egzora"} {
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/stream=%v", c.agent, dialect, stream), func(t *testing.T) {
					p0, f0 := c.primary.calls(), c.fall.calls()
					var text, runID string
					var in, out int64
					switch dialect {
					case "openai":
						params := openai.ChatCompletionNewParams{Model: c.agent,
							Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello?")}}
						if stream {
							params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
							s := pvReadStream(client, params)
							if s.err != nil {
								t.Fatalf("stream error: %v", s.err)
							}
							text, in, out = s.text, s.acc.Usage.PromptTokens, s.acc.Usage.CompletionTokens
						} else {
							resp, err := client.Chat.Completions.New(context.Background(), params)
							if err != nil {
								t.Fatal(err)
							}
							text, in, out = resp.Choices[0].Message.Content, resp.Usage.PromptTokens, resp.Usage.CompletionTokens
						}
					case "egzora":
						body := map[string]any{"agent_id": c.agent, "message": "Hello?"}
						var res gjson.Result
						if stream {
							text, _, res = egzStreamChat(t, g, testgate.KeyA, body)
						} else {
							var status int
							status, res = egzChat(t, g, testgate.KeyA, body)
							if status != 200 {
								t.Fatalf("%d %s", status, res.Raw)
							}
							text = res.Get("response").String()
						}
						runID = res.Get("run_id").String()
						in, out = res.Get("usage.input_tokens").Int(), res.Get("usage.output_tokens").Int()
						if res.Get("model_id").String() != c.fall.model {
							t.Errorf("model_id %s, want the fallback's %s", res.Get("model_id"), c.fall.model)
						}
					}
					if text != c.reply {
						t.Errorf("answer %q, want the fallback's %q alone", text, c.reply)
					}
					if in != int64(in2) || out != int64(words) {
						t.Errorf("usage %d in, %d out; want the fallback's %d, %d", in, out, in2, words)
					}
					if n := c.primary.calls() - p0; n != 2 {
						t.Errorf("primary tried %d times, want 2 (one retry)", n)
					}
					if n := c.fall.calls() - f0; n != 1 {
						t.Errorf("fallback tried %d times, want 1", n)
					}
					if c.fall.streamed() != stream {
						t.Errorf("fallback streamed = %v", c.fall.streamed())
					}

					// The three attempts of the call, oldest first: the run's
					// id, then .1 and .2.
					logs := pvLogs(t, g, 3)
					if len(logs) != 3 {
						t.Fatalf("%d usage records, want 3", len(logs))
					}
					sort.Slice(logs, func(i, j int) bool { return logs[i].Get("run_id").String() < logs[j].Get("run_id").String() })
					base := logs[0].Get("run_id").String()
					if runID != "" && base != runID {
						t.Errorf("first attempt's id %s, want the run's %s", base, runID)
					}
					for i, rec := range logs {
						wantID := base
						if i > 0 {
							wantID = fmt.Sprintf("%s.%d", base, i)
						}
						u, status, recIn, recOut := c.primary, "upstream_unavailable", 0, 0
						if i == 2 {
							u, status, recIn, recOut = c.fall, "ok", in2, words
						}
						if rec.Get("run_id").String() != wantID || rec.Get("provider").String() != u.name ||
							rec.Get("model_id").String() != u.model || rec.Get("status").String() != status ||
							rec.Get("dialect").String() != dialect || rec.Get("agent_id").String() != c.agent ||
							rec.Get("input_tokens").Int() != int64(recIn) || rec.Get("output_tokens").Int() != int64(recOut) {
							t.Errorf("attempt %d: record %s, want id %s, provider %s, model %s, status %s, %d in, %d out",
								i, rec.Raw, wantID, u.name, u.model, status, recIn, recOut)
						}
					}
				})
			}
		}
	}
}

// pvDropper is an OpenAI-compatible upstream that streams one token, then
// drops the connection.
type pvDropper struct {
	mu       sync.Mutex
	requests int
	srv      *httptest.Server
}

func (d *pvDropper) calls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.requests
}

func (d *pvDropper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body)
	d.mu.Lock()
	d.requests++
	d.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for _, delta := range []string{`{"role":"assistant","content":""}`, `{"content":"partial "}`} {
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-drop\",\"object\":\"chat.completion.chunk\",\"created\":1730000000,\"model\":\"gpt-drop\",\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":null}]}\n\n", delta)
		_ = rc.Flush()
	}
	if conn, _, err := rc.Hijack(); err == nil {
		conn.Close()
	}
}

// TestFallbackNotAfterFirstStreamedByte: once a token has reached the
// client, a failure is neither retried nor sent to a fallback: the
// upstream sees exactly one request and the client gets an error in the
// stream after the token.
func TestFallbackNotAfterFirstStreamedByte(t *testing.T) {
	drop := &pvDropper{}
	drop.srv = httptest.NewServer(drop)
	t.Cleanup(drop.srv.Close)
	an := (&fakeupstream.Anthropic{Reply: "Half an answer.", StreamError: "overloaded_error"}).Start()
	t.Cleanup(an.Close)
	spare := (&fakeupstream.OpenAI{Reply: "Spare answer."}).Start()
	t.Cleanup(spare.Close)
	g := testgate.Start(t, testgate.Config{Block: `
		provider drop openai {
			base_url ` + drop.srv.URL + `/v1
		}
		provider anthropic anthropic {
			base_url ` + an.URL + `
			api_key an-key
		}
		provider spare openai {
			base_url ` + spare.URL + `
		}
		route gpt-drop drop
		route claude-* anthropic
		route gpt-* spare
		retries {
			max 1
			backoff 1ms
			max_backoff 2ms
		}
		agent mid-drop {
			model gpt-drop
			fallbacks gpt-spare
		}
		agent mid-error {
			model claude-mid
			fallbacks gpt-spare
		}
`})
	client := sdk(g, testgate.KeyA)
	cases := []struct {
		agent, first string
		calls        func() int
	}{
		{"mid-drop", "partial ", drop.calls},
		{"mid-error", "Half ", func() int { return len(an.Requests()) }},
	}
	for _, c := range cases {
		for _, dialect := range []string{"openai", "egzora"} {
			t.Run(c.agent+"/"+dialect, func(t *testing.T) {
				n0, s0 := c.calls(), len(spare.Requests())
				var text string
				switch dialect {
				case "openai":
					s := pvReadStream(client, openai.ChatCompletionNewParams{Model: c.agent,
						Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello?")},
						StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
					if s.err == nil {
						t.Errorf("stream ended cleanly after a mid-stream failure")
					} else {
						t.Logf("client's stream error: %v", s.err)
					}
					text = s.text
				case "egzora":
					chunks, final := egzOpenStream(t, context.Background(), g, testgate.KeyA,
						map[string]any{"agent_id": c.agent, "message": "Hello?"}).all(t)
					if !final.Get("error").Exists() || final.Get("done").Bool() {
						t.Errorf("final event %s, want an error", final.Raw)
					} else {
						t.Logf("client's final event: %s", final.Raw)
					}
					text = strings.Join(chunks, "")
				}
				if text != c.first {
					t.Errorf("client got %q before the error, want %q", text, c.first)
				}
				if n := c.calls() - n0; n != 1 {
					t.Errorf("upstream saw %d requests, want exactly 1: no retry after the first streamed byte", n)
				}
				if n := len(spare.Requests()) - s0; n != 0 {
					t.Errorf("the fallback was called %d times after the first streamed byte", n)
				}
				logs := pvLogs(t, g, 2)
				if len(logs) == 0 || logs[0].Get("status").String() == "ok" || strings.Contains(logs[0].Get("run_id").String(), ".") ||
					logs[0].Get("agent_id").String() != c.agent {
					t.Errorf("usage record of the failed stream: %v", logs)
				}
				if len(logs) > 1 && strings.HasPrefix(logs[1].Get("run_id").String(), logs[0].Get("run_id").String()+".") {
					t.Errorf("a second attempt was logged: %s", logs[1].Raw)
				}
			})
		}
	}
}

// pvKeyed wraps an upstream: requests carrying bad (in header) get a 429
// with a Retry-After of 30s (longer than the test), the others go through.
// It records the key of every request in order.
type pvKeyed struct {
	header, bad string
	body        string // the 429's body, in the provider's error format
	next        http.Handler
	mu          sync.Mutex
	keys        []string
	srv         *httptest.Server
}

func (k *pvKeyed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.Header.Get(k.header), "Bearer ")
	k.mu.Lock()
	k.keys = append(k.keys, key)
	k.mu.Unlock()
	if key == k.bad {
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, k.body)
		return
	}
	k.next.ServeHTTP(w, r)
}

func (k *pvKeyed) seen() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.keys...)
}

// pvPoolCalls makes n chats alternating dialects and streaming, each of
// which must succeed with reply; it returns when each ended.
func pvPoolCalls(t *testing.T, g *testgate.Gateway, agent, reply string, n int) []time.Time {
	t.Helper()
	client := sdk(g, testgate.KeyA)
	var ends []time.Time
	for i := range n {
		var text string
		switch i % 4 {
		case 0:
			resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: agent,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hi")}})
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			text = resp.Choices[0].Message.Content
		case 1:
			s := pvReadStream(client, openai.ChatCompletionNewParams{Model: agent,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hi")}})
			if s.err != nil {
				t.Fatalf("request %d: %v", i, s.err)
			}
			text = s.text
		case 2:
			status, res := egzChat(t, g, testgate.KeyA, map[string]any{"agent_id": agent, "message": "Hi"})
			if status != 200 {
				t.Fatalf("request %d: %d %s", i, status, res.Raw)
			}
			text = res.Get("response").String()
		case 3:
			text, _, _ = egzStreamChat(t, g, testgate.KeyA, map[string]any{"agent_id": agent, "message": "Hi"})
		}
		ends = append(ends, time.Now())
		if text != reply {
			t.Errorf("request %d: answer %q", i, text)
		}
	}
	for i, rec := range pvLogs(t, g, n) {
		if rec.Get("status").String() != "ok" || strings.Contains(rec.Get("run_id").String(), ".") {
			t.Errorf("record %d: %s: every call succeeds in one attempt, the pool moving past the 429", i, rec.Raw)
		}
	}
	return ends
}

// TestPoolKeyRateLimited: a provider with two keys whose first answers
// 429 with Retry-After. Every client request succeeds, and from the first
// 429 on traffic goes to the second key while the first cools down.
func TestPoolKeyRateLimited(t *testing.T) {
	const n = 8
	t.Run("openai", func(t *testing.T) {
		up := (&fakeupstream.OpenAI{Reply: "Pooled answer."}).Start()
		defer up.Close()
		k := &pvKeyed{header: "Authorization", bad: "sk-k1", next: up.Server.Config.Handler,
			body: `{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`}
		k.srv = httptest.NewServer(k)
		defer k.srv.Close()
		g := testgate.Start(t, testgate.Config{Block: `
		provider pooled openai {
			base_url ` + k.srv.URL + `/v1
			api_key sk-k1 sk-k2
		}
		agent pooled {
			model gpt-pooled
			provider pooled
		}
`})
		pvPoolCalls(t, g, "pooled", up.Reply, n)
		want := append([]string{"sk-k1"}, strings.Split(strings.Repeat("sk-k2 ", n), " ")[:n]...)
		if got := k.seen(); !reflect.DeepEqual(got, want) {
			t.Errorf("keys upstream saw %v, want %v", got, want)
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		up := (&fakeupstream.Anthropic{Reply: "Pooled answer."}).Start()
		defer up.Close()
		k := &pvKeyed{header: "X-Api-Key", bad: "ak-k1", next: up.Server.Config.Handler,
			body: `{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your rate limit"}}`}
		k.srv = httptest.NewServer(k)
		defer k.srv.Close()
		g := testgate.Start(t, testgate.Config{Block: `
		provider pooled anthropic {
			base_url ` + k.srv.URL + `
			api_key ak-k1 ak-k2
		}
		route claude-* pooled
		agent pooled {
			model claude-pooled
		}
`})
		pvPoolCalls(t, g, "pooled", up.Reply, n)
		want := append([]string{"ak-k1"}, strings.Split(strings.Repeat("ak-k2 ", n), " ")[:n]...)
		if got := k.seen(); !reflect.DeepEqual(got, want) {
			t.Errorf("keys upstream saw %v, want %v", got, want)
		}
	})
	t.Run("gemini", func(t *testing.T) {
		// The fake's 429 carries RetryInfo of 1s: the key cools down for
		// at least 1s from its 429, so any call that ended within 1s of
		// the first call's start must not have used it again.
		up := (&fakeupstream.Gemini{Reply: "Pooled answer.", KeyStatus: map[string]int{"gk1": 429}}).Start()
		defer up.Close()
		g := testgate.Start(t, testgate.Config{Block: `
		provider pooled gemini {
			base_url ` + up.URL + `
			api_key gk1 gk2
		}
		route gemini-* pooled
		agent pooled {
			model gemini-pooled
		}
`})
		start := time.Now()
		ends := pvPoolCalls(t, g, "pooled", up.Reply, n)
		keys := up.Keys()
		if len(keys) < n+1 || keys[0] != "gk1" || keys[1] != "gk2" {
			t.Fatalf("keys upstream saw %v: want gk1 (429) then gk2", keys)
		}
		// Calls are sequential: upstream requests are in call order, and a
		// call that used gk1 again made two requests (gk1 then gk2).
		checked, i := 0, 2 // keys[0:2] were call 0
		for c := 1; c < n; c++ {
			if i >= len(keys) {
				t.Fatalf("keys %v: too few for %d calls", keys, n)
			}
			if keys[i] == "gk1" {
				if ends[c].Sub(start) < time.Second {
					t.Errorf("call %d used the 429'd key during its cooldown (keys %v)", c, keys)
				}
				i++
			}
			if i >= len(keys) || keys[i] != "gk2" {
				t.Fatalf("call %d: keys %v", c, keys)
			}
			i++
			if ends[c].Sub(start) < time.Second {
				checked++
			}
		}
		t.Logf("keys %v; %d calls ended within the cooldown", keys, checked)
	})
}

// pvCapBlock declares the suite's providers plus, for each, a route whose
// models lack images (a 400) and one whose models drop them.
func pvCapBlock(block string, ups []*pvUpstream) string {
	prefix := map[string]string{"openai": "gpt", "gemini": "gemini", "anthropic": "claude"}
	for _, u := range ups {
		p := prefix[u.name]
		block += fmt.Sprintf(`
		route %[1]s-noimg-* %[2]s {
			lacks images
		}
		route %[1]s-dropimg-* %[2]s {
			lacks images
			drop
		}
		route %[1]s-plain-* %[2]s {
			lacks tools reasoning
		}
		agent noimg-%[2]s {
			system_prompt %[3]q
			model %[1]s-noimg-1
		}
		agent dropimg-%[2]s {
			system_prompt %[3]q
			model %[1]s-dropimg-1
		}
		agent plain-%[2]s {
			system_prompt %[3]q
			model %[1]s-plain-1
		}
`, p, u.name, pvSystem)
	}
	return block
}

// TestCapabilitiesImages: images to a model whose route lacks them are a
// clear 400 naming images through both dialects (and never reach the
// upstream); with drop, the request goes through without the image. Tools
// and reasoning to a model lacking them are refused the same way.
func TestCapabilitiesImages(t *testing.T) {
	ups, block := pvProviders(t)
	g := testgate.Start(t, testgate.Config{Block: pvCapBlock(block, ups)})
	client := sdk(g, testgate.KeyA)
	img := egzJPEG(t)
	prefix := map[string]string{"openai": "gpt", "gemini": "gemini", "anthropic": "claude"}
	refused := func(t *testing.T, what string, err error, input string) {
		t.Helper()
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Message, input) {
			t.Errorf("%s: err %v, want a 400 naming %s", what, err, input)
			return
		}
		if apiErr.Param != input || apiErr.Code != "unsupported_"+input {
			t.Errorf("%s: param %q code %q, want %q, %q", what, apiErr.Param, apiErr.Code, input, "unsupported_"+input)
		}
	}
	for _, u := range ups {
		t.Run(u.name, func(t *testing.T) {
			calls := u.calls()
			msgs := []openai.ChatCompletionMessageParamUnion{pvUserTurn("What is in this picture?", img)}
			// Through an agent and as a passthrough model.
			for _, model := range []string{"noimg-" + u.name, prefix[u.name] + "-noimg-direct"} {
				_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: model, Messages: msgs})
				refused(t, "openai surface "+model, err, "images")
				s := pvReadStream(client, openai.ChatCompletionNewParams{Model: model, Messages: msgs})
				refused(t, "openai surface streaming "+model, s.err, "images")
			}
			for _, stream := range []bool{false, true} {
				status, out, _ := g.Do("POST", "/v1/chat", testgate.KeyA, map[string]any{"agent_id": "noimg-" + u.name,
					"message": "What is in this picture?", "images": []string{img}, "stream": stream})
				e := gjson.GetBytes(out, "error")
				if status != 400 || !strings.Contains(e.Get("message").String(), "images") || e.Get("param").String() != "images" ||
					e.Get("type").String() != "invalid_request_error" {
					t.Errorf("egzora stream=%v: %d %s, want a 400 naming images", stream, status, out)
				}
			}
			if n := u.calls() - calls; n != 0 {
				t.Errorf("refused requests reached the upstream (%d calls)", n)
			}
			// Without an image the same agent answers.
			if status, res := egzChat(t, g, testgate.KeyA, map[string]any{"agent_id": "noimg-" + u.name, "message": "Just text"}); status != 200 ||
				res.Get("response").String() != pvReply {
				t.Errorf("text-only chat to a model lacking images: %d %s", status, res.Raw)
			}

			// drop: through, without the image.
			resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "dropimg-" + u.name, Messages: msgs})
			if err != nil || resp.Choices[0].Message.Content != pvReply {
				t.Fatalf("openai surface with drop: %v", err)
			}
			if sent := u.last(); u.image(sent) != "" || u.userText(sent) != "What is in this picture?" {
				t.Errorf("openai surface with drop: upstream got %s", sent.Raw)
			}
			for _, stream := range []bool{false, true} {
				body := map[string]any{"agent_id": "dropimg-" + u.name, "message": "What is in this picture?", "images": []string{img}}
				var text string
				if stream {
					text, _, _ = egzStreamChat(t, g, testgate.KeyA, body)
				} else {
					status, res := egzChat(t, g, testgate.KeyA, body)
					if status != 200 {
						t.Fatalf("egzora with drop: %d %s", status, res.Raw)
					}
					text = res.Get("response").String()
				}
				if text != pvReply {
					t.Errorf("egzora stream=%v with drop: answer %q", stream, text)
				}
				if sent := u.last(); u.image(sent) != "" || u.userText(sent) != "What is in this picture?" {
					t.Errorf("egzora stream=%v with drop: upstream got %s", stream, sent.Raw)
				}
			}

			// Tools and reasoning to a model that lacks them.
			calls = u.calls()
			_, err = client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "plain-" + u.name,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather?")},
				Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
					Name: pvTool, Parameters: openai.FunctionParameters{"type": "object"}})}})
			refused(t, "tools", err, "tools")
			_, err = client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "plain-" + u.name,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Think")}, ReasoningEffort: openai.ReasoningEffortHigh})
			refused(t, "reasoning", err, "reasoning")
			status, out, _ := g.Do("POST", "/v1/chat", testgate.KeyA, map[string]any{"agent_id": "plain-" + u.name,
				"message": "Think", "reasoning_enabled": true})
			if e := gjson.GetBytes(out, "error"); status != 400 || e.Get("param").String() != "reasoning" ||
				!strings.Contains(e.Get("message").String(), "reasoning") {
				t.Errorf("egzora reasoning to a model lacking it: %d %s", status, out)
			}
			if n := u.calls() - calls; n != 0 {
				t.Errorf("refused requests reached the upstream (%d calls)", n)
			}
		})
	}
}

// pvVector is the fakes' deterministic embedding of s.
func pvVector(s string) []float64 {
	vec := make([]float64, 8)
	for j, c := range s {
		vec[(j+int(c))%8]++
	}
	return vec
}

// TestEmbeddingsRouting: POST /v1/embeddings reaches Gemini's
// batchEmbedContents or OpenAI's /embeddings by the model's route, in
// float and base64 encodings, and is logged with its provider.
func TestEmbeddingsRouting(t *testing.T) {
	oa := (&fakeupstream.OpenAI{}).Start()
	defer oa.Close()
	gm := (&fakeupstream.Gemini{APIKey: "gm-key"}).Start()
	defer gm.Close()
	g := testgate.Start(t, testgate.Config{Block: `
		provider openai openai {
			base_url ` + oa.URL + `
			api_key sk-oa
		}
		provider gemini gemini {
			base_url ` + gm.URL + `
			api_key gm-key
		}
		route text-embedding-004 gemini
		route text-embedding-* openai
		route gemini-* gemini
`})
	client := sdk(g, testgate.KeyA)
	inputs := []string{"hello world", "the quick brown fox", "abc"}
	for _, c := range []struct{ model, provider string }{
		{"text-embedding-004", "gemini"},
		{"gemini-embedding-001", "gemini"},
		{"text-embedding-3-small", "openai"},
	} {
		for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
			t.Run(c.model+"/"+string(format), func(t *testing.T) {
				gmCalls := len(gm.RequestURLs())
				emb, err := client.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
					Model:          c.model,
					Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
					EncodingFormat: format,
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(emb.Data) != len(inputs) {
					t.Fatalf("%d embeddings for %d inputs", len(emb.Data), len(inputs))
				}
				for i, d := range emb.Data {
					if d.Index != int64(i) || !reflect.DeepEqual(d.Embedding, pvVector(inputs[i])) {
						t.Errorf("embedding %d (index %d) = %v, want %v", i, d.Index, d.Embedding, pvVector(inputs[i]))
					}
				}
				words := 0
				for _, s := range inputs {
					words += len(strings.Fields(s))
				}
				if emb.Usage.PromptTokens != int64(words) || emb.Usage.TotalTokens != int64(words) || emb.Model != c.model {
					t.Errorf("usage %s, model %q", emb.Usage.RawJSON(), emb.Model)
				}
				urls := gm.RequestURLs()[gmCalls:]
				switch c.provider {
				case "gemini":
					if len(urls) != 1 || !strings.Contains(urls[0], "/models/"+c.model+":batchEmbedContents") {
						t.Errorf("gemini got %v, want one batchEmbedContents of %s", urls, c.model)
					} else {
						var got []string
						for _, r := range gjson.Get(gm.LastRequest().Raw, "requests").Array() {
							got = append(got, r.Get("content.parts.0.text").String())
						}
						if !reflect.DeepEqual(got, inputs) {
							t.Errorf("gemini embedded %q, want %q", got, inputs)
						}
					}
				case "openai":
					if len(urls) != 0 {
						t.Errorf("an openai-routed embedding reached gemini: %v", urls)
					}
				}
				logs := pvLogs(t, g, 1)
				if len(logs) != 1 || logs[0].Get("provider").String() != c.provider || logs[0].Get("model_id").String() != c.model ||
					logs[0].Get("status").String() != "ok" || logs[0].Get("input_tokens").Int() != int64(words) {
					t.Errorf("usage record %v, want provider %s, model %s, %d input tokens", logs, c.provider, c.model, words)
				}
			})
		}
	}
}

// TestProviderServerToolLoop runs an agent's own tool (the built-in
// calculator) with reasoning on against each provider: the runtime calls
// the tool and sends its result back, and each provider's replay rules
// hold on the second call (Anthropic: the thinking block, with the
// signature it was given, leads the assistant turn; Gemini: the function
// call carries its thoughtSignature).
func TestProviderServerToolLoop(t *testing.T) {
	const args = `{"expression":"2+2"}`
	oa := (&fakeupstream.OpenAI{Reply: pvReply, Reasoning: pvReasoning, ToolName: "calculator", ToolArgs: args}).Start()
	gm := (&fakeupstream.Gemini{Reply: pvReply, Reasoning: pvReasoning, ToolName: "calculator", ToolArgs: args, RequireSignatures: true}).Start()
	an := (&fakeupstream.Anthropic{Reply: pvReply, Reasoning: pvReasoning, ToolName: "calculator", ToolArgs: args}).Start()
	for _, c := range []func(){oa.Close, gm.Close, an.Close} {
		t.Cleanup(c)
	}
	g := testgate.Start(t, testgate.Config{Block: `
		provider openai openai {
			base_url ` + oa.URL + `
		}
		provider gemini gemini {
			base_url ` + gm.URL + `
		}
		provider anthropic anthropic {
			base_url ` + an.URL + `
		}
		route gpt-* openai
		route gemini-* gemini
		route claude-* anthropic
		agent calc-openai {
			model gpt-calc
			tools calculator
			reasoning on
		}
		agent calc-gemini {
			model gemini-3-calc
			tools calculator
			reasoning on
		}
		agent calc-anthropic {
			model claude-calc
			tools calculator
			reasoning on
		}
`})
	ups := []*pvUpstream{
		pvOpenAIUpstream(oa, "openai", "calc-openai", "gpt-calc"),
		pvGeminiUpstream(gm, "gemini", "calc-gemini", "gemini-3-calc"),
		pvAnthropicUpstream(an, "anthropic", "calc-anthropic", "claude-calc"),
	}
	// toolResult is the calculator's answer as the upstream got it.
	toolResult := map[string]func(gjson.Result) string{
		"openai": func(r gjson.Result) string { return r.Get("messages.@reverse.0.content").String() },
		"gemini": func(r gjson.Result) string {
			return pvField(r.Get("contents.@reverse.0.parts.0"), "functionResponse", "function_response").Get("response").Raw
		},
		"anthropic": func(r gjson.Result) string {
			c := r.Get("messages.@reverse.0.content.0.content")
			if c.IsArray() {
				return c.Get("0.text").String()
			}
			return c.String()
		},
	}
	for _, u := range ups {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", u.name, stream), func(t *testing.T) {
				n0 := u.calls()
				body := map[string]any{"agent_id": u.agent, "message": "What is 2+2?"}
				var text string
				if stream {
					text, _, _ = egzStreamChat(t, g, testgate.KeyA, body)
				} else {
					status, res := egzChat(t, g, testgate.KeyA, body)
					if status != 200 {
						t.Fatalf("%d %s", status, res.Raw)
					}
					text = res.Get("response").String()
				}
				if !strings.HasPrefix(text, egzora.ThinkingHeader) || !strings.HasSuffix(text, egzora.ThinkingSeparator+pvReply) {
					t.Errorf("response %q, want the thinking block then %q", text, pvReply)
				}
				if n := u.calls() - n0; n != 2 {
					t.Fatalf("upstream called %d times, want 2 (tool call, then answer)", n)
				}
				if got := toolResult[u.name](u.last()); !strings.Contains(got, `"result":4`) {
					t.Errorf("calculator result sent upstream as %q: %s", got, u.last().Raw)
				}
			})
		}
	}
}
