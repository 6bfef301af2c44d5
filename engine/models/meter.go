package models

import (
	"context"
	"sync"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

type meterKey struct{}

// Meter is the request-scoped account of what one HTTP request did: the
// engine fills it (report.go), the Caddy handler reads it to settle quotas, export
// metrics and set placeholders. It is safe for concurrent use because
// orchestrated sub-agents report into their parent's meter.
type Meter struct {
	mu        sync.Mutex
	agentID   string
	model     string
	provider  string
	usage     adapters.Usage
	cost      pricing.Micros
	unpriced  int
	calls     int
	firstByte time.Duration
	upstream  time.Duration
	errCode   string
	// spent is the usage by quota month, in the order the months came.
	spent []state.Spend
}

// WithMeter returns ctx carrying a new Meter.
func WithMeter(ctx context.Context) (context.Context, *Meter) {
	m := &Meter{}
	return context.WithValue(ctx, meterKey{}, m), m
}

// MeterFrom returns the Meter in ctx, or nil.
func MeterFrom(ctx context.Context) *Meter {
	m, _ := ctx.Value(meterKey{}).(*Meter)
	return m
}

// recordCall adds one model call; at is its usage record's time, which
// decides the quota month its tokens count in, and cost its cost (nil:
// unknown).
func (m *Meter) recordCall(agentID, model, provider string, u adapters.Usage, cost *pricing.Micros, firstByte, upstream time.Duration, errCode string, at time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.spent); n == 0 || state.MonthKey(m.spent[n-1].At) != state.MonthKey(at) {
		m.spent = append(m.spent, state.Spend{At: at})
	}
	sp := &m.spent[len(m.spent)-1]
	sp.Tokens += int64(u.Total())
	if cost != nil {
		sp.Cost += *cost
	}
	if m.calls == 0 {
		m.agentID, m.firstByte = agentID, firstByte
	}
	if m.calls == 0 || errCode == "" {
		// The model that answered, after retries and fallbacks.
		m.model, m.provider = model, provider
	}
	m.calls++
	m.usage.Add(u)
	if cost != nil {
		m.cost += *cost
	} else {
		m.unpriced++
	}
	m.upstream += upstream
	if errCode != "" {
		m.errCode = errCode
	}
}

// MeterSnapshot is a copy of a Meter's figures.
type MeterSnapshot struct {
	AgentID, Model, Provider string
	Usage                    adapters.Usage
	// Cost is the sum of the known costs of the calls; Unpriced counts
	// the calls whose cost is unknown.
	Cost     pricing.Micros
	Unpriced int
	// Calls is the number of upstream model calls made.
	Calls int
	// FirstByte is the time from the first call's start to its first
	// generated token; Upstream the total time spent in upstream calls.
	FirstByte, Upstream time.Duration
	// ErrCode is the code of the last failed call, if any.
	ErrCode string
}

// Snapshot returns the figures so far.
func (m *Meter) Snapshot() MeterSnapshot {
	if m == nil {
		return MeterSnapshot{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return MeterSnapshot{AgentID: m.agentID, Model: m.model, Provider: m.provider, Usage: m.usage,
		Cost: m.cost, Unpriced: m.unpriced, Calls: m.calls, FirstByte: m.firstByte, Upstream: m.upstream, ErrCode: m.errCode}
}

// Spent is the request's usage so far by quota month: the tokens and
// known cost of its model calls whose usage records fall in each month,
// with the time of one of them.
func (m *Meter) Spent() []state.Spend {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]state.Spend(nil), m.spent...)
}
