package caddymodule

import (
	"testing"

	"github.com/agentgate/agentgate/internal/clock"
)

// UseClock makes c the clock of every agentgate app provisioned until the
// test ends (start the gateway after calling it).
func UseClock(t testing.TB, c clock.Clock) {
	old := testClock
	testClock = c
	t.Cleanup(func() { testClock = old })
}
