// Package clock is agentgate's one source of time: quota months,
// rate-limit buckets, usage stamps, session and agent times, paused-run
// expiry, a request's latency, a limits outage's length, the wait an
// upstream's Retry-After date asks for. The agentgate app owns one Clock
// and hands it to every component, so a test that sets the time sets it
// everywhere. Every reading of the time goes through it.
//
// Waits stay on the machine's timers: a network deadline, a tool's
// timeout, a stream's idle bound (context.WithTimeout, time.NewTimer,
// time.AfterFunc) is a real wait for something that happens outside
// the process, not a reading of the date, and a manual clock that never
// moves would make it wait forever. The timestamp inside a generated id
// (adapters.NewID) is the machine's too: it only orders ids by their
// creation, which a clock that stands still would not.
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
