package postgres_test

import (
	"crypto/sha256"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentgate/agentgate/internal/pgtest"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/postgres"
)

// TestMigratesEarlierSchema: a database agentgate left at schema version
// 1, holding data, opens at the current version with its data intact
// and the later version's features working.
func TestMigratesEarlierSchema(t *testing.T) {
	srv := pgtest.Shared(t)
	dsn := srv.CreateDB(t)
	if err := postgres.MigrateTo(ctx, dsn, 1); err != nil {
		t.Fatal(err)
	}
	// Data as version 1 stored it.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte("secret"))
	keyBody, err := json.Marshal(&state.APIKey{ID: "k", Tenant: "t", Tier: "pro", Hash: hash})
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []struct {
		q    string
		args []any
	}{
		{`INSERT INTO agents (tenant, id, revision, created_at, body) VALUES ('t', 'a', 3, now(), '{"id":"a","tenant":"t","name":"old","model":"m","revision":3}')`, nil},
		{`INSERT INTO api_keys (id, hash, created_at, body) VALUES ('k', $1, now(), $2)`, []any{hash[:], keyBody}},
	} {
		if _, err := conn.Exec(ctx, sql.q, sql.args...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT 1 FROM declared_keys"); err == nil {
		t.Fatal("version 1 has the declared_keys table of version 2")
	}
	conn.Close(ctx)

	s := open(t, dsn)
	a, err := s.GetAgent(ctx, "t", "a")
	if err != nil || a.Name != "old" || a.Revision != 3 {
		t.Fatalf("agent after migration: %+v %v", a, err)
	}
	if k, err := s.KeyByHash(ctx, hash); err != nil || k.ID != "k" {
		t.Fatalf("key after migration: %+v %v", k, err)
	}
	seen, err := s.DeclaredKeysSeen(ctx, []string{"cfg"}, time.Now())
	if err != nil || seen["cfg"].IsZero() {
		t.Fatalf("version 2's declared keys: %v %v", seen, err)
	}
	if got := schemaVersion(t, dsn); got != postgres.SchemaVersions() {
		t.Fatalf("schema version %d after Open, want %d", got, postgres.SchemaVersions())
	}
}

func schemaVersion(t *testing.T, dsn string) int {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v, rows int
	if err := conn.QueryRow(ctx, "SELECT max(version), count(*) FROM agentgate_schema").Scan(&v, &rows); err != nil {
		t.Fatal(err)
	}
	if rows != v {
		t.Fatalf("schema versions recorded %d times for %d versions", rows, v)
	}
	return v
}

// TestInstancesStartingAtOnce: instances opening a new database at once
// migrate it once, and all start.
func TestInstancesStartingAtOnce(t *testing.T) {
	dsn := pgtest.Shared(t).CreateDB(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := postgres.Open(ctx, dsn, postgres.Options{})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if v := schemaVersion(t, dsn); v != postgres.SchemaVersions() {
		t.Fatalf("schema version %d", v)
	}
}

// TestNewerSchemaRefused: a database a newer agentgate migrated further
// is refused with a clear error, and left as it is.
func TestNewerSchemaRefused(t *testing.T) {
	srv := pgtest.Shared(t)
	dsn := srv.CreateDB(t)
	open(t, dsn).Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "INSERT INTO agentgate_schema (version, name) VALUES (999, 'future')"); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(ctx, dsn, postgres.Options{})
	if err == nil || !strings.Contains(err.Error(), "schema version 999") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}
