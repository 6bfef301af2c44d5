package engrami

import (
	"net/http"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/state"
)

// Paging of GET /agents/{id}/memory.
const (
	defaultMemoryLimit = 20
	maxMemoryLimit     = 100
)

// memoryView is a memory item as the API shows it.
type memoryView struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Content string `json:"content"`
	// EmbeddingModel is the model the item was embedded with; null when
	// it is recalled by keywords only.
	EmbeddingModel *string `json:"embedding_model"`
	UserID         string  `json:"user_id,omitempty"`
	CreatedAt      string  `json:"created_at"`
}

func memView(m *state.Memory) memoryView {
	v := memoryView{ID: m.ID, Type: m.Kind, Content: m.Content, UserID: m.UserID, CreatedAt: timestamp(m.Created)}
	if m.EmbeddingModel != "" {
		em := m.EmbeddingModel
		v.EmbeddingModel = &em
	}
	return v
}

type memoryList struct {
	Items []memoryView `json:"items"`
	Total int          `json:"total"`
}

// memoryFilter reads the type and user_id query parameters.
func memoryFilter(r *http.Request) (memory.Filter, error) {
	q := r.URL.Query()
	var f memory.Filter
	if t := q.Get("type"); t != "" {
		if !state.ValidMemoryKind(t) {
			return f, adapters.BadField("type", "must be semantic, episodic or procedural, got %s", quote(clipString(t, 32)))
		}
		f.Kind = t
	}
	if q.Has("user_id") {
		f.User, f.ByUser = q.Get("user_id"), true
	}
	return f, nil
}

func (d *Dialect) listMemory(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	f, err := memoryFilter(r)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", defaultMemoryLimit, 1)
	if err != nil {
		return err
	}
	limit = min(limit, maxMemoryLimit)
	a, err := d.agent(r.Context(), p, r.PathValue("agent_id"))
	if err != nil {
		return err
	}
	items, err := d.env.Engine.Knowledge().Memory().List(r.Context(), p.Tenant, a.ID, f)
	if err != nil {
		return err
	}
	out := memoryList{Items: make([]memoryView, 0, min(limit, len(items))), Total: len(items)}
	for _, m := range items[:min(limit, len(items))] {
		out.Items = append(out.Items, memView(m))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// addMemory adds knowledge (semantic), standing instructions
// (procedural) or episodes to an agent's memory: one item, answered with
// it, or {"items": [...]}, answered with them. They are stored when the
// answer comes.
func (d *Dialect) addMemory(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	items, batch, err := decodeMemory(body)
	if err != nil {
		return err
	}
	a, err := d.agent(r.Context(), p, r.PathValue("agent_id"))
	if err != nil {
		return err
	}
	in := make([]memory.NewItem, len(items))
	for i, it := range items {
		in[i] = memory.NewItem{ID: it.id, Kind: it.kind, Content: it.content, UserID: it.userID, Metadata: it.metadata}
	}
	added, err := d.env.Engine.Knowledge().AddMemories(r.Context(), x, a, in)
	if err != nil {
		return err
	}
	if !batch {
		writeJSON(w, http.StatusCreated, memView(added[0]))
		return nil
	}
	out := memoryList{Items: make([]memoryView, len(added)), Total: len(added)}
	for i, m := range added {
		out.Items[i] = memView(m)
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

type clearResponse struct {
	Success      bool   `json:"success"`
	DeletedCount int    `json:"deleted_count"`
	Message      string `json:"message"`
}

// clearMemory forgets an agent's memories of one type (all without it),
// of one end user with user_id. Exchanges that ended before the clear do
// not bring them back when their write-back finishes later.
func (d *Dialect) clearMemory(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	f, err := memoryFilter(r)
	if err != nil {
		return err
	}
	a, err := d.agent(r.Context(), p, r.PathValue("agent_id"))
	if err != nil {
		return err
	}
	n, err := d.env.Engine.Knowledge().Memory().Clear(r.Context(), p.Tenant, a.ID, f)
	if err != nil {
		return err
	}
	msg := "Memory cleared successfully"
	if f.Kind != "" {
		msg = strings.ToUpper(f.Kind[:1]) + f.Kind[1:] + " memory cleared successfully"
	}
	writeJSON(w, http.StatusOK, clearResponse{Success: true, DeletedCount: n, Message: msg})
	return nil
}
