package caddymodule

import (
	"context"
	"fmt"
	"time"

	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/limits"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// limiters holds each open limits backend by its location and the
// store's: like the store, it is shared by the configs of a reload, so
// the leases of requests still running on the old config keep being
// renewed, and the memory backend's figures carry over. A reload's
// on_error and lease_time apply to it; a Redis's timeout applies when
// its client is opened anew (the process restarted, or the location
// changed).
var limiters = caddy.NewUsagePool()

// pooledLimiter closes its Limiter when the last config lets go.
type pooledLimiter struct{ *limits.Limiter }

func (p pooledLimiter) Destruct() error { return p.Close() }

// acquireLimiter opens the limits backend opener names over the store of
// be (found at storeLocation), or shares the one already open.
func acquireLimiter(opener limits.Opener, be *backend, storeLocation string, clk clock.Clock, log *zap.Logger) (*limits.Limiter, string, error) {
	location := opener.Location() + " over " + storeLocation
	v, _, err := limiters.LoadOrNew(location, func() (caddy.Destructor, error) {
		b, err := opener.Open(clk)
		if err != nil {
			return nil, err
		}
		o := opener.LimiterOptions()
		o.Seeder, o.Clock, o.Log = usageSeeder{be}, clk, log
		return pooledLimiter{limits.New(b, o)}, nil
	})
	if err != nil {
		return nil, "", err
	}
	// A reload's settings (on_error, lease_time) apply to the Limiter
	// its previous configuration opened.
	lim := v.(pooledLimiter).Limiter
	lim.Apply(opener.LimiterOptions())
	return lim, location, nil
}

func releaseLimiter(location string) error {
	_, err := limiters.Delete(location)
	return err
}

// usageSeeder reads a quota's month from the store's counters, which the
// usage records add up to (tokens, or the known cost for a budget): the durable truth a limits backend starts
// from when it has no figure for a scope's month (its first use of it,
// or it lost its state). This instance's queued records are committed
// first; other instances' queued records (at most usage_flush_interval
// of their traffic) are not in the counters yet.
type usageSeeder struct{ be *backend }

func (s usageSeeder) Used(ctx context.Context, scope string, kind limits.Kind, at time.Time) (int64, error) {
	if kind != limits.MonthlyTokens && kind != limits.MonthlyMicroUSD {
		return 0, fmt.Errorf("no usage records count %s", kind)
	}
	if err := s.be.recorder.Flush(ctx); err != nil {
		return 0, err
	}
	if kind == limits.MonthlyMicroUSD {
		spent, err := s.be.store.MonthlySpend(ctx, scope, at)
		return int64(spent), err
	}
	return s.be.store.MonthlyTokens(ctx, scope, at)
}

var _ limits.Seeder = usageSeeder{}
