package models

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"go.uber.org/zap"
)

// How long an upstream's model list is kept, and how long a failed fetch
// is remembered before the next request tries again.
const (
	ModelListTTL        = 10 * time.Minute
	ModelListFailureTTL = time.Minute
	// modelListTimeout bounds one fetch of a model list.
	modelListTimeout = 10 * time.Second
)

// modelCatalog caches the model lists of the providers that offer one.
// The first request waits for a provider's list; after that, an expired
// list is served while a fresh one is fetched in the background, so
// listing models costs an upstream round trip only once per provider.
type modelCatalog struct {
	now func() time.Time
	log *zap.Logger

	mu      sync.Mutex
	entries map[string]*catalogEntry
}

type catalogEntry struct {
	models  map[string]adapters.ModelInfo
	list    []adapters.ModelInfo
	ok      bool // the last fetch succeeded, or an earlier one did
	fetched time.Time
	failed  bool // the last fetch failed
	// loading is closed when the fetch in flight ends; nil when none is.
	loading chan struct{}
}

func newModelCatalog(now func() time.Time, log *zap.Logger) *modelCatalog {
	return &modelCatalog{now: now, log: log, entries: map[string]*catalogEntry{}}
}

// models returns provider name's model list, keyed by upstream model
// name, and whether one is known: false when the provider lists none or
// its list could not be fetched.
func (c *modelCatalog) models(ctx context.Context, name string, lister adapters.ModelLister) (map[string]adapters.ModelInfo, []adapters.ModelInfo, bool) {
	c.mu.Lock()
	e := c.entries[name]
	if e == nil {
		e = &catalogEntry{}
		c.entries[name] = e
	}
	ttl := ModelListTTL
	if e.failed {
		ttl = ModelListFailureTTL
	}
	fresh := !e.fetched.IsZero() && c.now().Sub(e.fetched) < ttl
	if !fresh && e.loading == nil {
		e.loading = make(chan struct{})
		go c.fetch(name, lister, e)
	}
	loading, known := e.loading, e.ok || e.failed
	c.mu.Unlock()
	if !fresh && !known {
		// Nothing to serve yet: wait for the first fetch.
		select {
		case <-loading:
		case <-ctx.Done():
			return nil, nil, false
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return e.models, e.list, e.ok
}

// fetch refreshes e from the upstream. A failure keeps the list fetched
// before it, if any.
func (c *modelCatalog) fetch(name string, lister adapters.ModelLister, e *catalogEntry) {
	ctx, cancel := context.WithTimeout(context.Background(), modelListTimeout)
	list, err := lister.ListModels(ctx)
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	e.fetched, e.failed = c.now(), err != nil
	switch {
	case errors.Is(err, adapters.ErrNoAPIKey):
		c.log.Debug("the provider has no API key: prefix routes to it list no models", zap.String("provider", name))
	case err != nil:
		c.log.Warn("listing the upstream's models failed; prefix routes to it list no models until it answers",
			zap.String("provider", name), zap.Error(err))
	default:
		e.list, e.ok = list, true
		e.models = make(map[string]adapters.ModelInfo, len(list))
		for _, m := range list {
			e.models[m.ID] = m
		}
	}
	close(e.loading)
	e.loading = nil
}
