package openai

import (
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/internal/dialecttest"
)

// TestEmbeddingsGolden: POST /v1/embeddings, as the embedder is asked
// (upstream.golden.json) and as the client is answered (response.golden):
// floats and base64, one input and several, and every refusal in
// OpenAI's error shape. Run with -update to rewrite them.
func TestEmbeddingsGolden(t *testing.T) {
	routes := []models.Route{{Pattern: "text-embedding-*", Provider: "embedder"}}
	dialecttest.EmbedGolden(t, Name, "testdata/embeddings", routes, []dialecttest.EmbedCase{
		{Name: "one_input", Path: "/v1/embeddings", Body: `{"model":"text-embedding-3-small","input":"The food was delicious."}`},
		{Name: "inputs", Path: "/v1/embeddings", Body: `{"model":"text-embedding-3-small","input":["hello","wörld 😀"],"encoding_format":"float","user":"u1"}`},
		{Name: "base64", Path: "/v1/embeddings", Body: `{"model":"text-embedding-3-small","input":["hello","wörld"],"encoding_format":"base64"}`},
		{Name: "token_arrays", Path: "/v1/embeddings", Body: `{"model":"text-embedding-3-small","input":[[1,2,3]]}`},
		{Name: "empty_input", Path: "/v1/embeddings", Body: `{"model":"text-embedding-3-small","input":["a",""]}`},
		{Name: "dimensions", Path: "/v1/embeddings", Body: `{"model":"text-embedding-3-small","input":"a","dimensions":256}`},
		{Name: "bad_encoding", Path: "/v1/embeddings", Body: `{"model":"text-embedding-3-small","input":"a","encoding_format":"int8"}`},
		{Name: "no_model", Path: "/v1/embeddings", Body: `{"input":"a"}`},
		{Name: "unrouted_model", Path: "/v1/embeddings", Body: `{"model":"nomic-embed","input":"a"}`},
		{Name: "upstream_error", Path: "/v1/embeddings", Body: `{"model":"text-embedding-3-small","input":"a"}`,
			Err: &adapters.Error{Kind: adapters.KindUpstream, UpstreamStatus: 500, Message: "upstream returned an invalid embeddings response"}},
	})
}
