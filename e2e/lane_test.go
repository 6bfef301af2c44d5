package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/otlptest"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"
)

// laneBlock declares, besides openaiBlock's agents (assistant: a system
// prompt, on the raw lane), agents the lane does not take, a routed
// model, a pool, and tiers to limit.
func laneBlock(up *fakeupstream.OpenAI) string {
	return openaiBlock(up) + `
		provider pool openai {
			base_url ` + up.URL + `
			api_key sk-one sk-two
		}
		route gpt-* up
		route pooled-* pool
		agent tempered {
			model gpt-test
			provider up
			temperature 0.5
		}
		agent guarded {
			model gpt-test
			provider up
			guardrails {
				max_input_chars 1000
			}
		}
		tier free {
			rpm 1
		}
`
}

// onLane reports whether a completion came through the raw lane: it
// carries the upstream's own id, where the canonical path makes one.
func onLane(id string) bool { return id == "chatcmpl-fake" }

// TestRawLane: an OpenAI client calling an agent that needs only its
// prompt, or a routed model, gets the upstream's answer through the raw
// lane, limited, metered and accounted like any call; agents with
// features to run, and tenants without access, do not.
func TestRawLane(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "Hello from the lane."}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: laneBlock(up)})
	// The process's metrics outlive a gateway (they are kept across
	// reloads): other tests' calls to agents named secret-a count in them.
	before := g.Scrape(t)
	client := sdk(g, testgate.KeyA)
	ctx := context.Background()
	hi := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hi")}

	t.Run("agent, whole answer", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "assistant", Messages: hi})
		if err != nil {
			t.Fatal(err)
		}
		if !onLane(resp.ID) || resp.Model != "assistant" || resp.Choices[0].Message.Content != "Hello from the lane." {
			t.Fatalf("answer: id %s model %s %q", resp.ID, resp.Model, resp.Choices[0].Message.Content)
		}
		sent := up.LastRequest()
		if sent.Get("model").Str != "gpt-test" || sent.Get("messages.0.content").Str != "You are the agent prompt." ||
			sent.Get("messages.1.content").Str != "Hi" {
			t.Fatalf("upstream got %s", sent.Raw)
		}
	})

	t.Run("agent, stream without usage asked", func(t *testing.T) {
		status, out, hdr := g.Do("POST", "/v1/chat/completions", testgate.KeyA,
			`{"model":"Assistant","stream":true,"messages":[{"role":"user","content":"Hi"}]}`)
		if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") ||
			!strings.Contains(string(out), `"id":"chatcmpl-fake"`) || !strings.HasSuffix(string(out), "data: [DONE]\n\n") {
			t.Fatalf("stream: %d %s", status, out)
		}
		if strings.Contains(string(out), `"usage":{`) || strings.Contains(string(out), `"model":"gpt-test"`) {
			t.Fatalf("the client got the usage it did not ask for, or the upstream's model name: %s", out)
		}
		if !up.LastRequest().Get("stream_options.include_usage").Bool() {
			t.Fatalf("the upstream was not asked for usage: %s", up.LastRequest().Raw)
		}
	})

	t.Run("routed model and pool", func(t *testing.T) {
		for _, model := range []string{"gpt-4o-mini", "pooled-mini"} {
			resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Messages: hi})
			if err != nil {
				t.Fatal(err)
			}
			if !onLane(resp.ID) || resp.Model != model || up.LastRequest().Get("model").Str != model {
				t.Fatalf("%s: id %s model %s, upstream got %s", model, resp.ID, resp.Model, up.LastRequest().Raw)
			}
		}
	})

	t.Run("agents the lane does not take", func(t *testing.T) {
		for _, agent := range []string{"tempered", "guarded"} {
			resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: agent, Messages: hi})
			if err != nil {
				t.Fatal(err)
			}
			if onLane(resp.ID) || resp.Choices[0].Message.Content != "Hello from the lane." {
				t.Fatalf("%s: id %s %q", agent, resp.ID, resp.Choices[0].Message.Content)
			}
		}
	})

	t.Run("bad input never goes upstream", func(t *testing.T) {
		before := len(up.Requests())
		status, out, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA,
			`{"model":"assistant","messages":[{"role":"wizard","content":"hi"}]}`)
		if status != 400 || gjson.GetBytes(out, "error.param").Str != "messages[0].role" || len(up.Requests()) != before {
			t.Fatalf("bad role: %d %s", status, out)
		}
	})

	t.Run("tenants", func(t *testing.T) {
		status, out, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyB,
			`{"model":"secret-a","messages":[{"role":"user","content":"hi"}]}`)
		if status != 404 || gjson.GetBytes(out, "error.code").Str != "model_not_found" {
			t.Fatalf("another tenant's agent: %d %s", status, out)
		}
		if s, out, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA,
			`{"model":"secret-a","messages":[{"role":"user","content":"hi"}]}`); s != 200 || !onLane(gjson.GetBytes(out, "id").Str) {
			t.Fatalf("the tenant's own agent: %d %s", s, out)
		}
	})

	t.Run("accounted", func(t *testing.T) {
		exp := g.WaitMetric(t, before.Get("agentgate_requests_total", "dialect", "openai", "agent", "secret-a", "outcome", "ok")+1,
			"agentgate_requests_total", "dialect", "openai", "agent", "secret-a", "outcome", "ok")
		in := exp.Get("agentgate_tokens_total", "type", "input", "agent", "secret-a") -
			before.Get("agentgate_tokens_total", "type", "input", "agent", "secret-a")
		if in != float64(fakeupstream.PromptTokens(1)) {
			t.Errorf("input tokens of secret-a's call: %v, want %d", in, fakeupstream.PromptTokens(1))
		}
		recs, _ := costRecords(t, g, "tenant=tenant-a")
		var mine []gjson.Result
		for _, r := range recs {
			if r.Get("agent_id").Str == "secret-a" {
				mine = append(mine, r)
			}
		}
		if len(mine) != 1 {
			t.Fatalf("usage records of secret-a: %v", mine)
		}
		r := mine[0]
		if r.Get("model_id").Str != "gpt-test" || r.Get("provider").Str != "up" || r.Get("dialect").Str != "openai" ||
			r.Get("input_tokens").Int() != int64(fakeupstream.PromptTokens(1)) || r.Get("output_tokens").Int() != 4 ||
			r.Get("status").Str != "ok" || r.Get("estimated").Bool() || !strings.HasPrefix(r.Get("id").Str, "run-") {
			t.Fatalf("usage record: %s", r.Raw)
		}
	})
}

