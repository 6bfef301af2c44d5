package e2e

// Acceptance tests of issue 17's anthropic dialect: the official Go SDK
// (github.com/anthropics/anthropic-sdk-go/v2) through a real Caddy against
// each of the three provider types' fakes, reusing the provider suite's
// upstreams (pvProviders): answers, streams, images, tool round trips,
// thinking with its signature sent back, count_tokens, passthrough, usage
// records, quota and metrics to the token; every error class; a request
// shaped like Claude Code's.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
)

// anClient is the Anthropic SDK pointed at g with only its base URL and
// key changed.
func anClient(g *testgate.Gateway, key string, opts ...option.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]option.RequestOption{option.WithBaseURL(g.URL), option.WithAPIKey(key),
		option.WithMaxRetries(0)}, opts...)...)
}

// anText is the text of a message's text blocks.
func anText(m *anthropic.Message) string {
	var b strings.Builder
	for _, c := range m.Content {
		if c.Type == "text" {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// anThinking is the thinking of a message's thinking blocks and the last
// signature among them.
func anThinking(m *anthropic.Message) (thinking, signature string) {
	for _, c := range m.Content {
		if c.Type == "thinking" {
			thinking += c.Thinking
			if c.Signature != "" {
				signature = c.Signature
			}
		}
	}
	return thinking, signature
}

// anSignature is the signature of the thinking an upstream's fake signs.
func anSignature(u *pvUpstream) string {
	switch u.name {
	case "anthropic":
		return fakeupstream.AnthropicSignature(pvReasoning)
	case "gemini":
		return fakeupstream.FakeSignature
	}
	return "" // OpenAI-compatible reasoning is not signed
}

// anUsage checks an Anthropic usage object to the token: input_tokens
// leaves out cached tokens, which these fakes report none of.
func anUsage(t *testing.T, what string, u anthropic.Usage, in, out int) {
	t.Helper()
	if u.InputTokens != int64(in) || u.OutputTokens != int64(out) || u.CacheReadInputTokens != 0 || u.CacheCreationInputTokens != 0 {
		t.Errorf("%s: usage %d in, %d out, %d cache read, %d cache write; want %d in, %d out",
			what, u.InputTokens, u.OutputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens, in, out)
	}
}

// anStreamed is a stream read to its end: the accumulated message, how
// many text deltas it had, and the event types in order.
type anStreamed struct {
	msg        anthropic.Message
	textDeltas int
	events     []string
	err        error
}

func anStream(ctx context.Context, client anthropic.Client, params anthropic.MessageNewParams, opts ...option.RequestOption) *anStreamed {
	stream := client.Messages.NewStreaming(ctx, params, opts...)
	defer stream.Close()
	s := &anStreamed{}
	for stream.Next() {
		ev := stream.Current()
		s.events = append(s.events, ev.Type)
		if ev.Type == "content_block_delta" && ev.Delta.Type == "text_delta" {
			s.textDeltas++
		}
		if err := s.msg.Accumulate(ev); err != nil {
			s.err = err
			return s
		}
	}
	s.err = stream.Err()
	return s
}

// anCall runs params streamed or not and returns the answer.
func anCall(t *testing.T, client anthropic.Client, params anthropic.MessageNewParams, stream bool) *anthropic.Message {
	t.Helper()
	if stream {
		s := anStream(context.Background(), client, params)
		if s.err != nil {
			t.Fatalf("stream: %v", s.err)
		}
		return &s.msg
	}
	m, err := client.Messages.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var anWeatherTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: pvTool, Description: anthropic.String("Weather of a city"),
	InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}}}

// anUsedTokens is the monthly token use of KeyA's tenant key, as Egzora's
// profile reports it.
func anUsedTokens(t *testing.T, g *testgate.Gateway) int64 {
	t.Helper()
	status, body, _ := g.Do("GET", "/v1/auth/profile", testgate.KeyA, nil)
	if status != 200 {
		t.Fatalf("profile: %d %s", status, body)
	}
	return gjson.GetBytes(body, "used_monthly_tokens").Int()
}

// anMetric sums the admin endpoint's samples of name with the labels kv.
func anMetric(t *testing.T, g *testgate.Gateway, name string, kv ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + g.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
next:
	for _, m := range fams[name].GetMetric() {
		for i := 0; i+1 < len(kv); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == kv[i] && l.GetValue() == kv[i+1])
			}
			if !found {
				continue next
			}
		}
		sum += m.GetCounter().GetValue()
	}
	return sum
}

