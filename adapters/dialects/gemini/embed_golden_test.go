package gemini

import (
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/internal/dialecttest"
)

// TestEmbedGolden: :embedContent and :batchEmbedContents, as the embedder
// is asked (upstream.golden.json) and as the client is answered
// (response.golden), refusals in Gemini's error shape. Run with -update
// to rewrite them.
func TestEmbedGolden(t *testing.T) {
	routes := []models.Route{{Pattern: "gemini-embedding-*", Provider: "embedder"}}
	const one = "/v1beta/models/gemini-embedding-001:embedContent"
	const batch = "/v1beta/models/gemini-embedding-001:batchEmbedContents"
	dialecttest.EmbedGolden(t, Name, "testdata/embed", routes, []dialecttest.EmbedCase{
		{Name: "embed_content", Path: one, Body: `{"content":{"parts":[{"text":"What is the meaning of "},{"text":"life?"}]},"taskType":"RETRIEVAL_QUERY"}`},
		{Name: "batch", Path: batch, Body: `{"requests":[{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"hello"}]}},` +
			`{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"wörld 😀"}]},"taskType":"RETRIEVAL_DOCUMENT","title":"t"}]}`},
		{Name: "batch_other_model", Path: batch, Body: `{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"a"}]}}]}`},
		{Name: "image_part", Path: one, Body: `{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]}}`},
		{Name: "output_dimensionality", Path: one, Body: `{"content":{"parts":[{"text":"a"}]},"outputDimensionality":256}`},
		{Name: "no_content", Path: one, Body: `{}`},
		{Name: "unrouted_model", Path: "/v1beta/models/embedding-gecko:embedContent", Body: `{"content":{"parts":[{"text":"a"}]}}`},
		{Name: "upstream_error", Path: one, Body: `{"content":{"parts":[{"text":"a"}]}}`,
			Err: &adapters.Error{Kind: adapters.KindUpstream, UpstreamStatus: 500, Message: "upstream returned an invalid embeddings response"}},
	})
}
