// Package models makes the engine's model calls. It resolves a model name
// to a provider instance (routes, aliases, prefixes; a Pool spreads one
// provider's calls over several keys or base URLs), fits the request to
// what the model can take, retries failed attempts with backoff and then
// tries the agent's fallbacks, computes embeddings (one lookup for every
// caller: dialects, knowledge, memory), estimates what a call will cost
// for admission (estimate.go), and reports every call's usage at one
// point, the accountant (report.go): its usage record (Recorder), the
// per-call metrics (CallObserver) and the exchange of the request it was
// made for (package exchange), which every call takes as a parameter. It
// knows nothing of agents' tool loops, sessions or HTTP.
package models

import (
	"context"
	"time"

	"github.com/agentgate/agentgate/pricing"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
)

// Config is what Models are built from.
type Config struct {
	Router *Router
	// Retry bounds retries and fallbacks of failed calls.
	Retry RetryPolicy
	// Recorder takes the usage record of every call.
	Recorder *Recorder
	// Observer is told of every call; nil: nothing is.
	Observer CallObserver
	// TraceAttributes are what traces say of each provider instance's
	// calls, by name.
	TraceAttributes map[string][]attribute.KeyValue
	// Prices price each call when its usage record is written; nil
	// leaves every cost unknown.
	Prices *pricing.Table
	// Passthrough configures the OpenAI endpoints passed upstream as they
	// came (forward.go).
	Passthrough PassthroughConfig
	Logger      *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits between retries; nil means a real, cancellable sleep.
	Sleep func(context.Context, time.Duration) error
}

// Models makes model calls. It is safe for concurrent use.
type Models struct {
	router   *Router
	retry    RetryPolicy
	recorder *Recorder
	observer CallObserver
	// traceAttrs are Config.TraceAttributes.
	traceAttrs map[string][]attribute.KeyValue
	prices     *pricing.Table
	log        *zap.Logger
	now        func() time.Time
	sleep      func(context.Context, time.Duration) error
	// catalog caches the upstreams' model lists; loaded is when the
	// configuration was, the creation time of models no upstream dates.
	catalog *modelCatalog
	loaded  time.Time
	// passthrough is the passthrough configuration; forwarding whether
	// any provider speaks OpenAI's API.
	passthrough PassthroughConfig
	forwarding  bool
}

// New returns Models over cfg's router and recorder.
func New(cfg Config) (*Models, error) {
	m := &Models{router: cfg.Router, retry: cfg.Retry.withDefaults(), recorder: cfg.Recorder, observer: cfg.Observer, traceAttrs: cfg.TraceAttributes, prices: cfg.Prices,
		log: cfg.Logger, now: cfg.Now, sleep: cfg.Sleep}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.sleep == nil {
		m.sleep = sleepCtx
	}
	m.catalog, m.loaded = newModelCatalog(m.now, m.log), m.now()
	if err := m.configurePassthrough(cfg.Passthrough, m.router.providers); err != nil {
		return nil, err
	}
	return m, nil
}

// Router is the router calls are resolved by.
func (m *Models) Router() *Router { return m.router }

// Recorder is where the calls' usage records go.
func (m *Models) Recorder() *Recorder { return m.recorder }
