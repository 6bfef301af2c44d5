// Package caddymodule is agentgate's Caddy glue: the agentgate app (global
// configuration: store, providers, routes, agents, keys), the
// http.handlers.agentgate handler (dialect routes, auth), the admin API and
// the CLI. It holds no dialect or provider logic.
package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine"
	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/tiers"
	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/limits"
	memorylimits "github.com/agentgate/agentgate/limits/memory"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
	"github.com/caddyserver/caddy/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the agentgate app: everything the gateway's handlers share. In a
// Caddyfile it is the `agentgate` global option.
type App struct {
	// DataDir holds the embedded store (agentgate.db) when Storage names
	// no other place. Default: ./data, relative to Caddy's working
	// directory.
	DataDir string `json:"data_dir,omitempty"`
	// Storage is the agentgate.storage module keeping the gateway's
	// state: bbolt (the default, one file in DataDir) or postgres (shared
	// by several gateway instances).
	Storage json.RawMessage `json:"storage,omitempty" caddy:"namespace=agentgate.storage inline_key=module"`
	// Limits is the agentgate.limits module keeping rate limits,
	// concurrency slots and quota reservations: memory (the default, one
	// process) or redis (shared by several gateway instances).
	Limits json.RawMessage `json:"limits,omitempty" caddy:"namespace=agentgate.limits inline_key=module"`
	// Providers are the upstream provider instances.
	Providers []ProviderConfig `json:"providers,omitempty"`
	// Routes map model names to providers: exact names, aliases and
	// prefixes ending in "*".
	Routes []RouteConfig `json:"routes,omitempty"`
	// Agents are operator-declared agents, visible to every tenant unless
	// one is named.
	Agents []AgentConfig `json:"agents,omitempty"`
	// Keys are API keys from the configuration (the bootstrap key).
	Keys []KeyConfig `json:"keys,omitempty"`
	// Tiers are the service levels keys are on; the admin API can add and
	// change tiers at run time.
	Tiers []state.Tier `json:"tiers,omitempty"`
	// Prices override or add to the default price table
	// (pricing/defaults.json): an entry replaces the default of the same
	// model, and the operator's entries are consulted first.
	Prices []pricing.Price `json:"prices,omitempty"`
	// MaxBodyBytes caps request bodies. Default: 8 MiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// MaxImageBytes caps one decoded inline image. Default: 5 MiB.
	MaxImageBytes int64 `json:"max_image_bytes,omitempty"`
	// UsageFlushInterval bounds how long usage records wait before they
	// are committed in a batch. Default: 200ms. A store already open
	// across a reload keeps the interval it was opened with.
	UsageFlushInterval caddy.Duration `json:"usage_flush_interval,omitempty"`
	// Toolkits are HTTP toolkits: methods are operator-declared webhooks.
	Toolkits []ToolkitConfig `json:"toolkits,omitempty"`
	// MCPServers are MCP servers whose tools agents may use.
	MCPServers []MCPConfig `json:"mcp_servers,omitempty"`
	// Retries bounds retries and fallbacks of failed upstream calls.
	Retries *RetryConfig `json:"retries,omitempty"`
	// PausedRunTTL is how long a run paused for confirmation waits for
	// its commit. Default: 24h.
	PausedRunTTL caddy.Duration `json:"paused_run_ttl,omitempty"`
	// Metrics tunes the agentgate_* Prometheus metrics.
	Metrics *MetricsConfig `json:"metrics,omitempty"`
	// Tracing tunes the spans agentgate adds to traced requests.
	Tracing *TracingConfig `json:"tracing,omitempty"`
	// EmbeddingModel embeds agents' long-term memories and recall queries
	// (routed like any model) for agents that name none; without one,
	// memory is recalled by keywords (BM25).
	EmbeddingModel string `json:"embedding_model,omitempty"`
	// Passthrough passes the OpenAI endpoints agentgate does not
	// translate to an OpenAI-compatible provider; on by default.
	Passthrough *PassthroughConfig `json:"passthrough,omitempty"`

	// clock is the process's one clock: admission, the runtime (usage
	// stamps, sessions, agents, paused runs, memory), the built-in tools
	// and the admin API all read it.
	clock         clock.Clock
	backend       *backend
	storeLocation string
	// storeBackend names the storage module (bbolt, postgres); loaded is
	// when this config was provisioned; providerInfos describe the
	// providers for the status.
	storeBackend  string
	loaded        time.Time
	providerInfos []providerInfo
	limiter       *limits.Limiter
	limitsKey     string
	// limitsBackend names the limits module (memory, redis) and
	// limitsLocation where it keeps its state, for the status.
	limitsBackend, limitsLocation string
	tools                         *toolset
	engine                        *engine.Engine
	// prices are the configuration's price table: the engine prices
	// usage records with it, admission estimates budgets with it.
	prices  *pricing.Table
	keys    *keyring
	env     *dialects.Env
	metrics *metrics
	log     *zap.Logger

	// What Provision prepares and Start opens (lifecycle.go): the
	// storage and limits modules, and the engine's configuration, checked.
	storeOpener  state.Opener
	limitsOpener limits.Opener
	engineConfig engine.Config
	// ctx is the config's context, done when Caddy lets go of the config;
	// ready is closed when Start has run, startErr says how it went.
	ctx      caddy.Context
	ready    chan struct{}
	startErr error
}

