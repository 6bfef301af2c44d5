package providertest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// Transport describes a provider to the transport tests every provider
// shares. Cancellation, timeouts and cut connections are the business of
// the providers' HTTP client (internal/wire), the same whatever the wire
// format, so one set of cases checks each provider; what differs is how
// to build the provider and what the beginning of its stream looks like.
type Transport struct {
	// New builds the provider under test for a server at base, with opts
	// applied to its configuration.
	New func(t *testing.T, base string, opts ...func(*adapters.ProviderConfig)) adapters.Provider
	// Request is a one-message text request, streamed or not.
	Request func(stream bool) *adapters.Request
	// FirstDelta is the beginning of a streamed answer on the wire, up to
	// one text delta "first": the provider emits Start, then that Delta.
	FirstDelta string
	// CheckOrder checks the provider's event contract on a call's events
	// and returned error.
	CheckOrder func(t testing.TB, evs []adapters.Event, err error)
}

// BlockingServer is an upstream that takes the request, closes arrived,
// answers the stream's headers and FirstDelta when headersFirst, and then
// waits for the client to go away, closing done when it has.
func (tr *Transport) BlockingServer(t *testing.T, headersFirst bool) (srv *httptest.Server, arrived, done <-chan struct{}) {
	arrivedc, donec := make(chan struct{}), make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets net/http watch the connection, as real
		// servers do.
		_, _ = io.ReadAll(r.Body)
		close(arrivedc)
		if headersFirst {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, tr.FirstDelta)
			_ = http.NewResponseController(w).Flush()
		}
		select {
		case <-r.Context().Done():
			close(donec)
		case <-time.After(30 * time.Second):
			t.Error("upstream request was not cancelled")
		}
	}))
	t.Cleanup(srv.Close)
	return srv, arrivedc, donec
}

// WaitFor waits for ch to close, failing t when it does not within 20s
// (a hang, not a slow machine).
func WaitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("gave up waiting: %s", what)
	}
}

