package postgres_test

import (
	"path/filepath"
	"testing"

	"github.com/agentgate/agentgate/internal/pgtest"
	"github.com/agentgate/agentgate/state/bbolt"
	"github.com/agentgate/agentgate/state/storetest"
)

// TestCopyFromBolt: an embedded store's export, imported into PostgreSQL,
// exports the same objects and answers the same reads (what `caddy
// agentgate store copy` does).
func TestCopyFromBolt(t *testing.T) {
	from, err := bbolt.Open(filepath.Join(t.TempDir(), "agentgate.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	storetest.Fill(t, from)
	recs := storetest.Export(t, from)
	to := open(t, pgtest.Shared(t).CreateDB(t))
	storetest.ImportAll(t, to, recs, 100)
	storetest.CompareExports(t, recs, storetest.Export(t, to))
	storetest.CheckFilled(t, to)
}
