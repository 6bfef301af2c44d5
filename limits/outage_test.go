package limits

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/agentgate/agentgate/internal/clock"
)

// flakyBackend fails every admission while down.
type flakyBackend struct{ down bool }

func (b *flakyBackend) Admit(context.Context, *Request) (Answer, error) {
	if b.down {
		return Answer{}, errors.New("connection refused")
	}
	return Answer{Admitted: true, Refused: -1}, nil
}
func (b *flakyBackend) Renew(context.Context, []Held, time.Duration) error { return nil }
func (b *flakyBackend) Settle(context.Context, *Settlement) error          { return nil }
func (b *flakyBackend) Close() error                                       { return nil }

// TestOutageTimedByTheClock: a limits outage is logged when it begins,
// again once outageLogEvery has passed on the gateway's clock (not
// before), and when it ends, with its length on that clock.
func TestOutageTimedByTheClock(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	core, logs := observer.New(zapcore.WarnLevel)
	b := &flakyBackend{down: true}
	l := New(b, Options{Clock: clk, Log: zap.New(core)})
	defer l.Close()
	admit := func() {
		t.Helper()
		if _, err := l.Peek(context.Background(), nil); (err != nil) != b.down {
			t.Fatalf("backend down=%v: %v", b.down, err)
		}
	}
	admit()
	clk.Add(outageLogEvery - time.Second)
	admit()
	clk.Add(time.Second)
	admit()
	admit()
	clk.Add(5 * time.Second)
	b.down = false
	admit()
	var got []string
	for _, e := range logs.All() {
		line := e.Message
		for _, k := range []string{"for", "after"} {
			if d, ok := e.ContextMap()[k]; ok {
				line += " " + k + "=" + d.(time.Duration).String()
			}
		}
		got = append(got, line)
	}
	want := []string{
		"limits backend unreachable: admitting requests unchecked (on_error allow) until it is back",
		"limits backend still unreachable: admitting requests unchecked (on_error allow) for=10s",
		"limits backend reachable again after=15s",
	}
	if len(got) != len(want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %q, want %q", i, got[i], want[i])
		}
	}
}
