package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/limits"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI serves agentgate's operator endpoints on Caddy's admin
// listener (never on the public one):
//
//	POST   /agentgate/keys         {"tenant","tier","email","projects"} → {"id","key",…}
//	GET    /agentgate/keys         → [{"id","tenant","tier","email","prefix","created_at"}]
//	GET    /agentgate/keys/{id}    → the key and its monthly usage: tokens and spend, against its quota and budget
//	PATCH  /agentgate/keys/{id}    {"tier"} moves the key to another tier (one that exists)
//	DELETE /agentgate/keys/{id}
//	GET    /agentgate/tiers        → [{"name","monthly_tokens","tenant_monthly_tokens","rpm","tpm","concurrent"}]
//	GET    /agentgate/tiers/{name} → the tier
//	PUT    /agentgate/tiers/{name} {"monthly_tokens","rpm","tpm","concurrent","monthly_budget_usd","unpriced",…} creates or updates
//	DELETE /agentgate/tiers/{name} drops a tier set here (the configuration's, if any, applies again)
//	GET    /agentgate/memories?tenant=&agent=[&type=] → the agent's long-term memories, kept
//	       even after the agent was deleted with delete_memory=false
//	GET    /agentgate/status       → versions, uptime, store and limits health, providers'
//	       last errors and cooldowns, counts of agents, keys and sessions (status.go)
//	GET    /agentgate/spend?tenant=&key=&group_by=model|agent|key|tenant|day&from=&to= → calls,
//	       tokens and cost by group (spend.go)
//	GET    /agentgate/usage?tenant=[&key=][&run=][&limit=] → usage records with their cost
//
// Caddy rebuilds the admin server before it provisions apps, so handlers
// find the running agentgate app at request time.
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.agentgate", New: func() caddy.Module { return new(adminAPI) }}
}

// Routes implements caddy.AdminRouter.
func (adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/agentgate/keys", Handler: caddy.AdminHandlerFunc(handleKeys)},
		{Pattern: "/agentgate/keys/", Handler: caddy.AdminHandlerFunc(handleKey)},
		{Pattern: "/agentgate/memories", Handler: caddy.AdminHandlerFunc(handleMemories)},
		{Pattern: "/agentgate/tiers", Handler: caddy.AdminHandlerFunc(handleTiers)},
		{Pattern: "/agentgate/tiers/", Handler: caddy.AdminHandlerFunc(handleTiers)},
		{Pattern: "/agentgate/status", Handler: caddy.AdminHandlerFunc(handleStatus)},
		{Pattern: "/agentgate/spend", Handler: caddy.AdminHandlerFunc(handleSpend)},
		{Pattern: "/agentgate/usage", Handler: caddy.AdminHandlerFunc(handleUsage)},
	}
}

// activeApp is the agentgate app of Caddy's current config. A config
// becomes current only once all of its apps have started, so a request in
// that window, at first start, gets the 503 too; its message says so.
func activeApp() (*App, error) {
	v, err := caddy.ActiveContext().AppIfConfigured("agentgate")
	if err != nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("agentgate is not running in the current config (while Caddy is still starting it, retry in a moment)")}
	}
	return v.(*App), nil
}

// keyView is a key as the admin API shows it: never the secret or hash.
type keyView struct {
	ID       string    `json:"id"`
	Key      string    `json:"key,omitempty"`
	Tenant   string    `json:"tenant"`
	Tier     string    `json:"tier"`
	Email    string    `json:"email,omitempty"`
	Projects []string  `json:"projects,omitempty"`
	Prefix   string    `json:"prefix"`
	Created  time.Time `json:"created_at"`
	// Declared keys come from the configuration and cannot be revoked
	// through the API.
	Declared bool `json:"declared,omitempty"`
	// Usage is the key's monthly quota use, on GET of one key.
	Usage *keyUsage `json:"usage,omitempty"`
}

type keyUsage struct {
	Month    string `json:"month"`
	Used     int64  `json:"used_monthly_tokens"`
	Reserved int64  `json:"reserved_tokens"`
	Limit    int64  `json:"total_monthly_tokens"`
	// Spent is the known cost of the key's calls this month, in dollars;
	// Budget its tier's monthly budget, and ReservedUSD what requests in
	// flight hold of it: null when it has none.
	Spent       pricing.Micros  `json:"spent_monthly_usd"`
	Budget      *pricing.Micros `json:"monthly_budget_usd"`
	ReservedUSD *pricing.Micros `json:"reserved_usd"`
}

