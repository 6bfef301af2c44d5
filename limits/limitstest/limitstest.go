// Package limitstest is the contract every limits backend passes, run
// against each (limits/memory, limits/redis) by its own tests: exact
// rate limits and concurrency caps under concurrent admissions from two
// instances, all-or-nothing admission, quota races, leases that expire
// when their instance stops renewing them (a crash) and are kept while it
// does, settlement after expiry, time from the backend, and the calls
// every backend rejects.
package limitstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/limits"
	"github.com/agentgate/agentgate/state"
)

// Env is one test's view of a backend: a fresh state, shared by every
// instance Open returns, and the backend's clock.
type Env struct {
	// Open returns a new instance of the backend on the test's state, as
	// another gateway process would open it. The suite closes it.
	Open func() limits.Backend
	// Now reads the backend's clock; Sleep lets d pass on it.
	Now   func() time.Time
	Sleep func(d time.Duration)
	// Set moves the backend's clock to t; nil when the test cannot set
	// it (a server's clock).
	Set func(t time.Time)
}

// Harness sets up an Env for t.
type Harness func(t *testing.T) Env

// LeaseTTL is the lease time of the suite's instances: short, as the
// backend's clock may be a real one.
const LeaseTTL = 2 * time.Second

// Run runs the contract against the backend h sets up.
func Run(t *testing.T, h Harness) {
	settable := h(t).Set != nil
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *suite)
	}{
		{"RequestsPerMinuteExact", testRequestsPerMinute},
		{"TokensPerMinuteExactAndSettled", testTokensPerMinute},
		{"BucketRefillsSmoothly", testBucketRefill},
		{"ConcurrencyCap", testConcurrencyCap},
		{"AllOrNothing", testAllOrNothing},
		{"QuotaRace", testQuotaRace},
		{"KeyAndTenantQuotas", testKeyAndTenantQuotas},
		{"BudgetRaceCountsMoney", testBudgetRace},
		{"LeaseExpiresAfterCrash", testLeaseExpiry},
		{"RenewedLeaseHolds", testRenewal},
		{"SettleAfterExpiry", testSettleAfterExpiry},
		{"SettleOnce", testSettleOnce},
		{"ClockFromBackend", testClock},
		{"MonthTurns", testMonthTurns},
		{"RejectedRuleIsNoOutage", testRejectedRule},
	} {
		if tc.name == "MonthTurns" && !settable {
			// A server's clock cannot be set: its month comes from
			// the same calendar (a backend test checks it), its
			// reservations are per scope whatever the month.
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			env := h(t)
			tc.fn(t, &suite{t: t, env: env, seeder: &seeder{used: map[string]int64{}}})
		})
	}
}

type suite struct {
	t      *testing.T
	env    Env
	seeder *seeder
}

// instance opens an instance whose leases are renewed only when the test
// says (Limiter.Renew): a renewal never comes from a ticker's timing.
func (s *suite) instance() *limits.Limiter {
	l := limits.New(s.env.Open(), limits.Options{LeaseTTL: LeaseTTL, RenewEvery: time.Hour, Seeder: s.seeder})
	s.t.Cleanup(func() { _ = l.Close() })
	return l
}

// seeder answers what the usage records say, and remembers what it was
// asked.
type seeder struct {
	mu sync.Mutex
	// used is by scope, or by scope and kind ("key:k monthly_micro_usd").
	used  map[string]int64
	asked []string
}

func (s *seeder) Used(_ context.Context, scope string, kind limits.Kind, at time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, scope+" "+kind.String()+" "+state.MonthKey(at))
	if used, ok := s.used[scope+" "+kind.String()]; ok {
		return used, nil
	}
	return s.used[scope], nil
}

// set makes scope's records say used, of every kind.
func (s *seeder) set(scope string, used int64) {
	s.mu.Lock()
	s.used[scope] = used
	s.mu.Unlock()
}

// setKind makes scope's records say used of kind.
func (s *seeder) setKind(scope string, kind limits.Kind, used int64) {
	s.set(scope+" "+kind.String(), used)
}

func (s *seeder) questions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

var ctx = context.Background()

