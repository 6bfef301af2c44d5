package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/providertest"
	"github.com/agentgate/agentgate/internal/fakeupstream"
)

// The provider against the shared fake upstream the end-to-end suites use.
func TestAgainstFakeUpstream(t *testing.T) {
	const reply, thinking = "Hello there friend.", "Let me think about it."
	g := (&fakeupstream.Gemini{Reply: reply, Reasoning: thinking, ToolName: "get_weather", ToolArgs: `{"city":"Paris"}`,
		APIKey: testKey, RequireSignatures: true}).Start()
	defer g.Close()
	p := newTestProvider(t, g.URL)
	for _, stream := range []bool{false, true} {
		req := &adapters.Request{Model: "gemini-3-flash-preview", Stream: stream, System: "Be brief.",
			Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "hi")}, Reasoning: &adapters.Reasoning{Effort: "low"}}
		var evs []adapters.Event
		if err := p.Chat(context.Background(), req, providertest.Collect(&evs)); err != nil {
			t.Fatal(err)
		}
		checkOrder(t, evs, nil)
		var text, thought, sig string
		var usage *adapters.Usage
		for _, ev := range evs {
			switch ev.Type {
			case adapters.EventDelta:
				text += ev.Text
			case adapters.EventThinking:
				thought += ev.Text
				if ev.Signature != "" {
					sig = ev.Signature
				}
			case adapters.EventUsage:
				usage = ev.Usage
			}
		}
		want := adapters.Usage{InputTokens: fakeupstream.PromptTokens(2), OutputTokens: 3 + 5, ReasoningTokens: 5}
		if text != reply || thought != thinking || sig != fakeupstream.FakeSignature || usage == nil || *usage != want {
			t.Fatalf("stream %v: text %q thought %q sig %q usage %+v", stream, text, thought, sig, usage)
		}
		if evs[0].Model != "gemini-3-flash-preview" {
			t.Errorf("model %q", evs[0].Model)
		}
	}

	// Tool round trip, signature echoed (the fake refuses unsigned calls).
	req := &adapters.Request{Model: "gemini-3-flash-preview", Stream: true,
		Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "weather?")},
		Tools:    []adapters.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}}}
	var evs []adapters.Event
	if err := p.Chat(context.Background(), req, providertest.Collect(&evs)); err != nil {
		t.Fatal(err)
	}
	checkOrder(t, evs, nil)
	var call *adapters.ToolCall
	for _, ev := range evs {
		if ev.Type == adapters.EventToolCall {
			call = ev.ToolCall
		}
	}
	if call == nil || call.Name != "get_weather" || call.Arguments != `{"city":"Paris"}` || call.Signature != fakeupstream.FakeSignature ||
		!strings.HasPrefix(call.ID, "call_") || evs[len(evs)-1].FinishReason != "tool_calls" {
		t.Fatalf("events %+v", evs)
	}
	req.Messages = append(req.Messages,
		adapters.Message{Role: adapters.RoleAssistant, ToolCalls: []adapters.ToolCall{*call}},
		adapters.Message{Role: adapters.RoleTool, ToolCallID: call.ID, Parts: []adapters.Part{{Type: adapters.PartText, Text: `{"temp_c":21}`}}})
	evs = nil
	if err := p.Chat(context.Background(), req, providertest.Collect(&evs)); err != nil {
		t.Fatal(err)
	}
	if evs[1].Type != adapters.EventDelta || evs[len(evs)-2].Usage.InputTokens != fakeupstream.PromptTokens(3) {
		t.Fatalf("events %+v", evs)
	}
	last := g.LastRequest()
	if last.Get("contents.2.parts.0.functionResponse.name").String() != "get_weather" ||
		last.Get("contents.1.parts.0.thoughtSignature").String() != fakeupstream.FakeSignature {
		t.Errorf("round trip body %s", last.Raw)
	}

	// Embeddings.
	vecs, u, err := p.Embed(context.Background(), "gemini-embedding-001", []string{"ab", "ba c"})
	if err != nil || len(vecs) != 2 || len(vecs[1]) != 8 || u.InputTokens != 3 || !u.Estimated {
		t.Fatalf("embed: %v %v %+v", vecs, err, u)
	}

	// Errors.
	g.Status = 429
	err = p.Chat(context.Background(), &adapters.Request{Model: "m", Messages: req.Messages[:1]}, providertest.Collect(new([]adapters.Event)))
	var ae *adapters.Error
	if !errors.As(err, &ae) || ae.Kind != adapters.KindRateLimited || ae.RetryAfter != time.Second {
		t.Fatalf("429: %v", err)
	}
	g.Status = 0
	bad := newTestProvider(t, g.URL, func(c *adapters.ProviderConfig) { c.APIKey = "wrong-key-1234" })
	err = bad.Chat(context.Background(), &adapters.Request{Model: "m", Messages: req.Messages[:1]}, providertest.Collect(new([]adapters.Event)))
	if !errors.As(err, &ae) || ae.Kind != adapters.KindUpstream || ae.UpstreamStatus != 400 {
		t.Fatalf("bad key: %v", err)
	}
}

// The fake's pacing reaches the caller as it is sent, and a caller that
// goes away stops the fake's stream.
func TestFakeUpstreamCancel(t *testing.T) {
	g := (&fakeupstream.Gemini{Reply: strings.Repeat("word ", 50), TokenDelay: 20 * time.Millisecond}).Start()
	defer g.Close()
	p := newTestProvider(t, g.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	err := p.Chat(ctx, textRequest(true), func(ev adapters.Event) error {
		if ev.Type == adapters.EventDelta {
			if n++; n == 3 {
				cancel()
			}
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for g.Canceled() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the fake did not see the cancellation")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
