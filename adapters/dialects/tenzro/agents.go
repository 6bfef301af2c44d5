package tenzro

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
)

// agentView is one agent with every setting (GET /agent/agents/{id}).
type agentView struct {
	AgentID              string   `json:"agent_id"`
	Name                 string   `json:"name"`
	Description          string   `json:"description"`
	SystemPrompt         string   `json:"system_prompt"`
	AIModel              string   `json:"ai_model"`
	OrchestrationPattern string   `json:"orchestration_pattern"`
	Tools                []string `json:"tools"`
	SubAgents            []string `json:"sub_agents"`
	Temperature          *float64 `json:"temperature"`
	MaxIterations        *int     `json:"max_iterations"`
	Thinking             bool     `json:"thinking"`
	Status               string   `json:"status"`
	Executions           int64    `json:"executions"`
	CreatedAt            string   `json:"created_at"`
	UpdatedAt            string   `json:"updated_at"`
}

// listItem is one agent of a list, as the document shows it.
type listItem struct {
	AgentID    string `json:"agent_id"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Executions int64  `json:"executions"`
}

func status(a *adapters.Agent) string {
	if a.Status == "" {
		return adapters.StatusActive
	}
	return a.Status
}

func view(a *adapters.Agent, executions int64) agentView {
	v := agentView{AgentID: a.ID, Name: a.Name, Description: a.Description, SystemPrompt: a.SystemPrompt, AIModel: a.Model,
		OrchestrationPattern: patternName(a.Pattern), Tools: a.Tools, SubAgents: a.SubAgents,
		Temperature: a.Sampling.Temperature, Thinking: a.Reasoning, Status: status(a), Executions: executions,
		CreatedAt: timestamp(a.CreatedAt), UpdatedAt: timestamp(a.UpdatedAt)}
	if a.MaxIterations > 0 {
		n := a.MaxIterations
		v.MaxIterations = &n
	}
	if v.Tools == nil {
		v.Tools = []string{}
	}
	if v.SubAgents == nil {
		v.SubAgents = []string{}
	}
	return v
}

// executionsPrefix names the counters of a project's executions; the
// name of one agent's is the prefix and its id.
func executionsPrefix(project string) string { return "tenzro/executions/" + project + "/" }

// executions returns the execution counts of the project's agents, by id.
func (d *Dialect) executions(ctx context.Context, p *adapters.Principal, project string) (map[string]int64, error) {
	byName, err := d.env.Engine.Store().CountsWithPrefix(ctx, p.Tenant, executionsPrefix(project))
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(byName))
	for name, n := range byName {
		out[strings.TrimPrefix(name, executionsPrefix(project))] = n
	}
	return out, nil
}

// countExecution adds one to the executions of agent id in project.
func (d *Dialect) countExecution(ctx context.Context, p *adapters.Principal, project, id string) error {
	_, err := d.env.Engine.Store().AddCount(ctx, p.Tenant, executionsPrefix(project)+id, 1)
	return err
}

// list answers GET /agent/agents: the agents usable in the project
// (declared ones first, then the tenant's by creation time).
func (d *Dialect) list(w http.ResponseWriter, r *http.Request, x *exchange.Exchange, project string) error {
	p := x.Principal
	ctx := r.Context()
	agents, err := d.env.Engine.Agents().List(ctx, p)
	if err != nil {
		return err
	}
	counts, err := d.executions(ctx, p, project)
	if err != nil {
		return err
	}
	out := struct {
		Agents []listItem `json:"agents"`
	}{Agents: []listItem{}}
	for _, a := range agents {
		if a.InProject(project) {
			out.Agents = append(out.Agents, listItem{AgentID: a.ID, Name: a.Name, Status: status(a), Executions: counts[a.ID]})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// get answers GET /agent/agents/{id}.
func (d *Dialect) get(w http.ResponseWriter, r *http.Request, x *exchange.Exchange, project string) error {
	p := x.Principal
	ctx := r.Context()
	a, err := d.agent(ctx, p, project, r.PathValue("id"))
	if err != nil {
		return err
	}
	counts, err := d.executions(ctx, p, project)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view(a, counts[a.ID]))
	return nil
}

// create answers POST /agent/agents with 200 (Google-style APIs, whose error shape Tenzro uses, answer creates with 200) and the new agent's id.
func (d *Dialect) create(w http.ResponseWriter, r *http.Request, x *exchange.Exchange, project string) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	spec, err := decodeAgent(body, false)
	if err != nil {
		return err
	}
	now := d.env.Engine.Now()
	a := &adapters.Agent{ID: adapters.NewID("agent_"), Tenant: p.Tenant, Project: project, Model: DefaultModel,
		Pattern: adapters.PatternSingle, Status: adapters.StatusActive, CreatedAt: now, UpdatedAt: now}
	apply(a, spec)
	ctx := r.Context()
	if err := d.check(ctx, p, project, a, spec, true); err != nil {
		return err
	}
	if err := d.env.Engine.Agents().Create(ctx, a); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		AgentID   string `json:"agent_id"`
		Name      string `json:"name"`
		Status    string `json:"status"`
		CreatedAt string `json:"created_at"`
	}{a.ID, a.Name, a.Status, timestamp(a.CreatedAt)})
	return nil
}

// apply sets the fields spec gives on a.
func apply(a *adapters.Agent, s *agentSpec) {
	if s.name.set {
		a.Name = s.name.v
	}
	if s.description.set {
		a.Description = s.description.v
	}
	if s.systemPrompt.set {
		a.SystemPrompt = s.systemPrompt.v
	}
	if s.model.set {
		a.Model = s.model.v
	}
	if s.pattern.set {
		a.Pattern = s.pattern.v
		if a.Pattern == adapters.PatternSingle && !s.subAgents.set {
			a.SubAgents = nil // a single agent keeps no sub-agents
		}
	}
	if s.tools.set {
		a.Tools = slices.Clone(s.tools.v)
	}
	if s.subAgents.set {
		a.SubAgents = slices.Clone(s.subAgents.v)
	}
	if s.temperature.set {
		a.Sampling.Temperature = nil
		if !s.temperature.clear {
			t := s.temperature.v
			a.Sampling.Temperature = &t
		}
	}
	if s.maxIterations.set {
		a.MaxIterations = s.maxIterations.v
	}
	if s.thinking.set {
		a.Reasoning = s.thinking.v
	}
	if s.status.set {
		a.Status = s.status.v
	}
}

// check validates what needs the gateway's configuration: the model is
// served, the tools are declared (and need no confirmation), and the
// orchestration holds together. An update checks only the fields spec
// gives: it keeps what was accepted before.
func (d *Dialect) check(ctx context.Context, p *adapters.Principal, project string, a *adapters.Agent, spec *agentSpec, create bool) error {
	rt := d.env.Engine
	if spec.model.set || create {
		if _, _, ok := rt.Models().Router().Resolve(a.Model, ""); !ok {
			field := "ai_model"
			msg := "model " + quote(a.Model) + " is not served by this gateway"
			if !spec.model.set {
				msg = "is required: the default model " + quote(DefaultModel) + " is not served by this gateway"
			}
			return invalid(field, "%s", msg)
		}
	}
	if spec.tools.set {
		reg := rt.Tools()
		for i, name := range a.Tools {
			field := "tools[" + strconv.Itoa(i) + "]"
			if reg == nil {
				return invalid(field, "unknown tool %s: no tools are declared by the operator", quote(name))
			}
			methods, err := reg.Resolve([]string{name})
			if err != nil {
				return invalid(field, "unknown tool %s; declared toolkits: %s", quote(name), strings.Join(reg.Names(), ", "))
			}
			for _, m := range methods {
				if m.RequiresConfirmation {
					return invalid(field, "tool %s needs a person's confirmation before it runs, which this API cannot give", quote(m.Name))
				}
			}
		}
	}
	if create || spec.pattern.set || spec.subAgents.set {
		if err := rt.CheckOrchestration(ctx, p, project, a); err != nil {
			e := adapters.AsError(err)
			if e.Param == "pattern" {
				e.Param = "orchestration_pattern"
			}
			return e
		}
	}
	return nil
}

// managed returns the stored agent id of the project that p may change:
// declared agents are the operator's (403), and an agent of no project
// only a key that is not limited to projects may change.
func (d *Dialect) managed(ctx context.Context, p *adapters.Principal, project, id string) (*adapters.Agent, error) {
	a, err := d.agent(ctx, p, project, id)
	if err != nil {
		return nil, err
	}
	if a.Declared {
		return nil, &adapters.Error{Kind: adapters.KindForbidden, Code: "agent_declared", Param: "agent",
			Message: "Agent " + quote(id) + " is declared in the gateway's configuration and cannot be changed through the API"}
	}
	if a.Project == "" && len(p.Projects) > 0 {
		return nil, &adapters.Error{Kind: adapters.KindForbidden, Code: "forbidden", Param: "agent",
			Message: "Agent " + quote(id) + " belongs to no project: a key limited to projects cannot change it"}
	}
	return a, nil
}

// patch answers PATCH /agent/agents/{id}: the fields given change.
func (d *Dialect) patch(w http.ResponseWriter, r *http.Request, x *exchange.Exchange, project string) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	spec, err := decodeAgent(body, true)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	if _, err := d.managed(ctx, p, project, id); err != nil {
		return err
	}
	// Applied to the agent as stored, again if another writer changed it
	// meanwhile (on this instance or another).
	a, err := d.env.Engine.Agents().Update(ctx, p, id, func(a *adapters.Agent) error {
		if !a.InProject(project) {
			return notFound(id)
		}
		apply(a, spec)
		return d.check(ctx, p, project, a, spec, false)
	})
	var e *adapters.Error
	if errors.As(err, &e) && e.Kind == adapters.KindNotFound && e.Code == "agent_not_found" {
		return notFound(id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		AgentID   string `json:"agent_id"`
		UpdatedAt string `json:"updated_at"`
	}{a.ID, timestamp(a.UpdatedAt)})
	return nil
}

// delete answers DELETE /agent/agents/{id}: a soft delete (conversations
// are kept), refused while another agent of the project runs it as a
// sub-agent.
func (d *Dialect) delete(w http.ResponseWriter, r *http.Request, x *exchange.Exchange, project string) error {
	p := x.Principal
	ctx := r.Context()
	id := r.PathValue("id")
	if _, err := d.managed(ctx, p, project, id); err != nil {
		return err
	}
	agents, err := d.env.Engine.Agents().List(ctx, p)
	if err != nil {
		return err
	}
	for _, a := range agents {
		if a.ID != id && slices.Contains(a.SubAgents, id) {
			return &adapters.Error{Kind: adapters.KindConflict, Code: "agent_in_use", Param: "agent",
				Message: "Agent " + quote(id) + " is a sub-agent of " + quote(a.ID) + ": remove it from that agent's sub_agents first"}
		}
	}
	if err := d.env.Engine.Agents().Delete(ctx, p, id); err != nil {
		if e := adapters.AsError(err); e.Kind == adapters.KindNotFound {
			return notFound(id)
		}
		return err
	}
	deletedAt := d.env.Engine.Now()
	if a, err := d.env.Engine.Store().GetAgent(ctx, p.Tenant, id); err == nil && a.Deleted() {
		deletedAt = a.DeletedAt // the tombstone's own time
	}
	writeJSON(w, http.StatusOK, struct {
		Success   bool   `json:"success"`
		DeletedAt string `json:"deleted_at"`
	}{true, timestamp(deletedAt)})
	return nil
}
