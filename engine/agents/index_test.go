package agents

import (
	"context"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/enginetest"
	"github.com/agentgate/agentgate/state"
)

// countingStore counts the agent reads that reach the store, and keeps
// the store's change feed to itself: tell plays a change the feed would
// deliver, when the test says.
type countingStore struct {
	state.Store
	lists, gets int
	tell        func(state.Change)
}

func (s *countingStore) Subscribe(fn func(state.Change)) func() {
	s.tell = fn
	return func() {}
}

func (s *countingStore) ListAgents(ctx context.Context, tenant string) ([]*adapters.Agent, error) {
	s.lists++
	return s.Store.ListAgents(ctx, tenant)
}

func (s *countingStore) GetAgent(ctx context.Context, tenant, id string) (*adapters.Agent, error) {
	s.gets++
	return s.Store.GetAgent(ctx, tenant, id)
}

// registry is a registry over a fresh store with a declared agent,
// "shared", and clock as its clock.
func registry(t testing.TB, clock *time.Time) (*Registry, *countingStore) {
	t.Helper()
	store := &countingStore{Store: enginetest.OpenStore(t)}
	r, err := New(Config{Store: store, Now: func() time.Time { return *clock }, IndexTTL: time.Minute,
		Declared: []*adapters.Agent{{ID: "shared", Name: "Shared", Model: "m", Declared: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r, store
}

func TestIndexServesLookupsAndMissesFromMemory(t *testing.T) {
	clock := enginetest.Clock
	r, store := registry(t, &clock)
	ctx := context.Background()
	if err := r.Create(ctx, &adapters.Agent{ID: "a1", Tenant: "tenant-a", Name: "First", Model: "m"}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a1", "First", "shared", "Shared", "gpt-4o-mini", "gpt-4o-mini", "First"} {
		_, err := r.Get(ctx, enginetest.TenantA, key)
		if found := err == nil; found != (key != "gpt-4o-mini") {
			t.Fatalf("Get(%q): %v", key, err)
		}
	}
	if store.lists != 1 || store.gets != 0 {
		t.Errorf("store reads: %d lists, %d gets; want the tenant listed once", store.lists, store.gets)
	}
	// Another tenant has an index of its own.
	if _, err := r.Get(ctx, enginetest.TenantB, "a1"); err == nil {
		t.Error("tenant-b sees tenant-a's agent")
	}
	if store.lists != 2 {
		t.Errorf("lists = %d, want 2", store.lists)
	}
}

func TestIndexFollowsWrites(t *testing.T) {
	clock := enginetest.Clock
	r, store := registry(t, &clock)
	ctx := context.Background()
	p := enginetest.TenantA
	if _, err := r.Get(ctx, p, "Helper"); err == nil {
		t.Fatal("found an agent before any was made")
	}
	// The registry's own writes invalidate the tenant's index (and its
	// misses).
	if err := r.Create(ctx, &adapters.Agent{ID: "h1", Tenant: "tenant-a", Name: "Helper", Model: "m"}); err != nil {
		t.Fatal(err)
	}
	if a, err := r.Get(ctx, p, "Helper"); err != nil || a.ID != "h1" {
		t.Fatalf("after create: %v %v", a, err)
	}
	if _, err := r.Update(ctx, p, "h1", func(a *adapters.Agent) error { a.Name = "Renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, p, "Helper"); err == nil {
		t.Error("the old name still resolves after the update")
	}
	if a, err := r.Get(ctx, p, "Renamed"); err != nil || a.ID != "h1" {
		t.Fatalf("after update: %v %v", a, err)
	}
	if err := r.Delete(ctx, p, "h1"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, p, "h1"); err == nil {
		t.Error("a deleted agent still resolves")
	}

	// A write past the registry (another instance's) shows when the
	// store's change feed tells of it, or at the latest after the TTL.
	direct := &adapters.Agent{ID: "h2", Tenant: "tenant-a", Name: "Direct", Model: "m"}
	if err := store.CreateAgent(ctx, direct); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, p, "h2"); err == nil {
		t.Fatal("a write past the registry showed before the index was dropped")
	}
	store.tell(state.Change{Kind: state.ChangeAgent, Tenant: "tenant-b", ID: "h2"})
	if _, err := r.Get(ctx, p, "h2"); err == nil {
		t.Fatal("another tenant's change dropped tenant-a's index")
	}
	store.tell(state.Change{Kind: state.ChangeAgent, Tenant: "tenant-a", ID: "h2"})
	if _, err := r.Get(ctx, p, "h2"); err != nil {
		t.Fatalf("after the change: %v", err)
	}
	direct.Name = "Direct 2"
	if err := store.UpdateAgent(ctx, direct); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(59 * time.Second)
	if _, err := r.Get(ctx, p, "Direct 2"); err == nil {
		t.Fatal("stale index dropped before its TTL")
	}
	clock = clock.Add(2 * time.Second)
	if _, err := r.Get(ctx, p, "Direct 2"); err != nil {
		t.Fatalf("after the TTL: %v", err)
	}
	// A gap in the store's changes drops every tenant's index.
	direct.Name = "Direct 3"
	if err := store.UpdateAgent(ctx, direct); err != nil {
		t.Fatal(err)
	}
	store.tell(state.Change{Kind: state.ChangeGap, Live: true})
	if _, err := r.Get(ctx, p, "Direct 3"); err != nil {
		t.Fatalf("after a gap: %v", err)
	}
}

// racingStore invalidates the registry while a tenant's agents are read,
// as a write landing during the load would.
type racingStore struct {
	state.Store
	during func()
}

func (s *racingStore) ListAgents(ctx context.Context, tenant string) ([]*adapters.Agent, error) {
	list, err := s.Store.ListAgents(ctx, tenant)
	if s.during != nil {
		s.during()
	}
	return list, err
}

func TestIndexDropsLoadsThatRacedAWrite(t *testing.T) {
	store := &racingStore{Store: &countingStore{Store: enginetest.OpenStore(t)}}
	r, err := New(Config{Store: store, Now: func() time.Time { return enginetest.Clock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	ctx := context.Background()
	store.during = func() {
		store.during = nil
		if err := store.Store.CreateAgent(ctx, &adapters.Agent{ID: "late", Tenant: "tenant-a", Model: "m"}); err != nil {
			t.Error(err)
		}
		r.Invalidate("tenant-a")
	}
	if _, err := r.Get(ctx, enginetest.TenantA, "late"); err == nil {
		t.Fatal("the load saw a write made after it read")
	}
	// The load that raced the write was not kept: the next lookup reads
	// again and sees the agent.
	if _, err := r.Get(ctx, enginetest.TenantA, "late"); err != nil {
		t.Fatalf("a stale load was kept: %v", err)
	}
}

func TestHandedOutAgentsAreCopies(t *testing.T) {
	clock := enginetest.Clock
	r, _ := registry(t, &clock)
	ctx := context.Background()
	if err := r.Create(ctx, &adapters.Agent{ID: "c1", Tenant: "tenant-a", Name: "Copy", Model: "m", Tools: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	a, _ := r.Get(ctx, enginetest.TenantA, "c1")
	a.Name, a.Tools[0] = "changed", "y"
	list, _ := r.List(ctx, enginetest.TenantA)
	list[1].SystemPrompt = "changed"
	again, _ := r.Get(ctx, enginetest.TenantA, "c1")
	if again.Name != "Copy" || again.Tools[0] != "x" || again.SystemPrompt != "" {
		t.Errorf("a caller's change reached the index: %+v", again)
	}
}
