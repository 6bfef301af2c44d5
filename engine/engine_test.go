package engine

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/tiers"
	"github.com/agentgate/agentgate/internal/enginetest"
	"github.com/agentgate/agentgate/state"
)

func TestRuntimeUsesSharedRecorder(t *testing.T) {
	store := openStore(t)
	shared := models.NewRecorder(store, zap.NewNop(), time.Hour)
	defer shared.Close()
	rt, err := New(Config{Store: store, Providers: map[string]adapters.Provider{"p": newFake(reply("ok")...)}, Recorder: shared})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if rt.Models().Recorder() != shared {
		t.Fatal("runtime does not use the configured recorder")
	}
	if _, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: &adapters.Agent{ID: "a", Model: "m"}},
		func(adapters.Event) error { return nil }); err != nil {
		t.Fatalf("Run: %v", err)
	}
	rt.Close()
	// The runtime's Close leaves a shared recorder running: it still
	// accepts and commits records.
	shared.Record(state.UsageRecord{ID: "run-000099", Time: testClock, Tenant: "tenant-a", Status: "ok"})
	if err := shared.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if recs := enginetest.ListUsage(t, store, "tenant-a"); len(recs) != 2 {
		t.Errorf("records = %d, want 2", len(recs))
	}
}

func TestRuntimeCloseCommitsOwnRecorder(t *testing.T) {
	store := openStore(t)
	rt, err := New(Config{Store: store, Providers: map[string]adapters.Provider{"p": newFake(reply("ok")...)},
		UsageFlushInterval: time.Hour})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for range 3 {
		if _, err := rt.Run(context.Background(), nil, &adapters.Call{Principal: tenantA, Agent: &adapters.Agent{ID: "a", Model: "m"}},
			func(adapters.Event) error { return nil }); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	rt.Close()
	if recs := enginetest.ListUsage(t, store, "tenant-a"); len(recs) != 3 {
		t.Errorf("records after runtime Close = %d, want 3", len(recs))
	}
}

func TestNewRejectsBadRouting(t *testing.T) {
	store := openStore(t)
	_, err := New(Config{Store: store, Providers: map[string]adapters.Provider{"openai": newFake(), "local": newFake()},
		Routes: []models.Route{{Pattern: "m", Provider: "openai"}, {Pattern: "m", Provider: "local"}}})
	if err == nil || !strings.Contains(err.Error(), "routed twice") {
		t.Errorf("New with duplicate route: error = %v, want routed twice", err)
	}
}

var (
	tiersFree = state.Tier{Name: "free", MonthlyTokens: 1000, RPM: 10}
	tiersPro  = state.Tier{Name: "pro", MonthlyTokens: 100000, RPM: 100, Concurrent: 4}
)

func TestTiersLoadedByNew(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		stored    []state.Tier
		declared  *tiers.Set
		wantEmpty bool
		want      map[string]state.Tier
	}{
		{"nothing", nil, nil, true, map[string]state.Tier{}},
		{"declared only", nil, tiers.New(tiersFree), false, map[string]state.Tier{"free": tiersFree}},
		{"stored only", []state.Tier{{Name: "team", RPM: 7}}, nil, false, map[string]state.Tier{"team": {Name: "team", RPM: 7}}},
		{
			"stored overrides declared",
			[]state.Tier{{Name: "pro", RPM: 1}, {Name: "team", RPM: 7}},
			tiers.New(tiersFree, tiersPro),
			false,
			map[string]state.Tier{"free": tiersFree, "pro": {Name: "pro", RPM: 1}, "team": {Name: "team", RPM: 7}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := openStore(t)
			for _, tr := range tc.stored {
				if err := store.PutTier(ctx, &tr); err != nil {
					t.Fatalf("PutTier: %v", err)
				}
			}
			rt, err := New(Config{Store: store, Providers: map[string]adapters.Provider{"p": newFake()}, Tiers: tc.declared})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer rt.Close()
			tiers := rt.Tiers()
			if tc.declared != nil && tiers != tc.declared {
				t.Error("runtime does not use the configured tiers")
			}
			if tiers.Empty() != tc.wantEmpty {
				t.Errorf("Empty = %v, want %v", tiers.Empty(), tc.wantEmpty)
			}
			if len(tiers.List()) != len(tc.want) {
				t.Errorf("List = %+v, want %d tiers", tiers.List(), len(tc.want))
			}
			for name, want := range tc.want {
				if got, ok := tiers.Get(name); !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("Get(%q) = %+v, %v; want %+v", name, got, ok, want)
				}
			}
		})
	}
}

// A runtime built after a run-time change sees it: tiers survive reloads.
func TestTiersSurviveReload(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	providers := map[string]adapters.Provider{"p": newFake()}
	rt1, err := New(Config{Store: store, Providers: providers, Tiers: tiers.New(tiersPro)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := rt1.Tiers().Put(ctx, store, state.Tier{Name: "pro", RPM: 2}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	rt1.Close()
	rt2, err := New(Config{Store: store, Providers: providers, Tiers: tiers.New(tiersPro)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer rt2.Close()
	if got, _ := rt2.Tiers().Get("pro"); got.RPM != 2 {
		t.Errorf("pro after reload = %+v, want the run-time override", got)
	}
}