func TestAnthropicSDKSuite(t *testing.T) {
	ups, block := pvProviders(t)
	g := testgate.Start(t, testgate.Config{Block: block})
	img := egzJPEG(t)
	for _, u := range ups {
		t.Run(u.name, func(t *testing.T) { anSurface(t, g, u, img) })
	}
}

func anSurface(t *testing.T, g *testgate.Gateway, u *pvUpstream, img string) {
	client := anClient(g, testgate.KeyA)
	ctx := context.Background()
	words, thoughts := egzWords(pvReply), egzWords(pvReasoning)
	in2 := fakeupstream.PromptTokens(2) // the agent's system prompt and the user's message
	user := func(text string) []anthropic.MessageParam {
		return []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))}
	}

	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("answer/stream=%v", stream), func(t *testing.T) {
			used := anUsedTokens(t, g)
			requests := anMetric(t, g, "agentgate_requests_total", "dialect", "anthropic", "agent", u.agent, "outcome", "ok")
			params := anthropic.MessageNewParams{Model: u.agent, MaxTokens: 256, Messages: user("Weather in Paris?")}
			var m *anthropic.Message
			if stream {
				s := anStream(ctx, client, params)
				if s.err != nil {
					t.Fatal(s.err)
				}
				if s.textDeltas != words {
					t.Errorf("%d text deltas, want one per upstream token (%d)", s.textDeltas, words)
				}
				want := []string{"message_start", "content_block_start"}
				for range words {
					want = append(want, "content_block_delta")
				}
				want = append(want, "content_block_stop", "message_delta", "message_stop")
				if strings.Join(s.events, ",") != strings.Join(want, ",") {
					t.Errorf("events %v, want %v (ping is skipped by the SDK)", s.events, want)
				}
				m = &s.msg
			} else {
				var err error
				if m, err = client.Messages.New(ctx, params); err != nil {
					t.Fatal(err)
				}
			}
			if anText(m) != pvReply || m.StopReason != "end_turn" || m.Role != "assistant" || m.Model != u.agent || !strings.HasPrefix(m.ID, "msg_") {
				t.Errorf("message %+v", m)
			}
			anUsage(t, "usage", m.Usage, in2, words)
			if sent := pvSent(t, u, "request", "Weather in Paris?", stream); u.reasoned(sent) {
				t.Errorf("upstream asked to reason: %s", sent.Raw)
			}
			pvLastRecord(t, g, u, "anthropic", "log", in2, words, 0)
			// The quota is settled and the metrics exported as the
			// handler returns, which can be after the client read the
			// answer (and its usage record was written).
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				got := anUsedTokens(t, g) - used
				if got == int64(in2+words) {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("monthly quota grew by %d tokens, want the answer's %d", got, in2+words)
					break
				}
			}
			g.WaitMetric(t, requests+1, "agentgate_requests_total", "dialect", "anthropic", "agent", u.agent, "outcome", "ok")
		})
	}

	t.Run("image", func(t *testing.T) {
		mediaType, data, _ := strings.Cut(strings.TrimPrefix(img, "data:"), ";base64,")
		for _, stream := range []bool{false, true} {
			what := fmt.Sprintf("stream=%v", stream)
			m := anCall(t, client, anthropic.MessageNewParams{Model: u.agent, MaxTokens: 256, Messages: []anthropic.MessageParam{
				anthropic.NewUserMessage(anthropic.NewImageBlockBase64(mediaType, data), anthropic.NewTextBlock("What is in this picture?"))}}, stream)
			if anText(m) != pvReply {
				t.Errorf("%s: answer %q", what, anText(m))
			}
			anUsage(t, what, m.Usage, in2, words)
			if got := u.image(pvSent(t, u, what, "What is in this picture?", stream)); got != img {
				t.Errorf("%s: upstream image %q, want %q", what, got, img)
			}
		}
	})

	t.Run("tool round trip", func(t *testing.T) {
		for _, stream := range []bool{false, true} {
			what := fmt.Sprintf("stream=%v", stream)
			params := anthropic.MessageNewParams{Model: u.agent, MaxTokens: 256, Messages: user("Weather in Paris?"),
				Tools: []anthropic.ToolUnionParam{anWeatherTool}}
			m := anCall(t, client, params, stream)
			var use anthropic.ContentBlockUnion
			for _, c := range m.Content {
				if c.Type == "tool_use" {
					use = c
				}
			}
			if use.Name != pvTool || use.ID == "" || !pvJSONEqual(string(use.Input), pvToolArgs) || m.StopReason != "tool_use" {
				t.Fatalf("%s: answer %+v (stop %q), want a call of %s", what, m.Content, m.StopReason, pvTool)
			}
			anUsage(t, what+" call", m.Usage, in2, 5)
			if sent := pvSent(t, u, what, "Weather in Paris?", stream); u.tool(sent) != pvTool {
				t.Errorf("%s: tool not offered upstream: %s", what, sent.Raw)
			}
			pvLastRecord(t, g, u, "anthropic", what+" call log", in2, 5, 0)

			params.Messages = append(params.Messages, m.ToParam(),
				anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, pvToolOut, false)))
			answer := anCall(t, client, params, stream)
			if anText(answer) != pvReply || answer.StopReason != "end_turn" {
				t.Errorf("%s: answer after the tool result %q (%s)", what, anText(answer), answer.StopReason)
			}
			anUsage(t, what+" answer", answer.Usage, fakeupstream.PromptTokens(4), words)
			if err := u.toolResult(u.last(), use.ID); err != nil {
				t.Errorf("%s: tool round trip not sent upstream intact: %v", what, err)
			}
			pvLastRecord(t, g, u, "anthropic", what+" answer log", fakeupstream.PromptTokens(4), words, 0)
		}
	})

	t.Run("thinking", func(t *testing.T) {
		counted := thoughts
		if !u.countsReasoning {
			counted = 0
		}
		for _, stream := range []bool{false, true} {
			what := fmt.Sprintf("stream=%v", stream)
			params := anthropic.MessageNewParams{Model: u.agent, MaxTokens: 4096, Messages: user("Think, then answer"),
				Thinking: anthropic.ThinkingConfigParamOfEnabled(2048)}
			m := anCall(t, client, params, stream)
			thinking, sig := anThinking(m)
			if anText(m) != pvReply || thinking != pvReasoning || sig != anSignature(u) {
				t.Errorf("%s: answer %q, thinking %q signed %q; want %q, %q signed %q", what, anText(m), thinking, sig, pvReply, pvReasoning, anSignature(u))
			}
			if m.Content[0].Type != "thinking" {
				t.Errorf("%s: the answer does not start with its thinking: %+v", what, m.Content)
			}
			anUsage(t, what, m.Usage, in2, words+thoughts)
			if sent := pvSent(t, u, what, "Think, then answer", stream); !u.reasoned(sent) {
				t.Errorf("%s: upstream not asked to reason: %s", what, sent.Raw)
			}
			pvLastRecord(t, g, u, "anthropic", what+" log", in2, words+thoughts, counted)

			// The next turn sends the signed thinking back; the Anthropic
			// fake rejects a signature it did not make.
			params.Messages = append(params.Messages, m.ToParam(), anthropic.NewUserMessage(anthropic.NewTextBlock("And tomorrow?")))
			next := anCall(t, client, params, stream)
			if anText(next) != pvReply {
				t.Errorf("%s: next turn %q", what, anText(next))
			}
			sent := u.last()
			switch u.name {
			case "anthropic":
				b := sent.Get("messages.1.content.0")
				if b.Get("type").String() != "thinking" || b.Get("thinking").String() != pvReasoning || b.Get("signature").String() != sig {
					t.Errorf("%s: thinking not sent back signed: %s", what, sent.Get("messages.1").Raw)
				}
			case "gemini":
				p := sent.Get("contents.1.parts.0")
				if !p.Get("thought").Bool() || p.Get("text").String() != pvReasoning || pvField(p, "thoughtSignature", "thought_signature").String() != sig {
					t.Errorf("%s: thought not sent back signed: %s", what, sent.Get("contents.1").Raw)
				}
			}
		}
	})

	t.Run("count tokens", func(t *testing.T) {
		calls := u.calls()
		res, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: u.agent, Messages: user("Weather in Paris?"),
			Tools: []anthropic.MessageCountTokensToolUnionParam{{OfTool: anWeatherTool.OfTool}}})
		if err != nil {
			t.Fatal(err)
		}
		// The agent's prompt, the message and the tool, four bytes a token.
		if res.InputTokens < 20 || res.InputTokens > 80 {
			t.Errorf("input_tokens %d", res.InputTokens)
		}
		if u.calls() != calls {
			t.Error("count_tokens called the upstream")
		}
	})

	t.Run("passthrough", func(t *testing.T) {
		m := anCall(t, client, anthropic.MessageNewParams{Model: u.model, MaxTokens: 128, Messages: user("Direct?"),
			System: []anthropic.TextBlockParam{{Text: "Client system."}}}, false)
		if anText(m) != pvReply || m.Model != u.model {
			t.Errorf("answer %+v", m)
		}
		sent := u.last()
		if got := u.system(sent); got != "Client system." {
			t.Errorf("upstream system %q, want only the client's", got)
		}
		anUsage(t, "usage", m.Usage, in2, words)
	})

	t.Run("gateway errors", func(t *testing.T) {
		check := func(what string, err error, status int, typ string) {
			t.Helper()
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != status || string(apiErr.Type()) != typ || apiErr.Message == "" || apiErr.RequestID == "" {
				t.Errorf("%s: %v, want %d %s with a message and a request id", what, err, status, typ)
			}
		}
		stranger := anClient(g, "agk_wrong_key_0000000000000000")
		_, err := stranger.Messages.New(ctx, anthropic.MessageNewParams{Model: u.agent, MaxTokens: 16, Messages: user("hi")})
		check("bad key", err, 401, "authentication_error")
		_, err = client.Messages.New(ctx, anthropic.MessageNewParams{Model: "no-such-model", MaxTokens: 16, Messages: user("hi")})
		check("unknown model", err, 404, "not_found_error")
		_, err = client.Messages.New(ctx, anthropic.MessageNewParams{Model: u.agent, MaxTokens: 4096, Messages: user("hi"),
			Thinking: anthropic.ThinkingConfigParamOfEnabled(100)})
		check("thinking budget", err, 400, "invalid_request_error")
		s := anStream(ctx, client, anthropic.MessageNewParams{Model: u.agent, MaxTokens: 16, Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewImageBlockBase64("image/tiff", "AAAA"))}})
		check("stream with a bad image", s.err, 400, "invalid_request_error")
	})

	t.Run("models", func(t *testing.T) {
		page := client.Models.ListAutoPaging(ctx, anthropic.ModelListParams{Limit: anthropic.Int(2)})
		var ids []string
		for page.Next() {
			ids = append(ids, page.Current().ID)
		}
		if err := page.Err(); err != nil {
			t.Fatal(err)
		}
		if strings.Join(ids, ",") != "on-openai,on-gemini,on-anthropic" {
			t.Errorf("models %v", ids)
		}
		mi, err := client.Models.Get(ctx, u.agent, anthropic.ModelGetParams{})
		if err != nil || mi.ID != u.agent || mi.CreatedAt.IsZero() {
			t.Errorf("model %+v: %v", mi, err)
		}
		// Without anthropic-version the same path is OpenAI's list.
		status, body, _ := g.Do("GET", "/v1/models", testgate.KeyA, nil)
		if status != 200 || gjson.GetBytes(body, "object").String() != "list" || gjson.GetBytes(body, "data.0.object").String() != "model" {
			t.Errorf("OpenAI models list: %d %s", status, body)
		}
	})
}

