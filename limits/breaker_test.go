package limits

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/clock"
)

// mode is how a gateBackend's calls behave.
type mode int

const (
	answering mode = iota
	// failing calls fail at once, as a server that refuses connections.
	failing
	// hanging calls wait, as on a server that swallows packets, until the
	// test ends them (release: with errTimedOut, the client's timeout, or
	// nil, a late answer) or their caller goes away.
	hanging
)

var errTimedOut = errors.New("read tcp 127.0.0.1:6379: i/o timeout")

// gateBackend is a backend whose calls answer, fail or hang as the test
// says, counting them.
type gateBackend struct {
	mode    atomic.Int32
	calls   atomic.Int64 // every call
	settled atomic.Int64 // settlements taken
	// entered receives one value per call when set: a hanging call has
	// started.
	entered chan struct{}
	release chan error
}

func newGateBackend() *gateBackend {
	return &gateBackend{entered: make(chan struct{}, 100), release: make(chan error)}
}

func (b *gateBackend) set(m mode) { b.mode.Store(int32(m)) }

func (b *gateBackend) do(ctx context.Context) error {
	b.calls.Add(1)
	select {
	case b.entered <- struct{}{}:
	default: // nobody is waiting for this many
	}
	switch mode(b.mode.Load()) {
	case failing:
		return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	case hanging:
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-b.release:
			return err
		}
	}
	return nil
}

func (b *gateBackend) Admit(ctx context.Context, req *Request) (Answer, error) {
	if err := b.do(ctx); err != nil {
		return Answer{}, err
	}
	return Answer{Admitted: true, Refused: -1, States: make([]State, len(req.Rules)), Now: time.Unix(0, 0)}, nil
}
func (b *gateBackend) Renew(ctx context.Context, _ []Held, _ time.Duration) error {
	return b.do(ctx)
}
func (b *gateBackend) Settle(ctx context.Context, _ *Settlement) error {
	if err := b.do(ctx); err != nil {
		return err
	}
	b.settled.Add(1)
	return nil
}
func (b *gateBackend) Close() error { return nil }

// breakerRig is a Limiter over a gateBackend on a manual clock, its
// renewal loop out of the way (the test renews).
type breakerRig struct {
	t    *testing.T
	b    *gateBackend
	clk  *clock.Manual
	l    *Limiter
	deny bool
}

func newBreakerRig(t *testing.T, deny bool) *breakerRig {
	t.Helper()
	r := &breakerRig{t: t, b: newGateBackend(), clk: clock.NewManual(time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)), deny: deny}
	r.l = New(r.b, Options{Deny: deny, Clock: r.clk, RenewEvery: time.Hour})
	t.Cleanup(func() {
		r.b.set(answering)
		_ = r.l.Close()
	})
	return r
}

var breakerRules = []Rule{{Scope: "key:k", Kind: Concurrent, Max: 10}}

// admit admits one request and says whether it took the fallback (an
// unchecked admission, or ErrUnavailable under Deny).
func (r *breakerRig) admit(ctx context.Context) (fallback bool, d *Decision, err error) {
	r.t.Helper()
	d, err = r.l.Admit(ctx, breakerRules, Cost{})
	switch {
	case r.deny && errors.Is(err, ErrUnavailable):
		return true, nil, err
	case err != nil:
		return false, nil, err
	case !d.Admitted:
		r.t.Fatalf("refused: %+v", d)
	}
	return d.Unchecked, d, nil
}

// mustAdmit admits one request, failing the test unless it took the
// fallback as wanted.
func (r *breakerRig) mustAdmit(wantFallback bool) *Decision {
	r.t.Helper()
	fallback, d, err := r.admit(context.Background())
	if err != nil && !fallback {
		r.t.Fatalf("admission: %v", err)
	}
	if fallback != wantFallback {
		r.t.Fatalf("admission took the fallback: %v, want %v (decision %+v, err %v)", fallback, wantFallback, d, err)
	}
	return d
}

