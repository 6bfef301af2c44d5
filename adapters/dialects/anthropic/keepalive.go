package anthropic

import (
	"sync"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// DefaultPingInterval is how long a stream may stay silent before it
// gets a ping event.
const DefaultPingInterval = 15 * time.Second

// keepalive sends Anthropic's ping event, {"type":"ping"}, on a stream
// that has sent nothing for an interval (an upstream slow to its first
// token, a model thinking without showing it, an agent's own tools
// running), as api.anthropic.com does, so that clients and proxies with
// idle timeouts keep the connection. A silence before the answer began
// begins it: message_start goes first, as Anthropic sends it at once.
//
// emit and the pings share one lock, so a ping never lands inside an
// event and the encoder is never used by both at once; the pings end
// with the answer (message_stop) or with stop, whichever comes first.
type keepalive struct {
	mu       sync.Mutex
	enc      *encoder
	send     func(name string, data []byte) error
	interval time.Duration
	// timer fires an interval after the last event: every event restarts
	// it, so no silence outlasts the interval (a tick that only looked
	// back one interval let one last almost two).
	timer pingTimer
	// stale tells that an event restarted the timer after it fired but
	// before the pinger took the lock: the silence that fire measured is
	// over.
	stale   bool
	quit    chan struct{}
	done    chan struct{}
	stopped sync.Once
}

// pingTimer is the wait for a silence: a *time.Timer, or a test's.
type pingTimer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

// startKeepalive starts pinging enc's stream every interval of silence
// and makes enc send through it. Its emit must then be used for every
// event; stop ends the pings before the caller writes to the stream
// again.
func startKeepalive(enc *encoder, interval time.Duration) *keepalive {
	t := time.NewTimer(interval)
	k := newKeepalive(enc, interval, t)
	go k.run(t.C)
	return k
}

// newKeepalive makes enc send through a keepalive whose silence ends
// when t fires (t is running); its pinger is not started.
func newKeepalive(enc *encoder, interval time.Duration, t pingTimer) *keepalive {
	k := &keepalive{enc: enc, send: enc.send, interval: interval, timer: t, quit: make(chan struct{}), done: make(chan struct{})}
	enc.send = k.sent
	return k
}

// sent sends an event and restarts the silence; the caller holds mu.
func (k *keepalive) sent(name string, data []byte) error {
	// A timer's Stop reports false only once its fire was received (since
	// Go 1.23 a fire not yet received is dropped): the pinger holds it.
	if !k.timer.Stop() {
		k.stale = true
	}
	k.timer.Reset(k.interval)
	return k.send(name, data)
}

// emit implements adapters.Emit for the encoder.
func (k *keepalive) emit(ev adapters.Event) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.enc.emit(ev)
}

// run pings at each fire of the timer whose channel is fired.
func (k *keepalive) run(fired <-chan time.Time) {
	defer close(k.done)
	for {
		select {
		case <-k.quit:
			return
		case <-fired:
			if !k.ping() {
				return
			}
		}
	}
}

// ping sends a ping for a fire of the timer unless an event came since;
// false means the stream is over (answered, or the client is gone).
func (k *keepalive) ping() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	e := k.enc
	if e.done {
		return false
	}
	if k.stale {
		k.stale = false
		return true
	}
	if !e.started {
		if err := e.start(); err != nil {
			return false
		}
	}
	err := e.event("ping", append(e.buf[:0], `{"type":"ping"}`...))
	// The ping restarted the timer after its fire was received: that
	// is no stale fire.
	k.stale = false
	return err == nil
}

// stop ends the pings and waits for the last one to be written; only
// the first call does anything.
func (k *keepalive) stop() {
	k.stopped.Do(func() {
		close(k.quit)
		<-k.done
	})
}
