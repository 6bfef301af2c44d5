package limits_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/limits"
	"github.com/agentgate/agentgate/limits/memory"
)

// switchBackend is the memory backend behind a switch: while down, its
// calls fail as those to a Redis refusing connections do. It counts
// them.
type switchBackend struct {
	*memory.Backend
	down  atomic.Bool
	calls atomic.Int64
}

var errRefused = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (b *switchBackend) call() error {
	b.calls.Add(1)
	if b.down.Load() {
		return errRefused
	}
	return nil
}

func (b *switchBackend) Admit(ctx context.Context, req *limits.Request) (limits.Answer, error) {
	if err := b.call(); err != nil {
		return limits.Answer{}, err
	}
	return b.Backend.Admit(ctx, req)
}

func (b *switchBackend) Renew(ctx context.Context, leases []limits.Held, ttl time.Duration) error {
	if err := b.call(); err != nil {
		return err
	}
	return b.Backend.Renew(ctx, leases, ttl)
}

func (b *switchBackend) Settle(ctx context.Context, s *limits.Settlement) error {
	if err := b.call(); err != nil {
		return err
	}
	return b.Backend.Settle(ctx, s)
}

// TestLeasesOutliveOneFailedCall: with a lease time shorter than the
// breaker's open period, the lease of a request still running outlives
// a failed call, and an outage shorter than the lease, as its renewals
// go on probing the backend; it expires when the outage outlasts it.
// Found in review: renewals were held back for the whole period, so one
// failed call let every such lease expire. The test renews as the
// Limiter's loop does, every RenewEvery (LeaseTTL/3) on the clock.
func TestLeasesOutliveOneFailedCall(t *testing.T) {
	const ttl = 3 * time.Second // < limits.BreakerOpen
	every := ttl / 3
	for _, tc := range []struct {
		name string
		// down is how long the backend fails from the failed call on.
		down  time.Duration
		alive bool
	}{
		{"one failed call", 0, true},
		{"down a second", time.Second, true},
		{"down longer than the lease", ttl, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
			clk := clock.NewManual(t0)
			b := &switchBackend{Backend: memory.New(clk)}
			l := limits.New(b, limits.Options{LeaseTTL: ttl, RenewEvery: time.Hour, Clock: clk})
			defer l.Close()
			slot := []limits.Rule{{Scope: "key:long", Kind: limits.Concurrent, Max: 1}}
			if d, err := l.Admit(context.Background(), slot, limits.Cost{}); err != nil || !d.Admitted || d.Unchecked {
				t.Fatalf("the long request: %v %+v", err, d)
			}
			// Half a renewal period later, another key's request fails
			// to reach the backend.
			clk.Add(every / 2)
			failedAt := clk.Now()
			b.down.Store(true)
			other := []limits.Rule{{Scope: "key:other", Kind: limits.Concurrent, Max: 1}}
			if d, err := l.Admit(context.Background(), other, limits.Cost{}); err != nil || !d.Unchecked {
				t.Fatalf("the failed call: %v %+v", err, d)
			}
			for clk.Now().Before(t0.Add(limits.BreakerOpen + every)) {
				clk.Set(clk.Now().Truncate(every).Add(every))
				b.down.Store(clk.Now().Before(failedAt.Add(tc.down)))
				_ = l.Renew(context.Background())
			}
			// 6 renewals since: each called the backend.
			if n := b.calls.Load(); n != 8 {
				t.Errorf("%d calls, want the two admissions' and 6 renewals'", n)
			}
			d, err := l.Admit(context.Background(), slot, limits.Cost{})
			if err != nil || d.Unchecked {
				t.Fatalf("%s after the outage: %v %+v", clk.Now().Sub(t0), err, d)
			}
			if alive := !d.Admitted; alive != tc.alive {
				t.Fatalf("the long request's lease holds its slot after %s: %v, want %v", clk.Now().Sub(t0), alive, tc.alive)
			}
		})
	}
}
