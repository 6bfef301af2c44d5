package agentsv2

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/exchange"
)

// The documented defaults and bounds of AgentConfigRequest.
const (
	defaultHistoryRuns = 3
	maxHistoryRuns     = 100
	defaultMinSteps    = 1
	defaultMaxSteps    = 10
	maxSteps           = 100
	// maxBatch caps the ids of one batch request.
	maxBatch = 1000
)

// agentView is an agent as the v2 API shows it.
type agentView struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Version     string     `json:"version"`
	Status      string     `json:"status"`
	Template    string     `json:"template"`
	Tags        []string   `json:"tags"`
	Config      configView `json:"config"`
}

type configView struct {
	EnableMemory      bool            `json:"enable_memory"`
	EnableHistory     bool            `json:"enable_history"`
	NumHistoryRuns    int             `json:"num_history_runs"`
	EnableReasoning   bool            `json:"enable_reasoning"`
	ReasoningMinSteps int             `json:"reasoning_min_steps"`
	ReasoningMaxSteps int             `json:"reasoning_max_steps"`
	WorkerConfig      json.RawMessage `json:"worker_config,omitempty"`
}

// view shows a canonical agent. Settings an agent made elsewhere does not
// have show the runtime's behaviour: its history depth (the runtime's
// default when unset) and the documented step bounds.
func view(a *adapters.Agent) agentView {
	v := agentView{ID: a.ID, Name: a.Name, Description: a.Description, Version: a.Version, Template: a.SystemPrompt,
		Tags: a.Tags, Config: configView{
			EnableMemory:  a.Memory.Semantic || a.Memory.Episodic || a.Memory.Procedural,
			EnableHistory: !a.NoHistory, NumHistoryRuns: a.HistoryTurns, EnableReasoning: a.Reasoning,
			ReasoningMinSteps: a.ReasoningMinSteps, ReasoningMaxSteps: a.ReasoningMaxSteps,
			WorkerConfig: a.Extensions["worker_config"],
		}}
	if v.Version == "" {
		v.Version = Version
	}
	if v.Status = a.Status; v.Status == "" {
		v.Status = adapters.StatusActive
	}
	if v.Tags == nil {
		v.Tags = []string{}
	}
	if v.Config.NumHistoryRuns == 0 {
		v.Config.NumHistoryRuns = adapters.DefaultHistoryTurns
	}
	if v.Config.ReasoningMinSteps == 0 {
		v.Config.ReasoningMinSteps = defaultMinSteps
	}
	if v.Config.ReasoningMaxSteps == 0 {
		v.Config.ReasoningMaxSteps = max(defaultMaxSteps, v.Config.ReasoningMinSteps)
	}
	return v
}

// list answers GET /v2/agents: declared agents first, in configuration
// order, then the tenant's own by creation time.
func (d *Dialect) list(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	agents, err := d.env.Engine.Agents().List(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]agentView, 0, len(agents))
	for _, a := range agents {
		out = append(out, view(a))
	}
	dialects.WriteRawJSON(w, http.StatusOK, marshal(out))
	return nil
}

func (d *Dialect) get(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	a, err := d.agent(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	dialects.WriteRawJSON(w, http.StatusOK, marshal(view(a)))
	return nil
}

// batch answers POST /v2/agents/batch with the agents among agent_ids the
// caller may use, in the order asked, each once; unknown ids are left out.
func (d *Dialect) batch(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	ids, err := decodeBatch(body)
	if err != nil {
		return err
	}
	out := make([]agentView, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		a, err := d.agent(r.Context(), p, id)
		if err != nil {
			if e := adapters.AsError(err); e.Kind == adapters.KindNotFound {
				continue
			}
			return err
		}
		out = append(out, view(a))
	}
	dialects.WriteRawJSON(w, http.StatusOK, marshal(out))
	return nil
}

// agentID is what an agent id may be.
var agentID = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// createResponse is the 201 of POST /v2/agents.
type createResponse struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Version     string   `json:"version"`
	Message     string   `json:"message"`
	Tags        []string `json:"tags"`
}

// create answers POST /v2/agents: the agent belongs to the caller's tenant.
func (d *Dialect) create(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	a, err := d.decodeCreate(body)
	if err != nil {
		return err
	}
	now := d.env.Engine.Now()
	a.Tenant, a.CreatedAt, a.UpdatedAt = p.Tenant, now, now
	if err := d.env.Engine.Agents().Create(r.Context(), a); err != nil {
		if e := adapters.AsError(err); e.Kind == adapters.KindConflict {
			c := *e
			c.Message = "Agent with id " + clip(a.ID) + " already exists"
			if d.env.Engine.Agents().IsDeclared(a.ID) {
				c.Message += " (declared in the gateway's configuration)"
			}
			return &c
		}
		return err
	}
	resp := createResponse{ID: a.ID, Name: a.Name, Description: a.Description, Version: a.Version,
		Message: "Agent " + a.Name + " created successfully", Tags: a.Tags}
	if resp.Tags == nil {
		resp.Tags = []string{}
	}
	dialects.WriteRawJSON(w, http.StatusCreated, marshal(resp))
	return nil
}

