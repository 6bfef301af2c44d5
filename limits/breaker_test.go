package limits

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

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
	// rejecting calls are answered with an error of the call itself.
	rejecting
)

var (
	errTimedOut  = errors.New("read tcp 127.0.0.1:6379: i/o timeout")
	errWrongType = fmt.Errorf("%w: WRONGTYPE Operation against a key holding the wrong kind of value", ErrRejected)
)

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
	// poison is a lease whose settlements are rejected, answering.
	poison atomic.Value
}

func newGateBackend() *gateBackend {
	return &gateBackend{entered: make(chan struct{}, 100), release: make(chan error)}
}

func (b *gateBackend) set(m mode) { b.mode.Store(int32(m)) }

func (b *gateBackend) do(ctx context.Context) error {
	b.calls.Add(1)
	// The mode is read before entered is signalled: a test that changes
	// it once a call entered means the calls after that one.
	m := mode(b.mode.Load())
	select {
	case b.entered <- struct{}{}:
	default: // nobody is waiting for this many
	}
	switch m {
	case failing:
		return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	case rejecting:
		return errWrongType
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
func (b *gateBackend) Settle(ctx context.Context, s *Settlement) error {
	if err := b.do(ctx); err != nil {
		return err
	}
	if b.poison.Load() == s.Lease {
		return errWrongType
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
	logs *observer.ObservedLogs // warnings and errors
}

func newBreakerRig(t *testing.T, deny bool) *breakerRig {
	t.Helper()
	core, logs := observer.New(zapcore.WarnLevel)
	r := &breakerRig{t: t, b: newGateBackend(), clk: clock.NewManual(time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)), deny: deny, logs: logs}
	r.l = New(r.b, Options{Deny: deny, Clock: r.clk, RenewEvery: time.Hour, Log: zap.New(core)})
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
// timing out), admissions, peeks, checks and settlements call nothing
// and take the fallback at once, whatever on_error; the settlements are
// kept. (Renewals probe: TestBreakerRenewalProbes.)
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
			r.clk.Add(BreakerOpen - time.Nanosecond)
			r.mustAdmit(true)
			if n := r.b.calls.Load() - before; n != 0 {
				t.Fatalf("%d backend calls while the breaker was open", n)
			}
			if len(r.l.retry) != 1 {
				t.Fatalf("%d settlements kept, want 1", len(r.l.retry))
			}
			// 21 admissions, a peek, a check and a settlement.
			if r.l.heldBackCalls != 24 {
				t.Errorf("outage counted %d calls held back, want 24", r.l.heldBackCalls)
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

// stepBackend is a backend whose calls each wait until the test ends
// them, by their number in the order they came (or their caller goes
// away), unless answerAll is set.
type stepBackend struct {
	mu        sync.Mutex
	gates     []chan error
	entered   chan int
	answerAll atomic.Bool
}

func newStepBackend() *stepBackend { return &stepBackend{entered: make(chan int, 100)} }

func (b *stepBackend) do(ctx context.Context) error {
	b.mu.Lock()
	n, gate := len(b.gates), make(chan error, 1)
	b.gates = append(b.gates, gate)
	b.mu.Unlock()
	if b.answerAll.Load() {
		return nil
	}
	b.entered <- n
	select {
	case err := <-gate:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// end ends call n with err.
func (b *stepBackend) end(n int, err error) {
	b.mu.Lock()
	gate := b.gates[n]
	b.mu.Unlock()
	gate <- err
}

func (b *stepBackend) calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.gates)
}

func (b *stepBackend) Admit(ctx context.Context, req *Request) (Answer, error) {
	if err := b.do(ctx); err != nil {
		return Answer{}, err
	}
	return Answer{Admitted: true, Refused: -1, States: make([]State, len(req.Rules)), Now: time.Unix(0, 0)}, nil
}
func (b *stepBackend) Renew(ctx context.Context, _ []Held, _ time.Duration) error { return b.do(ctx) }
func (b *stepBackend) Settle(ctx context.Context, _ *Settlement) error            { return b.do(ctx) }
func (b *stepBackend) Close() error                                               { return nil }

// stepRig is a Limiter over a stepBackend on a manual clock.
type stepRig struct {
	t   *testing.T
	b   *stepBackend
	clk *clock.Manual
	l   *Limiter
}

func newStepRig(t *testing.T) *stepRig {
	r := &stepRig{t: t, b: newStepBackend(), clk: clock.NewManual(time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC))}
	r.l = New(r.b, Options{Clock: r.clk, RenewEvery: time.Hour})
	t.Cleanup(func() {
		r.b.answerAll.Store(true)
		_ = r.l.Close()
	})
	return r
}

// admit starts an admission; its channel says whether it took the
// fallback (admitted unchecked).
func (r *stepRig) admit(ctx context.Context) <-chan bool {
	done := make(chan bool, 1)
	go func() {
		d, err := r.l.Admit(ctx, breakerRules, Cost{})
		done <- err == nil && d.Unchecked
	}()
	return done
}

// heldBack fails the test unless an admission takes the fallback
// without a call (a call that comes is ended, failing).
func (r *stepRig) heldBack(what string) {
	r.t.Helper()
	done := r.admit(context.Background())
	select {
	case n := <-r.b.entered:
		r.t.Errorf("%s: admission sent call %d, want it held back", what, n)
		r.b.end(n, errTimedOut)
		<-done
	case fallback := <-done:
		if !fallback {
			r.t.Errorf("%s: admission did not take the fallback", what)
		}
	}
}

// TestBreakerOneProbeAtATime: a call sent while the breaker was closed
// that ends (failing, or its caller going away) while the probe waits
// is not the probe: it lets no second probe go while the first still
// waits, nor does it move the next probe's time; the probe's own
// failure does. Found in review: any failure cleared the probe's place
// and opened a new period, so a second probe went out 5s later.
func TestBreakerOneProbeAtATime(t *testing.T) {
	for _, tc := range []struct {
		name string
		// stale ends call 0, the one sent while the breaker was closed.
		stale func(r *stepRig, cancel context.CancelFunc)
	}{
		{"it fails", func(r *stepRig, _ context.CancelFunc) { r.b.end(0, errTimedOut) }},
		{"its caller goes away", func(_ *stepRig, cancel context.CancelFunc) { cancel() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newStepRig(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stale := r.admit(ctx) // call 0
			<-r.b.entered
			first := r.admit(context.Background()) // call 1
			<-r.b.entered
			r.b.end(1, errTimedOut) // opens the breaker
			<-first
			r.clk.Add(BreakerOpen)
			probe := r.admit(context.Background()) // call 2
			if n := <-r.b.entered; n != 2 {
				t.Fatalf("the probe is call %d", n)
			}
			tc.stale(r, cancel)
			<-stale
			r.clk.Add(BreakerOpen)
			r.heldBack("while the probe waits, a period after the stale call ended")
			if n := r.b.calls(); n != 3 {
				t.Fatalf("%d calls while the probe waits, want 3", n)
			}
			r.b.end(2, errTimedOut) // the probe fails: a period from now
			<-probe
			r.clk.Add(BreakerOpen - time.Nanosecond)
			r.heldBack("before a period passed since the probe failed")
			r.clk.Add(time.Nanosecond)
			next := r.admit(context.Background())
			if n := <-r.b.entered; n != 3 {
				t.Fatalf("the next probe is call %d, want 3", n)
			}
			r.b.end(3, nil)
			if <-next {
				t.Fatal("the answered probe took the fallback")
			}
		})
	}
}

// TestBreakerRenewalProbes: a renewal does not wait for the open
// period: while no other call probes, it probes at once. Its answer
// closes the breaker; its failure leaves the period as it was, so a
// request still probes when it ends.
func TestBreakerRenewalProbes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome error // the renewal's
	}{
		{"answers", nil},
		{"times out", errTimedOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newBreakerRig(t, false)
			r.mustAdmit(false) // its lease is renewed
			r.failOnce(failing)
			r.clk.Add(2 * time.Second)
			r.b.set(hanging)
			before := r.b.calls.Load()
			renewed := make(chan error)
			go func() { renewed <- r.l.Renew(context.Background()) }()
			select {
			case <-r.b.entered:
			case err := <-renewed:
				t.Fatalf("the renewal did not probe: %v", err)
			}
			r.mustAdmit(true) // held back while the renewal probes
			r.b.release <- tc.outcome
			err := <-renewed
			if n := r.b.calls.Load() - before; n != 1 {
				t.Fatalf("%d calls, want the renewal's", n)
			}
			r.b.set(answering)
			r.drain()
			if tc.outcome == nil {
				if err != nil {
					t.Fatal(err)
				}
				r.mustAdmit(false)
				return
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("the renewal that timed out returned %v", err)
			}
			r.clk.Add(BreakerOpen - 2*time.Second - time.Nanosecond)
			r.mustAdmit(true)
			r.clk.Add(time.Nanosecond)
			r.mustAdmit(false)
			if n := r.b.calls.Load() - before; n != 2 {
				t.Fatalf("%d calls, want the renewal's and the probe's when the first period ended", n)
			}
		})
	}
}

// TestBreakerRenewalWaitsForTheProbe: a renewal while a request's
// probe waits is held back, as any other call.
func TestBreakerRenewalWaitsForTheProbe(t *testing.T) {
	r := newBreakerRig(t, false)
	r.mustAdmit(false)
	r.failOnce(failing)
	r.clk.Add(BreakerOpen)
	r.b.set(hanging)
	before := r.b.calls.Load()
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		r.mustAdmit(false)
	}()
	<-r.b.entered
	if err := r.l.Renew(context.Background()); !errors.Is(err, errBreakerOpen) {
		t.Errorf("renewal while a probe waits: %v, want it held back", err)
	}
	if n := r.b.calls.Load() - before; n != 1 {
		t.Errorf("%d calls, want the probe's", n)
	}
	r.b.release <- nil
	<-probed
}

