package anthropic

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/providertest"
	"github.com/agentgate/agentgate/internal/fakeupstream"
)

// These tests run the provider against internal/fakeupstream's Anthropic
// server, which checks requests the way the real API does.

func startFake(t *testing.T, f *fakeupstream.Anthropic) (*fakeupstream.Anthropic, *Provider) {
	t.Helper()
	f.APIKey = testKey
	f.Start()
	t.Cleanup(f.Close)
	return f, newTestProvider(t, f.URL)
}

func chat(t *testing.T, p *Provider, req *adapters.Request) ([]adapters.Event, error) {
	t.Helper()
	var evs []adapters.Event
	err := p.Chat(context.Background(), req, providertest.Collect(&evs))
	checkOrder(t, evs, err)
	return evs, err
}

func TestFakeText(t *testing.T) {
	f, p := startFake(t, &fakeupstream.Anthropic{Reply: "Hello there friend.", CacheRead: 7})
	for _, stream := range []bool{false, true} {
		req := textRequest(stream)
		req.System = "Be brief."
		evs, err := chat(t, p, req)
		if err != nil {
			t.Fatal(err)
		}
		turn := assistantTurn(evs)
		u := evs[len(evs)-2].Usage
		if turn.Text() != "Hello there friend." || u == nil ||
			*u != (adapters.Usage{InputTokens: fakeupstream.PromptTokens(2) + 7, OutputTokens: 3, CachedTokens: 7}) {
			t.Fatalf("stream=%v: %+v", stream, evs)
		}
		if evs[0].Model != "claude-sonnet-4-5" || evs[len(evs)-1].FinishReason != "stop" {
			t.Fatalf("stream=%v: %+v", stream, evs)
		}
		if h := f.LastHeader(); h.Get("Anthropic-Version") != DefaultVersion || h.Get("X-Api-Key") != testKey {
			t.Fatalf("headers %v", h)
		}
		if got := f.LastRequest().Get("stream").Bool(); got != stream {
			t.Fatalf("stream flag %v", got)
		}
	}
}

// The whole tool round trip with thinking on: the first call streams
// signed thinking and a tool call, the second replays both with the tool
// result, which the fake accepts only with the exact signature.
func TestFakeThinkingToolRoundTrip(t *testing.T) {
	for _, stream := range []bool{false, true} {
		f, p := startFake(t, &fakeupstream.Anthropic{Reply: "It is sunny.", Reasoning: "I should call the weather tool.",
			ToolName: "get_weather", ToolArgs: `{"city":"Paris"}`})
		tools := []adapters.Tool{{Name: "get_weather", Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string"}}}`)}}
		temp := 0.3
		req := &adapters.Request{Model: "claude-sonnet-4-5", Stream: stream, Tools: tools, Reasoning: &adapters.Reasoning{Effort: "low"},
			Sampling: adapters.Sampling{Temperature: &temp},
			Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "Weather in Paris?")}}
		evs, err := chat(t, p, req)
		if err != nil {
			t.Fatal(err)
		}
		turn := assistantTurn(evs)
		if turn.Reasoning != "I should call the weather tool." || turn.ReasoningSignature != fakeupstream.AnthropicSignature(turn.Reasoning) ||
			len(turn.ToolCalls) != 1 || turn.ToolCalls[0].Arguments != `{"city":"Paris"}` || turn.ToolCalls[0].ID != "toolu_fake_1" ||
			evs[len(evs)-1].FinishReason != "tool_calls" {
			t.Fatalf("stream=%v: turn %+v from %+v", stream, turn, evs)
		}
		if f.LastRequest().Get("temperature").Exists() || f.LastRequest().Get("thinking.budget_tokens").Int() != 1024 {
			t.Fatalf("first request %s", f.LastRequest().Raw)
		}

		req.Messages = append(req.Messages, turn, adapters.Message{Role: adapters.RoleTool, ToolCallID: turn.ToolCalls[0].ID,
			Parts: []adapters.Part{{Type: adapters.PartText, Text: `{"sky":"clear"}`}}})
		evs, err = chat(t, p, req)
		if err != nil {
			t.Fatalf("stream=%v: second call: %v", stream, err)
		}
		last := f.LastRequest()
		if last.Get("messages.1.content.0.type").String() != "thinking" || last.Get("messages.2.content.0.type").String() != "tool_result" {
			t.Fatalf("second request %s", last.Raw)
		}
		if answer := assistantTurn(evs); answer.Text() != "It is sunny." {
			t.Fatalf("answer %+v", answer)
		}

		// A client that cannot carry the signature (OpenAI surface) still
		// completes the loop: thinking is dropped for it.
		req.Messages[1].ReasoningSignature = ""
		if _, err := chat(t, p, req); err != nil {
			t.Fatalf("unsigned loop: %v", err)
		}
		if f.LastRequest().Get("thinking").Exists() || !f.LastRequest().Get("temperature").Exists() {
			t.Fatalf("unsigned loop request %s", f.LastRequest().Raw)
		}
		// A tampered signature is what the real API rejects.
		req.Messages[1].ReasoningSignature = "forged"
		_, err = chat(t, p, req)
		var ae *adapters.Error
		if !errors.As(err, &ae) || ae.Kind != adapters.KindInvalidRequest || !strings.Contains(ae.Message, "signature") {
			t.Fatalf("forged signature: %v", err)
		}
	}
}

