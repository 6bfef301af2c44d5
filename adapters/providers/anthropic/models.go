package anthropic

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/tidwall/gjson"
)

var _ adapters.ModelLister = (*Provider)(nil)

// maxModelPages bounds how many pages of the model list are fetched.
const maxModelPages = 10

// ListModels fetches GET {base}/v1/models, page by page:
// {"data":[{"type":"model","id","display_name","created_at"}],"has_more",
// "last_id"}.
func (p *Provider) ListModels(ctx context.Context) ([]adapters.ModelInfo, error) {
	if p.keyless {
		return nil, adapters.ErrNoAPIKey
	}
	listURL := strings.TrimSuffix(p.messagesURL, "/messages") + "/models?limit=1000"
	var out []adapters.ModelInfo
	after := ""
	for range maxModelPages {
		target := listURL
		if after != "" {
			target += "&after_id=" + url.QueryEscape(after)
		}
		body, err := p.client.Get(ctx, target)
		if err != nil {
			return nil, err
		}
		data := gjson.Get(body, "data")
		if !data.IsArray() {
			return nil, &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream model list has no data array"}
		}
		for _, m := range data.Array() {
			id := m.Get("id").String()
			if id == "" {
				continue
			}
			info := adapters.ModelInfo{ID: id}
			if t, err := time.Parse(time.RFC3339, m.Get("created_at").String()); err == nil {
				info.Created = t.UTC()
			}
			out = append(out, info)
		}
		after = gjson.Get(body, "last_id").String()
		if !gjson.Get(body, "has_more").Bool() || after == "" {
			break
		}
	}
	return out, nil
}
