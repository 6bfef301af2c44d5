package responses

import (
	"net/http"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/state"
)

// Versions endpoints (agentgate's design; the document names versions but
// not how they are made):
//
//	POST /agents/{agentKey}/versions            publish the working copy → 201 versionView
//	                                            (body {}: publishing takes no parameters)
//	GET  /agents/{agentKey}/versions            {"versions":[versionView…]}, oldest first
//	GET  /agents/{agentKey}/versions/{version}  versionView

// versionView is a published version: its number, the agent's key and
// the configuration it fixes.
type versionView struct {
	Version     int        `json:"version"`
	Key         string     `json:"key"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Config      configView `json:"config"`
	CreatedAt   string     `json:"createdAt"`
}

func viewVersion(v *state.AgentVersion) versionView {
	a := &v.Agent
	return versionView{Version: v.Version, Key: v.AgentID, Name: a.Name, Description: a.Description, CreatedAt: jsTime(v.Created),
		Config: configView{ModelKey: a.Model, Temperature: a.Sampling.Temperature, TopP: a.Sampling.TopP, MaxTokens: a.Sampling.MaxTokens}}
}

func (d *Dialect) publishVersion(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	// Publishing takes no parameters: the body is the empty object, so
	// nothing a client meant as a parameter is silently ignored, and an
	// empty body (a client that lost its payload) is refused like on every
	// other route that takes JSON.
	if err := dialects.UnmarshalStrict(body, &struct{}{}); err != nil {
		return err
	}
	a, err := d.agent(r, p)
	if err != nil {
		return err
	}
	v, err := d.env.Engine.Agents().PublishVersion(r.Context(), p.Tenant, a.ID)
	if err != nil {
		return err
	}
	dialects.WriteJSON(w, http.StatusCreated, viewVersion(v))
	return nil
}

func (d *Dialect) listVersions(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	a, err := d.agent(r, p)
	if err != nil {
		return err
	}
	list, err := d.env.Engine.Agents().ListVersions(r.Context(), p.Tenant, a.ID)
	if err != nil {
		return err
	}
	out := struct {
		Versions []versionView `json:"versions"`
	}{Versions: make([]versionView, 0, len(list))}
	for _, v := range list {
		out.Versions = append(out.Versions, viewVersion(v))
	}
	dialects.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (d *Dialect) getVersion(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	a, err := d.agent(r, p)
	if err != nil {
		return err
	}
	raw := r.PathValue("version")
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 {
		return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_version", Param: "version",
			Message: "version must be a positive integer, got " + q(raw)}
	}
	v, err := d.env.Engine.Agents().GetVersion(r.Context(), p.Tenant, a.ID, n)
	if err != nil {
		return err
	}
	dialects.WriteJSON(w, http.StatusOK, viewVersion(v))
	return nil
}
