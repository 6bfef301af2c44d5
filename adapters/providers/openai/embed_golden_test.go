package openai

import (
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/providertest"
)

// TestEmbedGolden: what Embed sends to /embeddings and makes of the
// answers OpenAI and compatible servers give (floats, base64, shuffled
// indexes, errors). Run with -update to rewrite the golden files.
func TestEmbedGolden(t *testing.T) {
	newEmbedder := func(t *testing.T, base string) adapters.Embedder { return newTestProvider(t, base) }
	two := []string{"hello", "wörld 😀"}
	providertest.EmbedGolden(t, newEmbedder, []providertest.EmbedCase{
		{Name: "floats", Model: "text-embedding-3-small", Inputs: two,
			Body: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023064255,-0.009327292]},{"object":"embedding","index":1,"embedding":[1.5,-2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":5,"total_tokens":5}}`},
		{Name: "base64", Model: "text-embedding-3-small", Inputs: two,
			Body: `{"data":[{"index":0,"embedding":"AACAPwAAAEA="},{"index":1,"embedding":"AABAQA"}],"usage":{"prompt_tokens":5}}`},
		{Name: "out_of_order", Model: "nomic-embed-text", Inputs: two,
			Body: `{"data":[{"index":1,"embedding":[2]},{"index":0,"embedding":[1]}]}`},
		{Name: "no_index", Model: "nomic-embed-text", Inputs: two,
			Body: `{"data":[{"embedding":[1]},{"embedding":[2]}],"usage":{"prompt_tokens":3}}`},
		{Name: "too_few", Model: "text-embedding-3-small", Inputs: two,
			Body: `{"data":[{"index":0,"embedding":[1]}]}`},
		{Name: "index_out_of_range", Model: "text-embedding-3-small", Inputs: two,
			Body: `{"data":[{"index":0,"embedding":[1]},{"index":2,"embedding":[2]}]}`},
		{Name: "undecodable", Model: "text-embedding-3-small", Inputs: []string{"a"},
			Body: `{"data":[{"index":0,"embedding":"!!"}]}`},
		{Name: "not_json", Model: "text-embedding-3-small", Inputs: []string{"a"}, Status: 200, Body: `<html>oops</html>`},
		{Name: "error_400", Model: "text-embedding-3-small", Inputs: []string{"a"}, Status: 400,
			Body: `{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","param":"input","code":null}}`},
		{Name: "error_429", Model: "text-embedding-3-small", Inputs: []string{"a"}, Status: 429,
			Body: `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`},
	})
}
