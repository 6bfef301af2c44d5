package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
)

// modelsBlock is an openai provider on oa (gpt-* and openai/* by prefix,
// an alias, an exact name), Gemini and Anthropic by prefix, a provider
// listing nothing with a models list, and openaiBlock's agents.
func modelsBlock(oa *fakeupstream.OpenAI, gm *fakeupstream.Gemini, an *fakeupstream.Anthropic) string {
	return openaiBlock(oa) + fmt.Sprintf(`
		provider gemini gemini {
			base_url %s
			api_key gm-key
		}
		provider anthropic anthropic {
			base_url %s
			api_key an-key
		}
		provider offline mock {
			models mock-small mock-large
		}
		route gpt-* up
		route openai/* up
		route fast up gpt-4o-mini
		route gemini-* gemini
		route claude-* anthropic
`, gm.URL, an.URL)
}

func startModels(t *testing.T) *testgate.Gateway {
	t.Helper()
	oa := (&fakeupstream.OpenAI{}).Start()
	t.Cleanup(oa.Close)
	gm := (&fakeupstream.Gemini{APIKey: "gm-key"}).Start()
	t.Cleanup(gm.Close)
	an := (&fakeupstream.Anthropic{APIKey: "an-key"}).Start()
	t.Cleanup(an.Close)
	return testgate.Start(t, testgate.Config{Block: modelsBlock(oa, gm, an)})
}

// TestModelsListAgentsAndRoutedModels: GET /v1/models (openai-go) lists
// the agents a key can use, owned by agentgate, then every model it may
// call directly, owned by its provider instance: exact names, aliases,
// providers' models lists, and what each prefix route's upstream lists
// (OpenAI, Gemini and Anthropic list endpoints, Anthropic's over two
// pages). Every one of them answers GET /v1/models/{id}; tenants see only
// their own agents; a tier's allowlist narrows the models.
func TestModelsListAgentsAndRoutedModels(t *testing.T) {
	g := startModels(t)
	ctx := context.Background()
	list := func(key string) map[string]string {
		t.Helper()
		client := sdk(g, key)
		page, err := client.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, m := range page.Data {
			out[m.ID] = m.OwnedBy
			if m.Object != "model" || m.Created == 0 {
				t.Errorf("model object %s", m.RawJSON())
			}
		}
		return out
	}
	want := map[string]string{
		"assistant": "agentgate", "secret-a": "agentgate",
		"gpt-4o": "up", "gpt-4o-mini": "up", "gpt-3.5-turbo-instruct": "up", "fast": "up",
		"openai/gpt-4o": "up", "openai/whisper-1": "up", "openai/text-embedding-3-small": "up",
		"gemini-2.5-flash": "gemini", "claude-sonnet-4-5": "anthropic", "claude-haiku-4-5": "anthropic",
		"mock-small": "offline", "mock-large": "offline",
	}
	got := list(testgate.KeyA)
	for id, owner := range want {
		if got[id] != owner {
			t.Errorf("%s: owned_by %q, want %q (all: %v)", id, got[id], owner, got)
		}
	}
	for _, id := range []string{"whisper-1", "dall-e-3"} {
		if _, ok := got[id]; ok {
			t.Errorf("%s is listed but no route sends that name upstream", id)
		}
	}

	client := sdk(g, testgate.KeyA)
	for id, owner := range want {
		m, err := client.Models.Get(ctx, id)
		if err != nil {
			t.Errorf("retrieve %s: %v", id, err)
			continue
		}
		if m.ID != id || m.OwnedBy != owner || m.Object != "model" {
			t.Errorf("retrieve %s: %s", id, m.RawJSON())
		}
	}
	if m, _ := client.Models.Get(ctx, "gpt-4o"); m != nil && m.Created != fakeupstream.ModelCreated {
		t.Errorf("gpt-4o created %d, want the upstream's %d", m.Created, fakeupstream.ModelCreated)
	}
	for _, id := range []string{"gpt-5-unlisted", "whisper-1", "nothing-routes-this"} {
		_, err := client.Models.Get(ctx, id)
		wantAPIError(t, err, 404, "model_not_found")
	}

	// A name with a slash, escaped or not.
	for _, path := range []string{"/api/client/v1/models/openai/gpt-4o", "/v1/models/openai%2Fgpt-4o"} {
		status, body, _ := g.Do("GET", path, testgate.KeyA, nil)
		if status != 200 || gjson.GetBytes(body, "id").Str != "openai/gpt-4o" || gjson.GetBytes(body, "owned_by").Str != "up" {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}

	// Tenant B: the shared agent and the models, not tenant A's agent.
	gotB := list(testgate.KeyB)
	if _, ok := gotB["secret-a"]; ok || gotB["assistant"] != "agentgate" || gotB["gpt-4o"] != "up" {
		t.Errorf("tenant B's list: %v", gotB)
	}
	clientB := sdk(g, testgate.KeyB)
	_, err := clientB.Models.Get(ctx, "secret-a")
	wantAPIError(t, err, 404, "model_not_found")

	// A tier's allowlist narrows what is listed and retrievable; agents
	// stay.
	if s, b := adminDo(t, g, "PUT", "/agentgate/tiers/pro", `{"models":["gpt-4o*","claude-*"]}`); s != 200 {
		t.Fatalf("PUT tier: %d %s", s, b)
	}
	var ids []string
	for id := range list(testgate.KeyA) {
		ids = append(ids, id)
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "gpt-4o") && !strings.HasPrefix(id, "claude-") && id != "assistant" && id != "secret-a" {
			t.Errorf("%s listed outside the tier's allowlist", id)
		}
	}
	_, err = client.Models.Get(ctx, "fast")
	wantAPIError(t, err, 404, "model_not_found")

	// The Responses dialect serves the same list.
	status, body, _ := g.Do("GET", "/api/client/v1/models", testgate.KeyA, nil)
	if status != 200 || !strings.Contains(string(body), `"id":"claude-haiku-4-5"`) {
		t.Errorf("Responses' model list: %d %s", status, body)
	}
}
