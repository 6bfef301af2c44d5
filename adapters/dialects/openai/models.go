package openai

import (
	"context"
	"net/http"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
)

func (d *Dialect) listModels(w http.ResponseWriter, r *http.Request, p *adapters.Principal) error {
	agents, err := d.env.Runtime.Agents(r.Context(), p)
	if err != nil {
		return err
	}
	b := []byte(`{"object":"list","data":[`)
	for i, a := range agents {
		if !a.Active() {
			continue
		}
		if i > 0 && b[len(b)-1] != '[' {
			b = append(b, ',')
		}
		b = appendModel(b, a)
	}
	b = append(b, "]}"...)
	dialects.WriteRawJSON(w, http.StatusOK, b)
	return nil
}

func (d *Dialect) getModel(w http.ResponseWriter, r *http.Request, p *adapters.Principal) error {
	a, err := d.env.Runtime.Agent(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return modelNotFound(r.PathValue("id"), err)
	}
	dialects.WriteRawJSON(w, http.StatusOK, appendModel(nil, a))
	return nil
}

// appendModel writes an agent as an OpenAI model object; name is an
// agentgate extension the SDKs keep as an extra field.
func appendModel(b []byte, a *adapters.Agent) []byte {
	b = append(b, `{"id":`...)
	b = dialects.AppendString(b, a.ID)
	b = append(b, `,"object":"model","created":`...)
	b = strconv.AppendInt(b, a.CreatedAt.Unix(), 10)
	b = append(b, `,"owned_by":`...)
	owner := a.Tenant
	if owner == "" {
		owner = "agentgate"
	}
	b = dialects.AppendString(b, owner)
	b = append(b, `,"name":`...)
	b = dialects.AppendString(b, a.Name)
	return append(b, '}')
}

// resolve finds the agent a request's model names: an agent's id or name
// or, failing that, a routed upstream model called directly (passthrough),
// so existing OpenAI code works by changing only its base URL.
func (d *Dialect) resolve(ctx context.Context, p *adapters.Principal, model string) (*adapters.Agent, error) {
	agent, err := dialects.ResolveModel(ctx, d.env.Runtime, p, model)
	if err != nil {
		return nil, modelNotFound(model, err)
	}
	return agent, nil
}

// modelNotFound turns an unknown agent into OpenAI's model_not_found, in
// OpenAI's own wording.
func modelNotFound(model string, err error) error {
	if adapters.AsError(err).Kind == adapters.KindNotFound {
		return &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
			Message: "The model '" + model + "' does not exist or you do not have access to it. Use an agent id or name from GET /v1/models."}
	}
	return err
}
