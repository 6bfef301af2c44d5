package engrami

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/state"
)

// Paging of GET /agents.
const (
	defaultPerPage = 20
	maxPerPage     = 100
)

// listItem is an agent in GET /agents.
type listItem struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Description   string `json:"description"`
	Model         string `json:"model"`
	Status        string `json:"status"`
	MemoryEnabled bool   `json:"memory_enabled"`
	CreatedAt     string `json:"created_at"`
}

type listResponse struct {
	Items   []listItem `json:"items"`
	Total   int        `json:"total"`
	Page    int        `json:"page"`
	PerPage int        `json:"per_page"`
}

// agentView is an agent as POST, GET and the create response show it.
type agentView struct {
	ID           string           `json:"id"`
	Name         string           `json:"name"`
	Description  string           `json:"description"`
	Model        string           `json:"model"`
	SystemPrompt string           `json:"system_prompt"`
	Status       string           `json:"status"`
	MemoryConfig memoryConfigView `json:"memory_config"`
	Tools        []string         `json:"tools"`
	Temperature  *float64         `json:"temperature"`
	MaxTokens    *int             `json:"max_tokens"`
	Statistics   *statistics      `json:"statistics,omitempty"`
	CreatedAt    string           `json:"created_at"`
	UpdatedAt    string           `json:"updated_at"`
}

type memoryConfigView struct {
	SemanticEnabled   bool   `json:"semantic_enabled"`
	EpisodicEnabled   bool   `json:"episodic_enabled"`
	ProceduralEnabled bool   `json:"procedural_enabled"`
	EmbeddingModel    string `json:"embedding_model,omitempty"`
}

type statistics struct {
	TotalConversations int64 `json:"total_conversations"`
	// AvgResponseTime is the mean latency of the agent's answers in
	// seconds, one decimal, as the document writes it ("2.3s").
	AvgResponseTime string `json:"avg_response_time"`
	// SatisfactionRate is the share of thumbs up among end users'
	// feedback, null until there is some.
	SatisfactionRate *float64 `json:"satisfaction_rate"`
}

func status(a *adapters.Agent) string {
	if a.Status == "" {
		return adapters.StatusActive
	}
	return a.Status
}

func view(a *adapters.Agent) agentView {
	v := agentView{ID: a.ID, Name: a.Name, Description: a.Description, Model: a.Model, SystemPrompt: a.SystemPrompt,
		Status: status(a), Tools: a.Tools, Temperature: a.Sampling.Temperature, MaxTokens: a.Sampling.MaxTokens,
		MemoryConfig: memoryConfigView{SemanticEnabled: a.Memory.Semantic, EpisodicEnabled: a.Memory.Episodic,
			ProceduralEnabled: a.Memory.Procedural, EmbeddingModel: a.Memory.EmbeddingModel},
		CreatedAt: timestamp(a.CreatedAt), UpdatedAt: timestamp(a.UpdatedAt)}
	if v.Tools == nil {
		v.Tools = []string{}
	}
	return v
}

func statsView(s state.AgentStats) *statistics {
	out := &statistics{TotalConversations: s.Conversations, AvgResponseTime: "0.0s"}
	if s.Responses > 0 {
		out.AvgResponseTime = strconv.FormatFloat(float64(s.ResponseMs)/float64(s.Responses)/1000, 'f', 1, 64) + "s"
	}
	if votes := s.Up + s.Down; votes > 0 {
		rate := math.Round(float64(s.Up)/float64(votes)*100) / 100
		out.SatisfactionRate = &rate
	}
	return out
}

