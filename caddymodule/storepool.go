package caddymodule

import (
	"context"
	"sync"
	"time"

	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/state"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// stores holds each open store by location (a file's path, a database).
// Caddy starts a new config before it cleans up the old one, so during a
// reload both hold the same store: bbolt locks its file, so
// opening it twice would block, and a database pool opened twice would
// hold twice the connections.
var stores = caddy.NewUsagePool()

// backend is what outlives a config: the open store, the usage recorder
// and the memory state writing to it, and the sweeper of expired runs.
// Calls still running on an old config after a reload keep recording
// through it until the last config lets go.
type backend struct {
	store    state.Store
	recorder *models.Recorder
	// memory is the store's memory state (recall indexes, batched
	// writes), shared by the engines of successive configurations.
	memory *memory.Shared

	stopSweeps context.CancelFunc
	swept      sync.WaitGroup
}

// Destruct stops the sweeper, commits queued memory writes and usage
// records, then closes the store.
func (b *backend) Destruct() error {
	b.stopSweeps()
	b.swept.Wait()
	b.memory.Close()
	b.recorder.Close()
	return b.store.Close()
}

// sweepEvery is how often expired paused runs are removed from the store.
// On a shared store every instance sweeps; a sweep that finds nothing
// costs one indexed query.
var sweepEvery = time.Minute

// sweep removes runs past their expiry, by clk, until ctx ends.
func (b *backend) sweep(ctx context.Context, clk clock.Clock, log *zap.Logger) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := b.store.SweepRuns(ctx, clk.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("sweeping expired paused runs", zap.Error(err))
		case n > 0:
			log.Info("swept expired paused runs", zap.Int("runs", n))
		}
	}
}

// acquireBackend opens the store opener names, or shares the one already
// open there. flushEvery and clk (the sweeper's) apply when this call
// opens it.
func acquireBackend(opener state.Opener, flushEvery time.Duration, clk clock.Clock, log *zap.Logger) (*backend, error) {
	v, _, err := stores.LoadOrNew(opener.Location(), func() (caddy.Destructor, error) {
		s, err := opener.Open()
		if err != nil {
			return nil, err
		}
		rec := models.NewRecorder(s, log, flushEvery)
		b := &backend{store: s, recorder: rec, memory: memory.OpenShared(s, memory.Options{Logger: log})}
		ctx, cancel := context.WithCancel(context.Background())
		b.stopSweeps = cancel
		b.swept.Go(func() { b.sweep(ctx, clk, log) })
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*backend), nil
}

func releaseStore(location string) error {
	_, err := stores.Delete(location)
	return err
}