// Keys of the limited tiers of TestAnthropicErrors.
const (
	anKeyRPM    = "agk_test_anthropic_rpm_000000000"
	anKeyNarrow = "agk_test_anthropic_narrow_000000"
	anKeyTiny   = "agk_test_anthropic_tiny_00000000"
)

// TestAnthropicErrors: every error class reaches the Go SDK as the
// *anthropic.Error with Anthropic's status and type — the upstream's
// failures on each provider type (overloaded, rate limited, broken, and
// a failure after the stream began), and the gateway's own (rate limit
// with retry-after, monthly quota, model not allowed, body too large,
// documents the route's models lack).
func TestAnthropicErrors(t *testing.T) {
	type upstreams struct{ openai, gemini, anthropic string }
	start := func(status int) upstreams {
		oa := (&fakeupstream.OpenAI{Status: status}).Start()
		gm := (&fakeupstream.Gemini{Status: status, APIKey: "gm-key"}).Start()
		an := (&fakeupstream.Anthropic{Status: status, APIKey: "an-key"}).Start()
		t.Cleanup(oa.Close)
		t.Cleanup(gm.Close)
		t.Cleanup(an.Close)
		return upstreams{oa.URL, gm.URL, an.URL}
	}
	ok := (&fakeupstream.OpenAI{Reply: "fine"}).Start()
	t.Cleanup(ok.Close)
	midstream := (&fakeupstream.Anthropic{Reply: "Half an answer.", StreamError: "overloaded_error", APIKey: "an-key"}).Start()
	t.Cleanup(midstream.Close)
	block := fmt.Sprintf(`
		retries {
			max -1
		}
		max_body_bytes 65536
		provider ok openai {
			base_url %s
			api_key sk-ok
		}
		provider midstream anthropic {
			base_url %s
			api_key an-key
		}
		route gpt-ok ok
		route gpt-nodocs ok {
			lacks documents
		}
		route claude-midstream midstream
		tier rpm {
			rpm 1
		}
		tier narrow {
			models gpt-ok
		}
		tier tiny {
			monthly_tokens 5
		}
		key %s {
			tenant tenant-a
			tier rpm
		}
		key %s {
			tenant tenant-a
			tier narrow
		}
		key %s {
			tenant tenant-a
			tier tiny
		}
`, ok.URL, midstream.URL, anKeyRPM, anKeyNarrow, anKeyTiny)
	failing := map[string]struct {
		status int
		typ    string
	}{
		"overloaded": {529, "overloaded_error"}, // 503 from OpenAI and Gemini, 529 from Anthropic
		"limited":    {429, "rate_limit_error"},
		"broken":     {502, "api_error"},
	}
	for name, status := range map[string]int{"overloaded": 0, "limited": 429, "broken": 500} {
		ups := start(status)
		if name == "overloaded" {
			a := start(529)
			b := start(503)
			ups = upstreams{b.openai, b.gemini, a.anthropic}
		}
		block += fmt.Sprintf(`
		provider openai-%[1]s openai {
			base_url %[2]s
			api_key sk-x
		}
		provider gemini-%[1]s gemini {
			base_url %[3]s
			api_key gm-key
		}
		provider anthropic-%[1]s anthropic {
			base_url %[4]s
			api_key an-key
		}
		route gpt-%[1]s openai-%[1]s
		route gemini-%[1]s gemini-%[1]s
		route claude-%[1]s anthropic-%[1]s
`, name, ups.openai, ups.gemini, ups.anthropic)
	}
	g := testgate.Start(t, testgate.Config{Block: block})
	ctx := context.Background()
	user := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}
	check := func(t *testing.T, what string, err error, status int, typ string) *anthropic.Error {
		t.Helper()
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != status || string(apiErr.Type()) != typ || apiErr.Message == "" {
			t.Errorf("%s: %v, want %d %s", what, err, status, typ)
			return nil
		}
		return apiErr
	}

	for name, want := range failing {
		for _, prefix := range []string{"gpt", "gemini", "claude"} {
			model := prefix + "-" + name
			t.Run(model, func(t *testing.T) {
				client := anClient(g, testgate.KeyA)
				for _, stream := range []bool{false, true} {
					var err error
					if stream {
						err = anStream(ctx, client, anthropic.MessageNewParams{Model: model, MaxTokens: 16, Messages: user}).err
					} else {
						_, err = client.Messages.New(ctx, anthropic.MessageNewParams{Model: model, MaxTokens: 16, Messages: user})
					}
					if e := check(t, fmt.Sprintf("stream=%v", stream), err, want.status, want.typ); e != nil && want.status == 429 &&
						e.Response.Header.Get("Retry-After") == "" {
						t.Errorf("stream=%v: 429 without retry-after", stream)
					}
				}
			})
		}
	}

	t.Run("after the stream began", func(t *testing.T) {
		s := anStream(ctx, anClient(g, testgate.KeyA), anthropic.MessageNewParams{Model: "claude-midstream", MaxTokens: 16, Messages: user})
		check(t, "stream", s.err, 200, "overloaded_error") // the stream's status was 200 OK
		if len(s.events) == 0 || s.events[0] != "message_start" || s.textDeltas != 1 {
			t.Errorf("events before the error: %v", s.events)
		}
	})

	t.Run("gateway limits", func(t *testing.T) {
		rpm := anClient(g, anKeyRPM)
		if _, err := rpm.Messages.New(ctx, anthropic.MessageNewParams{Model: "gpt-ok", MaxTokens: 16, Messages: user}); err != nil {
			t.Fatal(err)
		}
		_, err := rpm.Messages.New(ctx, anthropic.MessageNewParams{Model: "gpt-ok", MaxTokens: 16, Messages: user})
		if e := check(t, "rpm", err, 429, "rate_limit_error"); e != nil && e.Response.Header.Get("Retry-After") == "" {
			t.Error("rpm: no retry-after")
		}

		tiny := anClient(g, anKeyTiny)
		_, err = tiny.Messages.New(ctx, anthropic.MessageNewParams{Model: "gpt-ok", MaxTokens: 16, Messages: user})
		if e := check(t, "quota", err, 429, "rate_limit_error"); e != nil && e.Response.Header.Get("X-Should-Retry") != "false" {
			t.Error("quota: the SDKs are not told not to retry")
		}

		narrow := anClient(g, anKeyNarrow)
		if _, err := narrow.Messages.New(ctx, anthropic.MessageNewParams{Model: "gpt-ok", MaxTokens: 16, Messages: user}); err != nil {
			t.Fatalf("allowed model: %v", err)
		}
		_, err = narrow.Messages.New(ctx, anthropic.MessageNewParams{Model: "gpt-nodocs", MaxTokens: 16, Messages: user})
		check(t, "model not allowed", err, 403, "permission_error")

		client := anClient(g, testgate.KeyA)
		_, err = client.Messages.New(ctx, anthropic.MessageNewParams{Model: "gpt-ok", MaxTokens: 16, Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewTextBlock(strings.Repeat("x", 70000)))}})
		check(t, "body too large", err, 413, "request_too_large")

		_, err = client.Messages.New(ctx, anthropic.MessageNewParams{Model: "gpt-nodocs", MaxTokens: 16, Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewDocumentBlock(anthropic.PlainTextSourceParam{Data: "notes"}), anthropic.NewTextBlock("Read"))}})
		if e := check(t, "documents the model lacks", err, 400, "invalid_request_error"); e != nil && !strings.Contains(e.Message, "documents") {
			t.Errorf("the 400 does not name documents: %s", e.Message)
		}
	})
}