// race admits n requests of cost at once, alternating between the
// instances, and returns the admitted ones' decisions.
func (s *suite) race(instances []*limits.Limiter, n int, rules []limits.Rule, cost limits.Cost) []*limits.Decision {
	s.t.Helper()
	var mu sync.Mutex
	var admitted []*limits.Decision
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			d, err := instances[i%len(instances)].Admit(ctx, rules, cost)
			if err != nil {
				s.t.Errorf("admission %d: %v", i, err)
				return
			}
			if d.Unchecked {
				s.t.Errorf("admission %d unchecked: the backend was not reached", i)
			}
			if d.Admitted {
				mu.Lock()
				admitted = append(admitted, d)
				mu.Unlock()
			} else if d.Refused < 0 || d.Lease != nil {
				s.t.Errorf("admission %d refused with rule %d and lease %v", i, d.Refused, d.Lease)
			}
		})
	}
	close(start)
	wg.Wait()
	return admitted
}

// refill is what a bucket of max per minute may have refilled while the
// test ran from t0: nothing on a clock that stands still.
func (s *suite) refill(t0 time.Time, max int64) int64 {
	return int64(s.env.Now().Sub(t0).Seconds() * float64(max) / limits.BucketPeriod.Seconds())
}

func (s *suite) peek(l *limits.Limiter, r limits.Rule) limits.State {
	s.t.Helper()
	d, err := l.Peek(ctx, []limits.Rule{r})
	if err != nil {
		s.t.Fatal(err)
	}
	return d.States[0]
}

func (s *suite) admit(l *limits.Limiter, rules []limits.Rule, cost limits.Cost) *limits.Decision {
	s.t.Helper()
	d, err := l.Admit(ctx, rules, cost)
	if err != nil {
		s.t.Fatal(err)
	}
	return d
}

func (s *suite) settle(d *limits.Decision, spent ...limits.Spend) {
	s.t.Helper()
	if err := d.Lease.Settle(ctx, spent); err != nil {
		s.t.Fatal(err)
	}
}

func tokens(n int64) limits.Cost { return limits.Cost{Tokens: n} }

// testRequestsPerMinute: rpm N, 3N requests from two instances at once:
// exactly N admitted (plus what the bucket refilled meanwhile, nothing on
// a clock that stands still).
func testRequestsPerMinute(t *testing.T, s *suite) {
	a, b := s.instance(), s.instance()
	const n = 20
	rule := limits.Rule{Scope: "key:rpm", Kind: limits.RequestsPerMinute, Max: n}
	t0 := s.env.Now()
	got := int64(len(s.race([]*limits.Limiter{a, b}, 3*n, []limits.Rule{rule}, tokens(500))))
	if extra := s.refill(t0, n); got < n || got > n+extra {
		t.Fatalf("rpm %d: %d of %d admitted (the bucket refilled %d meanwhile)", n, got, 3*n, extra)
	}
	d := s.admit(b, []limits.Rule{rule}, tokens(1))
	if s.refill(t0, n) == 0 && (d.Admitted || d.Refused != 0 || d.States[0].Remaining != 0 || d.RetryAfter() <= 0 ||
		d.RetryAfter() > limits.BucketPeriod/n) {
		t.Fatalf("after the race: %+v", d)
	}
	// A request is a request whatever it spent: settling gives nothing
	// back to the bucket, with no model call or with several.
	other := limits.Rule{Scope: "key:rpm2", Kind: limits.RequestsPerMinute, Max: 2}
	t1 := s.env.Now()
	for _, spent := range [][]limits.Spend{nil, {{At: t1, Cost: tokens(5)}, {At: t1, Cost: tokens(7)}}} {
		if d := s.admit(a, []limits.Rule{other}, tokens(1)); !d.Admitted {
			t.Fatalf("rpm 2: %+v", d)
		} else {
			s.settle(d, spent...)
		}
	}
	if d := s.admit(a, []limits.Rule{other}, tokens(1)); d.Admitted && s.refill(t1, 2) == 0 {
		t.Fatal("rpm 2: a third request admitted: settling gave requests back")
	}
}