func viewOf(k *state.APIKey, declared bool) keyView {
	return keyView{ID: k.ID, Tenant: k.Tenant, Tier: k.Tier, Email: k.Email, Projects: k.Projects,
		Prefix: k.Prefix, Created: k.Created, Declared: declared}
}

type createKeyRequest struct {
	Tenant   string   `json:"tenant"`
	Tier     string   `json:"tier"`
	Email    string   `json:"email"`
	Projects []string `json:"projects"`
}

func handleKeys(w http.ResponseWriter, r *http.Request) error {
	app, err := activeApp()
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		keys, err := app.keys.list(r.Context())
		if err != nil {
			return err
		}
		out := make([]keyView, 0, len(keys))
		for _, k := range keys {
			out = append(out, viewOf(k, strings.HasPrefix(k.ID, "cfg_")))
		}
		return writeAdminJSON(w, http.StatusOK, out)
	case http.MethodPost:
		req, err := decodeCreateKey(r, app.tierExists)
		if err != nil {
			return err
		}
		secret, rec, err := app.keys.createKey(r.Context(), req.Tenant, req.Tier, req.Email, req.Projects, app.clock.Now())
		if err != nil {
			return err
		}
		v := viewOf(rec, false)
		v.Key = secret
		return writeAdminJSON(w, http.StatusCreated, v)
	}
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
}

// decodeCreateKey reads a POST /agentgate/keys body: a tenant, a tier
// that exists (default free: a key of a tier that does not would be
// refused on every request), projects a request can name; else a 400
// naming the field.
func decodeCreateKey(r *http.Request, tierExists func(string) bool) (createKeyRequest, error) {
	var req createKeyRequest
	if _, err := decodeAdmin(r, &req); err != nil {
		return req, err
	}
	if req.Tenant == "" {
		return req, badParam("tenant", "is required")
	}
	if err := checkName("tenant", req.Tenant); err != nil {
		return req, err
	}
	if req.Tier == "" {
		req.Tier = "free"
	}
	if err := checkTier(req.Tier, tierExists); err != nil {
		return req, err
	}
	for i, p := range req.Projects {
		if !adapters.ValidProject(p) {
			return req, badParam(fmt.Sprintf("projects[%d]", i), "must be %s, got %q", adapters.ProjectRule, p)
		}
	}
	return req, nil
}

// patchKeyRequest is a PATCH /agentgate/keys/{id} body.
type patchKeyRequest struct {
	Tier string `json:"tier"`
}

// decodePatchKey reads a PATCH /agentgate/keys/{id} body: the tier to
// move the key to, which must exist.
func decodePatchKey(r *http.Request, tierExists func(string) bool) (patchKeyRequest, error) {
	var req patchKeyRequest
	if _, err := decodeAdmin(r, &req); err != nil {
		return req, err
	}
	return req, checkTier(req.Tier, tierExists)
}

func checkTier(name string, exists func(string) bool) error {
	if name == "" {
		return badParam("tier", "is required")
	}
	if err := checkName("tier", name); err != nil {
		return err
	}
	if !exists(name) {
		return badParam("tier", "%q does not exist", name)
	}
	return nil
}

// tierExists reports whether a key may be given the tier name: one
// configured or set through the admin API. With no tier at all there are
// no limits, admission reads no key's tier, and any name will do.
func (app *App) tierExists(name string) bool {
	tiers := app.engine.Tiers()
	_, ok := tiers.Get(name)
	return ok || tiers.Empty()
}

