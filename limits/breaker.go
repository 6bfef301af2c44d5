package limits

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// BreakerOpen is how long a Limiter stops calling a backend that failed
// to answer before one call probes it again. Without it, a backend that
// swallows packets (a dead host, a firewall, a stopped server) would
// make every admission wait the backend's timeout before on_error
// decides. With it, one call per BreakerOpen waits (the probe), the
// others take on_error at once; and a backend that is back is noticed
// within BreakerOpen plus one round trip, so that is also the longest
// on_error still decides after it returns. It does not scale with the
// backend's timeout: a probe costs one waiting call whatever the
// timeout, and the period only bounds how late a recovery is seen.
const BreakerOpen = 5 * time.Second

// errBreakerOpen is the cause of the ErrUnavailable of a call the
// breaker held back.
var errBreakerOpen = errors.New("not called: it failed to answer moments ago (circuit breaker open)")

// breaker is a circuit breaker over the backend's calls. Closed, every
// call goes through. A call that fails (not the caller's cancellation)
// opens it: calls are held back until BreakerOpen has passed on the
// clock, then one call goes through as a probe (half-open) while the
// others are still held back. The probe's success closes it, its
// failure opens it again, and a probe its caller abandoned lets the
// next call probe.
type breaker struct {
	// open is set while calls are held back or a probe is out: the
	// closed breaker's path is one atomic load.
	open    atomic.Bool
	mu      sync.Mutex
	until   time.Time // when the next probe may go
	probing bool
}

// allow reports whether a call may go to the backend at now, and
// whether it is the probe (allowed while open), whose outcome the caller
// reports.
func (b *breaker) allow(now time.Time) (ok, probe bool) {
	if !b.open.Load() {
		return true, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open.Load() {
		return true, false
	}
	if b.probing || now.Before(b.until) {
		return false, false
	}
	b.probing = true
	return true, true
}

// succeeded closes the breaker: the backend answered.
func (b *breaker) succeeded() {
	if !b.open.Load() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open.Store(false)
	b.probing = false
}

// failed opens the breaker until BreakerOpen after now.
func (b *breaker) failed(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open.Store(true)
	b.probing = false
	b.until = now.Add(BreakerOpen)
}

// abandoned says a call's caller went away before the backend answered:
// nothing was learnt, so a probe's place goes to the next call.
func (b *breaker) abandoned(probe bool) {
	if !probe {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
}
