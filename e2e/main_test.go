package e2e

import (
	"os"
	"testing"

	"github.com/agentgate/agentgate/internal/pgtest"
	"github.com/agentgate/agentgate/internal/procgate"
	"github.com/agentgate/agentgate/internal/redistest"
)

// TestMain stops the shared PostgreSQL server of the tests on PostgreSQL
// and removes the binary the tests of separate processes built.
func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared()
	redistest.StopShared()
	procgate.Cleanup()
	os.Exit(code)
}
