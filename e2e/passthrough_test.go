package e2e

import (
	"context"
	"testing"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"
)

// passthroughBlock routes gpt-* and text-embedding-* to the upstream and
// declares an agent beside them.
func passthroughBlock(up *fakeupstream.OpenAI) string {
	return openaiBlock(up) + `
		route gpt-* up
		route text-embedding-* up
`
}

func TestModelPassthroughAndEmbeddings(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "direct answer"}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: passthroughBlock(up)})
	client := sdk(g, testgate.KeyA)
	ctx := context.Background()

	// A routed model name that is no agent goes straight upstream: no
	// agent system prompt.
	resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	sent := up.LastRequest()
	if resp.Choices[0].Message.Content != "direct answer" || sent.Get("model").String() != "gpt-4o-mini" ||
		len(sent.Get("messages").Array()) != 1 {
		t.Fatalf("passthrough: %q, upstream got %s", resp.Choices[0].Message.Content, sent.Raw)
	}
	// A model nothing routes stays a 404.
	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "claude-nope", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var apiErr *openai.Error
	if !asAPIError(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Fatalf("unrouted model: %v", err)
	}

	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
		emb, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model:          "text-embedding-3-small",
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"hello world", "abc"}},
			EncodingFormat: format,
		})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if len(emb.Data) != 2 || len(emb.Data[0].Embedding) != 8 || emb.Usage.PromptTokens != 3 {
			t.Fatalf("%s: embeddings = %+v", format, emb)
		}
		if emb.Data[0].Embedding[0] == 0 && emb.Data[0].Embedding[1] == 0 && emb.Data[0].Embedding[2] == 0 {
			t.Fatalf("%s: zero vector %v", format, emb.Data[0].Embedding)
		}
	}
	status, body, _ := g.Do("POST", "/v1/embeddings", testgate.KeyA, `{"model":"text-embedding-3-small","input":[[1,2,3]]}`)
	if status != 400 || gjson.GetBytes(body, "error.param").String() != "input" {
		t.Fatalf("token-array input: %d %s", status, body)
	}
}

func TestPassthroughTierModelAllowlist(t *testing.T) {
	up := (&fakeupstream.OpenAI{}).Start()
	defer up.Close()
	// JSON config of the tier's allowlist is exercised through the admin API.
	g := testgate.Start(t, testgate.Config{Block: passthroughBlock(up)})
	if s, b := adminDo(t, g, "PUT", "/agentgate/tiers/pro", `{"models":["gpt-4o-mini","text-embedding-*"]}`); s != 200 {
		t.Fatalf("PUT tier: %d %s", s, b)
	}
	ok := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	denied := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
	if status, body, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, ok); status != 200 {
		t.Fatalf("allowed model: %d %s", status, body)
	}
	status, body, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, denied)
	if status != 403 || gjson.GetBytes(body, "error.code").String() != "model_not_allowed" {
		t.Fatalf("model outside the allowlist: %d %s", status, body)
	}
	// Agents are not affected by the allowlist.
	if status, body, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA, `{"model":"assistant","messages":[{"role":"user","content":"hi"}]}`); status != 200 {
		t.Fatalf("agent: %d %s", status, body)
	}
}
