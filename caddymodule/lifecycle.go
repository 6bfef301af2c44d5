package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine"
	"go.uber.org/zap"
)

// The app's life: Provision checks the configuration and opens nothing
// (app.go), so `caddy validate` beside a running gateway, or in an empty
// data directory, has no side effect. Start opens what must be opened
// once and is shared by the configs of a reload (the store with its
// usage recorder and memory state, the limits backend: storepool.go,
// limitspool.go), builds the engine over them and connects the MCP
// servers. Cleanup lets go of them; the last config holding one closes it.
//
// Caddy starts apps in no fixed order, so the http app may accept a
// request before this app's Start has run: such a request waits for it
// (waitStarted), and gets a 503 if the config is dropped first.

// Start implements caddy.App: it opens the store and the limits backend
// (or takes the previous config's), builds the engine and connects the
// MCP servers, then lets the requests that waited through.
func (a *App) Start() error {
	err := a.start()
	a.startErr = err
	close(a.ready)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.limiter.Check(ctx); err != nil {
		a.log.Warn("the limits backend cannot be reached yet: on_error decides until it can", zap.Error(err))
	}
	if a.keys.empty() {
		a.log.Warn("no API keys exist yet: every request will be rejected with 401. " +
			"Set AGENTGATE_API_KEY before starting, or create one with `caddy agentgate key create --tenant default`")
	}
	return nil
}

func (a *App) start() error {
	be, err := acquireBackend(a.storeOpener, time.Duration(a.UsageFlushInterval), a.clock, a.log)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	a.backend = be
	if a.limiter, a.limitsKey, err = acquireLimiter(a.limitsOpener, be, a.storeLocation, a.clock, a.log); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	cfg := a.engineConfig
	cfg.Store, cfg.Recorder, cfg.SharedMemory = be.store, be.recorder, be.memory
	if a.engine, err = engine.New(cfg); err != nil {
		return err
	}
	if err := a.keys.open(context.Background(), be.store, a.clock.Now()); err != nil {
		return err
	}
	a.tools.connect(a.MCPServers, a.log)
	a.env.Engine = a.engine
	return nil
}

// errNotStarted answers the requests that waited for a config that was
// dropped before it started (its Start failed, or a reload replaced it).
var errNotStarted = &adapters.Error{Kind: adapters.KindStoreUnavailable, Message: "the gateway is starting; retry shortly",
	RetryAfter: time.Second}

// waitStarted waits until a's Start has run: at once, but for the
// requests that arrive while Caddy is still starting the apps.
func (a *App) waitStarted(ctx context.Context) error {
	select {
	case <-a.ready:
	default:
		select {
		case <-a.ready:
		case <-ctx.Done():
			return ctx.Err()
		case <-a.ctx.Done():
			return errNotStarted
		}
	}
	if a.startErr != nil {
		return errNotStarted
	}
	return nil
}

// Stop implements caddy.App; Cleanup lets go of what Start opened.
func (a *App) Stop() error { return nil }

// Cleanup stops the engine (committing queued usage records) and releases
// this config's hold on the store and the limits backend; the last holder
// closes them. It copes with a Start that failed half way, or never ran
// (a validated config).
func (a *App) Cleanup() error {
	a.tools.close()
	if a.engine != nil {
		a.engine.Close()
	}
	var errs []error
	// The limiter stays set: requests of this config still in flight on
	// kept-alive connections (a reload) admit through it, and the pool
	// keeps it open while the next config holds it.
	if a.limitsKey != "" {
		key := a.limitsKey
		a.limitsKey = ""
		errs = append(errs, releaseLimiter(key))
	}
	if a.backend != nil {
		a.backend = nil
		errs = append(errs, releaseStore(a.storeLocation))
	}
	return errors.Join(errs...)
}
