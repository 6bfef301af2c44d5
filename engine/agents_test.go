package engine

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/engine/models"
)

// agentsRuntime declares "shared" (every tenant) and "decl-a" (tenant-a
// only) and stores "stored-a1", "stored-a2" for tenant-a and "stored-b1"
// for tenant-b.
func agentsRuntime(t *testing.T) *Engine {
	t.Helper()
	rt, store := newTestRuntime(t, Config{
		Providers: map[string]adapters.Provider{"p": newFake(reply("ok")...)},
		Agents: []*adapters.Agent{
			{ID: "shared", Name: "Shared helper", Model: "m"},
			{ID: "decl-a", Tenant: "tenant-a", Name: "A's declared", Model: "m"},
		},
	})
	ctx := context.Background()
	base := testClock.Add(-time.Hour)
	for i, a := range []*adapters.Agent{
		// Created out of order: listings follow creation time.
		{ID: "stored-a2", Tenant: "tenant-a", Name: "second", Model: "m", CreatedAt: base.Add(2 * time.Minute)},
		{ID: "stored-a1", Tenant: "tenant-a", Name: "first", Model: "m", CreatedAt: base.Add(time.Minute)},
		{ID: "stored-b1", Tenant: "tenant-b", Name: "b's own", Model: "m", CreatedAt: base},
	} {
		if err := store.CreateAgent(ctx, a); err != nil {
			t.Fatalf("CreateAgent %d: %v", i, err)
		}
	}
	return rt
}

func agentIDs(list []*adapters.Agent) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.ID
	}
	return out
}

func TestAgentsList(t *testing.T) {
	rt := agentsRuntime(t)
	tests := []struct {
		p    *adapters.Principal
		want []string
	}{
		{tenantA, []string{"shared", "decl-a", "stored-a1", "stored-a2"}},
		{tenantB, []string{"shared", "stored-b1"}},
		{&adapters.Principal{Tenant: "tenant-c"}, []string{"shared"}},
	}
	for _, tc := range tests {
		t.Run(tc.p.Tenant, func(t *testing.T) {
			list, err := rt.Agents().List(context.Background(), tc.p)
			if err != nil {
				t.Fatalf("Agents: %v", err)
			}
			if got := agentIDs(list); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Agents = %q, want %q", got, tc.want)
			}
			for _, a := range list {
				declared := a.ID == "shared" || a.ID == "decl-a"
				if a.Declared != declared {
					t.Errorf("%s: Declared = %v, want %v", a.ID, a.Declared, declared)
				}
				if a.CreatedAt.IsZero() {
					t.Errorf("%s: no creation time", a.ID)
				}
			}
		})
	}
}

func TestAgentLookup(t *testing.T) {
	rt := agentsRuntime(t)
	tests := []struct {
		name string
		p    *adapters.Principal
		id   string
		want string // agent id; "" means not found
	}{
		{"declared for all, by id, tenant a", tenantA, "shared", "shared"},
		{"declared for all, by id, tenant b", tenantB, "shared", "shared"},
		{"declared for all, by name", tenantB, "Shared helper", "shared"},
		{"declared for tenant a, by id", tenantA, "decl-a", "decl-a"},
		{"declared for tenant a, by name", tenantA, "A's declared", "decl-a"},
		{"declared for tenant a, by id, from b", tenantB, "decl-a", ""},
		{"declared for tenant a, by name, from b", tenantB, "A's declared", ""},
		{"stored, by id", tenantA, "stored-a1", "stored-a1"},
		{"stored, by name", tenantA, "second", "stored-a2"},
		{"stored of a, by id, from b", tenantB, "stored-a1", ""},
		{"stored of a, by name, from b", tenantB, "first", ""},
		{"stored of b, by id", tenantB, "stored-b1", "stored-b1"},
		{"stored of b, by name", tenantB, "b's own", "stored-b1"},
		{"stored of b, from a", tenantA, "stored-b1", ""},
		{"unknown", tenantA, "nope", ""},
		{"empty", tenantA, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := rt.Agents().Get(context.Background(), tc.p, tc.id)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("Agent(%q) for %s = %s, want not found", tc.id, tc.p.Tenant, a.ID)
				}
				wantError(t, err, adapters.KindNotFound, "agent_not_found", "agent")
				return
			}
			if err != nil {
				t.Fatalf("Agent(%q) for %s: %v", tc.id, tc.p.Tenant, err)
			}
			if a.ID != tc.want {
				t.Errorf("Agent(%q) for %s = %s, want %s", tc.id, tc.p.Tenant, a.ID, tc.want)
			}
		})
	}
}

func TestAgentNotFoundMessageBounded(t *testing.T) {
	rt := agentsRuntime(t)
	_, err := rt.Agents().Get(context.Background(), tenantA, strings.Repeat("x", 10000))
	wantError(t, err, adapters.KindNotFound, "agent_not_found", "agent")
	if err != nil && len(err.Error()) > 300 {
		t.Errorf("error message of %d bytes echoes the whole id", len(err.Error()))
	}
}

