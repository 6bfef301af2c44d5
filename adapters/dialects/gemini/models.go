package gemini

import (
	"net/http"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
)

// Page sizes of GET /v1beta/models, as Gemini's.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// listModels lists the caller's active agents as Gemini models, a page at
// a time; the page token is the offset of the next page.
func (d *Dialect) listModels(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	q := r.URL.Query()
	size := defaultPageSize
	if s := q.Get("pageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return adapters.BadField("pageSize", "must be a non-negative integer")
		}
		if n > 0 {
			size = min(n, maxPageSize)
		}
	}
	offset := 0
	if s := q.Get("pageToken"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return adapters.BadField("pageToken", "is not a page token this gateway gave")
		}
		offset = n
	}
	agents, err := d.env.Engine.Agents().List(r.Context(), p)
	if err != nil {
		return err
	}
	active := agents[:0:0]
	for _, a := range agents {
		if a.Active() {
			active = append(active, a)
		}
	}
	b := []byte(`{"models":[`)
	end := min(offset+size, len(active))
	for i := offset; i < end; i++ {
		if i > offset {
			b = append(b, ',')
		}
		b = appendModel(b, active[i].ID, active[i])
	}
	b = append(b, ']')
	if end < len(active) {
		b = append(b, `,"nextPageToken":`...)
		b = dialects.AppendString(b, strconv.Itoa(end))
	}
	dialects.WriteRawJSON(w, http.StatusOK, append(b, '}'))
	return nil
}

// getModel describes an agent, or a routed model the caller may call.
func (d *Dialect) getModel(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	model := r.PathValue("model")
	if model == "" {
		model = r.PathValue("id") // GET /v1/models/{id...}
	}
	a, err := d.resolve(r.Context(), p, model)
	if err != nil {
		return err
	}
	id := a.ID
	if id == "" {
		id = model // a routed model: the passthrough agent has no id
	}
	dialects.WriteRawJSON(w, http.StatusOK, appendModel(nil, id, a))
	return nil
}

// appendModel writes a Model: an agent's name is its displayName; version
// is the agent's published version when it has one.
func appendModel(b []byte, id string, a *adapters.Agent) []byte {
	b = append(b, `{"name":`...)
	b = dialects.AppendString(b, "models/"+id)
	b = append(b, `,"baseModelId":`...)
	b = dialects.AppendString(b, id)
	version := a.Version
	if version == "" {
		version = "1"
	}
	b = append(b, `,"version":`...)
	b = dialects.AppendString(b, version)
	b = append(b, `,"displayName":`...)
	b = dialects.AppendString(b, a.Name)
	if a.Description != "" {
		b = append(b, `,"description":`...)
		b = dialects.AppendString(b, a.Description)
	}
	b = append(b, `,"supportedGenerationMethods":["generateContent","streamGenerateContent","countTokens"]`...)
	return append(b, '}')
}
