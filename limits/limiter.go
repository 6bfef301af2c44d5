package limits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/state"
)

// DefaultLeaseTTL is how long a lease holds its slots and reservations
// without a renewal: the longest the capacity of an instance that died
// stays taken.
const DefaultLeaseTTL = 30 * time.Second

// Seeder reads what the durable usage records say scope used of a quota
// of kind in the month of at: a backend's figure for a scope-month that
// it has none of (its first use, or the backend lost its state) starts
// there.
type Seeder interface {
	Used(ctx context.Context, scope string, kind Kind, at time.Time) (int64, error)
}

// Options configure a Limiter.
type Options struct {
	// LeaseTTL is how long a lease holds without a renewal; default
	// DefaultLeaseTTL. RenewEvery is how often the leases of requests
	// still running are renewed, all in one call; default LeaseTTL/3.
	LeaseTTL, RenewEvery time.Duration
	// Deny makes a backend that cannot be reached refuse requests
	// (ErrUnavailable); by default they are admitted unchecked. After a
	// call that failed, calls are held back for BreakerOpen and the
	// requests take this fallback at once. A request whose admission the
	// backend rejects (ErrRejected) takes it too, alone.
	Deny bool
	// Seeder reads quota months the backend has no figure for.
	Seeder Seeder
	// Clock times the backend's outages and the breaker's open period
	// (the gateway's clock, which the backend reads too); nil means
	// clock.Real.
	Clock clock.Clock
	Log   *zap.Logger
}

// Limiter admits requests against a Backend and keeps the leases of the
// requests it admitted alive until they settle. It is safe for
// concurrent use.
type Limiter struct {
	b      Backend
	seeder Seeder
	clock  clock.Clock
	log    *zap.Logger
	// ttl and every (durations) and deny are Options' LeaseTTL,
	// RenewEvery and Deny, which Apply changes.
	ttl, every atomic.Int64
	deny       atomic.Bool
	stop       context.CancelFunc
	done       chan struct{}

	mu sync.Mutex
	// live are the leases holding slots or reservations, renewed until
	// they settle.
	live map[string]*Lease
	// retry are settlements that did not reach the backend, tried again
	// at every renewal.
	retry []*Settlement
	outage
	breaker breaker
}

// maxRetries bounds the settlements kept for a backend that is away.
const maxRetries = 100_000

// New returns a Limiter over b, renewing leases until Close.
func New(b Backend, o Options) *Limiter {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Limiter{b: b, seeder: o.Seeder, clock: o.Clock, log: o.Log, stop: cancel, done: make(chan struct{}), live: map[string]*Lease{}}
	l.Apply(o)
	go l.renew(ctx)
	return l
}

// Apply takes o's LeaseTTL, RenewEvery and Deny from now on: a reloaded
// configuration's, for a Limiter its previous configuration opened.
func (l *Limiter) Apply(o Options) {
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.RenewEvery <= 0 {
		o.RenewEvery = o.LeaseTTL / 3
	}
	l.ttl.Store(int64(o.LeaseTTL))
	l.every.Store(int64(o.RenewEvery))
	l.deny.Store(o.Deny)
}

// Decision is the answer to an admission.
type Decision struct {
	Admitted bool
	// Refused is the index of the rule that refused the request, or -1.
	Refused int
	// States are the rules' figures, one per rule.
	States []State
	// Now is the backend's time of the decision (zero when unchecked).
	Now time.Time
	// Lease settles the request; nil when it was refused.
	Lease *Lease
	// Unchecked says the request was admitted without the backend, which
	// could not be reached (Options.Deny unset).
	Unchecked bool
}

// RetryAfter is when the refused request would fit.
func (d *Decision) RetryAfter() time.Duration {
	if d.Refused < 0 {
		return 0
	}
	return d.States[d.Refused].RetryAfter
}

