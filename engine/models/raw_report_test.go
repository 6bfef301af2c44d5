package models

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/exchange"
)

// lingeringRelayer answers a streamed raw call whose body takes a while
// to close after its last event: Close moves the clock on by linger, as
// relayBody.Close's drain waits (up to drainTime) for an upstream that
// keeps its stream open after [DONE].
type lingeringRelayer struct {
	clock  *time.Time
	linger time.Duration
}

func (p *lingeringRelayer) Chat(context.Context, *adapters.Request, adapters.Emit) error { return nil }

func (p *lingeringRelayer) RelayChat(context.Context, []byte, bool) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: &lingeringBody{Reader: strings.NewReader("data: [DONE]\n\n"), p: p}}, nil
}

type lingeringBody struct {
	io.Reader
	p *lingeringRelayer
}

func (b *lingeringBody) Close() error { *b.p.clock = b.p.clock.Add(b.p.linger); return nil }

type reportsSeen []exchange.Report

func (r *reportsSeen) ObserveCall(_ *exchange.Exchange, rep exchange.Report) { *r = append(*r, rep) }

// TestRelayReportsWhenTheAnswerEnded: a raw call is reported as of the
// moment its answer was wholly relayed to the client, not after the
// upstream's body was closed (drained): a client that has its whole
// answer may send its next request at once, whose call must not be
// stamped before this one (the usage log's order), and the drain is no
// part of the call's latency.
func TestRelayReportsWhenTheAnswerEnded(t *testing.T) {
	now := testClock
	clock := func() time.Time { return now }
	up := &lingeringRelayer{clock: &now, linger: 90 * time.Millisecond}
	router, err := NewRouter(map[string]adapters.Provider{"up": up}, []Route{{Pattern: "m", Provider: "up", Target: "m"}})
	if err != nil {
		t.Fatal(err)
	}
	var seen reportsSeen
	rec := NewRecorder(openStore(t), nil, time.Hour)
	defer rec.Close()
	m, err := New(Config{Router: router, Recorder: rec, Observer: &seen, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	route, ok := m.RawRoute("m", "")
	if !ok {
		t.Fatal("no raw route")
	}
	var relayed time.Time
	_, err = m.Relay(context.Background(), nil, &RawCall{Route: route, Body: []byte(`{}`), Stream: true, ID: "run-1"},
		func(resp *http.Response, a *RawAnswer) error {
			now = now.Add(20 * time.Millisecond) // the answer takes 20ms to come
			a.Commit()
			_, err := io.Copy(io.Discard, resp.Body)
			relayed = now // the client has all of it, [DONE] included
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 {
		t.Fatalf("%d reports, want 1", len(seen))
	}
	if r := seen[0]; !r.At.Equal(relayed) || r.Latency != 20*time.Millisecond {
		t.Errorf("reported at %v after %v; want at %v (when the answer was relayed) after 20ms",
			r.At.Sub(testClock), r.Latency, relayed.Sub(testClock))
	}
}