// TestRawLaneLimitsAndRetries: the lane is limited like any request, and
// retries an upstream that fails before answering.
func TestRawLaneLimitsAndRetries(t *testing.T) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	const freeKey = "agk_lane_free_key_00000000000000"
	g := testgate.Start(t, testgate.Config{Block: laneBlock(up) + `
		key ` + freeKey + ` {
			tenant tenant-c
			tier free
		}
`})
	chat := `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`
	if s, out, _ := g.Do("POST", "/v1/chat/completions", freeKey, chat); s != 200 {
		t.Fatalf("first request: %d %s", s, out)
	}
	s, out, hdr := g.Do("POST", "/v1/chat/completions", freeKey, chat)
	if s != 429 || gjson.GetBytes(out, "error.code").Str != "rate_limit_exceeded" || hdr.Get("Retry-After") == "" {
		t.Fatalf("second request on a tier of 1 rpm: %d %s", s, out)
	}

	up.Status = http.StatusServiceUnavailable
	before := len(up.Requests())
	s, out, _ = g.Do("POST", "/v1/chat/completions", testgate.KeyA, chat)
	if s != 503 || gjson.GetBytes(out, "error.code").Str != "upstream_unavailable" {
		t.Fatalf("an upstream down: %d %s", s, out)
	}
	if n := len(up.Requests()) - before; n != 3 {
		t.Fatalf("the upstream was tried %d times, want 3 (two retries)", n)
	}
}

// TestTracedLane: a traced request on the raw lane has the spans of a
// canonical run around its model call (the run, the call, an attempt per
// try with the answer's model, usage and finish reason); with content
// recording on, the request takes the canonical path, which decodes the
// answer it records.
func TestTracedLane(t *testing.T) {
	for _, content := range []bool{false, true} {
		rcv := otlptest.Start(t)
		for k, v := range rcv.Env() {
			t.Setenv(k, v)
		}
		model := (&fakeupstream.OpenAI{Reply: "Traced."}).Start()
		t.Cleanup(model.Close)
		// The upstream answers its first call with a 503, then as the fake.
		up := overloadedOnce(t, model)
		record := "off"
		if content {
			record = "on"
		}
		g := testgate.Start(t, testgate.Config{Site: "tracing {\n\t\tspan agentgate\n\t}", Block: `
		tracing {
			record_content ` + record + `
		}
		provider up openai {
			base_url ` + up.URL + `/v1
		}
		retries {
			backoff 1ms
			max_backoff 2ms
		}
		agent assistant {
			name Assistant
			system_prompt "Be brief."
			model gpt-traced
			provider up
		}`})
		status, body, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA,
			`{"model":"assistant","stream":true,"messages":[{"role":"user","content":"Hi"}]}`)
		if status != 200 || !strings.Contains(string(body), "Traced.") {
			t.Fatalf("chat: %d %s", status, body)
		}
		if lane := strings.Contains(string(body), `"id":"chatcmpl-fake"`); lane == content {
			t.Fatalf("record_content %s: on the lane %v: %s", record, lane, body)
		}
		if content {
			continue
		}
		request, spans := rcv.WaitForRequest(t)
		below := func(parent otlptest.Span, name string) []otlptest.Span { return otlptest.Below(spans, parent, name) }
		runs := below(request, "invoke_agent Assistant")
		if len(runs) != 1 || runs[0].Attr("gen_ai.agent.id") != "assistant" || fmt.Sprint(runs[0].Attrs["gen_ai.response.finish_reasons"]) != "[stop]" ||
			!strings.HasPrefix(runs[0].Attr("agentgate.run_id"), "run-") {
			t.Fatalf("runs: %+v", runs)
		}
		chats := below(runs[0], "chat gpt-traced")
		if len(chats) != 1 || fmt.Sprint(chats[0].Attrs["agentgate.attempts"]) != "2" || chats[0].Attr("gen_ai.provider.name") != "openai" ||
			fmt.Sprint(chats[0].Attrs["gen_ai.usage.output_tokens"]) != "1" {
			t.Fatalf("model calls: %+v", chats)
		}
		attempts := below(chats[0], "chat gpt-traced")
		if len(attempts) != 2 {
			t.Fatalf("%d attempts, want 2", len(attempts))
		}
		for _, a := range attempts {
			failed := fmt.Sprint(a.Attrs["agentgate.attempt"]) == "1"
			if a.Failed != failed || (a.Attr("gen_ai.response.model") == "gpt-traced") == failed {
				t.Errorf("attempt %v: failed %v, %v", a.Attrs["agentgate.attempt"], a.Failed, a.Attrs)
			}
		}
	}
}
