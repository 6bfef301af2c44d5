// Package engine runs agent turns for every dialect. It is the
// composition root over its parts, which sit along a request's path:
//
//   - engine (this package): Run and Resume, the entry points dialects
//     call with a decoded canonical Call; a turn's context assembly
//     (system prompt, placeholders, session history, knowledge and
//     memory), its guardrail hooks (input rules before any model call,
//     output rules on the way back), orchestration of sub-agents,
//     passthrough of routed models and embeddings.
//   - engine/agents: the agent registry (declared and stored agents, an
//     index by id and name per tenant, versions).
//   - engine/toolloop: the tool loop, pause and resume, paused runs.
//   - engine/models: model calls (routing, pools, retries and fallbacks,
//     capabilities, embeddings, the listing of routed models, the
//     upstreams of passed-through OpenAI endpoints) and the one point
//     where each call's usage is priced and reported (models/report.go).
//   - engine/knowledge: long-term memory and RAG retrieval.
//   - engine/tools, engine/guard, engine/tiers: toolkits, compiled
//     guardrails, and the service levels keys are on.
//
// Where the rest of a request lives: the HTTP handler, authentication
// and admission (the tier's limits, caddymodule/limits.go, before the
// dialect runs) are caddymodule's; a dialect (adapters/dialects/<name>)
// decodes the body into a Call and encodes the engine's canonical events;
// providers
// (adapters/providers) speak the upstream wire formats. The request's
// exchange is caddymodule/exchange.go, reaching the engine as the Meter
// its context carries until issue 16 passes it explicitly; accounting is
// models/report.go; the raw OpenAI-to-OpenAI passthrough lane (issue 16,
// not built) is to sit in adapters/dialects/openai over engine/models.
// The engine never parses HTTP.
package engine