// testTokensPerMinute: tpm 1000, requests estimated at 100 each: exactly
// ten fit; a settlement gives back what a request did not use, or
// charges what it used beyond its estimate.
func testTokensPerMinute(t *testing.T, s *suite) {
	a, b := s.instance(), s.instance()
	rule := limits.Rule{Scope: "key:tpm", Kind: limits.TokensPerMinute, Max: 1000}
	t0 := s.env.Now()
	admitted := s.race([]*limits.Limiter{a, b}, 30, []limits.Rule{rule}, tokens(100))
	if got, extra := int64(len(admitted)), s.refill(t0, 1000)/100; got < 10 || got > 10+extra {
		t.Fatalf("tpm 1000 at 100 a request: %d of 30 admitted", got)
	}
	now := s.env.Now()
	s.settle(admitted[0], limits.Spend{At: now, Cost: tokens(40)})  // gives back 60
	s.settle(admitted[1], limits.Spend{At: now, Cost: tokens(130)}) // owes 30
	want := 1000 - 100*int64(len(admitted)) + 60 - 30
	if st, extra := s.peek(b, rule), s.refill(t0, 1000); st.Remaining < want || st.Remaining > want+extra {
		t.Fatalf("after settling 40 and 130 of 100 each: %d remaining, want %d (plus %d refilled meanwhile)", st.Remaining, want, extra)
	}
}

// testBucketRefill: a bucket emptied takes back Max per minute smoothly.
func testBucketRefill(t *testing.T, s *suite) {
	a := s.instance()
	rule := limits.Rule{Scope: "key:refill", Kind: limits.TokensPerMinute, Max: 60_000} // 1000 a second
	if d := s.admit(a, []limits.Rule{rule}, tokens(60_000)); !d.Admitted {
		t.Fatalf("a whole bucket: %+v", d)
	}
	d := s.admit(a, []limits.Rule{rule}, tokens(1000))
	if d.Admitted {
		if s.refill(d.Now.Add(-time.Second), 60_000) == 0 {
			t.Fatal("1000 tokens admitted from an empty bucket at once")
		}
	} else if d.RetryAfter() <= 0 || d.RetryAfter() > time.Second || d.States[0].Reset > time.Minute || d.States[0].Reset < time.Minute-time.Second {
		t.Fatalf("empty bucket: retry after %v, reset %v", d.RetryAfter(), d.States[0].Reset)
	}
	s.env.Sleep(time.Second)
	if d := s.admit(a, []limits.Rule{rule}, tokens(1000)); !d.Admitted {
		t.Fatalf("a second later, 1000 tokens refused: %+v", d)
	}
}

// testConcurrencyCap: a cap of 3 across two instances admits three of
// twenty at once; a settled one frees exactly one slot.
func testConcurrencyCap(t *testing.T, s *suite) {
	a, b := s.instance(), s.instance()
	rule := limits.Rule{Scope: "key:conc", Kind: limits.Concurrent, Max: 3}
	admitted := s.race([]*limits.Limiter{a, b}, 20, []limits.Rule{rule}, tokens(10))
	if len(admitted) != 3 {
		t.Fatalf("cap 3: %d admitted", len(admitted))
	}
	if d := s.admit(a, []limits.Rule{rule}, tokens(1)); d.Admitted || d.RetryAfter() != time.Second {
		t.Fatalf("a fourth: %+v", d)
	}
	s.settle(admitted[0])
	if got := len(s.race([]*limits.Limiter{a, b}, 10, []limits.Rule{rule}, tokens(1))); got != 1 {
		t.Fatalf("after one settled: %d admitted, want 1", got)
	}
}