// claudeCodeTools are tool definitions shaped like Claude Code's: JSON
// Schema draft-07 with $schema and additionalProperties, the weather tool
// the fakes call among them, a cache breakpoint on the last.
func claudeCodeTools() []map[string]any {
	names := []string{"Task", "Bash", "Glob", "Grep", "LS", "ExitPlanMode", "Read", "Edit", "MultiEdit", "Write",
		"NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "BashOutput", "KillShell", "SlashCommand", pvTool,
		"mcp__ide__getDiagnostics", "mcp__ide__executeCode"}
	tools := make([]map[string]any, 0, len(names))
	for i, n := range names {
		props := map[string]any{"path": map[string]any{"type": "string", "description": "The absolute path"},
			"limit": map[string]any{"type": "number"}}
		required := []string{"path"}
		if n == pvTool {
			props, required = map[string]any{"city": map[string]any{"type": "string"}}, []string{"city"}
		}
		t := map[string]any{"name": n, "description": strings.Repeat("Use this tool carefully. ", 8),
			"input_schema": map[string]any{"type": "object", "properties": props, "required": required,
				"additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#"}}
		if i == len(names)-1 {
			t["cache_control"] = map[string]any{"type": "ephemeral"}
		}
		tools = append(tools, t)
	}
	return tools
}

