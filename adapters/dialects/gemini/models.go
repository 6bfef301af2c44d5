package gemini

import (
	"net/http"
	"net/url"
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
	size, offset, err := pageQuery(q)
	if err != nil {
		return err
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
	end, err := pageEnd(offset, size, len(active))
	if err != nil {
		return err
	}
	b := []byte(`{"models":[`)
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

// pageQuery reads pageSize and pageToken: the size of the page (0 asks for
// the default, more than the maximum is the maximum, as Gemini's) and the
// offset the token stands for.
func pageQuery(q url.Values) (size, offset int, err error) {
	size = defaultPageSize
	if s := q.Get("pageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, 0, adapters.BadField("pageSize", "must be a non-negative integer")
		}
		if n > 0 {
			size = min(n, maxPageSize)
		}
	}
	if s := q.Get("pageToken"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, 0, badPageToken()
		}
		offset = n
	}
	return size, offset, nil
}

// pageEnd is the end of the page at offset of a list of n: a token past
// the list is not one this gateway gave (it only gives offsets inside the
// list), and offset+size is never computed, so a huge token cannot wrap.
func pageEnd(offset, size, n int) (int, error) {
	if offset > n {
		return 0, badPageToken()
	}
	return offset + min(size, n-offset), nil
}

func badPageToken() error {
	return adapters.BadField("pageToken", "is not a page token this gateway gave")
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
