package openai

import (
	"context"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/tidwall/gjson"
)

var _ adapters.ModelLister = (*Provider)(nil)

// ListModels fetches {base}/models: {"object":"list","data":[{"id",
// "created",…}]}, the list OpenAI and most compatible servers (vLLM,
// Ollama, llama.cpp, OpenRouter) serve.
func (p *Provider) ListModels(ctx context.Context) ([]adapters.ModelInfo, error) {
	if p.keyless {
		return nil, adapters.ErrNoAPIKey
	}
	body, err := p.client.Get(ctx, p.base+"/models")
	if err != nil {
		return nil, err
	}
	return parseModels(body)
}

// parseModels reads an OpenAI model list.
func parseModels(body string) ([]adapters.ModelInfo, error) {
	data := gjson.Get(body, "data")
	if !data.IsArray() {
		return nil, &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream model list has no data array"}
	}
	var out []adapters.ModelInfo
	for _, m := range data.Array() {
		id := m.Get("id").String()
		if id == "" {
			continue
		}
		info := adapters.ModelInfo{ID: id}
		if c := m.Get("created").Int(); c > 0 {
			info.Created = time.Unix(c, 0).UTC()
		}
		out = append(out, info)
	}
	return out, nil
}