// TestRejectedCallKeepsBreakerClosed: a call the backend answers with an
// error of the call itself (ErrRejected) is not an outage: the breaker
// stays closed (or, for a probe, closes), the admission alone takes
// on_error, and the next admission is checked. Found in review: any
// error opened the breaker.
func TestRejectedCallKeepsBreakerClosed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		deny  bool
		probe bool // the call is the probe of an open breaker
		call  func(r *breakerRig) error
		// wantLog is the start of the error logged, if one is.
		wantLog string
	}{
		{name: "admission, on_error allow", call: rejectedAdmission, wantLog: "limits backend rejected an admission"},
		{name: "admission, on_error deny", deny: true, call: rejectedAdmission, wantLog: "limits backend rejected an admission"},
		{name: "admission as the probe", probe: true, call: rejectedAdmission, wantLog: "limits backend rejected an admission"},
		{name: "renewal", call: func(r *breakerRig) error { return r.l.Renew(context.Background()) }, wantLog: "limits backend rejected a renewal"},
		{name: "peek", call: func(r *breakerRig) error {
			_, err := r.l.Peek(context.Background(), breakerRules)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newBreakerRig(t, tc.deny)
			r.mustAdmit(false) // a lease to renew
			if tc.probe {
				r.failOnce(failing)
				r.clk.Add(BreakerOpen)
			}
			r.b.set(rejecting)
			before := r.b.calls.Load()
			if err := tc.call(r); !errors.Is(err, ErrRejected) {
				t.Fatalf("got %v, want the rejection", err)
			}
			r.b.set(answering)
			r.drain()
			r.mustAdmit(false)
			if n := r.b.calls.Load() - before; n != 2 {
				t.Fatalf("%d calls, want the rejected one and the next admission's", n)
			}
			var errs []string
			for _, e := range r.logs.FilterLevelExact(zapcore.ErrorLevel).All() {
				errs = append(errs, e.Message)
			}
			if tc.wantLog == "" && len(errs) != 0 || tc.wantLog != "" && (len(errs) != 1 || !strings.HasPrefix(errs[0], tc.wantLog)) {
				t.Fatalf("logged errors %q, want one starting %q", errs, tc.wantLog)
			}
		})
	}
}

