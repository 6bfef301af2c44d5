// Package clock is agentgate's one source of business time: quota
// months, rate-limit buckets, usage stamps, session and agent times,
// paused-run expiry. The agentgate app owns one Clock and hands it to
// every component, so a test that sets the time sets it everywhere.
//
// Network deadlines and latency measurement may read the monotonic real
// clock directly; nothing that decides what is billed, kept or refused
// may.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Real is the machine's clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Manual is a clock that only moves when told to, for tests. It is safe
// for concurrent use.
type Manual struct {
	mu sync.Mutex
	t  time.Time
}

// NewManual returns a clock stopped at t.
func NewManual(t time.Time) *Manual { return &Manual{t: t} }

// Now returns the time the clock was last set to.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.t
}

// Set moves the clock to t, forwards or back.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	m.t = t
	m.mu.Unlock()
}

// Add moves the clock by d.
func (m *Manual) Add(d time.Duration) {
	m.mu.Lock()
	m.t = m.t.Add(d)
	m.mu.Unlock()
}

var (
	_ Clock = Real{}
	_ Clock = (*Manual)(nil)
)