func (d *Dialect) list(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	page, err := queryInt(r, "page", 1, 1)
	if err != nil {
		return err
	}
	perPage, err := queryInt(r, "per_page", defaultPerPage, 1)
	if err != nil {
		return err
	}
	perPage = min(perPage, maxPerPage)
	agents, err := d.env.Engine.Agents().List(r.Context(), p)
	if err != nil {
		return err
	}
	resp := listResponse{Items: []listItem{}, Total: len(agents), Page: page, PerPage: perPage}
	if from := page - 1; from < (len(agents)+perPage-1)/perPage {
		for _, a := range agents[from*perPage : min(len(agents), (from+1)*perPage)] {
			resp.Items = append(resp.Items, listItem{ID: a.ID, Name: a.Name, Description: a.Description, Model: a.Model,
				Status: status(a), MemoryEnabled: a.Memory.Enabled(), CreatedAt: timestamp(a.CreatedAt)})
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// agent returns p's agent id: by id only (never by name), 404 when it is
// missing or another tenant's.
func (d *Dialect) agent(ctx context.Context, p *adapters.Principal, id string) (*adapters.Agent, error) {
	a, err := d.env.Engine.Agents().Get(ctx, p, id)
	if err != nil {
		var e *adapters.Error
		if errors.As(err, &e) && e.Kind == adapters.KindNotFound {
			return nil, notFound(id)
		}
		return nil, err
	}
	if a.ID != id {
		return nil, notFound(id)
	}
	return a, nil
}

func (d *Dialect) create(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	spec, err := decodeAgent(body, true)
	if err != nil {
		return err
	}
	rt := d.env.Engine
	now := rt.Now()
	a := &adapters.Agent{Tenant: p.Tenant, Status: adapters.StatusActive, CreatedAt: now, UpdatedAt: now,
		// The document's defaults: facts and episodes on, instructions off.
		Memory: adapters.MemoryConfig{Semantic: true, Episodic: true}}
	if spec.id != nil {
		a.ID = *spec.id
	} else {
		a.ID = adapters.NewID("agent_")
	}
	if err := d.apply(spec, a); err != nil {
		return err
	}
	if err := rt.Agents().Create(r.Context(), a); err != nil {
		var e *adapters.Error
		if errors.As(err, &e) && e.Kind == adapters.KindConflict {
			return &adapters.Error{Kind: adapters.KindConflict, Code: "agent_exists", Param: "id", Message: e.Message}
		}
		return err
	}
	writeJSON(w, http.StatusCreated, view(a))
	return nil
}

// apply sets what spec gives on a, and checks it against the gateway:
// the model and embedding model routed, the tools declared.
func (d *Dialect) apply(spec *agentSpec, a *adapters.Agent) error {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&a.Name, spec.name)
	set(&a.Description, spec.description)
	set(&a.SystemPrompt, spec.systemPrompt)
	set(&a.Status, spec.status)
	if spec.model != nil {
		if _, _, ok := d.env.Engine.Models().Router().Resolve(*spec.model, ""); !ok {
			return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "model_not_found", Param: "model",
				Message: "model: no provider of this gateway serves model " + quote(*spec.model)}
		}
		// A model of the client's choosing is routed by name.
		a.Model, a.Provider = *spec.model, ""
	}
	if spec.toolsSet {
		if err := d.checkTools(spec.tools); err != nil {
			return err
		}
		a.Tools = dedupe(spec.tools)
	}
	if spec.temperatureSet {
		a.Sampling.Temperature = spec.temperature
	}
	if spec.maxTokensSet {
		a.Sampling.MaxTokens = spec.maxTokens
	}
	if m := spec.memory; m != nil {
		setb := func(dst *bool, v *bool) {
			if v != nil {
				*dst = *v
			}
		}
		setb(&a.Memory.Semantic, m.semantic)
		setb(&a.Memory.Episodic, m.episodic)
		setb(&a.Memory.Procedural, m.procedural)
		if m.embeddingModel != nil {
			if em := *m.embeddingModel; em != "" {
				if _, _, ok := d.env.Engine.Models().Router().Resolve(em, ""); !ok {
					return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "model_not_found", Param: "memory_config.embedding_model",
						Message: "memory_config.embedding_model: no provider of this gateway serves model " + quote(em)}
				}
			}
			a.Memory.EmbeddingModel = *m.embeddingModel
		}
	}
	return nil
}

// dedupe returns names without repeats, in order.
func dedupe(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// checkTools refuses tools the operator did not declare, naming them all:
// tenants can attach declared tools and toolkits only.
func (d *Dialect) checkTools(names []string) error {
	reg := d.env.Engine.Tools()
	var unknown []string
	for _, n := range names {
		if reg == nil {
			unknown = append(unknown, n)
			continue
		}
		if _, err := reg.Resolve([]string{n}); err != nil {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	msg := "tools: not declared by the gateway's operator: " + strings.Join(unknown, ", ")
	if reg != nil {
		msg += " (declared toolkits: " + strings.Join(reg.Names(), ", ") + ")"
	}
	return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "unknown_tool", Param: "tools", Message: msg}
}

func (d *Dialect) get(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	a, err := d.agent(r.Context(), p, r.PathValue("agent_id"))
	if err != nil {
		return err
	}
	st, err := d.env.Engine.Knowledge().Memory().Stats(r.Context(), p.Tenant, a.ID)
	if err != nil {
		return err
	}
	v := view(a)
	v.Statistics = statsView(st)
	writeJSON(w, http.StatusOK, v)
	return nil
}

type updateResponse struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	UpdatedAt string `json:"updated_at"`
}

func (d *Dialect) update(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	id := r.PathValue("agent_id")
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	spec, err := decodeAgent(body, false)
	if err != nil {
		return err
	}
	a, err := d.env.Engine.Agents().Update(r.Context(), p, id, func(a *adapters.Agent) error { return d.apply(spec, a) })
	if err != nil {
		var e *adapters.Error
		if errors.As(err, &e) && e.Kind == adapters.KindNotFound && e.Param == "agent" {
			return notFound(id)
		}
		return agentError(err)
	}
	writeJSON(w, http.StatusOK, updateResponse{ID: a.ID, Name: a.Name, Status: status(a), UpdatedAt: timestamp(a.UpdatedAt)})
	return nil
}

type deleteResponse struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
}

// delete deletes an agent (it disappears from every dialect; its
// conversations are kept) and, with delete_memory=true, everything it
// remembers. Without it the memories stay in the store, readable by an
// operator, and return if an agent with the same id is created again.
func (d *Dialect) delete(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	id := r.PathValue("agent_id")
	deleteMemory := false
	if s := r.URL.Query().Get("delete_memory"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return adapters.BadField("delete_memory", "must be true or false, got %s", strconv.Quote(clipString(s, 32)))
		}
		deleteMemory = b
	}
	if err := d.env.Engine.Agents().Delete(r.Context(), p, id); err != nil {
		var e *adapters.Error
		if errors.As(err, &e) && e.Kind == adapters.KindNotFound {
			return notFound(id)
		}
		return agentError(err)
	}
	msg := "Agent deleted successfully; its memory is retained"
	if deleteMemory {
		if _, err := d.env.Engine.Knowledge().Memory().DeleteAgent(r.Context(), p.Tenant, id); err != nil {
			return err
		}
		msg = "Agent and associated memory deleted successfully"
	}
	writeJSON(w, http.StatusOK, deleteResponse{Success: true, Message: msg})
	return nil
}
