package anthropic

import (
	"net/http"
	"strconv"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
)

// Page sizes of GET /v1/models, as Anthropic's.
const (
	defaultModelsLimit = 20
	maxModelsLimit     = 1000
)

// listModels serves GET /v1/models: the caller's active agents as model
// objects, in Anthropic's page shape (data, has_more, first_id, last_id),
// with its limit, after_id and before_id parameters.
func (d *Dialect) listModels(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	q := r.URL.Query()
	limit := defaultModelsLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxModelsLimit {
			return adapters.BadField("limit", "must be an integer from 1 to %d", maxModelsLimit)
		}
		limit = n
	}
	agents, err := d.env.Engine.Agents().List(r.Context(), p)
	if err != nil {
		return err
	}
	active := make([]*adapters.Agent, 0, len(agents))
	for _, a := range agents {
		if a.Active() {
			active = append(active, a)
		}
	}
	page, more := pageOf(active, q.Get("after_id"), q.Get("before_id"), limit)
	b := []byte(`{"data":[`)
	for i, a := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendModel(b, a)
	}
	b = append(b, `],"has_more":`...)
	b = strconv.AppendBool(b, more)
	b = append(b, `,"first_id":`...)
	b = appendID(b, page, 0)
	b = append(b, `,"last_id":`...)
	b = appendID(b, page, len(page)-1)
	dialects.WriteRawJSON(w, http.StatusOK, append(b, '}'))
	return nil
}

// pageOf is the page of at most limit agents after the one with id after
// (or before the one with id before), and whether more lie beyond it.
func pageOf(agents []*adapters.Agent, after, before string, limit int) ([]*adapters.Agent, bool) {
	index := func(id string) int {
		for i, a := range agents {
			if a.ID == id {
				return i
			}
		}
		return -1
	}
	if before != "" {
		end := max(index(before), 0)
		start := max(end-limit, 0)
		return agents[start:end], start > 0
	}
	start := 0
	if after != "" {
		start = index(after) + 1
		if start == 0 {
			start = len(agents) // an unknown cursor: nothing after it
		}
	}
	end := min(start+limit, len(agents))
	return agents[start:end], end < len(agents)
}

func appendID(b []byte, page []*adapters.Agent, i int) []byte {
	if i < 0 || i >= len(page) {
		return append(b, "null"...)
	}
	return dialects.AppendString(b, page[i].ID)
}

// getModel serves GET /v1/models/{id}.
func (d *Dialect) getModel(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	id := r.PathValue("id")
	a, err := d.env.Engine.Agents().Get(r.Context(), p, id)
	if err != nil {
		if adapters.AsError(err).Kind == adapters.KindNotFound {
			return modelNotFound(id)
		}
		return err
	}
	dialects.WriteRawJSON(w, http.StatusOK, appendModel(nil, a))
	return nil
}

// appendModel writes an agent as Anthropic's model object.
func appendModel(b []byte, a *adapters.Agent) []byte {
	b = append(b, `{"type":"model","id":`...)
	b = dialects.AppendString(b, a.ID)
	b = append(b, `,"display_name":`...)
	name := a.Name
	if name == "" {
		name = a.ID
	}
	b = dialects.AppendString(b, name)
	b = append(b, `,"created_at":`...)
	b = dialects.AppendString(b, a.CreatedAt.UTC().Format(time.RFC3339))
	return append(b, '}')
}
