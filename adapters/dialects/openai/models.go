package openai

import (
	"context"
	"net/http"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/exchange"
)

// agentOwner is the owned_by of agents in model lists.
const agentOwner = "agentgate"

func (d *Dialect) listModels(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	return ListModels(w, r, p, d.env.Engine)
}

func (d *Dialect) getModel(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	return GetModel(w, r, p, d.env.Engine, modelNotFound)
}

// ListModels answers a model list in OpenAI's format: the active agents p
// can use (owned by "agentgate"), then the upstream models p may call
// directly (owned by their provider instance). The Responses dialect
// serves it too.
func ListModels(w http.ResponseWriter, r *http.Request, p *adapters.Principal, rt *engine.Engine) error {
	ctx := r.Context()
	agents, err := rt.Agents().List(ctx, p)
	if err != nil {
		return err
	}
	models, err := rt.ListModels(ctx, p)
	if err != nil {
		return err
	}
	b := []byte(`{"object":"list","data":[`)
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	listed := make(map[string]bool, len(agents))
	for _, a := range agents {
		if !a.Active() {
			continue
		}
		sep()
		b = appendAgentModel(b, a)
		listed[a.ID] = true
	}
	for i := range models {
		// An agent shadows the model of its name: requests reach the agent.
		if !listed[models[i].ID] {
			sep()
			b = appendUpstreamModel(b, &models[i])
		}
	}
	b = append(b, "]}"...)
	dialects.WriteRawJSON(w, http.StatusOK, b)
	return nil
}

// GetModel answers one model object: the agent id (or name) names, or
// the upstream model p may call directly. notFound words the 404 of a
// name that is neither.
func GetModel(w http.ResponseWriter, r *http.Request, p *adapters.Principal, rt *engine.Engine, notFound func(id string, err error) error) error {
	id := r.PathValue("id")
	b, err := findModel(r.Context(), p, rt, id)
	if err != nil {
		return notFound(id, err)
	}
	dialects.WriteRawJSON(w, http.StatusOK, b)
	return nil
}

func findModel(ctx context.Context, p *adapters.Principal, rt *engine.Engine, id string) ([]byte, error) {
	a, err := rt.Agents().Get(ctx, p, id)
	if err == nil && a.Active() {
		return appendAgentModel(nil, a), nil
	}
	if err != nil && adapters.AsError(err).Kind != adapters.KindNotFound {
		return nil, err
	}
	m, merr := rt.Model(ctx, p, id)
	if merr != nil {
		if err == nil {
			// An agent that is not active: not a model to call.
			return nil, &adapters.Error{Kind: adapters.KindNotFound}
		}
		return nil, merr
	}
	return appendUpstreamModel(nil, m), nil
}

// appendAgentModel writes an agent as an OpenAI model object; name is an
// agentgate extension the SDKs keep as an extra field.
func appendAgentModel(b []byte, a *adapters.Agent) []byte {
	b = appendModelHead(b, a.ID, a.CreatedAt.Unix(), agentOwner)
	b = append(b, `,"name":`...)
	b = dialects.AppendString(b, a.Name)
	return append(b, '}')
}

// appendUpstreamModel writes a routed upstream model as an OpenAI model
// object, owned by the provider instance that serves it; its name is its
// id, so clients that print agents' names list models too.
func appendUpstreamModel(b []byte, m *models.Model) []byte {
	b = appendModelHead(b, m.ID, m.Created.Unix(), m.Provider)
	b = append(b, `,"name":`...)
	b = dialects.AppendString(b, m.ID)
	return append(b, '}')
}

func appendModelHead(b []byte, id string, created int64, owner string) []byte {
	b = append(b, `{"id":`...)
	b = dialects.AppendString(b, id)
	b = append(b, `,"object":"model","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"owned_by":`...)
	return dialects.AppendString(b, owner)
}

// resolve finds the agent a request's model names: an agent's id or name
// or, failing that, a routed upstream model called directly (passthrough),
// so existing OpenAI code works by changing only its base URL.
func (d *Dialect) resolve(ctx context.Context, p *adapters.Principal, model string) (*adapters.Agent, error) {
	agent, err := dialects.ResolveModel(ctx, d.env.Engine, p, model)
	if err != nil {
		return nil, modelNotFound(model, err)
	}
	return agent, nil
}

// modelNotFound turns an unknown agent or model into OpenAI's
// model_not_found, in OpenAI's own wording.
func modelNotFound(model string, err error) error {
	if adapters.AsError(err).Kind == adapters.KindNotFound {
		return &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
			Message: "The model '" + model + "' does not exist or you do not have access to it. Use an agent id or name, or a model, from GET /v1/models."}
	}
	return err
}