// Admit evaluates rules for a request expected to cost cost: all or
// nothing. An admitted request's Lease must be settled when it ends.
// When the backend cannot be reached, or rejects the admission
// (ErrRejected), the request is admitted unchecked, or with Options.Deny
// refused with an error wrapping ErrUnavailable; a Seeder's error is
// returned as it is.
func (l *Limiter) Admit(ctx context.Context, rules []Rule, cost Cost) (*Decision, error) {
	a := &admission{Request: Request{Lease: newLeaseID(), TTL: time.Duration(l.ttl.Load()), Rules: rules}}
	req := &a.Request
	if len(rules) <= len(a.amounts) {
		req.Amounts = a.amounts[:len(rules):len(rules)]
	} else {
		req.Amounts = make([]int64, len(rules))
	}
	for i, r := range rules {
		req.Amounts[i] = r.Kind.Amount(cost)
	}
	ans, err := l.evaluate(ctx, req)
	if err != nil && ctx.Err() != nil && !errors.Is(err, errBreakerOpen) {
		// The caller went away during admission: not an outage. What the
		// backend may have taken under the lease is let go (slots and
		// quota reservations are freed by lease; nothing is refunded to a
		// bucket that may not have been charged).
		_ = l.settle(context.WithoutCancel(ctx), &Settlement{Lease: req.Lease, Rules: rules, Taken: make([]int64, len(rules))})
		return nil, ctx.Err()
	}
	if errors.Is(err, ErrRejected) {
		// These rules cannot be checked, as when the backend is away;
		// other requests' can, so the breaker stays closed.
		l.rejectedAdmission(rules, err)
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if errors.Is(err, ErrUnavailable) && !l.deny.Load() {
		return &Decision{Admitted: true, Refused: -1, Unchecked: true,
			Lease: newLease(l, req.Lease, rules, make([]int64, len(rules)))}, nil
	}
	if err != nil {
		return nil, err
	}
	d := decision(ans, rules)
	if !d.Admitted {
		return d, nil
	}
	d.Lease = newLease(l, req.Lease, rules, req.Amounts)
	if len(d.Lease.held.Rules) > 0 {
		l.mu.Lock()
		l.live[d.Lease.id] = d.Lease
		l.mu.Unlock()
	}
	return d, nil
}

// admission is an admission's request with room for its amounts, in one
// allocation: a tier has a handful of rules.
type admission struct {
	Request
	amounts [8]int64
}

// Check reaches the backend with an admission of no rules: whether it
// can be reached now (a server learns the admission script). While the
// breaker holds calls back, it says so without a call.
func (l *Limiter) Check(ctx context.Context) error {
	return l.call(ctx, func() error {
		_, err := l.b.Admit(ctx, &Request{Peek: true})
		return err
	})
}

// call runs f, one call to the backend, through the breaker: held back
// while it is open (an error wrapping ErrUnavailable and
// errBreakerOpen); otherwise f's outcome opens or closes it and is
// logged as the outage's.
func (l *Limiter) call(ctx context.Context, f func() error) error {
	return l.through(ctx, l.breaker.allow(l.clock.Now()), f)
}

// through runs f if p lets it go, and reports its outcome to the
// breaker and the outage log. A failure is returned wrapping
// ErrUnavailable. An answer, even one rejecting the call (ErrRejected,
// returned as it is), says the backend is reachable; an error of the
// caller's cancellation is returned as it is, and says nothing.
func (l *Limiter) through(ctx context.Context, p pass, f func() error) error {
	if !p.ok {
		l.heldBack()
		return fmt.Errorf("%w: %w", ErrUnavailable, errBreakerOpen)
	}
	err := f()
	switch {
	case err == nil, errors.Is(err, ErrRejected):
		l.breaker.succeeded()
		l.reached()
		return err
	case ctx.Err() != nil:
		l.breaker.abandoned(p)
		return err
	}
	l.breaker.failed(l.clock.Now(), p)
	l.failed(err)
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Peek evaluates rules without taking anything: their figures now.
func (l *Limiter) Peek(ctx context.Context, rules []Rule) (*Decision, error) {
	ans, err := l.evaluate(ctx, &Request{Rules: rules, Amounts: make([]int64, len(rules)), Peek: true})
	if err != nil {
		return nil, err
	}
	return decision(ans, rules), nil
}

// evaluate runs req on the backend, seeding the quota months it has no
// figure for: the month may turn between two attempts, so a few are
// allowed.
func (l *Limiter) evaluate(ctx context.Context, req *Request) (Answer, error) {
	for attempt := 0; ; attempt++ {
		var ans Answer
		err := l.call(ctx, func() (err error) {
			ans, err = l.b.Admit(ctx, req)
			return err
		})
		if err != nil {
			return Answer{}, err
		}
		if len(ans.Unseeded) == 0 {
			return ans, nil
		}
		if attempt == 3 || l.seeder == nil {
			return Answer{}, fmt.Errorf("limits: the backend keeps asking for the figures of rules %v", ans.Unseeded)
		}
		for _, i := range ans.Unseeded {
			r := req.Rules[i]
			used, err := l.seeder.Used(ctx, r.Scope, r.Kind, ans.Now)
			if err != nil {
				return Answer{}, fmt.Errorf("reading %s's %s for %s: %w", r.Scope, r.Kind, state.MonthKey(ans.Now), err)
			}
			req.Seeds = append(req.Seeds, Seed{Rule: i, Month: state.MonthKey(ans.Now), Used: used})
		}
	}
}

// decision completes a backend's answer with what every backend's rules
// of a class share: a refused slot is retried in a second, a quota at
// the month's end.
func decision(ans Answer, rules []Rule) *Decision {
	d := &Decision{Admitted: ans.Admitted, Refused: ans.Refused, States: ans.States, Now: ans.Now}
	if d.Admitted {
		d.Refused = -1
	}
	reset := state.MonthEnd(ans.Now).Sub(ans.Now)
	for i := range d.States {
		s := &d.States[i]
		switch rules[i].Kind.Class() {
		case Slots:
			s.RetryAfter = time.Second
		case Quota:
			s.RetryAfter, s.Reset = reset, reset
		}
	}
	return d
}

// Close stops renewing leases, tries the settlements still waiting once
// more, and closes the backend. Leases of requests still running then
// expire by themselves.
func (l *Limiter) Close() error {
	l.stop()
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.retrySettlements(ctx, true)
	l.mu.Lock()
	n := len(l.retry)
	l.mu.Unlock()
	if n > 0 {
		l.log.Warn("limits: settlements not delivered at shutdown; their reservations expire by themselves and their usage stays in the usage records",
			zap.Int("settlements", n))
	}
	return l.b.Close()
}

// renew renews the live leases every RenewEvery until ctx ends.
func (l *Limiter) renew(ctx context.Context) {
	defer close(l.done)
	t := time.NewTimer(time.Duration(l.every.Load()))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_ = l.Renew(ctx)
		t.Reset(time.Duration(l.every.Load()))
	}
}

// Renew renews the leases of the requests still running, all in one
// call, then delivers the settlements still waiting for the backend. The
// Limiter calls it every RenewEvery. While the breaker holds calls back,
// the renewal still probes the backend, unless another call is probing
// it (breaker.allowEarly): one failed call would otherwise let every
// lease shorter than BreakerOpen expire. The settlements go when the
// breaker lets them; the leases expire by themselves if an outage
// outlasts them.
func (l *Limiter) Renew(ctx context.Context) error {
	l.mu.Lock()
	held := make([]Held, 0, len(l.live))
	for _, ls := range l.live {
		held = append(held, ls.held)
	}
	l.mu.Unlock()
	var err error
	if len(held) > 0 {
		err = l.through(ctx, l.breaker.allowEarly(l.clock.Now()), func() error {
			return l.b.Renew(ctx, held, time.Duration(l.ttl.Load()))
		})
		if errors.Is(err, ErrRejected) {
			l.log.Error("limits backend rejected a renewal: the leases it did not renew expire by themselves",
				zap.Int("leases", len(held)), zap.Error(err))
		}
	}
	l.retrySettlements(ctx, false)
	return err
}

// retrySettlements delivers the settlements kept for a retry, in order,
// until one does not reach the backend: it and those after it wait for
// the next try. One the backend rejects is dropped. The last try
// (Close) calls whether or not the breaker holds calls back: the
// backend may be back, and it is these settlements' only chance.
func (l *Limiter) retrySettlements(ctx context.Context, last bool) {
	l.mu.Lock()
	pending := l.retry
	l.retry = nil
	l.mu.Unlock()
	for i, s := range pending {
		p := pass{ok: true}
		if !last {
			p = l.breaker.allow(l.clock.Now())
		}
		err := l.through(ctx, p, func() error { return l.b.Settle(ctx, s) })
		switch {
		case err == nil:
		case errors.Is(err, ErrRejected):
			l.dropRejected(s, err)
		default:
			l.mu.Lock()
			l.retry = append(pending[i:], l.retry...)
			l.mu.Unlock()
			return
		}
	}
}

// rejectedAdmission logs an admission the backend rejected: the first
// at once, then at most one line every outageLogEvery with how many were
// rejected since, so that one corrupted key, met by every request of its
// tenant, does not flood the log.
func (l *Limiter) rejectedAdmission(rules []Rule, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	l.admissionsRejected++
	if !l.rejectionLogged.IsZero() && now.Sub(l.rejectionLogged) < outageLogEvery {
		return
	}
	l.rejectionLogged = now
	l.log.Error("limits backend rejected an admission: "+l.fallback()+" for it", zap.Stringers("rules", rules), zap.Error(err),
		zap.Int("rejected_since_last_logged", l.admissionsRejected))
	l.admissionsRejected = 0
}

// dropRejected logs and forgets s, a settlement the backend rejected:
// it would be rejected again, and kept it would hold the settlements
// behind it back forever.
func (l *Limiter) dropRejected(s *Settlement, err error) {
	l.log.Error("limits backend rejected a settlement; dropped: its slots and reservations expire by themselves, its usage stays in the usage records",
		zap.String("lease", s.Lease), zap.Stringers("rules", s.Rules), zap.Error(err))
}

// settle delivers s, or keeps it for a retry when the backend is away
// (or the breaker holds calls back); one the backend rejects is
// dropped. ctx is never cancelled.
func (l *Limiter) settle(ctx context.Context, s *Settlement) error {
	err := l.call(ctx, func() error { return l.b.Settle(ctx, s) })
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrRejected) {
		l.dropRejected(s, err)
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.retry) >= maxRetries {
		l.log.Error("limits: too many settlements waiting for the backend; dropping the oldest (its usage stays in the usage records)")
		l.retry = l.retry[1:]
	}
	l.retry = append(l.retry, s)
	return err
}