// testClock, set only by this package's tests (export_test.go), replaces
// the real clock of every App provisioned while it is set, so a test
// moves time for the whole gateway at once.
var testClock clock.Clock

// ProviderConfig configures one provider instance.
type ProviderConfig struct {
	// Name is what agents and routes call this instance.
	Name string `json:"name"`
	// Type is the provider implementation: openai, mock, …
	Type string `json:"type"`
	// BaseURL of the upstream API; empty means the provider's default.
	BaseURL string `json:"base_url,omitempty"`
	// APIKey for the upstream; placeholders such as {env.OPENAI_API_KEY}
	// are expanded at provision time, so secrets stay out of the JSON.
	APIKey string `json:"api_key,omitempty"`
	// APIKeys and BaseURLs, when several are given, form a pool: one
	// upstream per base URL and key, the least busy serving each call, a
	// key answered 429 cooling down for its Retry-After.
	APIKeys  []string `json:"api_keys,omitempty"`
	BaseURLs []string `json:"base_urls,omitempty"`
	// Models are exact model names routed to this provider.
	Models []string `json:"models,omitempty"`
	// Timeout bounds one upstream call (default 10m): it is what bounds a
	// non-streamed call, which a reasoning model may think over for
	// minutes before its first byte.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// StreamHeaderTimeout bounds how long a streamed call waits for the
	// upstream's response headers (default 30s); StreamIdleTimeout how
	// long it waits for more of the stream, from the headers to the first
	// bytes and between two reads (default 60s). A stalled attempt is
	// retried like a 5xx while nothing has reached the client. A negative
	// value turns the bound off.
	StreamHeaderTimeout caddy.Duration `json:"stream_header_timeout,omitempty"`
	StreamIdleTimeout   caddy.Duration `json:"stream_idle_timeout,omitempty"`
	// Options are provider-specific settings (mock: delay, reply).
	Options map[string]string `json:"options,omitempty"`
}

// RouteConfig maps a model name pattern to a provider.
type RouteConfig struct {
	// Match is an exact model name or a prefix ending in "*".
	Match    string `json:"match"`
	Provider string `json:"provider"`
	// Target renames the model upstream (aliases).
	Target string `json:"target,omitempty"`
	// Lacks says what the routed models cannot take (images, tools,
	// reasoning): such requests get a clear 400, or with drop lose it.
	Lacks models.Capabilities `json:"lacks,omitzero"`
}

// AgentConfig declares an agent.
type AgentConfig struct {
	ID           string `json:"id"`
	Name         string `json:"name,omitempty"`
	Description  string `json:"description,omitempty"`
	Tenant       string `json:"tenant,omitempty"`
	SystemPrompt string `json:"system_prompt,omitempty"`
	Model        string `json:"model"`
	// Provider pins the provider instance; empty lets routes decide.
	Provider        string   `json:"provider,omitempty"`
	Temperature     *float64 `json:"temperature,omitempty"`
	TopP            *float64 `json:"top_p,omitempty"`
	MaxTokens       *int     `json:"max_tokens,omitempty"`
	Reasoning       bool     `json:"reasoning,omitempty"`
	ReasoningEffort string   `json:"reasoning_effort,omitempty"`
	// HistoryTurns is how many earlier turns a session replays.
	HistoryTurns int      `json:"history_turns,omitempty"`
	Tools        []string `json:"tools,omitempty"`
	// Fallbacks are models tried in order when the model's retries are
	// exhausted (routed by name, possibly to another provider).
	Fallbacks []string `json:"fallbacks,omitempty"`
	// MaxIterations bounds the agent's tool loop; default 10.
	MaxIterations int `json:"max_iterations,omitempty"`
	// Guardrails are the agent's input and output rules.
	Guardrails *adapters.Guardrails `json:"guardrails,omitempty"`
	// Knowledge attaches knowledge sources (RAG) of the agent's tenant.
	Knowledge *adapters.Knowledge `json:"knowledge,omitempty"`
	// Status is active (the default), inactive or draft: only an active
	// agent answers; the others are listed and refused with a 400.
	Status string `json:"status,omitempty"`
}

