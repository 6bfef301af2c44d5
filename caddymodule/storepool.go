package caddymodule

import (
	"time"

	"github.com/agentgate/agentgate/state"
	"github.com/caddyserver/caddy/v2"
)

// stores holds each open store by absolute path. Caddy provisions a new
// config before it cleans up the old one, so during a reload both hold
// the same store; bbolt locks its file, so opening it twice would block.
var stores = caddy.NewUsagePool()

type pooledStore struct{ state.Store }

func (p pooledStore) Destruct() error { return p.Close() }

// storeLockTimeout is how long to wait for another process's lock on the
// store file before giving up with a clear message.
const storeLockTimeout = 2 * time.Second

func acquireStore(path string) (state.Store, error) {
	v, _, err := stores.LoadOrNew(path, func() (caddy.Destructor, error) {
		s, err := state.OpenBolt(path, state.BoltOptions{LockTimeout: storeLockTimeout})
		if err != nil {
			return nil, err
		}
		return pooledStore{s}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(pooledStore).Store, nil
}

func releaseStore(path string) error {
	_, err := stores.Delete(path)
	return err
}