func TestIsDeclared(t *testing.T) {
	rt := agentsRuntime(t)
	for id, want := range map[string]bool{"shared": true, "decl-a": true, "stored-a1": false, "nope": false, "Shared helper": false} {
		if got := rt.Agents().IsDeclared(id); got != want {
			t.Errorf("IsDeclared(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestDeclaredAgentsKeepCreationTime(t *testing.T) {
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	a := &adapters.Agent{ID: "old", Model: "m", CreatedAt: created, UpdatedAt: created}
	fresh := &adapters.Agent{ID: "fresh", Model: "m"}
	newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": newFake()}, Agents: []*adapters.Agent{a, fresh}})
	if !a.CreatedAt.Equal(created) || !a.Declared {
		t.Errorf("declared agent with a creation time = %v, declared %v", a.CreatedAt, a.Declared)
	}
	if !fresh.CreatedAt.Equal(testClock) || !fresh.UpdatedAt.Equal(testClock) || !fresh.Declared {
		t.Errorf("declared agent without one = %v/%v, declared %v; want the clock", fresh.CreatedAt, fresh.UpdatedAt, fresh.Declared)
	}
}

func TestNewRejectsBadAgents(t *testing.T) {
	providers := map[string]adapters.Provider{"openai": newFake(), "local": newFake()}
	routes := []models.Route{{Pattern: "gpt-*", Provider: "openai"}}
	tests := []struct {
		name    string
		agents  []*adapters.Agent
		wantErr string
	}{
		{"duplicate id", []*adapters.Agent{{ID: "a", Model: "gpt-4o"}, {ID: "a", Model: "gpt-4o"}}, `agent "a" declared twice`},
		{"unroutable model", []*adapters.Agent{{ID: "a", Model: "llama3"}}, `no provider serves model "llama3"`},
		{"unknown pinned provider", []*adapters.Agent{{ID: "a", Model: "gpt-4o", Provider: "azure"}}, `no provider serves model`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := New(Config{Store: openStore(t), Providers: providers, Routes: routes, Agents: tc.agents})
			if err == nil {
				rt.Close()
				t.Fatal("New succeeded, want error")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantErr)
			}
			// Check finds the same without a store.
			if _, err := Check(Config{Providers: providers, Routes: routes, Agents: tc.agents}); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Check: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestCheckWithoutStore: Check finds what New would refuse, and what the
// dialects need before the engine exists, with no store at all.
func TestCheckWithoutStore(t *testing.T) {
	// Two providers: with one, every model falls back to it.
	providers := map[string]adapters.Provider{"openai": newFake(), "local": newFake()}
	routes := []models.Route{{Pattern: "gpt-*", Provider: "openai"}}
	ok := []*adapters.Agent{{ID: "a", Model: "gpt-4o"}}
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"valid", Config{Providers: providers, Routes: routes, Agents: ok}, ""},
		{"route to nowhere", Config{Providers: providers, Routes: []models.Route{{Pattern: "x-*", Provider: "azure"}}}, "azure"},
		{"memory model", Config{Providers: providers, Routes: routes, Memory: memory.Options{EmbeddingModel: "embed-x"}},
			`embedding_model: no provider serves model "embed-x"`},
		{"bad guardrail", Config{Providers: providers, Routes: routes, Agents: []*adapters.Agent{{ID: "g", Model: "gpt-4o",
			Guardrails: &adapters.Guardrails{DenyPatterns: []adapters.GuardRule{{Name: "x", Pattern: "("}}}}}}, `agent "g"`},
	} {
		checked, err := Check(tc.cfg)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: Check = %+v, %v; want an error containing %q", tc.name, checked, err, tc.wantErr)
		}
	}
	if ok[0].Declared || !ok[0].CreatedAt.IsZero() {
		t.Error("Check changed the declared agents")
	}
}

func TestNewAcceptsPinnedAgent(t *testing.T) {
	a := &adapters.Agent{ID: "a", Model: "llama3", Provider: "local"}
	rt, _ := newTestRuntime(t, Config{
		Providers: map[string]adapters.Provider{"openai": newFake(), "local": newFake(reply("ok")...)},
		Agents:    []*adapters.Agent{a},
	})
	got, err := rt.Agents().Get(context.Background(), tenantA, "a")
	if err != nil || got != a {
		t.Fatalf("Agent(a) = %v, %v", got, err)
	}
	res, err := rt.Run(context.Background(), &adapters.Call{Principal: tenantA, Agent: got}, func(adapters.Event) error { return nil })
	if err != nil || res.Provider != "local" || res.Model != "llama3" {
		t.Errorf("Run = %+v, %v; want local/llama3", res, err)
	}
}
