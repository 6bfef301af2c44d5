package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// MigrateTo takes the database dsn names to schema version v only, as an
// earlier agentgate would have left it.
func MigrateTo(ctx context.Context, dsn string, v int) error {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	return migrate(ctx, pool, v)
}

// SchemaVersions is how many migrations this build has.
func SchemaVersions() int { return len(migrations) }
