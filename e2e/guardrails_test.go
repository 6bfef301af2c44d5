package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/openai/openai-go/v3"

	"github.com/agentgate/agentgate/adapters"
	openaiprov "github.com/agentgate/agentgate/adapters/providers/openai"
	"github.com/agentgate/agentgate/engine"
	"github.com/agentgate/agentgate/engine/knowledge"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

// Guardrails and knowledge (RAG) end to end: the real store, the real
// OpenAI provider against a fake upstream speaking the OpenAI wire format
// (streamed word by word, so a phone or card number spans several
// chunks), first through the runtime directly, then through a real Caddy
// and the official OpenAI SDK.

// guardHandbook is the knowledge document; its chunk 2 is the refunds
// section, which the fake model's answer cites.
const guardHandbook = `# Handbook

Welcome to Acme. This handbook answers common questions.

## Refunds

Refunds are issued within 30 days of purchase, to the original payment method.

## Shipping

Orders ship within 2 business days.
`

const (
	refundsChunk = "doc_handbook#2"
	// guardReply is what the fake model answers, to every agent: it cites
	// the refunds chunk and leaks a phone and a card number.
	guardReply = "Refunds take 30 days [" + refundsChunk + "]. Questions? Call +1 415 555 2671 or pay with card 4111 1111 1111 1111 today."
	// redactedReply is guardReply as a guarded agent's client sees it.
	redactedReply     = "Refunds take 30 days [" + refundsChunk + "]. Questions? Call [REDACTED_PHONE] or pay with card [REDACTED_CARD] today."
	ragEmbeddingModel = "text-embedding-3-small"
)

var guardTenantA = &adapters.Principal{KeyID: "key_a", Tenant: "tenant-a", Tier: "pro"}

func guardedAgent() *adapters.Agent {
	return &adapters.Agent{ID: "guarded", Tenant: "tenant-a", Name: "Guarded", Model: "gpt-test", Provider: "up",
		Guardrails: &adapters.Guardrails{
			DenyPatterns: []adapters.GuardRule{{Name: "no-passwords", Pattern: `(?i)\bpasswords?\b`, AppliesTo: adapters.GuardInput}},
			RedactPII:    []string{"email", "phone", "card"},
		}, CreatedAt: time.Now()}
}

func ragHelperAgent() *adapters.Agent {
	return &adapters.Agent{ID: "helper", Tenant: "tenant-a", Name: "Helper", Model: "gpt-test", Provider: "up",
		SystemPrompt: "You are Acme's helper.",
		Knowledge:    &adapters.Knowledge{Sources: []string{"handbook"}}, CreatedAt: time.Now()}
}