import (
	"context"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/agents"
	"github.com/agentgate/agentgate/engine/guard"
	"github.com/agentgate/agentgate/engine/knowledge"
	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/tiers"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

// Config is what an Engine is built from.
type Config struct {
	Store     state.Store
	Providers map[string]adapters.Provider
	Routes    []models.Route
	// Agents are the operator-declared agents, in configuration order.
	Agents []*adapters.Agent
	// Tiers are the service levels keys are on; nil means none.
	Tiers  *tiers.Set
	Logger *zap.Logger
	// Recorder writes usage records. When nil the engine starts its own
	// (flushing every UsageFlushInterval) and stops it on Close; a shared
	// recorder outlives the engine, so calls still running on an old
	// config after a reload keep their records.
	Recorder *models.Recorder
	// UsageFlushInterval bounds how long a usage record waits in memory.
	UsageFlushInterval time.Duration
	// Tools are the operator-declared toolkits agents may use.
	Tools *tools.Registry
	// PausedRunTTL is how long a paused run waits for its commit;
	// default 24h.
	PausedRunTTL time.Duration
	// Memory configures agents' long-term memory (recall, write-back,
	// the embedding model); the zero value is on, with keyword recall.
	Memory memory.Options
	// SharedMemory is the memory state of Store (recall indexes, batched
	// writes), shared with the engines of other configurations over it;
	// nil means the engine keeps its own.
	SharedMemory *memory.Shared
	// RAG configures knowledge retrieval; the zero value ranks documents
	// by keywords unless they are embedded.
	RAG knowledge.RAGConfig
	// Retry bounds retries and fallbacks of failed model calls.
	Retry models.RetryPolicy
	// Prices price each model call when its usage record is written; nil
	// leaves every cost unknown.
	Prices *pricing.Table
	// Passthrough configures the OpenAI endpoints passed upstream as
	// they came (models/forward.go).
	Passthrough models.PassthroughConfig
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits between retries; nil means a real, cancellable sleep.
	Sleep func(context.Context, time.Duration) error
}

// Engine runs agents. It is safe for concurrent use.
type Engine struct {
	store     state.Store
	models    *models.Models
	agents    *agents.Registry
	loop      *toolloop.Loop
	knowledge *knowledge.Knowledge
	tiers     *tiers.Set
	// unfollowTiers stops following the store's tier changes.
	unfollowTiers func()
	tools         *tools.Registry
	recorder      *models.Recorder
	ownRecorder   bool
	log           *zap.Logger
	now           func() time.Time
	// guards holds compiled guardrails by configuration (guardrails.go).
	guards *lru.Cache[string, *guard.Guard]
}

// Checked is what Check learnt of a configuration.
type Checked struct {
	// Passthrough tells whether the OpenAI endpoints the gateway does not
	// translate go upstream (models.Models.PassthroughEnabled): dialects
	// register their routes before the engine is built.
	Passthrough bool
}

// Check reports what is wrong with cfg without reading or writing its
// store, which it does not use: the routes, the declared agents (their
// models, guardrails and knowledge), passthrough, and the memory and
// knowledge models. A gateway checks its configuration when Caddy
// provisions it (`caddy validate` does too, beside the running gateway
// that holds the store) and builds the engine with New when it starts.
func Check(cfg Config) (Checked, error) {
	router, err := models.NewRouter(cfg.Providers, cfg.Routes)
	if err != nil {
		return Checked{}, err
	}
	if err := checkAgents(cfg.Agents, router); err != nil {
		return Checked{}, err
	}
	m, err := models.New(models.Config{Router: router, Passthrough: cfg.Passthrough})
	if err != nil {
		return Checked{}, err
	}
	if err := knowledge.Check(knowledge.Config{Models: m, Memory: cfg.Memory, RAG: cfg.RAG}); err != nil {
		return Checked{}, err
	}
	return Checked{Passthrough: m.PassthroughEnabled()}, nil
}

// checkAgents checks the declared agents: ids unique, models routed,
// guardrails and knowledge valid.
func checkAgents(declared []*adapters.Agent, router *models.Router) error {
	seen := map[string]bool{}
	for _, a := range declared {
		if seen[a.ID] {
			return fmt.Errorf("agent %q declared twice", a.ID)
		}
		if _, _, ok := router.Resolve(a.Model, a.Provider); !ok {
			return fmt.Errorf("agent %q: no provider serves model %q", a.ID, a.Model)
		}
		if err := validateAgent(a, router); err != nil {
			return fmt.Errorf("agent %q: %w", a.ID, err)
		}
		seen[a.ID] = true
	}
	return nil
}

// New builds an engine over cfg's store and starts its usage recorder
// and memory manager; Close stops them. It checks cfg as Check does.
func New(cfg Config) (*Engine, error) {
	router, err := models.NewRouter(cfg.Providers, cfg.Routes)
	if err != nil {
		return nil, err
	}
	if err := checkAgents(cfg.Agents, router); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	tierSet := cfg.Tiers
	if tierSet == nil {
		tierSet = tiers.New()
	}
	// Follow the store's tier changes before reading the tiers, so none
	// falls between.
	unfollowTiers := tierSet.Follow(cfg.Store, log)
	started := false
	defer func() {
		if !started {
			unfollowTiers()
		}
	}()
	if err := tierSet.Load(context.Background(), cfg.Store); err != nil {
		return nil, fmt.Errorf("loading tiers: %w", err)
	}
	e := &Engine{store: cfg.Store, tiers: tierSet, unfollowTiers: unfollowTiers, tools: cfg.Tools, log: log, now: now}
	if e.guards, err = lru.New[string, *guard.Guard](guardCacheSize); err != nil {
		return nil, err
	}
	for _, a := range cfg.Agents {
		a.Declared = true
		if a.CreatedAt.IsZero() {
			// Declared agents exist from the moment their config loads.
			a.CreatedAt, a.UpdatedAt = now(), now()
		}
	}
	if e.agents, err = agents.New(agents.Config{Store: cfg.Store, Declared: cfg.Agents, Now: now}); err != nil {
		return nil, err
	}
	e.recorder = cfg.Recorder
	if e.recorder == nil {
		e.recorder, e.ownRecorder = models.NewRecorder(cfg.Store, log, cfg.UsageFlushInterval), true
	}
	e.models, err = models.New(models.Config{Router: router, Retry: cfg.Retry, Recorder: e.recorder, Prices: cfg.Prices,
		Passthrough: cfg.Passthrough, Logger: log, Now: now, Sleep: cfg.Sleep})
	if err != nil {
		e.agents.Close()
		if e.ownRecorder {
			e.recorder.Close()
		}
		return nil, err
	}
	e.knowledge, err = knowledge.New(knowledge.Config{Store: cfg.Store, Models: e.models, Tiers: tierSet, Memory: cfg.Memory,
		SharedMemory: cfg.SharedMemory, RAG: cfg.RAG, Logger: log, Now: now})
	if err != nil {
		e.agents.Close()
		if e.ownRecorder {
			e.recorder.Close()
		}
		return nil, err
	}
	e.loop = toolloop.New(toolloop.Config{Models: e.models, Store: cfg.Store, Tools: cfg.Tools, Hooks: hooks{e},
		PausedRunTTL: cfg.PausedRunTTL, Logger: log, Now: now})
	started = true
	return e, nil
}

// Agents is the agent registry: agents by id or name, their creation,
// changes, deletion and versions.
func (e *Engine) Agents() *agents.Registry { return e.agents }

// Models makes the engine's model calls: routing, retries, embeddings,
// usage records.
func (e *Engine) Models() *models.Models { return e.models }

// Knowledge is agents' long-term memory and knowledge sources.
func (e *Engine) Knowledge() *knowledge.Knowledge { return e.knowledge }

// Tools is the registry of operator-declared tools (nil when none).
func (e *Engine) Tools() *tools.Registry { return e.tools }

// Store is the engine's store, for dialects that manage objects directly.
func (e *Engine) Store() state.Store { return e.store }

// Tiers are the service levels keys are on.
func (e *Engine) Tiers() *tiers.Set { return e.tiers }

// Now is the engine's clock.
func (e *Engine) Now() time.Time { return e.now() }

// Close stops the engine's own background work, committing its pending
// usage records. The store and a shared recorder stay: their owner closes
// them.
func (e *Engine) Close() {
	e.unfollowTiers()
	e.agents.Close()
	e.knowledge.Close() // its jobs record usage: before the recorder stops
	if e.ownRecorder {
		e.recorder.Close()
	}
}
