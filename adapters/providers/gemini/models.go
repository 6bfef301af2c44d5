package gemini

import (
	"context"
	"errors"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"google.golang.org/genai"
)

var _ adapters.ModelLister = (*Provider)(nil)

// maxModelPages bounds how many pages of the model list are fetched.
const maxModelPages = 10

// ListModels fetches GET …/models through the SDK ({"models":[{"name":
// "models/gemini-2.5-flash",…}],"nextPageToken"}), page by page; the
// names lose their "models/" prefix, as requests name models. Gemini
// gives no creation time.
func (p *Provider) ListModels(ctx context.Context) ([]adapters.ModelInfo, error) {
	if p.keyless {
		return nil, adapters.ErrNoAPIKey
	}
	ctx, cancel := context.WithTimeoutCause(ctx, p.timeout, errCallTimeout)
	defer cancel()
	rec := &exchange{}
	ctx = context.WithValue(ctx, exchangeKey{}, rec)
	page, err := p.client.Models.List(ctx, &genai.ListModelsConfig{PageSize: 1000})
	var out []adapters.ModelInfo
	for n := 0; ; n++ {
		if errors.Is(err, genai.ErrPageDone) {
			return out, nil
		}
		if err != nil {
			return nil, p.callError(ctx, err, rec)
		}
		for _, m := range page.Items {
			if m == nil || m.Name == "" {
				continue
			}
			out = append(out, adapters.ModelInfo{ID: strings.TrimPrefix(m.Name, "models/")})
		}
		if page.NextPageToken == "" || n+1 >= maxModelPages {
			return out, nil
		}
		page, err = page.Next(ctx)
	}
}