// CancelMidStream: a caller cancelling during the stream gets
// context.Canceled, no Error or Done event, and the upstream sees the
// request go.
func (tr *Transport) CancelMidStream(t *testing.T) {
	srv, _, done := tr.BlockingServer(t, true)
	p := tr.New(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var evs []adapters.Event
	err := p.Chat(ctx, tr.Request(true), func(ev adapters.Event) error {
		evs = append(evs, ev)
		if ev.Type == adapters.EventDelta {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	for _, ev := range evs {
		if ev.Type == adapters.EventError || ev.Type == adapters.EventDone {
			t.Errorf("unexpected %v after cancellation", ev.Type)
		}
	}
	WaitFor(t, done, "server to see the cancellation")
}

// CancelBeforeHeaders: a caller cancelling before the upstream answered
// gets context.Canceled and no event, and the upstream sees the request
// go.
func (tr *Transport) CancelBeforeHeaders(t *testing.T, stream bool) {
	srv, arrived, done := tr.BlockingServer(t, false)
	p := tr.New(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	var evs []adapters.Event
	err := p.Chat(ctx, tr.Request(stream), Collect(&evs))
	if !errors.Is(err, context.Canceled) || len(evs) != 0 {
		t.Fatalf("got %v %+v", err, evs)
	}
	WaitFor(t, done, "server to see the cancellation")
}

// Timeouts runs the timeout cases as subtests: the provider's own
// timeout, the caller's deadline, the stream's header and idle timeouts
// and the header_timeout option each end the call with KindTimeout, and
// the upstream sees the request go.
func (tr *Transport) Timeouts(t *testing.T) {
	t.Run("provider timeout before headers", func(t *testing.T) {
		srv, _, done := tr.BlockingServer(t, false)
		p := tr.New(t, srv.URL, func(c *adapters.ProviderConfig) { c.Timeout = 50 * time.Millisecond })
		var evs []adapters.Event
		err := p.Chat(context.Background(), tr.Request(false), Collect(&evs))
		var ae *adapters.Error
		if !errors.As(err, &ae) || ae.Kind != adapters.KindTimeout || len(evs) != 0 {
			t.Fatalf("got %v %+v", err, evs)
		}
		WaitFor(t, done, "server to see the timeout")
	})
	t.Run("caller deadline mid-stream", func(t *testing.T) {
		srv, _, done := tr.BlockingServer(t, true)
		p := tr.New(t, srv.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		var evs []adapters.Event
		err := p.Chat(ctx, tr.Request(true), Collect(&evs))
		var ae *adapters.Error
		if !errors.As(err, &ae) || ae.Kind != adapters.KindTimeout {
			t.Fatalf("got %v", err)
		}
		tr.CheckOrder(t, evs, err)
		WaitFor(t, done, "server to see the deadline")
	})
	t.Run("stream stalls before its headers", func(t *testing.T) {
		srv, _, done := tr.BlockingServer(t, false)
		p := tr.New(t, srv.URL, func(c *adapters.ProviderConfig) { c.StreamHeaderTimeout = 50 * time.Millisecond })
		var evs []adapters.Event
		err := p.Chat(context.Background(), tr.Request(true), Collect(&evs))
		var ae *adapters.Error
		if !errors.As(err, &ae) || ae.Kind != adapters.KindTimeout || ae.Message != "upstream sent no response headers within 50ms" || len(evs) != 0 {
			t.Fatalf("got %v %+v", err, evs)
		}
		WaitFor(t, done, "server to see the stalled call go")
	})
	t.Run("stream stalls midway", func(t *testing.T) {
		srv, _, done := tr.BlockingServer(t, true)
		p := tr.New(t, srv.URL, func(c *adapters.ProviderConfig) { c.StreamIdleTimeout = 50 * time.Millisecond })
		var evs []adapters.Event
		err := p.Chat(context.Background(), tr.Request(true), Collect(&evs))
		var ae *adapters.Error
		if !errors.As(err, &ae) || ae.Kind != adapters.KindTimeout || ae.Message != "upstream stream was silent for 50ms" || ae.UpstreamStatus != 200 {
			t.Fatalf("got %v", err)
		}
		tr.CheckOrder(t, evs, err)
		if len(evs) != 3 || evs[1].Text != "first" {
			t.Fatalf("events %+v, want Start, the first delta, Error", evs)
		}
		WaitFor(t, done, "server to see the stalled call go")
	})
	t.Run("header timeout", func(t *testing.T) {
		srv, _, _ := tr.BlockingServer(t, false)
		p := tr.New(t, srv.URL, func(c *adapters.ProviderConfig) {
			c.Options = map[string]string{"header_timeout": "50ms"}
		})
		err := p.Chat(context.Background(), tr.Request(true), Collect(new([]adapters.Event)))
		var ae *adapters.Error
		if !errors.As(err, &ae) || ae.Kind != adapters.KindTimeout {
			t.Fatalf("got %v", err)
		}
	})
}

// BrokenMidStream: an upstream that drops the connection after
// FirstDelta ends the call with KindUnavailable, emitted as an Error
// event after Start and the delta. It returns the error for checks of
// the provider's own.
func (tr *Transport) BrokenMidStream(t *testing.T) *adapters.Error {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, tr.FirstDelta)
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // drops the connection
	}))
	defer srv.Close()
	p := tr.New(t, srv.URL)
	var evs []adapters.Event
	err := p.Chat(context.Background(), tr.Request(true), Collect(&evs))
	var ae *adapters.Error
	if !errors.As(err, &ae) || ae.Kind != adapters.KindUnavailable {
		t.Fatalf("got %v", err)
	}
	tr.CheckOrder(t, evs, err)
	if len(evs) != 3 || evs[1].Text != "first" || evs[2].Type != adapters.EventError {
		t.Fatalf("events %+v", evs)
	}
	return ae
}

// RefusedAddr is a loopback host:port nothing listens on: a listener's,
// closed.
func RefusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