// decodeBatch validates a batch request: agent_ids, a list of at most
// maxBatch strings.
func decodeBatch(body []byte) ([]string, error) {
	errs := &invalid{}
	o, ok := decodeBody(body, errs)
	if !ok {
		return nil, errs
	}
	ids, _ := o.strings("agent_ids", true)
	if len(ids) > maxBatch {
		errs.add([]any{"body", "agent_ids"}, "too_long", "List should have at most 1000 items after validation, not "+itoa(len(ids)))
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return ids, nil
}

// decodeCreate validates a CreateAgentRequest and makes the canonical
// agent of it (tenant and times are the caller's to set).
func (d *Dialect) decodeCreate(body []byte) (*adapters.Agent, error) {
	errs := &invalid{}
	o, ok := decodeBody(body, errs)
	if !ok {
		return nil, errs
	}
	a := &adapters.Agent{Status: adapters.StatusActive, Version: Version, Model: DefaultModel}
	if id, ok := o.str("id", true); ok && o.length("id", id, 1, 255) {
		if !agentID.MatchString(id) {
			errs.add([]any{"body", "id"}, "string_pattern_mismatch", "String should match pattern '^[A-Za-z0-9_-]+$'")
		}
		a.ID = id
	}
	if name, ok := o.str("name", true); ok && o.length("name", name, 1, 255) {
		a.Name = name
	}
	if tmpl, ok := o.str("template", true); ok && o.length("template", tmpl, 1, 0) {
		a.SystemPrompt = tmpl
	}
	if desc, ok := o.str("description", false); ok && o.length("description", desc, 0, 1000) {
		a.Description = desc
	}
	if tags, ok := o.strings("tags", false); ok {
		a.Tags = tags
	}
	if status, ok := o.str("status", false); ok {
		if !adapters.ValidStatus(status) {
			errs.add([]any{"body", "status"}, "literal_error", "Input should be 'active', 'inactive' or 'draft'")
		}
		a.Status = status
	}
	if model, ok := o.str("model", false); ok && o.length("model", model, 1, 255) {
		if _, _, served := d.env.Engine.Models().Router().Resolve(model, ""); !served {
			errs.add([]any{"body", "model"}, "value_error", "Value error, model "+quote(model)+" is not served by this gateway")
		}
		a.Model = model
	}
	var toolNames []string
	if names, ok := o.strings("tools", false); ok {
		for i, n := range names {
			if d.checkTool(errs, []any{"body", "tools", i}, n) {
				toolNames = append(toolNames, n)
			}
		}
	}

	memory, history, reasoning := true, true, false
	runs, minSteps, maxStepsV := defaultHistoryRuns, defaultMinSteps, defaultMaxSteps
	if c, ok := o.child("config"); ok {
		memory = c.boolean("enable_memory", true)
		history = c.boolean("enable_history", true)
		reasoning = c.boolean("enable_reasoning", false)
		if n, ok := c.integer("num_history_runs", 1, maxHistoryRuns); ok {
			runs = n
		}
		minSet, maxSet := false, false
		if n, ok := c.integer("reasoning_min_steps", 1, maxSteps); ok {
			minSteps, minSet = n, true
		}
		if n, ok := c.integer("reasoning_max_steps", 1, maxSteps); ok {
			maxStepsV, maxSet = n, true
		}
		if minSteps > maxStepsV {
			switch {
			case minSet && maxSet:
				errs.add([]any{"body", "config", "reasoning_max_steps"}, "value_error",
					"Value error, reasoning_max_steps must be greater than or equal to reasoning_min_steps")
			case minSet:
				maxStepsV = minSteps
			}
		}
		if wc, ok := c.child("worker_config"); ok {
			toolNames = append(toolNames, d.workerTools(errs, wc)...)
			raw, _ := c.value("worker_config")
			var buf bytes.Buffer
			if json.Compact(&buf, raw) == nil {
				a.Extensions = map[string]json.RawMessage{"worker_config": buf.Bytes()}
			}
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	if memory {
		a.Memory = adapters.MemoryConfig{Semantic: true, Episodic: true, Procedural: true}
	}
	a.NoHistory, a.HistoryTurns = !history, runs
	a.Reasoning, a.ReasoningMinSteps, a.ReasoningMaxSteps = reasoning, minSteps, maxStepsV
	if reasoning {
		a.ReasoningEffort = effortFor(maxStepsV)
	}
	for _, n := range toolNames {
		if !slices.Contains(a.Tools, n) {
			a.Tools = append(a.Tools, n)
		}
	}
	return a, nil
}

// effortFor maps a reasoning step budget to a native reasoning effort.
func effortFor(maxSteps int) string {
	switch {
	case maxSteps <= 3:
		return "low"
	case maxSteps <= 10:
		return "medium"
	}
	return "high"
}

// checkTool reports whether name is an operator-declared toolkit or
// method, adding a 422 item at loc if not.
func (d *Dialect) checkTool(errs *invalid, loc []any, name string) bool {
	return checkTool(d.env.Engine.Tools(), errs, loc, name)
}

func checkTool(reg *tools.Registry, errs *invalid, loc []any, name string) bool {
	if reg != nil {
		if _, err := reg.Resolve([]string{name}); err == nil {
			return true
		}
	}
	errs.add(loc, "value_error", "Value error, unknown tool "+quote(name)+": "+declared(reg))
	return false
}

func declared(reg *tools.Registry) string {
	if reg == nil || len(reg.Names()) == 0 {
		return "no toolkits are declared by the operator"
	}
	return "declared toolkits are " + strings.Join(reg.Names(), ", ")
}

// connectionKeys are MCP server settings a tenant may not give: servers
// are the operator's, connected as declared.
var connectionKeys = []string{"url", "endpoint", "command", "args", "env", "headers", "transport", "type"}

// workerTools validates worker_config's tools (toolkit or method names)
// and MCP servers (names of operator-declared MCP servers, as a list of
// names or {"name": ...} objects, or an object keyed by name), and returns
// the tools they give the agent. Everything else in worker_config (hooks,
// permissions, …) is kept as written.
func (d *Dialect) workerTools(errs *invalid, wc *object) []string {
	var out []string
	if names, ok := wc.strings("tools", false); ok {
		for i, n := range names {
			if d.checkTool(errs, at(wc.loc, "tools", i), n) {
				out = append(out, n)
			}
		}
	}
	raw, ok := wc.value("mcp_servers")
	if !ok {
		return out
	}
	loc := at(wc.loc, "mcp_servers")
	check := func(loc []any, name string, settings map[string]json.RawMessage) {
		for _, k := range connectionKeys {
			if _, set := settings[k]; set {
				errs.add(at(loc, k), "value_error", "Value error, MCP servers are declared by the gateway's operator: name one, without "+k)
				return
			}
		}
		reg := d.env.Engine.Tools()
		if reg != nil {
			if tk, ok := reg.Toolkit(name); ok && tk.Kind == tools.KindMCP {
				out = append(out, name)
				return
			}
		}
		errs.add(loc, "value_error", "Value error, "+quote(name)+" is not an MCP server declared by the gateway's operator")
	}
	switch kind(raw) {
	case '[':
		items, _ := wc.list("mcp_servers", false)
		for i, item := range items {
			var name string
			var settings map[string]json.RawMessage
			switch kind(item) {
			case '"':
				_ = json.Unmarshal(item, &name)
			case '{':
				_ = json.Unmarshal(item, &settings)
				if json.Unmarshal(settings["name"], &name) != nil || name == "" {
					errs.add(at(loc, i, "name"), "missing", msgMissing)
					continue
				}
			default:
				errs.add(at(loc, i), "string_type", msgString)
				continue
			}
			check(at(loc, i), name, settings)
		}
	case '{':
		var byName map[string]json.RawMessage
		_ = json.Unmarshal(raw, &byName)
		names := make([]string, 0, len(byName))
		for n := range byName {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			var settings map[string]json.RawMessage
			if k := kind(byName[n]); k == '{' {
				_ = json.Unmarshal(byName[n], &settings)
			} else if k != 'n' && k != 't' {
				errs.add(at(loc, n), "dict_type", msgDict)
				continue
			}
			check(at(loc, n), n, settings)
		}
	default:
		errs.add(loc, "list_type", msgList)
	}
	return out
}

// delete answers DELETE /v2/agents/{id}: a soft delete.
func (d *Dialect) delete(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	id := r.PathValue("id")
	if err := d.env.Engine.Agents().Delete(r.Context(), p, id); err != nil {
		e := adapters.AsError(err)
		switch e.Kind {
		case adapters.KindNotFound:
			return notFound(id)
		case adapters.KindForbidden:
			c := *e
			c.Message = "Agent " + clip(id) + " is declared in the gateway's configuration and cannot be deleted"
			return &c
		}
		return err
	}
	dialects.WriteRawJSON(w, http.StatusOK, marshal(struct {
		ID      string `json:"id"`
		Message string `json:"message"`
	}{id, "Agent " + id + " deleted successfully"}))
	return nil
}

func quote(s string) string { return "'" + clip(s) + "'" }
