package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
	"github.com/agentgate/agentgate/state/postgres"
)

// benchTenant is the tenant of the bench's key (the Caddyfile's "tenant
// bench"), and so of its sessions.
const benchTenant = "bench"

// seedChunk is how many sessions one import writes.
const seedChunk = 2000

// seedSessions stores the agent scenario's sessions in a gate's store
// before its Caddy opens it: n sessions of historyTurns turns each, as
// the agent scenario's own turns would have left them, imported in chunks
// (state.Snapshots), which takes seconds where n × historyTurns turns
// through HTTP would take an hour.
func seedSessions(ctx context.Context, storage, dataDir, dsn string, n int, reply string, stderr io.Writer) error {
	var store state.Store
	var err error
	switch storage {
	case "bbolt":
		store, err = bbolt.Open(filepath.Join(dataDir, bbolt.StoreFile), bbolt.Options{})
	case "postgres":
		store, err = postgres.Open(ctx, dsn, postgres.Options{})
	default:
		err = fmt.Errorf("unknown storage %q", storage)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	start := time.Now()
	turns := make([][]adapters.Message, historyTurns)
	for i := range turns {
		turns[i] = []adapters.Message{
			adapters.TextMessage(adapters.RoleUser, fmt.Sprintf("Say hello in a few words, turn %d.", i)),
			adapters.TextMessage(adapters.RoleAssistant, reply),
		}
	}
	recs := make([]*state.Record, 0, seedChunk)
	for lo := 0; lo < n; lo += seedChunk {
		recs = recs[:0]
		for i := lo; i < min(lo+seedChunk, n); i++ {
			s := state.Session{ID: sessionName(i), Tenant: benchTenant, AgentID: agentModel, Turns: historyTurns, Created: start, Updated: start}
			recs = append(recs, &state.Record{Session: &state.SessionRecord{Session: s, Messages: turns}})
		}
		if err := store.Import(ctx, recs); err != nil {
			return fmt.Errorf("seeding %s: %w", storage, err)
		}
	}
	fmt.Fprintf(stderr, "seeded %d sessions × %d turns into %s in %v\n", n, historyTurns, storage, time.Since(start).Round(time.Millisecond))
	return nil
}