// Lease is what an admitted request holds.
type Lease struct {
	l     *Limiter
	id    string
	rules []Rule
	taken []int64
	// held is what the lease holds, renewed until it settles.
	held Held
	once sync.Once
}

func newLease(l *Limiter, id string, rules []Rule, taken []int64) *Lease {
	ls := &Lease{l: l, id: id, rules: rules, taken: taken, held: Held{Lease: id}}
	for i, r := range rules {
		if c := r.Kind.Class(); (c == Slots || c == Quota) && taken[i] > 0 {
			if ls.held.Rules == nil {
				ls.held.Rules = make([]Rule, 0, len(rules)-i)
			}
			ls.held.Rules = append(ls.held.Rules, r)
		}
	}
	return ls
}

// ID names the lease in the backend.
func (ls *Lease) ID() string { return ls.id }

// Settle ends the lease with what its request spent: slots and
// reservations are freed, buckets given back what the request took
// beyond its real usage (or charged what it used beyond), and quotas
// charged the real usage, each Spend in its month. Settling after the
// lease expired still charges the usage, and frees nothing twice. A
// settlement that did not reach the backend is retried until it does;
// one the backend rejected (ErrRejected) is dropped, its usage staying
// in the usage records. The error says so. Settling again does nothing.
func (ls *Lease) Settle(ctx context.Context, spent []Spend) error {
	if ls == nil {
		return nil
	}
	var err error
	ls.once.Do(func() {
		ls.l.mu.Lock()
		delete(ls.l.live, ls.id)
		ls.l.mu.Unlock()
		s := &Settlement{Lease: ls.id, Rules: ls.rules, Taken: ls.taken, Spent: spent}
		if !s.needed() {
			return
		}
		err = ls.l.settle(context.WithoutCancel(ctx), s)
	})
	return err
}