func TestFakeImagesAndHistory(t *testing.T) {
	f, p := startFake(t, &fakeupstream.Anthropic{})
	req := &adapters.Request{Model: "claude-haiku-4-5", System: "sys", Messages: []adapters.Message{
		adapters.TextMessage(adapters.RoleSystem, "more sys"),
		{Role: adapters.RoleUser, Parts: []adapters.Part{{Type: adapters.PartText, Text: "What is this?"},
			{Type: adapters.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="}}},
		{Role: adapters.RoleUser, Parts: []adapters.Part{{Type: adapters.PartImage, ImageURL: "https://example.com/a.png"}}},
		adapters.TextMessage(adapters.RoleAssistant, "A picture."),
		adapters.TextMessage(adapters.RoleAssistant, ""),
		adapters.TextMessage(adapters.RoleUser, "Thanks"),
	}}
	if _, err := chat(t, p, req); err != nil {
		t.Fatal(err)
	}
	last := f.LastRequest()
	if n := len(last.Get("messages").Array()); n != 3 || last.Get("system").String() != "sys\n\nmore sys" ||
		last.Get("messages.0.content.#").Int() != 3 || last.Get("messages.0.content.2.source.type").String() != "url" {
		t.Fatalf("request %s", last.Raw)
	}
}

func TestFakeOmitUsage(t *testing.T) {
	_, p := startFake(t, &fakeupstream.Anthropic{OmitUsage: true})
	for _, stream := range []bool{false, true} {
		evs, err := chat(t, p, textRequest(stream))
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Type == adapters.EventUsage {
				t.Fatalf("stream=%v: usage without upstream usage: %+v", stream, evs)
			}
		}
	}
}

func TestFakeMidStreamError(t *testing.T) {
	_, p := startFake(t, &fakeupstream.Anthropic{Reply: "one two three", StreamError: "overloaded_error"})
	evs, err := chat(t, p, textRequest(true))
	var ae *adapters.Error
	if !errors.As(err, &ae) || ae.Kind != adapters.KindUnavailable {
		t.Fatalf("got %v", err)
	}
	if len(evs) != 3 || evs[1].Text != "one " || evs[2].Type != adapters.EventError {
		t.Fatalf("events %+v", evs)
	}
}

func TestFakeStatus(t *testing.T) {
	for _, tt := range []struct {
		status int
		kind   adapters.ErrorKind
		retry  time.Duration
	}{
		{529, adapters.KindUnavailable, time.Second},
		{429, adapters.KindRateLimited, time.Second},
		{401, adapters.KindUpstream, 0},
		{404, adapters.KindNotFound, 0},
		{500, adapters.KindUpstream, 0},
	} {
		_, p := startFake(t, &fakeupstream.Anthropic{Status: tt.status})
		_, err := chat(t, p, textRequest(true))
		var ae *adapters.Error
		if !errors.As(err, &ae) || ae.Kind != tt.kind || ae.RetryAfter != tt.retry || ae.UpstreamStatus != tt.status {
			t.Errorf("%d: got %#v", tt.status, err)
		}
	}
	// A wrong key is refused as the real API does, without leaking it.
	f, _ := startFake(t, &fakeupstream.Anthropic{})
	p := newTestProvider(t, f.URL, func(c *adapters.ProviderConfig) { c.APIKey = "sk-ant-wrong" })
	_, err := chat(t, p, textRequest(false))
	var ae *adapters.Error
	if !errors.As(err, &ae) || ae.Kind != adapters.KindUpstream || ae.UpstreamStatus != 401 || strings.Contains(ae.Message, "sk-ant") {
		t.Fatalf("got %#v", err)
	}
}

// The fake enforces what the real API requires of any client.
func TestFakeRejectsWhatAnthropicRejects(t *testing.T) {
	f, _ := startFake(t, &fakeupstream.Anthropic{})
	for _, tt := range []struct {
		name, body string
		noVersion  bool
	}{
		{"no version", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, true},
		{"no max_tokens", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, false},
		{"system role", `{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"hi"}]}`, false},
		{"empty text", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, false},
		{"temperature with thinking", `{"model":"m","max_tokens":5000,"temperature":0.5,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"hi"}]}`, false},
		{"budget not under max_tokens", `{"model":"m","max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"hi"}]}`, false},
		{"forced tool with thinking", `{"model":"m","max_tokens":5000,"thinking":{"type":"enabled","budget_tokens":1024},"tools":[{"name":"t","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"hi"}]}`, false},
		{"orphan tool_result", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"x"}]}]}`, false},
		{"thinking loop without thinking", `{"model":"m","max_tokens":5000,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"t","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a"}]}]}`, false},
	} {
		hreq, _ := http.NewRequest(http.MethodPost, f.URL+"/v1/messages", strings.NewReader(tt.body))
		hreq.Header.Set("X-Api-Key", testKey)
		if !tt.noVersion {
			hreq.Header.Set("Anthropic-Version", DefaultVersion)
		}
		resp, err := http.DefaultClient.Do(hreq)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if e := MapStatus(resp.StatusCode, resp.Header, b, time.Time{}); resp.StatusCode != 400 || e.Kind != adapters.KindInvalidRequest {
			t.Errorf("%s: %d %s", tt.name, resp.StatusCode, b)
		}
	}
}

func TestFakeCancelMidStream(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	f, p := startFake(t, &fakeupstream.Anthropic{Reply: "one two three", HoldLast: hold})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var evs []adapters.Event
	err := p.Chat(ctx, textRequest(true), func(ev adapters.Event) error {
		evs = append(evs, ev)
		if ev.Type == adapters.EventDelta && ev.Text == "two " {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v %+v", err, evs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.Canceled() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the fake did not see the cancellation (sent %d)", f.Sent())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if f.Sent() != 2 {
		t.Fatalf("sent %d tokens", f.Sent())
	}
}
