package postgres

import (
	"context"
	"embed"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The schema's migrations, applied in order: migrations/NNNN_name.sql
// takes the database to version NNNN. They only go forward: a migration,
// once released, is never edited; a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

var migrations = loadMigrations()

func loadMigrations() []migration {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		panic(err)
	}
	var out []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			panic("postgres: migration file " + e.Name() + " is not named NNNN_name.sql")
		}
		sql, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			panic(err)
		}
		out = append(out, migration{version: v, name: name, sql: string(sql)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			panic(fmt.Sprintf("postgres: migrations are not numbered 1, 2, …: found %d at place %d", m.version, i+1))
		}
	}
	return out
}

// migrationLock is the advisory lock instances take while they migrate,
// so that of several starting at once one migrates and the others find
// the work done. It is held by a session: an instance that dies while
// migrating lets go of it.
const migrationLock = int64(0x61676e7467617465) // "agntgate"

// migrate takes the database to schema version upTo (len(migrations) in
// production; tests stop earlier to build a database of an older
// version). Each migration runs in its own transaction with the record of
// its version.
func migrate(ctx context.Context, pool *pgxpool.Pool, upTo int) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrating the schema: %w", unavailable(err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("migrating the schema: %w", unavailable(err))
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock); err != nil {
			conn.Conn().Close(context.Background()) // the session's end releases the lock
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS agentgate_schema (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrating the schema: %w", unavailable(err))
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM agentgate_schema").Scan(&current); err != nil {
		return fmt.Errorf("reading the schema version: %w", unavailable(err))
	}
	if current > len(migrations) {
		return fmt.Errorf("the database is at schema version %d, this build knows versions up to %d (written by a newer agentgate?)", current, len(migrations))
	}
	for _, m := range migrations[current:upTo] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO agentgate_schema (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrating the schema to version %d (%s): %w", m.version, m.name, unavailable(err))
		}
	}
	return nil
}
