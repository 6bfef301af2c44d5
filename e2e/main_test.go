package e2e

import (
	"os"
	"testing"

	"github.com/agentgate/agentgate/internal/pgtest"
)

// TestMain stops the shared PostgreSQL server the tests on PostgreSQL
// start (storage_test.go).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
