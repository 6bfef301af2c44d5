package state

import (
	"context"
	"math"
	"sync"
	"time"
)

// Limits keeps the state that rate limits, concurrency caps and monthly
// quotas need. Admission code talks only to this interface so a shared
// backend can enforce limits across several Caddy instances.
type Limits interface {
	// Take removes cost from the token bucket key. When the cost does not
	// fit, nothing is taken and ok is false.
	Take(ctx context.Context, key string, b Bucket, cost float64, now time.Time) (st BucketState, ok bool, err error)
	// Adjust adds delta (negative: takes) to bucket key without bounds
	// below, so actual usage above an estimate becomes debt.
	Adjust(ctx context.Context, key string, b Bucket, delta float64, now time.Time) error
	// Acquire takes one of max slots of key.
	Acquire(ctx context.Context, key string, max int64) (bool, error)
	// Release frees a slot taken by Acquire.
	Release(ctx context.Context, key string) error
	// Reserve holds amount tokens of scope's monthly quota (the month of
	// now) if used + reserved + amount stays within limit.
	Reserve(ctx context.Context, scope string, limit, amount int64, now time.Time) (QuotaState, bool, error)
	// Settle replaces a reservation with the tokens the request really
	// spent, each Spend counted in the quota month of its time (the month
	// its usage records count in, so what a restart reads back from the
	// store is what was settled). The reservation is released wherever it
	// is held: a reservation made before midnight at the end of a month
	// carries over into the new month until it settles.
	Settle(ctx context.Context, scope string, reserved int64, spent []Spend) error
	// Quota reports scope's monthly figures.
	Quota(ctx context.Context, scope string, now time.Time) (QuotaState, error)
}

// Bucket describes a token bucket: Capacity tokens, refilled at Capacity
// per Period. Smooth: a client that spent its burst gets one token back
// every Period/Capacity, never a full window at a boundary.
type Bucket struct {
	Capacity float64
	Period   time.Duration
}

func (b Bucket) rate() float64 { return b.Capacity / b.Period.Seconds() }

// BucketState is a bucket after an operation.
type BucketState struct {
	Remaining float64
	// RetryAfter is when the refused cost would fit; Reset when the
	// bucket is full again.
	RetryAfter, Reset time.Duration
}

// Spend is tokens a request's model calls used, and the time their usage
// records were stamped: when the calls ended.
type Spend struct {
	At     time.Time
	Tokens int64
}

// QuotaState is a monthly quota's figures.
type QuotaState struct {
	Used, Reserved int64
}

// MemoryLimits is the embedded Limits: in memory, with monthly usage read
// from the Store's counters on the first use of a scope by this process.
// Usage reaches those counters through usage records, so spent tokens
// survive a restart without a disk write per request.
type MemoryLimits struct {
	store Store
	// sync commits queued usage records before a scope is read, so what
	// this process already billed is counted.
	sync func(context.Context) error

	mu      sync.Mutex
	buckets map[string]*bucket
	slots   map[string]int64
	quotas  map[string]*quota
}

type bucket struct {
	tokens float64
	last   time.Time
}

type quota struct {
	month          string
	used, reserved int64
}

// NewMemoryLimits returns limits over store; sync (may be nil) commits
// pending usage records.
func NewMemoryLimits(store Store, sync func(context.Context) error) *MemoryLimits {
	return &MemoryLimits{store: store, sync: sync, buckets: map[string]*bucket{}, slots: map[string]int64{}, quotas: map[string]*quota{}}
}

// refill brings key's bucket up to now, creating it full.
func (m *MemoryLimits) refill(key string, b Bucket, now time.Time) *bucket {
	bk, ok := m.buckets[key]
	if !ok {
		bk = &bucket{tokens: b.Capacity, last: now}
		m.buckets[key] = bk
		return bk
	}
	if elapsed := now.Sub(bk.last).Seconds(); elapsed > 0 {
		bk.tokens = math.Min(b.Capacity, bk.tokens+elapsed*b.rate())
		bk.last = now
	}
	if bk.tokens > b.Capacity { // the tier shrank
		bk.tokens = b.Capacity
	}
	return bk
}

