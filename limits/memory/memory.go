// Package memory is the embedded limits backend: the state of one
// gateway process, in its memory, at the time of the gateway's one clock
// (internal/clock). Several instances each keep their own: use
// limits/redis to share limits across a tier.
//
// It keeps only what a limit still needs: at most once per pruneEvery
// of its clock, an admission first drops the state of every scope gone
// idle (see Backend.prune), so the memory a gateway's keys take stays
// bounded by those active lately, not by every key it ever saw.
package memory

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/limits"
	"github.com/agentgate/agentgate/state"
)

// Backend keeps limits in memory. It is safe for concurrent use.
type Backend struct {
	clock clock.Clock

	mu sync.Mutex
	// held are the leases holding each Slots and Quota rule.
	held    map[ruleKey]*holders
	buckets map[ruleKey]*bucket
	// used is each quota's tokens settled per month, by key and month.
	used map[monthKey]int64
	// pruned is when the idle state was last dropped.
	pruned time.Time
}

// pruneEvery is how often, at most, the idle state is dropped: one
// bucket period, the longest a full bucket may have waited to be idle.
const pruneEvery = limits.BucketPeriod

// holders are the leases holding a rule's slots or reservations, with
// their expiry and amount.
type holders struct {
	leases map[string]holding
	total  int64
	// next is the earliest expiry among leases (or earlier): nothing
	// needs sweeping before it.
	next time.Time
}

type holding struct {
	amount  int64
	expires time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
	// max is the rule's Max at the last refill, which the bucket fills
	// up to.
	max int64
}

type monthKey struct {
	key   ruleKey
	month string
}

// New returns an empty backend reading time from clk.
func New(clk clock.Clock) *Backend {
	return &Backend{clock: clk, held: map[ruleKey]*holders{}, buckets: map[ruleKey]*bucket{}, used: map[monthKey]int64{}}
}

// ruleKey names a rule's state: its kind and scope, as a struct so that
// looking it up on every request builds no string.
type ruleKey struct {
	kind  limits.Kind
	scope string
}

func key(r limits.Rule) ruleKey { return ruleKey{r.Kind, r.Scope} }

// sweep drops the leases expired at now.
func (h *holders) sweep(now time.Time) {
	if now.Before(h.next) {
		return
	}
	h.next = time.Time{}
	for id, l := range h.leases {
		if !now.Before(l.expires) {
			h.total -= l.amount
			delete(h.leases, id)
		} else if h.next.IsZero() || l.expires.Before(h.next) {
			h.next = l.expires
		}
	}
}

func (h *holders) hold(id string, amount int64, expires time.Time) {
	if h.leases == nil {
		h.leases = map[string]holding{}
	}
	h.leases[id] = holding{amount: amount, expires: expires}
	h.total += amount
	if h.next.IsZero() || expires.Before(h.next) {
		h.next = expires
	}
}

func (h *holders) release(id string) {
	if l, ok := h.leases[id]; ok {
		h.total -= l.amount
		delete(h.leases, id)
	}
}

// renew moves id's expiry, unless it has expired.
func (h *holders) renew(id string, now, expires time.Time) {
	if l, ok := h.leases[id]; ok && now.Before(l.expires) {
		l.expires = expires
		h.leases[id] = l
	}
}

// holdersOf returns the holders of r, a Slots or Quota rule.
func (m *Backend) holdersOf(r limits.Rule) *holders {
	k := key(r)
	h := m.held[k]
	if h == nil {
		h = &holders{}
		m.held[k] = h
	}
	return h
}

// refill brings r's bucket up to now, creating it full.
func (m *Backend) refill(r limits.Rule, now time.Time) *bucket {
	k := key(r)
	b := m.buckets[k]
	if b == nil {
		b = &bucket{tokens: float64(r.Max), last: now, max: r.Max}
		m.buckets[k] = b
		return b
	}
	b.max = r.Max
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens += elapsed * rate(r)
		b.last = now
	}
	b.tokens = math.Min(b.tokens, float64(r.Max)) // full, or the rule shrank
	return b
}

func rate(r limits.Rule) float64 { return float64(r.Max) / limits.BucketPeriod.Seconds() }

func seconds(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(s * float64(time.Second)))
}

// prune drops, once per pruneEvery (or when the clock was set back), the
// state that is as good as none at now, so that forgetting it changes no
// answer:
//   - a rule's holders once every lease expired or was released (a lease
//     still held, renewed or not yet expired, keeps them);
//   - a bucket idle for a whole bucket period and refilled to its Max
//     (a fresh one starts full, whatever the rule's Max is then);
//   - a quota's months other than now's: only now's month is admitted
//     against, and a month the clock comes back to is seeded again from
//     the durable usage records, as a month the backend never saw is.
//     Now's month is kept for every scope: its figure includes the
//     settlements the store's counters may not have yet.
func (m *Backend) prune(now time.Time) {
	if !m.pruned.IsZero() && now.Sub(m.pruned) < pruneEvery && !now.Before(m.pruned) {
		return
	}
	m.pruned = now
	for k, h := range m.held {
		h.sweep(now)
		if len(h.leases) == 0 {
			delete(m.held, k)
		}
	}
	for k, b := range m.buckets {
		if b.idle(now) {
			delete(m.buckets, k)
		}
	}
	month := state.MonthKey(now)
	for k := range m.used {
		if k.month != month {
			delete(m.used, k)
		}
	}
}

