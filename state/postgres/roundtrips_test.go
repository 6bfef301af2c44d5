package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/pgtest"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/cache"
	"github.com/agentgate/agentgate/state/postgres"
)

// roundTrips counts what the store sends the database: each query and
// each batch is one round trip.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestRoundTrips: what a request on the agent path costs the database.
// With the cache warm, keys, agents, their latest version and the tiers
// cost nothing; a turn's history is one query and the turn one
// statement; a flush of usage records is one statement however many.
func TestRoundTrips(t *testing.T) {
	rt := new(roundTrips)
	inner, err := postgres.Open(ctx, pgtest.Shared(t).CreateDB(t), postgres.Options{Tracer: rt})
	if err != nil {
		t.Fatal(err)
	}
	s := cache.Wrap(inner, cache.Options{})
	defer s.Close()
	hash := sha256.Sum256([]byte("k"))
	must(t, s.PutKey(ctx, &state.APIKey{ID: "k", Hash: hash, Tenant: "t"}))
	must(t, s.CreateAgent(ctx, &adapters.Agent{ID: "a", Tenant: "t"}))
	request := func() {
		if _, err := s.KeyByHash(ctx, hash); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetAgent(ctx, "t", "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LatestVersion(ctx, "t", "a"); !errors.Is(err, state.ErrNotFound) {
			t.Fatal(err)
		}
		if _, err := s.ListTiers(ctx); err != nil {
			t.Fatal(err)
		}
	}
	request() // warms the cache
	for _, tc := range []struct {
		name string
		do   func()
		want int64
	}{
		{"cached reads of a request", request, 0},
		{"history", func() {
			_, err := s.RecentTurns(ctx, state.SessionKey{Tenant: "t", AgentID: "a", ID: "s"}, 10)
			must(t, err)
		}, 1},
		{"a turn", func() {
			must(t, s.AppendTurn(ctx, &state.Session{Tenant: "t", AgentID: "a", ID: "s"}, []adapters.Message{adapters.TextMessage(adapters.RoleUser, "hi")}))
		}, 1},
		{"a flush of 200 usage records", func() {
			recs := make([]state.UsageRecord, 200)
			for i := range recs {
				recs[i] = state.UsageRecord{ID: fmt.Sprint("u", i), Tenant: "t", KeyID: "k", InputTokens: 1}
			}
			must(t, s.AppendUsage(ctx, recs))
		}, 1},
	} {
		before := rt.n.Load()
		tc.do()
		if got := rt.n.Load() - before; got != tc.want {
			t.Errorf("%s: %d round trips, want %d", tc.name, got, tc.want)
		}
	}
}
