package responses

import (
	"net/http"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/adapters/dialects/openai"
	"github.com/agentgate/agentgate/exchange"
)

// agentView is an agent as the document shows it. The key is the
// canonical agent id, so agents made through any dialect, or declared in
// the Caddyfile, are listed.
type agentView struct {
	Key         string     `json:"key"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Config      configView `json:"config"`
	Status      string     `json:"status"`
	CreatedAt   string     `json:"createdAt"`
}

// configView holds the model and its parameters; a parameter the agent
// leaves to the model's default is null.
type configView struct {
	ModelKey    string   `json:"modelKey"`
	Temperature *float64 `json:"temperature"`
	TopP        *float64 `json:"topP"`
	MaxTokens   *int     `json:"maxTokens"`
}

// jsTime formats t as JavaScript's toISOString does.
func jsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// statusOf is a's status; agents that never set one are active.
func statusOf(a *adapters.Agent) string {
	if a.Status == "" {
		return adapters.StatusActive
	}
	return a.Status
}

func viewAgent(a *adapters.Agent) agentView {
	return agentView{Key: a.ID, Name: a.Name, Description: a.Description, Status: statusOf(a), CreatedAt: jsTime(a.CreatedAt),
		Config: configView{ModelKey: a.Model, Temperature: a.Sampling.Temperature, TopP: a.Sampling.TopP, MaxTokens: a.Sampling.MaxTokens}}
}

// listAgents answers GET /agents, optionally filtered by status.
func (d *Dialect) listAgents(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	status := r.URL.Query().Get("status")
	switch status {
	case "", adapters.StatusActive, adapters.StatusInactive, adapters.StatusDraft:
	default:
		return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_status", Param: "status",
			Message: "status must be active, inactive or draft, got " + q(status)}
	}
	agents, err := d.env.Engine.Agents().List(r.Context(), p)
	if err != nil {
		return err
	}
	out := struct {
		Agents []agentView `json:"agents"`
	}{Agents: make([]agentView, 0, len(agents))}
	for _, a := range agents {
		if status == "" || statusOf(a) == status {
			out.Agents = append(out.Agents, viewAgent(a))
		}
	}
	dialects.WriteJSON(w, http.StatusOK, out)
	return nil
}

// getAgent answers GET /agents/{agentKey}.
func (d *Dialect) getAgent(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	a, err := d.agent(r, p)
	if err != nil {
		return err
	}
	dialects.WriteJSON(w, http.StatusOK, struct {
		Agent agentView `json:"agent"`
	}{viewAgent(a)})
	return nil
}

// agent resolves the {agentKey} of a path: 404 in the document's words.
func (d *Dialect) agent(r *http.Request, p *adapters.Principal) (*adapters.Agent, error) {
	key := r.PathValue("agentKey")
	a, err := d.env.Engine.Agents().Get(r.Context(), p, key)
	if err != nil {
		if e := adapters.AsError(err); e.Kind == adapters.KindNotFound {
			return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "agent_not_found", Param: "agentKey",
				Message: "Agent " + q(key) + " not found"}
		}
		return nil, err
	}
	return a, nil
}

// listModels answers GET /models with the agents that can be invoked and
// the upstream models the key may call directly, in OpenAI's list format.
func (d *Dialect) listModels(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	return openai.ListModels(w, r, p, d.env.Engine)
}

// getModel answers GET /models/{id}: an agent that can be invoked, or an
// upstream model the key may call directly.
func (d *Dialect) getModel(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	return openai.GetModel(w, r, p, d.env.Engine, modelNotFound)
}

// modelNotFound is the 404 of an unknown agent named as a model.
func modelNotFound(model string, err error) error {
	if adapters.AsError(err).Kind == adapters.KindNotFound {
		return &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
			Message: "Agent " + q(model) + " not found: model must be an agent key from GET " + Prefix + "/agents, or a model the gateway routes"}
	}
	return err
}

// clip bounds client text quoted in error messages.
func clip(s string) string {
	if len(s) > 128 {
		s = s[:128] + "…"
	}
	return s
}

// q quotes client text in an error message as OpenAI does: 'text'.
func q(s string) string { return "'" + clip(s) + "'" }
