package memory_test

import (
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/limits"
	"github.com/agentgate/agentgate/limits/limitstest"
	"github.com/agentgate/agentgate/limits/memory"
)

// TestContract runs the limits contract on the memory backend: its
// instances share one Backend (as the requests of one process do), on a
// manual clock that moves only when the suite lets time pass.
func TestContract(t *testing.T) {
	limitstest.Run(t, func(t *testing.T) limitstest.Env {
		clk := clock.NewManual(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
		b := memory.New(clk)
		return limitstest.Env{
			Open:  func() limits.Backend { return b },
			Now:   clk.Now,
			Sleep: clk.Add,
			Set:   clk.Set,
		}
	})
}