// testAllOrNothing: a request one rule refuses takes nothing from the
// others.
func testAllOrNothing(t *testing.T, s *suite) {
	a := s.instance()
	s.seeder.set("key:aon", 0)
	rpm := limits.Rule{Scope: "key:aon", Kind: limits.RequestsPerMinute, Max: 100}
	tpm := limits.Rule{Scope: "key:aon", Kind: limits.TokensPerMinute, Max: 100_000}
	conc := limits.Rule{Scope: "key:aon", Kind: limits.Concurrent, Max: 1}
	quota := limits.Rule{Scope: "key:aon", Kind: limits.MonthlyTokens, Max: 100_000}
	rules := []limits.Rule{rpm, tpm, conc, quota}
	first := s.admit(a, rules, tokens(500))
	if !first.Admitted || first.States[0].Remaining != 99 || first.States[1].Remaining != 99_500 || first.States[2].Remaining != 0 ||
		first.States[3].Remaining != 99_500 {
		t.Fatalf("first: %+v", first)
	}
	for range 5 {
		d := s.admit(a, rules, tokens(500))
		if d.Admitted || d.Refused != 2 {
			t.Fatalf("while the slot is held: admitted %v, refused by rule %d", d.Admitted, d.Refused)
		}
	}
	d, err := a.Peek(ctx, rules)
	if err != nil {
		t.Fatal(err)
	}
	if d.States[0].Remaining < 99 || d.States[1].Remaining < 99_500 || d.States[3].Reserved != 500 || d.States[3].Used != 0 {
		t.Fatalf("refused requests took something: %+v", d.States)
	}
}

