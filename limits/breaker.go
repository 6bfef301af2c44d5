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
// Renewals, which no request waits for, do not wait for it (see
// breaker.allowEarly).
const BreakerOpen = 5 * time.Second

// errBreakerOpen is the cause of the ErrUnavailable of a call the
// breaker held back.
var errBreakerOpen = errors.New("not called: it failed to answer moments ago (circuit breaker open)")

// breaker is a circuit breaker over the backend's calls. Closed, every
// call goes through. A call that fails (not the caller's cancellation)
// opens it: calls are held back until BreakerOpen has passed on the
// clock, then one call goes through as a probe (half-open) while the
// others are still held back; a renewal may probe sooner. An answer
// closes it; the probe's failure opens it again, and a probe its caller
// abandoned lets the next call probe. At most one probe is out at a
// time: the outcome of a call that is not the probe out (one sent
// before the breaker opened, or an earlier probe) does not count as
// the probe's.
type breaker struct {
	// open is set while calls are held back or a probe is out: the
	// closed breaker's path is one atomic load.
	open atomic.Bool
	mu   sync.Mutex
	// until is when the next probe may go.
	until time.Time
	// probe numbers the probe out (0: none); probes counts those sent,
	// so that each has its own number.
	probe, probes uint64
	// early says the probe out went before until (allowEarly).
	early bool
}

// pass is the breaker's answer to a call: whether it may go, and the
// probe's number when it goes as the probe (0 otherwise), with which
// its outcome is reported.
type pass struct {
	ok    bool
	probe uint64
}

// allow says whether a call may go to the backend at now.
func (b *breaker) allow(now time.Time) pass { return b.admit(now, false) }

// allowEarly is allow for a lease renewal: while no probe is out, it
// probes even before until. A renewal held back for BreakerOpen would
// let every lease shorter than that expire after a single failed call;
// nobody waits for a renewal, so its probe costs no request a wait.
func (b *breaker) allowEarly(now time.Time) pass { return b.admit(now, true) }

func (b *breaker) admit(now time.Time, early bool) pass {
	if !b.open.Load() {
		return pass{ok: true}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open.Load() {
		return pass{ok: true}
	}
	before := now.Before(b.until)
	if b.probe != 0 || before && !early {
		return pass{}
	}
	b.probes++
	b.probe, b.early = b.probes, before
	return pass{ok: true, probe: b.probe}
}

// succeeded closes the breaker: the backend answered (any call: an
// answer is news that it is back).
func (b *breaker) succeeded() {
	if !b.open.Load() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open.Store(false)
	b.probe = 0
}

// failed reports a call of pass p that failed at now. Closed, it opens
// the breaker until BreakerOpen after now. Open, only the probe out's
// failure counts: it opens it again for another period (an early
// probe's leaves the period as it was, so that requests still probe on
// time); the failure of another call is older news than the one that
// opened the breaker (the call was sent before), which neither delays
// the next probe nor lets a second one go while the probe waits.
func (b *breaker) failed(now time.Time, p pass) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open.Load() {
		b.open.Store(true)
		b.until = now.Add(BreakerOpen)
		return
	}
	if p.probe == 0 || p.probe != b.probe {
		return
	}
	b.probe = 0
	if !b.early {
		b.until = now.Add(BreakerOpen)
	}
}

// abandoned says the caller of a call of pass p went away before the
// backend answered: nothing was learnt, so a probe's place goes to the
// next call.
func (b *breaker) abandoned(p pass) {
	if p.probe == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.probe == b.probe {
		b.probe = 0
	}
}