// failOnce makes one admission whose backend call fails as m says:
// at once, or hanging until it times out.
func (r *breakerRig) failOnce(m mode) {
	r.t.Helper()
	r.drain()
	defer r.drain()
	r.b.set(m)
	if m == hanging {
		done := make(chan struct{})
		go func() {
			defer close(done)
			<-r.b.entered
			r.b.release <- errTimedOut
		}()
		r.mustAdmit(true)
		<-done
		return
	}
	r.mustAdmit(true)
	<-r.b.entered
}

// drain forgets the entered signals of calls the test did not wait for.
func (r *breakerRig) drain() {
	for {
		select {
		case <-r.b.entered:
		default:
			return
		}
	}
}

// TestBreakerHoldsCallsBack: after one call failed (at once, or by
// timing out), admissions, settlements and renewals call nothing and
// take the fallback at once, whatever on_error; the settlements are
// kept.
func TestBreakerHoldsCallsBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail mode
		deny bool
	}{
		{"timeout allow", hanging, false},
		{"timeout deny", hanging, true},
		{"refused allow", failing, false},
		{"refused deny", failing, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newBreakerRig(t, tc.deny)
			held := r.mustAdmit(false)
			r.mustAdmit(false) // still running: its lease is renewed
			r.failOnce(tc.fail)
			r.b.set(answering) // would answer: it is not asked
			before := r.b.calls.Load()
			for range 20 {
				r.mustAdmit(true)
			}
			if _, err := r.l.Peek(context.Background(), breakerRules); !errors.Is(err, ErrUnavailable) {
				t.Errorf("peek while open: %v", err)
			}
			if err := r.l.Check(context.Background()); !errors.Is(err, ErrUnavailable) {
				t.Errorf("check while open: %v", err)
			}
			if err := held.Lease.Settle(context.Background(), nil); !errors.Is(err, ErrUnavailable) {
				t.Errorf("settling while open: %v", err)
			}
			if err := r.l.Renew(context.Background()); !errors.Is(err, ErrUnavailable) {
				t.Errorf("renewing while open: %v", err)
			}
			r.clk.Add(BreakerOpen - time.Nanosecond)
			r.mustAdmit(true)
			if n := r.b.calls.Load() - before; n != 0 {
				t.Fatalf("%d backend calls while the breaker was open", n)
			}
			if len(r.l.retry) != 1 {
				t.Fatalf("%d settlements kept, want 1", len(r.l.retry))
			}
			// 21 admissions, a peek, a check, a settlement, and the
			// renewal's retried settlement and renewal.
			if r.l.heldBackCalls != 26 {
				t.Errorf("outage counted %d calls held back, want 26", r.l.heldBackCalls)
			}
		})
	}
}

