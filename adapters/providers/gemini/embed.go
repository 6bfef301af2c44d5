package gemini

import (
	"context"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"google.golang.org/genai"
)

// maxEmbedBatch is the most requests batchEmbedContents takes at once.
const maxEmbedBatch = 100

// Embed computes one vector per input with models/{model}:batchEmbedContents
// (genai's Models.EmbedContent), in batches of 100, in input order. Gemini
// reports no token counts for embeddings, so usage is estimated as the
// number of whitespace-separated words (Usage.Estimated) unless the answer
// carries per-input statistics.
func (p *Provider) Embed(ctx context.Context, model string, inputs []string) ([][]float32, adapters.Usage, error) {
	if len(inputs) == 0 {
		return nil, adapters.Usage{}, nil
	}
	if err := checkModel(model); err != nil {
		return nil, adapters.Usage{}, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, p.timeout, errCallTimeout)
	defer cancel()
	out := make([][]float32, 0, len(inputs))
	var counted float32
	allCounted := true
	for start := 0; start < len(inputs); start += maxEmbedBatch {
		batch := inputs[start:min(start+maxEmbedBatch, len(inputs))]
		contents := make([]*genai.Content, len(batch))
		for i, in := range batch {
			contents[i] = &genai.Content{Parts: []*genai.Part{{Text: in}}}
		}
		rec := &exchange{}
		resp, err := p.client.Models.EmbedContent(context.WithValue(ctx, exchangeKey{}, rec), model, contents, nil)
		if err != nil {
			return nil, adapters.Usage{}, p.callError(ctx, err, rec)
		}
		if len(resp.Embeddings) != len(batch) {
			return nil, adapters.Usage{}, &adapters.Error{Kind: adapters.KindUpstream,
				Message: "upstream returned embeddings that do not match the inputs", UpstreamStatus: rec.status}
		}
		for _, e := range resp.Embeddings {
			if e == nil || len(e.Values) == 0 {
				return nil, adapters.Usage{}, &adapters.Error{Kind: adapters.KindUpstream,
					Message: "upstream returned an empty embedding", UpstreamStatus: rec.status}
			}
			out = append(out, e.Values)
			if e.Statistics != nil && e.Statistics.TokenCount > 0 {
				counted += e.Statistics.TokenCount
			} else {
				allCounted = false
			}
		}
	}
	if allCounted {
		return out, adapters.Usage{InputTokens: int(counted)}, nil
	}
	words := 0
	for _, in := range inputs {
		words += len(strings.Fields(in))
	}
	return out, adapters.Usage{InputTokens: words, Estimated: true}, nil
}
