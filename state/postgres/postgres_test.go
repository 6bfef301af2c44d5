package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/agentgate/agentgate/internal/pgtest"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/postgres"
	"github.com/agentgate/agentgate/state/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var ctx = context.Background()

// open opens a store on dsn, closed when t ends.
func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// backend is the contract's view of PostgreSQL: each store a new
// database; its twin a second pool on the same database, as a second
// gateway instance would have.
func backend(t *testing.T) storetest.Backend {
	srv := pgtest.Shared(t)
	dsns := map[state.Store]string{}
	return storetest.Backend{
		Open: func(t *testing.T) state.Store {
			dsn := srv.CreateDB(t)
			s := open(t, dsn)
			dsns[s] = dsn
			return s
		},
		Twin: func(t *testing.T, s state.Store) state.Store {
			dsn, ok := dsns[s]
			if !ok {
				t.Fatal("twin of a store this backend did not open")
			}
			return open(t, dsn)
		},
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, backend(t))
}