func handleKey(w http.ResponseWriter, r *http.Request) error {
	app, err := activeApp()
	if err != nil {
		return err
	}
	id := strings.TrimPrefix(r.URL.Path, "/agentgate/keys/")
	if id == "" || strings.Contains(id, "/") {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("no such key")}
	}
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		k, declared, err := app.keys.get(ctx, id)
		if errors.Is(err, state.ErrNotFound) {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("key %s not found", id)}
		}
		if err != nil {
			return err
		}
		tier, _ := app.engine.Tiers().Get(k.Tier)
		v := viewOf(k, declared)
		if v.Usage, err = app.keyUsage(ctx, k.ID, tier); err != nil {
			return err
		}
		return writeAdminJSON(w, http.StatusOK, v)
	case http.MethodPatch:
		req, err := decodePatchKey(r, app.tierExists)
		if err != nil {
			return err
		}
		k, declared, err := app.keys.get(ctx, id)
		if errors.Is(err, state.ErrNotFound) {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("key %s not found", id)}
		}
		if err != nil {
			return err
		}
		if declared {
			return caddy.APIError{HTTPStatus: http.StatusConflict, Err: errors.New("key comes from the configuration; change its tier there and reload")}
		}
		k.Tier = req.Tier
		if err := app.backend.store.PutKey(ctx, k); err != nil {
			return err
		}
		return writeAdminJSON(w, http.StatusOK, viewOf(k, false))
	case http.MethodDelete:
		if strings.HasPrefix(id, "cfg_") {
			return caddy.APIError{HTTPStatus: http.StatusConflict, Err: errors.New("key comes from the configuration; remove it there and reload")}
		}
		err := app.backend.store.DeleteKey(r.Context(), id)
		if errors.Is(err, state.ErrNotFound) {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("key %s not found", id)}
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
}

// keyUsage is key id's figures this month: those of the limits its tier
// has from the limits backend (what admission counts: used, and held by
// requests in flight), the others from the store's counters (a backend
// keeps no figure of a limit no admission counts).
func (app *App) keyUsage(ctx context.Context, id string, tier state.Tier) (*keyUsage, error) {
	// The counters are written with the usage records: commit those of
	// requests already answered first.
	if err := app.engine.Models().Recorder().Flush(ctx); err != nil {
		return nil, err
	}
	scope := "key:" + id
	var rules []limits.Rule
	if tier.MonthlyTokens > 0 {
		rules = append(rules, limits.Rule{Scope: scope, Kind: limits.MonthlyTokens, Max: tier.MonthlyTokens})
	}
	if tier.MonthlyBudgetUSD > 0 {
		rules = append(rules, limits.Rule{Scope: scope, Kind: limits.MonthlyMicroUSD, Max: int64(tier.MonthlyBudgetUSD)})
	}
	now := app.clock.Now()
	u := &keyUsage{Limit: tier.MonthlyTokens}
	if len(rules) > 0 {
		d, err := app.limiter.Peek(ctx, rules)
		if err != nil {
			return nil, err
		}
		now = d.Now
		for i, r := range rules {
			st := d.States[i]
			if r.Kind == limits.MonthlyTokens {
				u.Used, u.Reserved = st.Used, st.Reserved
				continue
			}
			budget, reserved := tier.MonthlyBudgetUSD, pricing.Micros(st.Reserved)
			u.Spent, u.Budget, u.ReservedUSD = pricing.Micros(st.Used), &budget, &reserved
		}
	}
	u.Month = state.MonthKey(now)
	var err error
	if tier.MonthlyTokens == 0 {
		if u.Used, err = app.backend.store.MonthlyTokens(ctx, scope, now); err != nil {
			return nil, err
		}
	}
	if tier.MonthlyBudgetUSD == 0 {
		if u.Spent, err = app.backend.store.MonthlySpend(ctx, scope, now); err != nil {
			return nil, err
		}
	}
	return u, nil
}

func handleTiers(w http.ResponseWriter, r *http.Request) error {
	app, err := activeApp()
	if err != nil {
		return err
	}
	tiers := app.engine.Tiers()
	name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/agentgate/tiers"), "/")
	switch {
	case name == "" && r.Method == http.MethodGet:
		return writeAdminJSON(w, http.StatusOK, tiers.List())
	case name != "" && r.Method == http.MethodGet:
		t, ok := tiers.Get(name)
		if !ok {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("tier %q not found", name)}
		}
		return writeAdminJSON(w, http.StatusOK, t)
	case name != "" && r.Method == http.MethodPut:
		t, err := decodeTier(r, name)
		if err != nil {
			return err
		}
		t.Name = name
		if err := tiers.Put(r.Context(), app.backend.store, t); err != nil {
			return err
		}
		return writeAdminJSON(w, http.StatusOK, t)
	case name != "" && r.Method == http.MethodDelete:
		err := tiers.Delete(r.Context(), app.backend.store, name)
		if errors.Is(err, state.ErrNotFound) {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("tier %q was not set through the admin API", name)}
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
}