// idle reports whether b has been left alone for a bucket period and
// is full at now: a bucket made afresh at now would be the same.
func (b *bucket) idle(now time.Time) bool {
	elapsed := now.Sub(b.last)
	if elapsed < limits.BucketPeriod {
		return false
	}
	return b.tokens+elapsed.Seconds()*float64(b.max)/limits.BucketPeriod.Seconds() >= float64(b.max)
}

// Admit implements limits.Backend.
func (m *Backend) Admit(_ context.Context, req *limits.Request) (limits.Answer, error) {
	if err := limits.CheckRules(req.Rules); err != nil {
		return limits.Answer{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	m.prune(now)
	month := state.MonthKey(now)
	ans := limits.Answer{Now: now, Refused: -1, States: make([]limits.State, len(req.Rules))}
	for _, s := range req.Seeds {
		if s.Month == month {
			mk := monthKey{key(req.Rules[s.Rule]), month}
			if _, ok := m.used[mk]; !ok {
				m.used[mk] = s.Used
			}
		}
	}
	// First every rule's figures and whether it fits, taking nothing.
	for i, r := range req.Rules {
		amount, st := req.Amounts[i], &ans.States[i]
		fits := true
		switch r.Kind.Class() {
		case limits.Slots:
			h := m.holdersOf(r)
			h.sweep(now)
			st.Remaining = r.Max - h.total
			fits = h.total+amount <= r.Max
		case limits.Bucket:
			b := m.refill(r, now)
			st.Remaining = int64(math.Floor(math.Max(0, b.tokens)))
			st.Reset = seconds((float64(r.Max) - b.tokens) / rate(r))
			if fits = float64(amount) <= b.tokens; !fits {
				st.RetryAfter = seconds((float64(amount) - b.tokens) / rate(r))
			}
		case limits.Quota:
			h := m.holdersOf(r)
			h.sweep(now)
			used, ok := m.used[monthKey{key(r), month}]
			if !ok {
				ans.Unseeded = append(ans.Unseeded, i)
				continue
			}
			st.Used, st.Reserved = used, h.total
			st.Remaining = max(0, r.Max-used-h.total)
			fits = used+h.total+amount <= r.Max
		}
		if !fits && ans.Refused < 0 {
			ans.Refused = i
		}
	}
	if len(ans.Unseeded) > 0 || req.Peek || ans.Refused >= 0 {
		return ans, nil
	}
	// Then take them all.
	ans.Admitted = true
	expires := now.Add(req.TTL)
	for i, r := range req.Rules {
		amount, st := req.Amounts[i], &ans.States[i]
		switch r.Kind.Class() {
		case limits.Slots, limits.Quota:
			if amount > 0 {
				m.holdersOf(r).hold(req.Lease, amount, expires)
				st.Remaining = max(0, st.Remaining-amount)
			}
		case limits.Bucket:
			b := m.buckets[key(r)]
			b.tokens -= float64(amount)
			st.Remaining = int64(math.Floor(math.Max(0, b.tokens)))
			st.Reset = seconds((float64(r.Max) - b.tokens) / rate(r))
		}
	}
	return ans, nil
}

// Renew implements limits.Backend.
func (m *Backend) Renew(_ context.Context, leases []limits.Held, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	for _, l := range leases {
		for _, r := range l.Rules {
			if h := m.held[key(r)]; h != nil {
				h.renew(l.Lease, now, now.Add(ttl))
			}
		}
	}
	return nil
}

// Settle implements limits.Backend.
func (m *Backend) Settle(_ context.Context, s *limits.Settlement) error {
	if err := limits.CheckRules(s.Rules); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	for i, r := range s.Rules {
		switch r.Kind.Class() {
		case limits.Slots:
			if h := m.held[key(r)]; h != nil {
				h.release(s.Lease)
			}
		case limits.Bucket:
			if d := s.Refund(i); d != 0 {
				b := m.refill(r, now)
				b.tokens = math.Min(float64(r.Max), b.tokens+float64(d))
			}
		case limits.Quota:
			if h := m.held[key(r)]; h != nil {
				h.release(s.Lease)
			}
			for _, ma := range s.Months(i) {
				mk := monthKey{key(r), ma.Month}
				if used, ok := m.used[mk]; ok {
					m.used[mk] = used + ma.Amount
				}
			}
		}
	}
	return nil
}

// Close implements limits.Backend.
func (m *Backend) Close() error { return nil }

var _ limits.Backend = (*Backend)(nil)