// TestClaudeCodeShapedRequests drives each provider as Claude Code does:
// POST /v1/messages?beta=true with its anthropic-beta values and x-api-key,
// system blocks with cache_control, twenty tools, metadata.user_id,
// streaming with thinking on, and a multi-turn tool loop that sends every
// assistant turn back as it came (signed thinking, tool_use) with the
// tool results, until the model answers; then one more user turn.
func TestClaudeCodeShapedRequests(t *testing.T) {
	ups, block := pvProviders(t)
	g := testgate.Start(t, testgate.Config{Block: block})
	tools := claudeCodeTools()
	for _, u := range ups {
		t.Run(u.name, func(t *testing.T) {
			body := map[string]any{
				"model": u.model, "max_tokens": 32000, "temperature": 1, "stream": true,
				"thinking": map[string]any{"type": "enabled", "budget_tokens": 31999},
				"metadata": map[string]any{"user_id": "user_2f1c_account__session_6b0e"},
				"system": []map[string]any{
					{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.", "cache_control": map[string]any{"type": "ephemeral"}},
					{"type": "text", "text": "You are an interactive CLI tool. " + strings.Repeat("Follow the rules. ", 50), "cache_control": map[string]any{"type": "ephemeral"}},
				},
				"tools": tools,
			}
			messages := []any{map[string]any{"role": "user", "content": []map[string]any{
				{"type": "text", "text": "<system-reminder>This is a reminder.</system-reminder>"},
				{"type": "text", "text": "What is the weather in Paris?", "cache_control": map[string]any{"type": "ephemeral"}},
			}}}
			turns, calls := 0, 0
			for round := 0; round < 2; round++ {
				for {
					turns++
					if turns > 6 {
						t.Fatal("the tool loop does not end")
					}
					body["messages"] = messages
					m := claudeCodeTurn(t, g, body)
					assistant, _ := json.Marshal(m.ToParam())
					messages = append(messages, json.RawMessage(assistant))
					if m.StopReason != "tool_use" {
						if anText(&m) != pvReply {
							t.Errorf("turn %d: answer %q", turns, anText(&m))
						}
						break
					}
					var results []map[string]any
					for _, c := range m.Content {
						if c.Type == "tool_use" {
							calls++
							results = append(results, map[string]any{"type": "tool_result", "tool_use_id": c.ID, "content": pvToolOut})
						}
					}
					results[len(results)-1]["cache_control"] = map[string]any{"type": "ephemeral"}
					messages = append(messages, map[string]any{"role": "user", "content": results})
				}
				messages = append(messages, map[string]any{"role": "user", "content": "Thanks. And tomorrow?"})
			}
			if calls != 2 {
				t.Errorf("%d tool calls in two rounds, want one per round", calls)
			}
			sent := u.last()
			if !u.reasoned(sent) || u.tool(sent) != tools[0]["name"] {
				t.Errorf("last upstream request lost thinking or tools: %s", sent.Raw)
			}
			switch u.name {
			case "anthropic":
				if sent.Get("system.#").Int() != 2 || sent.Get("system.1.cache_control.type").String() != "ephemeral" ||
					sent.Get("tools.#").Int() != int64(len(tools)) || sent.Get("tools.19.cache_control.type").String() != "ephemeral" ||
					sent.Get("messages.0.content.1.cache_control.type").String() != "ephemeral" ||
					sent.Get("messages.2.content.0.cache_control.type").String() != "ephemeral" ||
					sent.Get("messages.1.content.0.type").String() != "thinking" {
					t.Errorf("cache breakpoints or thinking not carried to the Anthropic upstream: %s", sent.Raw)
				}
			case "openai":
				if sent.Get("tools.#").Int() != int64(len(tools)) || sent.Get("messages.0.role").String() != "system" || sent.Get("messages.1.role").String() != "system" {
					t.Errorf("OpenAI upstream request: %s", sent.Raw)
				}
			case "gemini":
				if n := len(pvField(sent.Get("tools.0"), "functionDeclarations", "function_declarations").Array()); n != len(tools) {
					t.Errorf("%d function declarations upstream", n)
				}
			}
		})
	}
}

// claudeCodeTurn streams one turn as Claude Code sends it and returns
// the accumulated answer, checking its usage against its usage record.
func claudeCodeTurn(t *testing.T, g *testgate.Gateway, body map[string]any) anthropic.Message {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", g.URL+"/v1/messages?beta=true", bytes.NewReader(b))
	for k, v := range map[string]string{"Content-Type": "application/json", "Accept": "application/json", "X-Api-Key": testgate.KeyA,
		"Anthropic-Version": "2023-06-01", "X-App": "cli", "User-Agent": "claude-cli/2.0.0 (external, cli)",
		"Anthropic-Beta": "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14,context-management-2025-06-27",
		"Anthropic-Dangerous-Direct-Browser-Access": "true"} {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("%d %s", res.StatusCode, b)
	}
	stream := ssestream.NewStream[anthropic.MessageStreamEventUnion](ssestream.NewDecoder(res), nil)
	var m anthropic.Message
	for stream.Next() {
		if err := m.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	rec := pvLogs(t, g, 1)[0]
	if rec.Get("dialect").String() != "anthropic" || rec.Get("input_tokens").Int() != m.Usage.InputTokens ||
		rec.Get("output_tokens").Int() != m.Usage.OutputTokens || m.Usage.OutputTokens == 0 {
		t.Errorf("usage %+v, record %s", m.Usage, rec.Raw)
	}
	return m
}

// TestAnthropicNodeSDK runs the official npm @anthropic-ai/sdk — the last
// 0.x release (x-api-key, anthropic-version 2023-06-01) and the newest 1.x
// (Authorization: Bearer, a newer dated version) — against each provider
// type: answers, both stream interfaces, an image, a tool round trip,
// signed thinking sent back, count_tokens, the models list and the error
// classes.
func TestAnthropicNodeSDK(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	ups, block := pvProviders(t)
	g := testgate.Start(t, testgate.Config{Block: block})
	img := egzJPEG(t)
	words := egzWords(pvReply)
	in2 := fakeupstream.PromptTokens(2)
	for _, version := range []string{"0.137.0", "1.17.0"} {
		t.Run(version, func(t *testing.T) {
			sdk := installNodeSDK(ctx, t, "@anthropic-ai/sdk@"+version)
			for _, u := range ups {
				t.Run(u.name, func(t *testing.T) {
					out := sdk.run(ctx, t, "anthropic/sdk.mjs", g.URL, testgate.KeyA, u.agent, img)
					r := gjson.ParseBytes(out)
					for k, want := range map[string]any{
						"create.type": "message", "create.role": "assistant", "create.model": u.agent, "create.text": pvReply,
						"create.stop": "end_turn", "create.usage.input_tokens": in2, "create.usage.output_tokens": words,
						"rawStream.text": pvReply, "helper.text": pvReply, "helper.onText": pvReply, "helper.stop": "end_turn",
						"helper.usage.input_tokens": in2, "helper.usage.output_tokens": words, "image.text": pvReply,
						"tools.stop": "tool_use", "tools.name": pvTool, "tools.input.city": "Paris", "tools.idSet": true,
						"tools.answer": pvReply, "tools.answerStop": "end_turn",
						"thinking.first": "thinking", "thinking.thinking": pvReasoning, "thinking.signature": anSignature(u),
						"thinking.text": pvReply, "thinking.next": pvReply,
						"models.retrieved": u.agent, "models.type": "model", "models.ids": `["on-openai","on-gemini","on-anthropic"]`,
						"badKey.status": 401, "badKey.cls": "AuthenticationError", "badKey.type": "authentication_error",
						"notFound.status": 404, "notFound.cls": "NotFoundError", "notFound.type": "not_found_error",
						"badRequest.status": 400, "badRequest.cls": "BadRequestError", "badRequest.type": "invalid_request_error",
					} {
						got := r.Get(k)
						if fmt.Sprint(want) != got.String() && got.Raw != fmt.Sprint(want) {
							t.Errorf("%s = %s, want %v", k, got.Raw, want)
						}
					}
					if !strings.HasPrefix(r.Get("create.id").String(), "msg_") || r.Get("countTokens").Int() < 20 || r.Get("badKey.requestID").String() == "" {
						t.Errorf("id, count or request id: %s", out)
					}
					if ev := r.Get("rawStream.events").Array(); len(ev) != words+5 || ev[0].String() != "message_start" || ev[len(ev)-1].String() != "message_stop" {
						t.Errorf("raw stream events %s", r.Get("rawStream.events").Raw)
					}
				})
			}
		})
	}
}

// TestTenantIsolationAnthropic: tenant A's agent is invisible to tenant B
// on every route of the dialect, and B's rejected requests never reach
// the upstream.
func TestTenantIsolationAnthropic(t *testing.T) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: openaiBlock(up)})
	ctx := context.Background()
	clientA, clientB := anClient(g, testgate.KeyA), anClient(g, testgate.KeyB)
	user := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}
	if _, err := clientA.Messages.New(ctx, anthropic.MessageNewParams{Model: "secret-a", MaxTokens: 16, Messages: user}); err != nil {
		t.Fatalf("tenant A: %v", err)
	}
	calls := len(up.Requests())
	notFound := func(what string, err error) {
		t.Helper()
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || string(apiErr.Type()) != "not_found_error" {
			t.Errorf("tenant B %s: %v, want 404 not_found_error", what, err)
		}
	}
	for _, model := range []string{"secret-a", "Secret A"} {
		_, err := clientB.Messages.New(ctx, anthropic.MessageNewParams{Model: model, MaxTokens: 16, Messages: user})
		notFound("messages "+model, err)
		notFound("stream "+model, anStream(ctx, clientB, anthropic.MessageNewParams{Model: model, MaxTokens: 16, Messages: user}).err)
		_, err = clientB.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: model, Messages: user})
		notFound("count_tokens "+model, err)
	}
	_, err := clientB.Models.Get(ctx, "secret-a", anthropic.ModelGetParams{})
	notFound("models/secret-a", err)
	page, err := clientB.Models.List(ctx, anthropic.ModelListParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range page.Data {
		if m.ID == "secret-a" {
			t.Error("tenant B lists tenant A's agent")
		}
	}
	if mi, err := clientA.Models.Get(ctx, "secret-a", anthropic.ModelGetParams{}); err != nil || mi.DisplayName != "Secret A" {
		t.Errorf("tenant A's own agent: %+v %v", mi, err)
	}
	if n := len(up.Requests()) - calls; n != 0 {
		t.Errorf("upstream called %d times for tenant B's rejected requests", n)
	}
}
