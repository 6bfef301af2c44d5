package agents

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/enginetest"
)

// BenchmarkAgentLookup resolves a request's model against a tenant with
// 50 stored agents and a declared one: by id, by name, and a model that
// names no agent (a routed model called directly), which must miss as
// quickly.
func BenchmarkAgentLookup(b *testing.B) {
	clock := enginetest.Clock
	r, err := New(Config{Store: enginetest.OpenStore(b), Now: func() time.Time { return clock },
		Declared: []*adapters.Agent{{ID: "shared", Name: "Shared", Model: "m", Declared: true}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range 50 {
		a := &adapters.Agent{ID: "agent-" + strconv.Itoa(i), Tenant: "tenant-a", Name: "Agent number " + strconv.Itoa(i), Model: "m",
			SystemPrompt: "You are agent " + strconv.Itoa(i) + ".", CreatedAt: clock.Add(time.Duration(i) * time.Second)}
		if err := r.Create(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct{ name, model, want string }{
		{"by_id", "agent-25", "agent-25"},
		{"by_name", "Agent number 25", "agent-25"},
		{"declared", "shared", "shared"},
		{"no_agent", "gpt-4o-mini", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a, err := r.Get(ctx, enginetest.TenantA, bc.model)
				if bc.want == "" {
					if err == nil {
						b.Fatal("found an agent")
					}
					continue
				}
				if err != nil || a.ID != bc.want {
					b.Fatal(a, err)
				}
			}
		})
	}
}