// decodeTier reads a PUT /agentgate/tiers/{name} body: a tier naming at
// least one limit, whose values are valid; else a 400 saying which.
func decodeTier(r *http.Request, name string) (state.Tier, error) {
	var t state.Tier
	if err := checkName("tier", name); err != nil {
		return t, err
	}
	body, err := decodeAdmin(r, &t)
	if err != nil {
		return t, err
	}
	// PUT replaces the tier, and a limit it leaves out is unlimited:
	// a body naming none is a mistake, not a request for no limits.
	if !namesTierField(body) {
		return t, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New(
			"name at least one of monthly_tokens, tenant_monthly_tokens, rpm, tpm, concurrent, models, monthly_budget_usd, tenant_monthly_budget_usd (0 or [] means unlimited), unpriced (allow or deny)")}
	}
	if t.Name != "" && t.Name != name {
		return t, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("name %q in the body differs from the tier %q of the path", t.Name, name)}
	}
	if err := t.Check(); err != nil {
		return t, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	return t, nil
}

// memoryView is a memory as the admin API shows it, without its vector.
type memoryView struct {
	ID             string    `json:"id"`
	Kind           string    `json:"type"`
	Content        string    `json:"content"`
	UserID         string    `json:"user_id,omitempty"`
	SessionID      string    `json:"session_id,omitempty"`
	Source         string    `json:"source,omitempty"`
	EmbeddingModel string    `json:"embedding_model,omitempty"`
	Created        time.Time `json:"created_at"`
}

func handleMemories(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	app, err := activeApp()
	if err != nil {
		return err
	}
	q, err := adminQuery(r.URL, "tenant", "agent", "type")
	if err != nil {
		return err
	}
	tenant, agent, kind := q["tenant"], q["agent"], q["type"]
	for _, p := range []struct{ name, val string }{{"tenant", tenant}, {"agent", agent}} {
		if p.val == "" {
			return badParam(p.name, "is required")
		}
	}
	if _, ok := q["type"]; ok && !state.ValidMemoryKind(kind) {
		return badParam("type", "must be one of %s, %s, %s; got %q", state.MemorySemantic, state.MemoryEpisodic, state.MemoryProcedural, kind)
	}
	mems, err := app.backend.store.ListMemories(r.Context(), tenant, agent)
	if err != nil {
		return err
	}
	out := make([]memoryView, 0, len(mems))
	for _, m := range mems {
		if kind != "" && m.Kind != kind {
			continue
		}
		out = append(out, memoryView{ID: m.ID, Kind: m.Kind, Content: m.Content, UserID: m.UserID, SessionID: m.SessionID,
			Source: m.Source, EmbeddingModel: m.EmbeddingModel, Created: m.Created})
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{"items": out, "total": len(out)})
}

// maxAdminBody caps an admin request body.
const maxAdminBody = 1 << 20

// decodeAdmin decodes r's body, which must be exactly one JSON object
// naming only v's fields, into v; anything else is a 400 saying what is
// wrong (empty, null, malformed, trailing data, an unknown or mistyped
// field). It returns the body for checks of which fields it names.
func decodeAdmin(r *http.Request, v any) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("reading request body: %w", err)}
	}
	if len(body) > maxAdminBody {
		return nil, caddy.APIError{HTTPStatus: http.StatusRequestEntityTooLarge, Err: fmt.Errorf("request body is larger than %d bytes", maxAdminBody)}
	}
	if err := dialects.UnmarshalStrict(body, v); err != nil {
		var e *adapters.Error
		if errors.As(err, &e) {
			err = errors.New(e.Message) // which names the field at fault
		}
		return nil, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	return body, nil
}

// checkName is a 400 naming param unless s is a name the store can hold
// (its refusal would be a 500).
func checkName(param, s string) error {
	if state.ValidName(s) {
		return nil
	}
	return badParam(param, "must be UTF-8 text without NUL, got %q", s)
}

// namesTierField reports whether a decoded tier body names a limit.
func namesTierField(body []byte) bool {
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(body, &fields)
	for k := range fields {
		if k != "name" {
			return true
		}
	}
	return false
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// Interface guard.
var _ caddy.AdminRouter = adminAPI{}
