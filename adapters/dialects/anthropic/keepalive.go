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
	mu   sync.Mutex
	enc  *encoder
	send func(name string, data []byte) error
	// wrote tells whether the stream sent an event since the last tick.
	wrote   bool
	quit    chan struct{}
	done    chan struct{}
	stopped sync.Once
}

// startKeepalive starts pinging enc's stream every interval of silence
// and makes enc send through it. Its emit must then be used for every
// event; stop ends the pings before the caller writes to the stream
// again.
func startKeepalive(enc *encoder, interval time.Duration) *keepalive {
	k := &keepalive{enc: enc, send: enc.send, quit: make(chan struct{}), done: make(chan struct{})}
	enc.send = k.sent
	go k.run(interval)
	return k
}

// sent sends an event and notes it; the caller holds mu.
func (k *keepalive) sent(name string, data []byte) error {
	k.wrote = true
	return k.send(name, data)
}

// emit implements adapters.Emit for the encoder.
func (k *keepalive) emit(ev adapters.Event) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.enc.emit(ev)
}

func (k *keepalive) run(interval time.Duration) {
	defer close(k.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-k.quit:
			return
		case <-tick.C:
			if !k.ping() {
				return
			}
		}
	}
}

// ping sends a ping if the last interval was silent; false means the
// stream is over (answered, or the client is gone).
func (k *keepalive) ping() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	e := k.enc
	if e.done {
		return false
	}
	if k.wrote {
		k.wrote = false
		return true
	}
	if !e.started {
		if err := e.start(); err != nil {
			return false
		}
	}
	err := e.event("ping", append(e.buf[:0], `{"type":"ping"}`...))
	k.wrote = false
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