// TestBreakerProbe: once the open period has passed on the clock, one
// call probes while the others still take the fallback; the probe's
// success closes the breaker (the settlement kept meanwhile is delivered
// at the next renewal), its failure opens it again for another period.
func TestBreakerProbe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome error // the probe's
		deny    bool
	}{
		{"answers allow", nil, false},
		{"answers deny", nil, true},
		{"times out allow", errTimedOut, false},
		{"times out deny", errTimedOut, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newBreakerRig(t, tc.deny)
			held := r.mustAdmit(false)
			r.failOnce(hanging)
			_ = held.Lease.Settle(context.Background(), nil)
			r.clk.Add(BreakerOpen)

			// The probe hangs while others come.
			r.b.set(hanging)
			r.drain()
			before := r.b.calls.Load()
			probed := make(chan bool)
			go func() {
				fallback, _, err := r.admit(context.Background())
				if err != nil && !fallback {
					t.Errorf("probe: %v", err)
				}
				probed <- fallback
			}()
			<-r.b.entered
			for range 10 {
				r.mustAdmit(true)
			}
			r.b.release <- tc.outcome
			if fallback := <-probed; fallback != (tc.outcome != nil) {
				t.Fatalf("the probe took the fallback: %v, its call's outcome %v", fallback, tc.outcome)
			}
			if n := r.b.calls.Load() - before; n != 1 {
				t.Fatalf("%d backend calls during the probe, want the probe's 1", n)
			}
			r.b.set(answering)
			r.drain()

			if tc.outcome == nil {
				// Closed: every admission calls the backend, and the
				// renewal delivers the kept settlement.
				for i := range 5 {
					r.mustAdmit(false)
					if n := r.b.calls.Load() - before; n != int64(2+i) {
						t.Fatalf("admission %d after the probe: %d calls in all, want %d", i, n, 2+i)
					}
				}
				if err := r.l.Renew(context.Background()); err != nil {
					t.Fatal(err)
				}
				if r.b.settled.Load() != 1 || len(r.l.retry) != 0 {
					t.Fatalf("after the renewal: %d settled, %d kept", r.b.settled.Load(), len(r.l.retry))
				}
				return
			}
			// Open again, for a whole period from the probe's failure.
			for range 5 {
				r.mustAdmit(true)
			}
			r.clk.Add(BreakerOpen - time.Nanosecond)
			r.mustAdmit(true)
			if n := r.b.calls.Load() - before; n != 1 {
				t.Fatalf("%d backend calls after the probe failed, want none beyond the probe", n)
			}
			r.clk.Add(time.Nanosecond)
			r.mustAdmit(false)
			if n := r.b.calls.Load() - before; n != 2 {
				t.Fatalf("%d backend calls once the period passed again, want one more probe", n)
			}
		})
	}
}

// TestBreakerCallerCancelled: a caller that goes away while its call
// hangs is not the backend failing: a closed breaker stays closed, and
// a probe's caller going away lets the next call probe, without waiting
// another period.
func TestBreakerCallerCancelled(t *testing.T) {
	for _, probing := range []bool{false, true} {
		r := newBreakerRig(t, false)
		if probing {
			r.failOnce(failing)
			r.clk.Add(BreakerOpen)
		}
		r.b.set(hanging)
		r.drain()
		before := r.b.calls.Load()
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-r.b.entered
			r.b.set(answering) // for what follows: the settlement of what it took
			cancel()
		}()
		var err error
		if probing {
			_, err = r.l.Peek(ctx, breakerRules)
		} else {
			_, err = r.l.Admit(ctx, breakerRules, Cost{})
		}
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("probing %v: the cancelled call returned %v, want context.Canceled alone", probing, err)
		}
		r.drain()
		if !probing && r.l.breaker.open.Load() {
			t.Fatal("the caller's cancellation opened the breaker")
		}
		calls := r.b.calls.Load()
		r.mustAdmit(false)
		if n := r.b.calls.Load() - calls; n != 1 {
			t.Fatalf("probing %v: the next admission made %d calls, want 1 (%d before)", probing, n, calls-before)
		}
		if r.l.breaker.open.Load() {
			t.Fatalf("probing %v: the breaker is open after the backend answered", probing)
		}
	}
}

// TestBreakerCloseDelivers: Close tries the kept settlements once more
// even while the breaker holds calls back: the backend may be back.
func TestBreakerCloseDelivers(t *testing.T) {
	b := newGateBackend()
	l := New(b, Options{Clock: clock.NewManual(time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)), RenewEvery: time.Hour})
	d, err := l.Admit(context.Background(), breakerRules, Cost{})
	if err != nil {
		t.Fatal(err)
	}
	b.set(failing)
	if err := d.Lease.Settle(context.Background(), nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("settling with the backend away: %v", err)
	}
	b.set(answering)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if b.settled.Load() != 1 {
		t.Fatalf("%d settlements delivered at Close, want 1", b.settled.Load())
	}
}