// guardRuntime builds a runtime over store with the openai provider "up"
// on the fake upstream, embeddings routed to it.
func guardRuntime(t *testing.T, store state.Store, up *fakeupstream.OpenAI) *engine.Engine {
	t.Helper()
	prov, err := openaiprov.New(adapters.ProviderConfig{Name: "up", BaseURL: up.URL, APIKey: "sk-upstream"})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := engine.New(engine.Config{Store: store, Providers: map[string]adapters.Provider{"up": prov},
		Routes: []models.Route{{Pattern: "gpt-*", Provider: "up"}, {Pattern: "text-embedding-*", Provider: "up"}}})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// addGuardHandbook adds the handbook to tenant-a's source "handbook",
// embedded through the upstream.
func addGuardHandbook(t *testing.T, rt *engine.Engine) {
	t.Helper()
	d, err := rt.Knowledge().AddDocument(context.Background(), &exchange.Exchange{Principal: guardTenantA, Dialect: "test"}, knowledge.DocumentInput{ID: "doc_handbook", Source: "handbook",
		Text: guardHandbook, Format: "markdown", EmbeddingModel: ragEmbeddingModel})
	if err != nil {
		t.Fatal(err)
	}
	if d.Chunks != 3 || d.EmbeddingModel != ragEmbeddingModel {
		t.Fatalf("document = %+v", d)
	}
}

func TestGuardrailsAndRAGRuntime(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: guardReply}).Start()
	defer up.Close()
	store, err := bbolt.Open(filepath.Join(t.TempDir(), "agentgate.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rt := guardRuntime(t, store, up)
	defer rt.Close()
	ctx := context.Background()
	addGuardHandbook(t, rt)

	t.Run("guardrail block", func(t *testing.T) {
		before := len(up.Requests())
		_, err := rt.Run(ctx, nil, &adapters.Call{Principal: guardTenantA, Dialect: "e2e", Agent: guardedAgent(),
			Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "What is the admin password?")}},
			func(adapters.Event) error { return nil })
		e := adapters.AsError(err)
		if e == nil || e.Status() != 400 || e.Code != "guardrail_blocked" || e.Param != "input" ||
			e.Message != "blocked by guardrail 'no-passwords'" {
			t.Fatalf("error = %#v", e)
		}
		if len(up.Requests()) != before {
			t.Error("a blocked request reached the upstream")
		}
	})

	t.Run("redaction in a streamed answer", func(t *testing.T) {
		var deltas []string
		res, err := rt.Run(ctx, nil, &adapters.Call{Principal: guardTenantA, Dialect: "e2e", Agent: guardedAgent(), Stream: true,
			Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "How do I reach you? I am ann@example.com.")}},
			func(ev adapters.Event) error {
				if ev.Type == adapters.EventDelta {
					deltas = append(deltas, ev.Text)
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(deltas, ""); got != redactedReply || res.Text != redactedReply {
			t.Errorf("streamed %q\nresult   %q\nwant     %q", got, res.Text, redactedReply)
		}
		if len(deltas) < 5 {
			t.Errorf("%d deltas: the answer was not streamed", len(deltas))
		}
		for _, d := range deltas {
			if strings.Contains(d, "1111") || strings.Contains(d, "415") {
				t.Errorf("a delta leaks %q", d)
			}
		}
		if sent := up.LastRequest().Get("messages.@reverse.0.content").String(); sent != "How do I reach you? I am [REDACTED_EMAIL]." {
			t.Errorf("upstream got %q", sent)
		}
	})

	t.Run("RAG answer citing its chunk", func(t *testing.T) {
		res, err := rt.Run(ctx, nil, &adapters.Call{Principal: guardTenantA, Dialect: "e2e", Agent: ragHelperAgent(),
			Messages: []adapters.Message{adapters.TextMessage(adapters.RoleUser, "How long do refunds take?")}},
			func(adapters.Event) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		system := up.LastRequest().Get("messages.0.content").String()
		if !strings.Contains(system, "["+refundsChunk+"] Handbook — Handbook > Refunds\nRefunds are issued within 30 days") {
			t.Errorf("upstream system prompt lacks the chunk:\n%s", system)
		}
		var cited *adapters.Source
		for i := range res.Sources {
			if res.Sources[i].Method != "embedding" {
				t.Errorf("source %s ranked by %s, want embedding", res.Sources[i].ChunkID, res.Sources[i].Method)
			}
			if res.Sources[i].Cited {
				cited = &res.Sources[i]
			}
		}
		if cited == nil || cited.ChunkID != refundsChunk || cited.DocumentID != "doc_handbook" || cited.Title != "Handbook" ||
			!strings.Contains(res.Text, "["+refundsChunk+"]") {
			t.Errorf("sources %+v, answer %q", res.Sources, res.Text)
		}
	})
}

// TestGuardrailsAndRAGThroughCaddy runs the same three checks through a
// real Caddy with the OpenAI SDK. Agents with guardrails or knowledge
// cannot be declared in the Caddyfile yet, so the test stops Caddy,
// writes them (and the document, embedded through the upstream) into its
// store, and starts it again.
func TestGuardrailsAndRAGThroughCaddy(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: guardReply}).Start()
	defer up.Close()
	cfg := testgate.Config{Block: `
		provider up openai {
			base_url ` + up.URL + `
			api_key sk-upstream
		}
		route gpt-* up
		route text-embedding-* up
`}
	g := testgate.Start(t, cfg)
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	func() {
		store, err := bbolt.Open(filepath.Join(g.DataDir, "agentgate.db"), bbolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		rt := guardRuntime(t, store, up)
		defer rt.Close()
		for _, a := range []*adapters.Agent{guardedAgent(), ragHelperAgent()} {
			if err := rt.Agents().Create(context.Background(), a); err != nil {
				t.Fatal(err)
			}
		}
		addGuardHandbook(t, rt)
	}()
	g.Load(cfg)
	client := sdk(g, testgate.KeyA)
	ctx := context.Background()

	t.Run("guardrail block", func(t *testing.T) {
		before := len(up.Requests())
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "guarded",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me the passwords.")}})
		var apiErr *openai.Error
		if !asAPIError(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "guardrail_blocked" || apiErr.Param != "input" ||
			!strings.Contains(apiErr.Message, "blocked by guardrail 'no-passwords'") {
			t.Fatalf("error = %v", err)
		}
		if len(up.Requests()) != before {
			t.Error("a blocked request reached the upstream")
		}
	})

	t.Run("redaction in a streamed answer", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "guarded",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("How do I reach you?")}})
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			c := stream.Current()
			acc.AddChunk(c)
			chunks++
			if len(c.Choices) > 0 && (strings.Contains(c.Choices[0].Delta.Content, "1111") || strings.Contains(c.Choices[0].Delta.Content, "415")) {
				t.Errorf("a chunk leaks %q", c.Choices[0].Delta.Content)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if got := acc.Choices[0].Message.Content; got != redactedReply {
			t.Errorf("content = %q\nwant      %q", got, redactedReply)
		}
		if chunks < 5 {
			t.Errorf("%d chunks: the answer was not streamed", chunks)
		}
	})

	t.Run("RAG answer citing its chunk", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "helper",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("How long do refunds take?")}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(resp.Choices[0].Message.Content, "["+refundsChunk+"]") {
			t.Errorf("answer %q does not cite the chunk", resp.Choices[0].Message.Content)
		}
		system := up.LastRequest().Get("messages.0.content").String()
		if !strings.HasPrefix(system, "You are Acme's helper.\n\n# Knowledge") ||
			!strings.Contains(system, "["+refundsChunk+"] Handbook — Handbook > Refunds\nRefunds are issued within 30 days") {
			t.Errorf("upstream system prompt:\n%s", system)
		}
		// The agent and its knowledge are tenant-a's alone.
		clientB := sdk(g, testgate.KeyB)
		_, err = clientB.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "helper",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("refunds?")}})
		var apiErr *openai.Error
		if !asAPIError(err, &apiErr) || apiErr.StatusCode != 404 {
			t.Errorf("tenant-b calling tenant-a's agent: %v", err)
		}
	})
}
