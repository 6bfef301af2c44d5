// Package runtime is the agent runtime: it turns a canonical Call on an
// agent into provider requests (system prompt, session history, the new
// turn, reasoning), forwards the provider's events to the dialect, and
// records sessions and usage. It never parses HTTP.
package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/runtime/memory"
	"github.com/agentgate/agentgate/runtime/tools"
	"github.com/agentgate/agentgate/state"
	"go.uber.org/zap"
)

// Config is what a Runtime is built from.
type Config struct {
	Store     state.Store
	Providers map[string]adapters.Provider
	Routes    []Route
	// Agents are the operator-declared agents, in configuration order.
	Agents []*adapters.Agent
	// Tiers are the service levels keys are on; nil means none.
	Tiers  *Tiers
	Logger *zap.Logger
	// Recorder writes usage records. When nil the runtime starts its own
	// (flushing every UsageFlushInterval) and stops it on Close; a shared
	// recorder outlives the runtime, so calls still running on an old
	// config after a reload keep their records.
	Recorder *Recorder
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
	// RAG configures knowledge retrieval (rag.go); the zero value ranks
	// documents by keywords unless they are embedded.
	RAG RAGConfig
	// Retry bounds retries and fallbacks of failed model calls.
	Retry RetryPolicy
	// Prices price each model call when its usage record is written; nil
	// leaves every cost unknown.
	Prices *pricing.Table
	// Passthrough configures the OpenAI endpoints passed upstream as
	// they came (forward.go).
	Passthrough PassthroughConfig
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits between retries; nil means a real, cancellable sleep.
	Sleep func(context.Context, time.Duration) error
}

// Runtime runs agents. It is safe for concurrent use.
type Runtime struct {
	store         state.Store
	router        *Router
	declared      map[string]*adapters.Agent
	declaredOrder []*adapters.Agent
	recorder      *Recorder
	ownRecorder   bool
	tiers         *Tiers
	prices        *pricing.Table
	log           *zap.Logger
	now           func() time.Time
	retry         RetryPolicy
	tools         *tools.Registry
	pausedTTL     time.Duration
	sleep         func(context.Context, time.Duration) error
	memory        *memory.Manager
	// unfollowTiers stops following the store's tier changes.
	unfollowTiers func()
	rag           *ragState
	// catalog caches the upstreams' model lists; loaded is when the
	// configuration was, the creation time of models no upstream dates.
	catalog *modelCatalog
	loaded  time.Time
	// passthrough is the passthrough configuration; forwarding whether
	// any provider speaks OpenAI's API.
	passthrough PassthroughConfig
	forwarding  bool
}

// New builds a runtime and starts its usage recorder; Close stops it.
func New(cfg Config) (*Runtime, error) {
	router, err := NewRouter(cfg.Providers, cfg.Routes)
	if err != nil {
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
	tiers := cfg.Tiers
	if tiers == nil {
		tiers = NewTiers()
	}
	// Follow the store's tier changes before reading the tiers, so none
	// falls between.
	unfollowTiers := tiers.follow(cfg.Store, log)
	started := false
	defer func() {
		if !started {
			unfollowTiers()
		}
	}()
	if err := tiers.load(context.Background(), cfg.Store); err != nil {
		return nil, fmt.Errorf("loading tiers: %w", err)
	}
	sleep := cfg.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	rt := &Runtime{store: cfg.Store, router: router, declared: map[string]*adapters.Agent{}, tiers: tiers, log: log,
		prices: cfg.Prices, now: now, retry: cfg.Retry.withDefaults(), sleep: sleep, tools: cfg.Tools, pausedTTL: cfg.PausedRunTTL}
	rt.catalog, rt.loaded = newModelCatalog(now, log), now()
	if err := rt.configurePassthrough(cfg.Passthrough, cfg.Providers); err != nil {
		return nil, err
	}
	if rt.pausedTTL <= 0 {
		rt.pausedTTL = 24 * time.Hour
	}
	if rt.rag, err = newRAGState(&cfg, router); err != nil {
		return nil, err
	}
	for _, a := range cfg.Agents {
		if _, dup := rt.declared[a.ID]; dup {
			return nil, fmt.Errorf("agent %q declared twice", a.ID)
		}
		if _, _, ok := router.Resolve(a.Model, a.Provider); !ok {
			return nil, fmt.Errorf("agent %q: no provider serves model %q", a.ID, a.Model)
		}
		if err := rt.ValidateGuardrailsAndKnowledge(a); err != nil {
			return nil, fmt.Errorf("agent %q: %w", a.ID, err)
		}
		a.Declared = true
		if a.CreatedAt.IsZero() {
			// Declared agents exist from the moment their config loads.
			a.CreatedAt, a.UpdatedAt = now(), now()
		}
		rt.declared[a.ID] = a
		rt.declaredOrder = append(rt.declaredOrder, a)
	}
	rt.unfollowTiers = unfollowTiers
	rt.recorder = cfg.Recorder
	if rt.recorder == nil {
		rt.recorder, rt.ownRecorder = NewRecorder(cfg.Store, log, cfg.UsageFlushInterval), true
	}
	if err := rt.startMemory(&cfg); err != nil {
		if rt.ownRecorder {
			rt.recorder.Close()
		}
		return nil, err
	}
	started = true
	return rt, nil
}

// Tools is the registry of operator-declared tools (nil when none).
func (rt *Runtime) Tools() *tools.Registry { return rt.tools }

// Store is the runtime's store, for dialects that manage objects directly.
func (rt *Runtime) Store() state.Store { return rt.store }

// Router is the runtime's model router.
func (rt *Runtime) Router() *Router { return rt.router }

// Tiers are the service levels keys are on.
func (rt *Runtime) Tiers() *Tiers { return rt.tiers }

// Recorder is the runtime's usage recorder.
func (rt *Runtime) Recorder() *Recorder { return rt.recorder }

// Now is the runtime's clock.
func (rt *Runtime) Now() time.Time { return rt.now() }

// Close stops the runtime's own background work, committing its pending
// usage records. The store and a shared recorder stay: their owner closes
// them.
func (rt *Runtime) Close() {
	rt.unfollowTiers()
	rt.memory.Close() // its jobs record usage: before the recorder stops
	if rt.ownRecorder {
		rt.recorder.Close()
	}
}
