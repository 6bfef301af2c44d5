package storetest

import (
	"testing"

	"github.com/agentgate/agentgate/state"
)

var totalsTests = []Test{
	{Name: "AcrossTenantsAndInstances", Fn: testTotals},
}

// testTotals: agents, keys and sessions of every tenant are counted, as
// either instance wrote them; a session's later turns and a deleted
// agent are counted as they should be.
func testTotals(t *testing.T, s, twin state.Store) {
	got, err := s.Totals(ctx)
	must(t, err)
	if got != (state.ObjectTotals{}) {
		t.Fatalf("empty store: %+v", got)
	}
	for i, tenant := range []string{"t1", "t2", "t3"} {
		w := pick(i, s, twin)
		must(t, w.CreateAgent(ctx, fullAgent(tenant, "a", day)))
		must(t, w.PutKey(ctx, key("k"+tenant, tenant, day)))
		for _, id := range []string{"s1", "s2"} {
			must(t, w.AppendTurn(ctx, &state.Session{ID: id, Tenant: tenant, AgentID: "a", Updated: day}, turn(id, 1)))
		}
	}
	must(t, twin.CreateAgent(ctx, fullAgent("t1", "b", day)))
	// A second turn is no second session.
	must(t, s.AppendTurn(ctx, &state.Session{ID: "s1", Tenant: "t1", AgentID: "a", Updated: day}, turn("s1", 2)))
	must(t, s.DeleteAgent(ctx, "t2", "a"))
	must(t, twin.DeleteKey(ctx, "kt3"))

	want := state.ObjectTotals{Agents: 3, Keys: 2, Sessions: 6}
	for name, h := range map[string]state.Store{"writer": s, "twin": twin} {
		got, err := h.Totals(ctx)
		must(t, err)
		if got != want {
			t.Errorf("%s: Totals = %+v, want %+v", name, got, want)
		}
	}
}