// rejectedAdmission admits a request the backend rejects: it takes
// on_error's answer.
func rejectedAdmission(r *breakerRig) error {
	fallback, d, err := r.admit(context.Background())
	if !fallback {
		r.t.Fatalf("a rejected admission did not take on_error's answer: %+v, %v", d, err)
	}
	if err == nil {
		return errWrongType // admitted unchecked: its cause is logged
	}
	return err
}

// TestRejectedSettlementDropped: a settlement the backend rejects is
// dropped with an error naming its lease, whether on its first try or
// when retried after an outage; it holds neither the breaker open nor
// the settlements behind it back. Found in review: it was kept at the
// head of the retries and reopened the breaker at every renewal.
func TestRejectedSettlementDropped(t *testing.T) {
	for _, whileDown := range []bool{false, true} {
		t.Run(fmt.Sprintf("settled while down %v", whileDown), func(t *testing.T) {
			r := newBreakerRig(t, false)
			poisoned, fine := r.mustAdmit(false), r.mustAdmit(false)
			r.b.poison.Store(poisoned.Lease.ID())
			if whileDown {
				r.b.set(failing)
			}
			err := poisoned.Lease.Settle(context.Background(), nil)
			if !whileDown && (!errors.Is(err, ErrRejected) || errors.Is(err, ErrUnavailable)) {
				t.Fatalf("settling: %v, want the rejection", err)
			}
			if err := fine.Lease.Settle(context.Background(), nil); (err != nil) != whileDown {
				t.Fatalf("settling the other: %v", err)
			}
			if whileDown {
				r.b.set(answering)
				r.clk.Add(BreakerOpen)
				if err := r.l.Renew(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if r.b.settled.Load() != 1 || len(r.l.retry) != 0 {
				t.Fatalf("%d settled, %d kept; want the other settled, none kept", r.b.settled.Load(), len(r.l.retry))
			}
			calls := r.b.calls.Load()
			r.mustAdmit(false)
			if err := r.l.Renew(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := r.b.calls.Load() - calls; n != 2 {
				t.Fatalf("%d calls for an admission and a renewal, want 2 (no retry)", n)
			}
			dropped := r.logs.FilterMessageSnippet("rejected a settlement").All()
			if len(dropped) != 1 || dropped[0].ContextMap()["lease"] != poisoned.Lease.ID() {
				t.Fatalf("logged %+v, want one drop of lease %s", dropped, poisoned.Lease.ID())
			}
		})
	}
}

// TestCloseLeavesTheProbeOut: Close's last try of the kept settlements
// goes while the breaker is open, and its failure is not the probe's:
// a period later, calls are still held back while the probe waits.
// Found in review: Close closed the breaker before trying, so the
// try's failure opened a new period with no probe out.
func TestCloseLeavesTheProbeOut(t *testing.T) {
	r := newStepRig(t)
	r.b.answerAll.Store(true)
	d, err := r.l.Admit(context.Background(), breakerRules, Cost{}) // call 0
	if err != nil {
		t.Fatal(err)
	}
	r.b.answerAll.Store(false)
	settled := make(chan error)
	go func() { settled <- d.Lease.Settle(context.Background(), nil) }() // call 1
	<-r.b.entered
	r.b.end(1, errTimedOut)
	if err := <-settled; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("settling: %v", err) // kept, the breaker open
	}
	r.clk.Add(BreakerOpen)
	probe := r.admit(context.Background()) // call 2: the probe, waiting
	<-r.b.entered
	closed := make(chan error)
	go func() { closed <- r.l.Close() }()
	if n := <-r.b.entered; n != 3 {
		t.Fatalf("Close's try is call %d", n)
	}
	r.b.end(3, errTimedOut)
	<-closed
	r.clk.Add(BreakerOpen)
	r.heldBack("a period after Close's try failed, while the probe waits")
	r.b.end(2, nil)
	<-probe
}

// TestCloseWhileSettling: requests may still settle while the gateway
// closes the Limiter (found in review, with -race: Close counted the
// kept settlements without the lock).
func TestCloseWhileSettling(t *testing.T) {
	r := newBreakerRig(t, false)
	var leases []*Lease
	for range 20 {
		leases = append(leases, r.mustAdmit(false).Lease)
	}
	r.b.set(failing)
	var wg sync.WaitGroup
	for _, ls := range leases {
		wg.Go(func() { _ = ls.Settle(context.Background(), nil) })
	}
	_ = r.l.Close()
	wg.Wait()
}

// TestRejectedAdmissionsLoggedSparingly: admissions the backend keeps
// rejecting (one corrupted key, met by every request of its tenant) are
// logged once, then once every outageLogEvery with how many were
// rejected since, not once a request.
func TestRejectedAdmissionsLoggedSparingly(t *testing.T) {
	r := newBreakerRig(t, false)
	r.b.set(rejecting)
	logged := func() []int64 {
		var counts []int64
		for _, e := range r.logs.FilterMessageSnippet("rejected an admission").All() {
			counts = append(counts, e.ContextMap()["rejected_since_last_logged"].(int64))
		}
		return counts
	}
	for range 5 {
		_ = rejectedAdmission(r)
	}
	if got := logged(); !slices.Equal(got, []int64{1}) {
		t.Fatalf("after 5 rejections in an instant: logged %v, want one line counting 1", got)
	}
	r.clk.Add(outageLogEvery - time.Nanosecond)
	_ = rejectedAdmission(r)
	if got := logged(); len(got) != 1 {
		t.Fatalf("within %v of the last line: logged %v, want no new line", outageLogEvery, got)
	}
	r.clk.Add(time.Nanosecond)
	_ = rejectedAdmission(r)
	if got := logged(); !slices.Equal(got, []int64{1, 6}) {
		t.Fatalf("%v after the first line: logged %v, want a second line counting the 6 since", outageLogEvery, got)
	}
}