func (b Bucket) state(tokens, cost float64) BucketState {
	st := BucketState{Remaining: math.Max(0, tokens), Reset: seconds((b.Capacity - tokens) / b.rate())}
	if cost > tokens {
		st.RetryAfter = seconds((cost - tokens) / b.rate())
	}
	return st
}

func seconds(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(s * float64(time.Second)))
}

// Take implements Limits.
func (m *MemoryLimits) Take(_ context.Context, key string, b Bucket, cost float64, now time.Time) (BucketState, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	bk := m.refill(key, b, now)
	if cost > bk.tokens {
		return b.state(bk.tokens, cost), false, nil
	}
	bk.tokens -= cost
	return b.state(bk.tokens, 0), true, nil
}

// Adjust implements Limits.
func (m *MemoryLimits) Adjust(_ context.Context, key string, b Bucket, delta float64, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	bk := m.refill(key, b, now)
	bk.tokens = math.Min(b.Capacity, bk.tokens+delta)
	return nil
}

// Acquire implements Limits.
func (m *MemoryLimits) Acquire(_ context.Context, key string, max int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.slots[key] >= max {
		return false, nil
	}
	m.slots[key]++
	return true, nil
}

// Release implements Limits.
func (m *MemoryLimits) Release(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.slots[key] - 1; n > 0 {
		m.slots[key] = n
	} else {
		delete(m.slots, key)
	}
	return nil
}

// quotaFor returns the quota scope is in at now. A scope this process
// has not seen is loaded from the store's counter of now's month (m.mu is
// released meanwhile). A scope seen in an earlier month rolls over to
// now's month in memory, its reservations carried over (the requests
// holding them settle after it), its usage starting at zero and not
// read from the store: the new month's tokens so far belong to requests
// that settle here, after the rollover, and reading the store could
// count again those whose usage records were already committed. A scope
// already in a
// later month than now (a caller that read the clock just before another
// rolled the month over) stays there. Called with m.mu held.
func (m *MemoryLimits) quotaFor(ctx context.Context, scope string, now time.Time) (*quota, error) {
	month := MonthKey(now)
	if q, ok := m.quotas[scope]; ok {
		if q.month < month {
			q.month, q.used = month, 0
		}
		return q, nil
	}
	m.mu.Unlock()
	var used int64
	var err error
	if m.sync != nil {
		err = m.sync(ctx)
	}
	if err == nil {
		used, err = m.store.MonthlyTokens(ctx, scope, now)
	}
	m.mu.Lock()
	if err != nil {
		return nil, err
	}
	if _, ok := m.quotas[scope]; ok {
		return m.quotaFor(ctx, scope, now) // loaded meanwhile by another request
	}
	q := &quota{month: month, used: used}
	m.quotas[scope] = q
	return q, nil
}

// Reserve implements Limits.
func (m *MemoryLimits) Reserve(ctx context.Context, scope string, limit, amount int64, now time.Time) (QuotaState, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, err := m.quotaFor(ctx, scope, now)
	if err != nil {
		return QuotaState{}, false, err
	}
	if q.used+q.reserved+amount > limit {
		return QuotaState{Used: q.used, Reserved: q.reserved}, false, nil
	}
	q.reserved += amount
	return QuotaState{Used: q.used, Reserved: q.reserved}, true, nil
}

// Settle implements Limits. Tokens stamped in a month before the one the
// scope is in are not counted in memory: they are in that month's store
// counter, which no later quota reads.
func (m *MemoryLimits) Settle(ctx context.Context, scope string, reserved int64, spent []Spend) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if q, ok := m.quotas[scope]; ok {
		q.reserved = max(0, q.reserved-reserved)
	}
	for _, s := range spent {
		q, err := m.quotaFor(ctx, scope, s.At)
		if err != nil {
			return err
		}
		if q.month == MonthKey(s.At) {
			q.used += s.Tokens
		}
	}
	return nil
}

// Quota implements Limits.
func (m *MemoryLimits) Quota(ctx context.Context, scope string, now time.Time) (QuotaState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, err := m.quotaFor(ctx, scope, now)
	if err != nil {
		return QuotaState{}, err
	}
	return QuotaState{Used: q.used, Reserved: q.reserved}, nil
}

var _ Limits = (*MemoryLimits)(nil)