// KeyConfig declares an API key. Key is the secret (usually a placeholder
// such as {env.AGENTGATE_API_KEY}); an empty key after expansion is
// skipped with a warning.
type KeyConfig struct {
	Key      string   `json:"key"`
	Tenant   string   `json:"tenant,omitempty"`
	Tier     string   `json:"tier,omitempty"`
	Email    string   `json:"email,omitempty"`
	Projects []string `json:"projects,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "agentgate", New: func() caddy.Module { return new(App) }}
}

// Provision checks the configuration and builds what opens nothing: the
// providers, routes, agents, tools and the engine's checked
// configuration. The store, the limits backend, the engine and the MCP
// connections are opened by Start (lifecycle.go), so `caddy validate`,
// which provisions, has no side effects.
func (a *App) Provision(ctx caddy.Context) error {
	a.log = ctx.Logger()
	a.ctx, a.ready = ctx, make(chan struct{})
	a.clock = clock.Real{}
	if testClock != nil {
		a.clock = testClock
	}
	a.loaded = a.clock.Now()
	firstProvision.once.Do(func() { firstProvision.at = a.loaded })
	var err error
	if a.metrics, err = newMetrics(ctx, a.Metrics); err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	opener, err := a.storage(ctx, repl)
	if err != nil {
		return err
	}
	a.storeOpener, a.storeLocation = opener, opener.Location()
	if m, ok := opener.(caddy.Module); ok {
		a.storeBackend = m.CaddyModule().ID.Name()
	}
	lo, err := a.limits(ctx)
	if err != nil {
		return err
	}
	a.limitsOpener, a.limitsLocation = lo, lo.Location()
	if m, ok := lo.(caddy.Module); ok {
		a.limitsBackend = m.CaddyModule().ID.Name()
	}

	providers := make(map[string]adapters.Provider, len(a.Providers))
	traceAttrs := make(map[string][]attribute.KeyValue, len(a.Providers))
	var routes []models.Route
	for i, pc := range a.Providers {
		if pc.Name == "" {
			return fmt.Errorf("providers[%d]: name is required", i)
		}
		if _, dup := providers[pc.Name]; dup {
			return fmt.Errorf("provider %q declared twice", pc.Name)
		}
		p, err := pc.build(repl, a.clock)
		if err != nil {
			return fmt.Errorf("provider %q: %v", pc.Name, err)
		}
		providers[pc.Name] = p
		traceAttrs[pc.Name] = pc.traceAttributes(repl)
		a.providerInfos = append(a.providerInfos, pc.info(p, repl))
		for _, m := range pc.Models {
			routes = append(routes, models.Route{Pattern: m, Provider: pc.Name})
		}
	}
	for _, rc := range a.Routes {
		routes = append(routes, models.Route{Pattern: rc.Match, Provider: rc.Provider, Target: rc.Target, Lacks: rc.Lacks})
	}
	agents := make([]*adapters.Agent, 0, len(a.Agents))
	for i := range a.Agents {
		ag, err := a.Agents[i].agent(repl)
		if err != nil {
			return fmt.Errorf("agents[%d]: %v", i, err)
		}
		agents = append(agents, ag)
	}
	for i, t := range a.Tiers {
		if t.Name == "" {
			return fmt.Errorf("tiers[%d]: name is required", i)
		}
		if err := t.Check(); err != nil {
			return fmt.Errorf("tier %q: %w", t.Name, err)
		}
	}
	a.prices, err = a.priceTable()
	if err != nil {
		return err
	}
	a.tools, err = a.provisionTools(a.log)
	if err != nil {
		return err
	}
	if err := a.checkAgentTools(agents); err != nil {
		return err
	}
	// The store, its recorder and memory state are set when Start opens
	// them.
	a.engineConfig = engine.Config{
		Providers: providers, ProviderTraceAttributes: traceAttrs, Routes: routes, Agents: agents, Logger: a.log,
		CallObserver: callObserver{log: a.log}, Tiers: tiers.New(a.Tiers...), Tools: a.tools.registry,
		Retry: a.Retries.policy(), PausedRunTTL: time.Duration(a.PausedRunTTL),
		Memory:      memory.Options{EmbeddingModel: repl.ReplaceAll(a.EmbeddingModel, "")},
		Prices:      a.prices,
		Now:         a.clock.Now,
		Passthrough: a.Passthrough.config(),
	}
	checked, err := engine.Check(a.engineConfig)
	if err != nil {
		return err
	}
	if a.keys, err = newKeyring(a.Keys, repl, a.log); err != nil {
		return err
	}
	if a.MaxBodyBytes == 0 {
		a.MaxBodyBytes = 8 << 20
	}
	if a.MaxImageBytes == 0 {
		a.MaxImageBytes = 5 << 20
	}
	a.env = &dialects.Env{Limits: dialects.Limits{MaxBodyBytes: a.MaxBodyBytes, MaxImageBytes: a.MaxImageBytes},
		Passthrough: checked.Passthrough}
	return nil
}

// priceTable is the configuration's prices over the default table.
func (a *App) priceTable() (*pricing.Table, error) {
	defaults, err := pricing.DefaultPrices()
	if err != nil {
		return nil, err
	}
	t, err := pricing.NewTable(a.Prices, defaults)
	if err != nil {
		return nil, fmt.Errorf("prices: %w", err)
	}
	return t, nil
}

// storage loads the storage module; without one, the embedded store in
// DataDir.
func (a *App) storage(ctx caddy.Context, repl *caddy.Replacer) (state.Opener, error) {
	if a.DataDir == "" {
		a.DataDir = "data"
	}
	dataDir := repl.ReplaceAll(a.DataDir, "")
	if a.Storage == nil {
		m := &bbolt.Module{Dir: dataDir}
		return m, m.Provision(ctx)
	}
	mod, err := ctx.LoadModule(a, "Storage")
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if m, ok := mod.(*bbolt.Module); ok {
		m.DefaultDir(dataDir)
	}
	opener, ok := mod.(state.Opener)
	if !ok {
		return nil, fmt.Errorf("storage: module %T opens no store", mod)
	}
	return opener, nil
}

// limits loads the limits module; without one, limits in memory.
func (a *App) limits(ctx caddy.Context) (limits.Opener, error) {
	if a.Limits == nil {
		m := &memorylimits.Module{}
		return m, m.Provision(ctx)
	}
	mod, err := ctx.LoadModule(a, "Limits")
	if err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	opener, ok := mod.(limits.Opener)
	if !ok {
		return nil, fmt.Errorf("limits: module %T opens no limits backend", mod)
	}
	return opener, nil
}

func (c *AgentConfig) agent(repl *caddy.Replacer) (*adapters.Agent, error) {
	if c.ID == "" {
		return nil, errors.New("id is required")
	}
	if c.Model == "" {
		return nil, fmt.Errorf("agent %q: model is required", c.ID)
	}
	name := c.Name
	if name == "" {
		name = c.ID
	}
	status := c.Status
	if status == "" {
		status = adapters.StatusActive
	}
	if !adapters.ValidStatus(status) {
		return nil, fmt.Errorf("agent %q: status must be active, inactive or draft, got %q", c.ID, c.Status)
	}
	return &adapters.Agent{
		ID: c.ID, Name: name, Description: c.Description, Tenant: c.Tenant,
		SystemPrompt: repl.ReplaceAll(c.SystemPrompt, ""), Model: repl.ReplaceAll(c.Model, ""), Provider: c.Provider,
		Sampling:  adapters.Sampling{Temperature: c.Temperature, TopP: c.TopP, MaxTokens: c.MaxTokens},
		Reasoning: c.Reasoning, ReasoningEffort: c.ReasoningEffort, HistoryTurns: c.HistoryTurns,
		Tools: c.Tools, Status: status, Fallbacks: c.Fallbacks, MaxIterations: c.MaxIterations,
		Guardrails: c.Guardrails, Knowledge: c.Knowledge,
	}, nil
}

// Validate checks what Provision could not.
func (a *App) Validate() error {
	if a.MaxBodyBytes < 1024 {
		return fmt.Errorf("max_body_bytes must be at least 1024, got %d", a.MaxBodyBytes)
	}
	return nil
}

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
