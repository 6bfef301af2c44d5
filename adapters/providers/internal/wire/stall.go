package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Default stream timeouts (see StreamTimeouts). Upstreams send a stream's
// headers as soon as they accept the call; a model that thinks without
// streaming its thinking can be silent for tens of seconds.
const (
	DefaultStreamHeaderTimeout = 30 * time.Second
	DefaultStreamIdleTimeout   = 60 * time.Second
)

// StreamTimeouts bound the silences of a streamed call, so that an upstream
// that stops answering fails the call long before the provider's timeout,
// which must leave a non-streamed answer minutes of thought. Header bounds
// the wait for the response headers, from the start of the round trip
// (connecting included); Idle bounds every wait for more of the body: from
// the headers to its first bytes, then between two reads. Any bytes count,
// SSE comments and pings included: they are how an upstream says it is
// alive. Time the reader spends elsewhere (writing to a slow client) does
// not count. 0 turns a bound off.
type StreamTimeouts struct {
	Header, Idle time.Duration
}

// streamTimeout resolves a configured value: 0 means def, negative none.
func streamTimeout(configured, def time.Duration) time.Duration {
	switch {
	case configured < 0:
		return 0
	case configured == 0:
		return def
	}
	return configured
}

// StallError is the failure of a streamed call whose upstream went silent
// past one of its StreamTimeouts. It is a net.Error that is a timeout, so
// whoever classifies transport failures sees a timeout.
type StallError struct {
	// Headers is set when the response headers were late; otherwise the
	// body went silent.
	Headers bool
	After   time.Duration
}

func (e *StallError) Error() string {
	if e.Headers {
		return fmt.Sprintf("upstream sent no response headers within %s", e.After)
	}
	return fmt.Sprintf("upstream stream was silent for %s", e.After)
}

// Timeout reports true: a stall is a timeout.
func (e *StallError) Timeout() bool { return true }

// Temporary reports true, as net.Error asks: another attempt may succeed.
func (e *StallError) Temporary() bool { return true }

// errStalled is the cause a stalled request's context is cancelled with.
var errStalled = errors.New("upstream stalled")

type streamCallKey struct{}

// StreamCall marks ctx as a streamed call's: the requests made with it
// through a StreamGuard transport are bounded by its StreamTimeouts.
func StreamCall(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamCallKey{}, true)
}

// StreamGuard wraps base with the provider's stream timeouts, applied to
// the requests of streamed calls (StreamCall) only. A request that stalls
// is cancelled (the upstream sees its connection go) and fails with a
// *StallError: from RoundTrip when the headers are late, from the body's
// Read when it goes silent.
func (o *Options) StreamGuard(base http.RoundTripper) http.RoundTripper {
	if o.Stream.Header <= 0 && o.Stream.Idle <= 0 {
		return base
	}
	return &stallGuard{base: base, t: o.Stream}
}

type stallGuard struct {
	base http.RoundTripper
	t    StreamTimeouts
}

func (g *stallGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Context().Value(streamCallKey{}) == nil {
		return g.base.RoundTrip(req)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	var timer *time.Timer
	if g.t.Header > 0 {
		timer = time.AfterFunc(g.t.Header, func() { cancel(errStalled) })
	}
	resp, err := g.base.RoundTrip(req.WithContext(ctx))
	if timer != nil && !timer.Stop() {
		// Late: even an answer that raced the timer comes from a
		// cancelled request.
		if err == nil {
			resp.Body.Close()
		}
		cancel(nil)
		return nil, &StallError{Headers: true, After: g.t.Header}
	}
	if err != nil {
		cancel(nil)
		return nil, err
	}
	resp.Body = &idleBody{rc: resp.Body, idle: g.t.Idle, cancel: cancel}
	return resp, nil
}

// idleBody is a response body whose every Read must return within idle.
// The timer runs only while a Read is in flight.
type idleBody struct {
	rc      io.ReadCloser
	idle    time.Duration
	cancel  context.CancelCauseFunc
	timer   *time.Timer
	stalled bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.stalled {
		return 0, &StallError{After: b.idle}
	}
	if b.idle <= 0 {
		return b.rc.Read(p)
	}
	if b.timer == nil {
		b.timer = time.AfterFunc(b.idle, func() { b.cancel(errStalled) })
	} else {
		b.timer.Reset(b.idle)
	}
	n, err := b.rc.Read(p)
	if !b.timer.Stop() {
		b.stalled = true
		return n, &StallError{After: b.idle}
	}
	return n, err
}

// Close closes the body and releases the request's context.
func (b *idleBody) Close() error {
	if b.timer != nil {
		b.timer.Stop()
	}
	err := b.rc.Close()
	b.cancel(nil)
	return err
}
