package caddymodule

import (
	"time"

	"github.com/agentgate/agentgate/runtime"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// stores holds each open store by absolute path. Caddy provisions a new
// config before it cleans up the old one, so during a reload both hold
// the same store; bbolt locks its file, so opening it twice would block.
var stores = caddy.NewUsagePool()

// backend is what outlives a config: the open store and the usage
// recorder writing to it. Calls still running on an old config after a
// reload keep recording through it until the last config lets go.
type backend struct {
	store    state.Store
	recorder *runtime.Recorder
	// limits keeps rate-limit and quota state across reloads.
	limits state.Limits
}

// Destruct commits queued usage records, then closes the store.
func (b *backend) Destruct() error {
	b.recorder.Close()
	return b.store.Close()
}

// storeLockTimeout is how long to wait for another process's lock on the
// store file before giving up with a clear message.
const storeLockTimeout = 2 * time.Second

// acquireBackend opens the store at path, or shares the one already open.
// flushEvery applies when this call opens it.
func acquireBackend(path string, flushEvery time.Duration, log *zap.Logger) (*backend, error) {
	v, _, err := stores.LoadOrNew(path, func() (caddy.Destructor, error) {
		s, err := bbolt.Open(path, bbolt.Options{LockTimeout: storeLockTimeout})
		if err != nil {
			return nil, err
		}
		rec := runtime.NewRecorder(s, log, flushEvery)
		return &backend{store: s, recorder: rec, limits: state.NewMemoryLimits(s, rec.Flush)}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*backend), nil
}

func releaseStore(path string) error {
	_, err := stores.Delete(path)
	return err
}