// needed reports whether settling changes anything.
func (s *Settlement) needed() bool {
	for i, r := range s.Rules {
		switch r.Kind.Class() {
		case Slots:
			if s.Taken[i] > 0 {
				return true
			}
		case Bucket:
			if s.Refund(i) != 0 {
				return true
			}
		case Quota:
			if s.Taken[i] > 0 || len(s.Months(i)) > 0 {
				return true
			}
		}
	}
	return false
}

func newLeaseID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// outage follows whether the backend can be reached, so that an outage
// is logged when it begins, every outageLogEvery while it lasts, and
// when it ends, not once per request.
type outage struct {
	down          atomic.Bool
	since, logged time.Time
	// failures are the calls that failed, heldBackCalls those the breaker
	// held back, and last the latest failure's cause.
	failures, heldBackCalls int
	last                    error
	// admissionsRejected counts the admissions the backend rejected
	// since rejectionLogged, when one was last logged.
	admissionsRejected int
	rejectionLogged    time.Time
}

const outageLogEvery = 10 * time.Second

func (l *Limiter) failed(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down.Store(true)
	l.failures++
	l.last = err
	if l.since.IsZero() {
		now := l.clock.Now()
		l.since, l.logged = now, now
		l.log.Warn("limits backend unreachable: "+l.fallback()+" until it is back", zap.Error(err),
			zap.Duration("probe_every", BreakerOpen))
		return
	}
	l.stillDown()
}

// heldBack counts a call the breaker held back.
func (l *Limiter) heldBack() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.heldBackCalls++
	l.stillDown()
}

// stillDown logs that the outage goes on, once every outageLogEvery.
func (l *Limiter) stillDown() {
	now := l.clock.Now()
	if l.since.IsZero() || now.Sub(l.logged) < outageLogEvery {
		return
	}
	l.logged = now
	l.log.Warn("limits backend still unreachable: "+l.fallback(), zap.Duration("for", now.Sub(l.since)),
		zap.Int("failed_calls", l.failures), zap.Int("held_back_calls", l.heldBackCalls), zap.Error(l.last))
}

// fallback says what requests get during an outage.
func (l *Limiter) fallback() string {
	if l.deny.Load() {
		return "refusing requests with 503 (on_error deny)"
	}
	return "admitting requests unchecked (on_error allow)"
}

func (l *Limiter) reached() {
	if !l.down.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down.Swap(false) {
		return
	}
	l.log.Warn("limits backend reachable again", zap.Duration("after", l.clock.Now().Sub(l.since)),
		zap.Int("failed_calls", l.failures), zap.Int("held_back_calls", l.heldBackCalls))
	l.since, l.failures, l.heldBackCalls, l.last = time.Time{}, 0, 0, nil
}
