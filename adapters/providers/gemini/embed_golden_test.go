package gemini

import (
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/providertest"
)

// TestEmbedGolden: what Embed sends to :batchEmbedContents and makes of
// Gemini's answers (values, statistics, errors). Run with -update to
// rewrite the golden files.
func TestEmbedGolden(t *testing.T) {
	newEmbedder := func(t *testing.T, base string) adapters.Embedder { return newTestProvider(t, base) }
	two := []string{"hello world", "wörld 😀"}
	providertest.EmbedGolden(t, newEmbedder, []providertest.EmbedCase{
		{Name: "values", Model: "gemini-embedding-001", Inputs: two,
			Body: `{"embeddings":[{"values":[0.0023064255,-0.009327292]},{"values":[1.5,-2]}]}`},
		{Name: "statistics", Model: "models/text-embedding-004", Inputs: two,
			Body: `{"embeddings":[{"values":[1],"statistics":{"tokenCount":2,"truncated":false}},{"values":[2],"statistics":{"tokenCount":3}}]}`},
		{Name: "too_few", Model: "gemini-embedding-001", Inputs: two, Body: `{"embeddings":[{"values":[1]}]}`},
		{Name: "empty_values", Model: "gemini-embedding-001", Inputs: two, Body: `{"embeddings":[{"values":[1]},{"values":[]}]}`},
		{Name: "error_400", Model: "gemini-embedding-001", Inputs: []string{"a"}, Status: 400,
			Body: `{"error":{"code":400,"message":"Request payload size exceeds the limit","status":"INVALID_ARGUMENT"}}`},
		{Name: "error_429", Model: "gemini-embedding-001", Inputs: []string{"a"}, Status: 429,
			Body: `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`},
		{Name: "bad_model", Model: "a?b", Inputs: []string{"a"}},
	})
}