// testQuotaRace: a quota of 1000 with 100 used already (the usage
// records say so), 50 requests of 100 at once from two instances:
// exactly nine reserve; settled at 80 each, the quota has 100 + 9×80
// used and nothing reserved.
func testQuotaRace(t *testing.T, s *suite) {
	a, b := s.instance(), s.instance()
	s.seeder.set("key:q", 100)
	rule := limits.Rule{Scope: "key:q", Kind: limits.MonthlyTokens, Max: 1000}
	admitted := s.race([]*limits.Limiter{a, b}, 50, []limits.Rule{rule}, tokens(100))
	if len(admitted) != 9 {
		t.Fatalf("quota 1000, 100 used: %d requests of 100 reserved, want 9", len(admitted))
	}
	if st := s.peek(a, rule); st.Used != 100 || st.Reserved != 900 || st.Remaining != 0 {
		t.Fatalf("while they run: %+v", st)
	}
	d := s.admit(b, []limits.Rule{rule}, tokens(1))
	if d.Admitted || d.States[0].Used != 100 || d.States[0].Reserved != 900 ||
		d.RetryAfter() != state.MonthEnd(d.Now).Sub(d.Now) {
		t.Fatalf("a tenth: %+v", d)
	}
	var wg sync.WaitGroup
	for _, d := range admitted {
		wg.Go(func() {
			if err := d.Lease.Settle(ctx, []limits.Spend{{At: d.Now, Cost: tokens(80)}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st := s.peek(b, rule); st.Used != 820 || st.Reserved != 0 || st.Remaining != 180 {
		t.Fatalf("settled: %+v, want 820 used", st)
	}
}

// testKeyAndTenantQuotas: two keys of one tenant, each with a quota of
// 1000, the tenant's 1500: of 30 requests of 100 each, 15 pass, at most
// ten per key.
func testKeyAndTenantQuotas(t *testing.T, s *suite) {
	a, b := s.instance(), s.instance()
	tenant := limits.Rule{Scope: "tenant:t", Kind: limits.MonthlyTokens, Max: 1500}
	var wg sync.WaitGroup
	var total atomic.Int64
	for _, key := range []string{"key:k1", "key:k2"} {
		wg.Go(func() {
			rules := []limits.Rule{{Scope: key, Kind: limits.MonthlyTokens, Max: 1000}, tenant}
			got := len(s.race([]*limits.Limiter{a, b}, 15, rules, tokens(100)))
			if got > 10 {
				t.Errorf("%s: %d admitted of a quota for 10", key, got)
			}
			total.Add(int64(got))
		})
	}
	wg.Wait()
	if total.Load() != 15 {
		t.Fatalf("tenant quota for 15: %d admitted", total.Load())
	}
}

// testBudgetRace: a money quota (MonthlyMicroUSD) of 1000 µ$ with 100
// spent already, beside a token quota on the same scope, 50 requests at
// once from two instances, each estimated at 100 µ$ and 500 tokens:
// exactly nine reserve, each quota its own part of the cost. Settled at
// 80 µ$ and 400 tokens each (one of them a call of a model without a
// price: tokens, no money), each quota has what its part adds up to.
func testBudgetRace(t *testing.T, s *suite) {
	a, b := s.instance(), s.instance()
	s.seeder.setKind("key:budget", limits.MonthlyMicroUSD, 100)
	s.seeder.setKind("key:budget", limits.MonthlyTokens, 7)
	budget := limits.Rule{Scope: "key:budget", Kind: limits.MonthlyMicroUSD, Max: 1000}
	quota := limits.Rule{Scope: "key:budget", Kind: limits.MonthlyTokens, Max: 1_000_000}
	rules := []limits.Rule{quota, budget}
	admitted := s.race([]*limits.Limiter{a, b}, 50, rules, limits.Cost{Tokens: 500, MicroUSD: 100})
	if len(admitted) != 9 {
		t.Fatalf("budget 1000 µ$, 100 spent: %d requests of 100 µ$ reserved, want 9", len(admitted))
	}
	d, err := a.Peek(ctx, rules)
	if err != nil {
		t.Fatal(err)
	}
	if q, m := d.States[0], d.States[1]; q.Used != 7 || q.Reserved != 9*500 || m.Used != 100 || m.Reserved != 900 || m.Remaining != 0 {
		t.Fatalf("while they run: tokens %+v, money %+v", q, m)
	}
	refused := s.admit(b, rules, limits.Cost{Tokens: 1, MicroUSD: 1})
	if refused.Admitted || refused.Refused != 1 || refused.RetryAfter() != state.MonthEnd(refused.Now).Sub(refused.Now) {
		t.Fatalf("a tenth: %+v", refused)
	}
	var wg sync.WaitGroup
	for i, d := range admitted {
		cost := limits.Cost{Tokens: 400, MicroUSD: 80}
		if i == 0 {
			cost.MicroUSD = 0
		}
		wg.Go(func() {
			if err := d.Lease.Settle(ctx, []limits.Spend{{At: d.Now, Cost: cost}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	d, err = b.Peek(ctx, rules)
	if err != nil {
		t.Fatal(err)
	}
	if q, m := d.States[0], d.States[1]; q.Used != 7+9*400 || q.Reserved != 0 || m.Used != 100+8*80 || m.Reserved != 0 || m.Remaining != 1000-740 {
		t.Fatalf("settled: tokens %+v (want %d used), money %+v (want 740 used)", q, 7+9*400, m)
	}
	want := "key:budget monthly_micro_usd " + state.MonthKey(d.Now)
	if !slices.Contains(s.seeder.questions(), want) {
		t.Fatalf("seeder asked %v, not %q", s.seeder.questions(), want)
	}
}

// testLeaseExpiry: an instance that dies holding slots and a reservation
// (it stops renewing and never settles) gives them back once its lease
// time has passed.
func testLeaseExpiry(t *testing.T, s *suite) {
	a, b := s.instance(), s.instance()
	conc := limits.Rule{Scope: "key:crash", Kind: limits.Concurrent, Max: 2}
	quota := limits.Rule{Scope: "key:crash", Kind: limits.MonthlyTokens, Max: 1000}
	for range 2 {
		if d := s.admit(a, []limits.Rule{conc, quota}, tokens(300)); !d.Admitted {
			t.Fatalf("A: %+v", d)
		}
	}
	if d := s.admit(b, []limits.Rule{conc, quota}, tokens(300)); d.Admitted || d.Refused != 0 {
		t.Fatalf("B while A holds both slots: %+v", d)
	}
	// A dies here.
	s.env.Sleep(LeaseTTL)
	d := s.admit(b, []limits.Rule{conc, quota}, tokens(300))
	if !d.Admitted || d.States[1].Reserved != 0 || d.States[1].Used != 0 {
		t.Fatalf("B after A's leases expired: %+v", d)
	}
	if d := s.admit(b, []limits.Rule{conc, quota}, tokens(300)); !d.Admitted {
		t.Fatalf("B's second slot: %+v", d)
	}
}

// testRenewal: leases renewed while their requests run are held far past
// the lease time.
func testRenewal(t *testing.T, s *suite) {
	a, b := s.instance(), s.instance()
	conc := limits.Rule{Scope: "key:long", Kind: limits.Concurrent, Max: 1}
	quota := limits.Rule{Scope: "key:long", Kind: limits.MonthlyTokens, Max: 1000}
	held := s.admit(a, []limits.Rule{conc, quota}, tokens(600))
	if !held.Admitted {
		t.Fatalf("A: %+v", held)
	}
	// Renewing every tenth of a lease: on a backend with a real clock
	// (Redis), a renewal late by most of a lease still finds it alive.
	for range 15 {
		s.env.Sleep(LeaseTTL / 10)
		if err := a.Renew(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d := s.admit(b, []limits.Rule{conc, quota}, tokens(100)); d.Admitted || d.Refused != 0 || d.States[1].Reserved != 600 {
		t.Fatalf("B one and a half lease times later, A renewing: %+v", d)
	}
	s.settle(held, limits.Spend{At: s.env.Now(), Cost: tokens(500)})
	if d := s.admit(b, []limits.Rule{conc, quota}, tokens(100)); !d.Admitted || d.States[1].Used != 500 || d.States[1].Reserved != 0 {
		t.Fatalf("B after A settled: %+v", d)
	}
}

// testSettleAfterExpiry: a lease settled after it expired (its renewals
// failed) still charges what its request used, and frees nothing that is
// now another lease's.
func testSettleAfterExpiry(t *testing.T, s *suite) {
	a, b := s.instance(), s.instance()
	conc := limits.Rule{Scope: "key:late", Kind: limits.Concurrent, Max: 1}
	quota := limits.Rule{Scope: "key:late", Kind: limits.MonthlyTokens, Max: 1000}
	tpm := limits.Rule{Scope: "key:late", Kind: limits.TokensPerMinute, Max: 100_000}
	rules := []limits.Rule{conc, quota, tpm}
	late := s.admit(a, rules, tokens(100))
	if !late.Admitted {
		t.Fatalf("A: %+v", late)
	}
	s.env.Sleep(LeaseTTL)
	taken := s.admit(b, rules, tokens(200))
	if !taken.Admitted || taken.States[1].Reserved != 0 {
		t.Fatalf("B after A's lease expired: %+v", taken)
	}
	s.settle(late, limits.Spend{At: s.env.Now(), Cost: tokens(80)})
	d, err := b.Peek(ctx, rules)
	if err != nil {
		t.Fatal(err)
	}
	if st := d.States[1]; st.Used != 80 || st.Reserved != 200 {
		t.Fatalf("after A's late settlement: quota %+v, want 80 used and B's 200 still reserved", st)
	}
	if d.States[0].Remaining != 0 {
		t.Fatalf("A's late settlement freed B's slot: %+v", d.States[0])
	}
	if d := s.admit(a, rules, tokens(1)); d.Admitted || d.Refused != 0 {
		t.Fatalf("a third while B holds the slot: %+v", d)
	}
}

// testSettleOnce: settling a lease twice counts it once.
func testSettleOnce(t *testing.T, s *suite) {
	a := s.instance()
	conc := limits.Rule{Scope: "key:twice", Kind: limits.Concurrent, Max: 2}
	quota := limits.Rule{Scope: "key:twice", Kind: limits.MonthlyTokens, Max: 1000}
	d := s.admit(a, []limits.Rule{conc, quota}, tokens(100))
	other := s.admit(a, []limits.Rule{conc, quota}, tokens(100))
	if !d.Admitted || !other.Admitted {
		t.Fatal("not admitted")
	}
	spent := limits.Spend{At: s.env.Now(), Cost: tokens(70)}
	s.settle(d, spent)
	s.settle(d, spent)
	st, err := a.Peek(ctx, []limits.Rule{conc, quota})
	if err != nil {
		t.Fatal(err)
	}
	if st.States[0].Remaining != 1 || st.States[1].Used != 70 || st.States[1].Reserved != 100 {
		t.Fatalf("settled twice: %+v", st.States)
	}
}

// testClock: decisions carry the backend's time, and a quota's month is
// the month of the backend's time.
func testClock(t *testing.T, s *suite) {
	a, b := s.instance(), s.instance()
	rule := limits.Rule{Scope: "key:clock", Kind: limits.MonthlyTokens, Max: 1000}
	before := s.env.Now()
	da := s.admit(a, []limits.Rule{rule}, tokens(1))
	db := s.admit(b, []limits.Rule{rule}, tokens(1))
	after := s.env.Now()
	for _, d := range []*limits.Decision{da, db} {
		if d.Now.Before(before.Truncate(time.Millisecond)) || d.Now.After(after) {
			t.Fatalf("decision at %s, the backend's clock read %s before and %s after", d.Now, before, after)
		}
	}
	want := "key:clock monthly_tokens " + state.MonthKey(da.Now)
	if q := s.seeder.questions(); len(q) == 0 || q[0] != want {
		t.Fatalf("seeder asked %v, want %q", q, want)
	}
}

// testMonthTurns: at the end of a month a quota starts afresh from the
// new month's usage records; a reservation made before midnight is held
// in the new month until it settles, and each part of its usage counts in
// its own month.
func testMonthTurns(t *testing.T, s *suite) {
	march := time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC)
	s.env.Set(march)
	a := s.instance()
	rule := limits.Rule{Scope: "key:month", Kind: limits.MonthlyTokens, Max: 1000}
	s.seeder.set("key:month", 700)
	straddling := s.admit(a, []limits.Rule{rule}, tokens(200))
	if !straddling.Admitted || straddling.States[0].Used != 700 {
		t.Fatalf("March: %+v", straddling)
	}
	s.env.Sleep(time.Second) // April, within the lease time
	s.seeder.set("key:month", 0)
	d := s.admit(a, []limits.Rule{rule}, tokens(900))
	if d.Admitted || d.States[0].Used != 0 || d.States[0].Reserved != 200 {
		t.Fatalf("April with March's reservation held: %+v", d)
	}
	s.settle(straddling, limits.Spend{At: march, Cost: tokens(50)}, limits.Spend{At: s.env.Now(), Cost: tokens(100)})
	if st := s.peek(a, rule); st.Used != 100 || st.Reserved != 0 {
		t.Fatalf("April after the settlement: %+v", st)
	}
	want := []string{"key:month monthly_tokens 2026-03", "key:month monthly_tokens 2026-04"}
	if q := s.seeder.questions(); fmt.Sprint(q) != fmt.Sprint(want) {
		t.Fatalf("seeder asked %v, want %v", q, want)
	}
}

// testRejectedRule: a rule no backend can hold (max 0) is rejected
// (limits.ErrRejected) by every backend, not taken for the backend
// being away: its admission alone takes on_error's answer, and the
// next admission is checked.
func testRejectedRule(t *testing.T, s *suite) {
	bad := []limits.Rule{{Scope: "key:bad", Kind: limits.Concurrent, Max: 0}}
	b := s.env.Open()
	defer b.Close()
	if _, err := b.Admit(ctx, &limits.Request{Lease: "bad", TTL: LeaseTTL, Rules: bad, Amounts: []int64{1}}); !errors.Is(err, limits.ErrRejected) {
		t.Fatalf("admitting under a rule of max 0: %v, want limits.ErrRejected", err)
	}
	if err := b.Settle(ctx, &limits.Settlement{Lease: "bad", Rules: bad, Taken: []int64{1}}); !errors.Is(err, limits.ErrRejected) {
		t.Fatalf("settling under a rule of max 0: %v, want limits.ErrRejected", err)
	}
	l := s.instance()
	if d := s.admit(l, bad, tokens(1)); !d.Unchecked {
		t.Fatalf("a rejected admission: %+v, want it admitted unchecked (on_error allow)", d)
	}
	good := []limits.Rule{{Scope: "key:good", Kind: limits.Concurrent, Max: 1}}
	if d := s.admit(l, good, tokens(1)); !d.Admitted || d.Unchecked {
		t.Fatalf("the next admission: %+v, want it checked", d)
	}
}
