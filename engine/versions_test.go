package engine

import (
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

func TestAgentVersions(t *testing.T) {
	declared := &adapters.Agent{ID: "decl", Name: "Declared", Model: "m", Provider: "p", SystemPrompt: "declared one"}
	rt, store := newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": newFake(reply("hi")...)},
		Agents: []*adapters.Agent{declared}})
	ctx := t.Context()
	own := &adapters.Agent{ID: "own", Tenant: "tenant-a", Name: "Own", Model: "m", Provider: "p", SystemPrompt: "v1",
		Status: adapters.StatusActive, CreatedAt: testClock}
	if err := store.CreateAgent(ctx, own); err != nil {
		t.Fatal(err)
	}
	got, n, err := rt.Agents().AtVersion(ctx, "tenant-a", own, 0)
	if err != nil || n != 0 || got != own {
		t.Fatalf("nothing published: %v %d %v", got, n, err)
	}
	if _, _, err := rt.Agents().AtVersion(ctx, "tenant-a", own, 1); adapters.AsError(err).Code != "version_not_found" {
		t.Fatalf("unknown version: %v", err)
	}
	v1, err := rt.Agents().PublishVersion(ctx, "tenant-a", "Own") // by name
	if err != nil || v1.Version != 1 || v1.AgentID != "own" {
		t.Fatalf("publish: %+v %v", v1, err)
	}
	own.SystemPrompt, own.Status = "working copy", adapters.StatusInactive
	if err := store.UpdateAgent(ctx, own); err != nil {
		t.Fatal(err)
	}
	// A write the registry did not make, as another instance's: the
	// store's change feed would tell it.
	rt.Agents().Invalidate("tenant-a")
	live, _ := rt.Agents().Get(ctx, tenantA, "own")
	got, n, err = rt.Agents().AtVersion(ctx, "tenant-a", live, 0)
	if err != nil || n != 1 || got.SystemPrompt != "v1" || got.Status != adapters.StatusInactive {
		t.Fatalf("latest: %+v %d %v (the version's config with the live status)", got, n, err)
	}
	// Tenant B has no versions of a declared agent tenant A published.
	if _, err := rt.Agents().PublishVersion(ctx, "tenant-a", "decl"); err != nil {
		t.Fatal(err)
	}
	if list, err := rt.Agents().ListVersions(ctx, "tenant-b", "decl"); err != nil || len(list) != 0 {
		t.Fatalf("tenant-b versions of decl: %v %v", list, err)
	}
	if _, err := rt.Agents().PublishVersion(ctx, "tenant-b", "own"); adapters.AsError(err).Kind != adapters.KindNotFound {
		t.Fatalf("tenant-b publishing tenant-a's agent: %v", err)
	}
	// An agent deleted and made again under the same id starts without
	// versions; numbers are not reused.
	if err := rt.Agents().Delete(ctx, tenantA, "own"); err != nil {
		t.Fatal(err)
	}
	again := &adapters.Agent{ID: "own", Tenant: "tenant-a", Name: "Own", Model: "m", Provider: "p", SystemPrompt: "new",
		CreatedAt: testClock.Add(time.Hour)}
	if err := rt.Agents().Create(ctx, again); err != nil {
		t.Fatal(err)
	}
	live, _ = rt.Agents().Get(ctx, tenantA, "own")
	if got, n, err := rt.Agents().AtVersion(ctx, "tenant-a", live, 0); err != nil || n != 0 || got.SystemPrompt != "new" {
		t.Fatalf("recreated agent: %+v %d %v", got, n, err)
	}
	if _, err := rt.Agents().GetVersion(ctx, "tenant-a", "own", 1); adapters.AsError(err).Kind != adapters.KindNotFound {
		t.Fatalf("earlier agent's version: %v", err)
	}
	if list, _ := rt.Agents().ListVersions(ctx, "tenant-a", "own"); len(list) != 0 {
		t.Fatalf("recreated agent lists %d versions", len(list))
	}
	v, err := rt.Agents().PublishVersion(ctx, "tenant-a", "own")
	if err != nil || v.Version != 2 {
		t.Fatalf("publish after recreate: %+v %v", v, err)
	}
	// A routed model has no versions.
	if _, _, err := rt.Agents().AtVersion(ctx, "tenant-a", &adapters.Agent{Model: "m"}, 1); adapters.AsError(err).Kind != adapters.KindNotFound {
		t.Fatalf("passthrough version: %v", err)
	}
}
