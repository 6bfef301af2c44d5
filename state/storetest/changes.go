package storetest

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

var changeTests = []Test{{Name: "Told", Fn: testChangesTold}}

// changeWait bounds how long a test waits for a change to arrive: a
// failure bound, far beyond any delivery, not a measurement.
const changeWait = 20 * time.Second

// watch subscribes to s's changes until the test ends.
func watch(t *testing.T, s state.Store) <-chan state.Change {
	ch := make(chan state.Change, 1024)
	cancel := s.Subscribe(func(c state.Change) { ch <- c })
	t.Cleanup(cancel)
	return ch
}

// await returns the first change on ch that match accepts, skipping the
// others (changes of the test's earlier writes, gaps).
func await(t *testing.T, ch <-chan state.Change, what string, match func(state.Change) bool) state.Change {
	t.Helper()
	deadline := time.After(changeWait)
	for {
		select {
		case c := <-ch:
			if match(c) {
				return c
			}
		case <-deadline:
			t.Fatalf("no change told of %s within %v", what, changeWait)
		}
	}
}

// testChangesTold: writes to keys, agents, versions, tiers and memories
// through one instance are told to subscribers of both, marked local on
// the writer's.
func testChangesTold(t *testing.T, s, twin state.Store) {
	mine, theirs := watch(t, s), watch(t, twin)
	shared := s != twin
	expect := func(what string, match func(state.Change) bool) {
		t.Helper()
		c := await(t, mine, what, match)
		if !c.Local && c.Kind != state.ChangeGap {
			t.Errorf("%s: the writer's own change is not marked local: %+v", what, c)
		}
		if shared {
			if c := await(t, theirs, what+" (other instance)", match); c.Local && c.Kind != state.ChangeGap {
				t.Errorf("%s: marked local on the other instance", what)
			}
		}
	}

	k := key("k1", "t1", day)
	must(t, s.PutKey(ctx, k))
	expect("a key written", func(c state.Change) bool { return c.Kind == state.ChangeKey && slices.Contains(c.Keys, k.Hash) })
	old := k.Hash
	k.Hash = sha256.Sum256([]byte("rotated"))
	must(t, s.PutKey(ctx, k))
	expect("a key rehashed", func(c state.Change) bool {
		return c.Kind == state.ChangeKey && slices.Contains(c.Keys, k.Hash) && slices.Contains(c.Keys, old)
	})
	must(t, s.DeleteKey(ctx, "k1"))
	expect("a key revoked", func(c state.Change) bool {
		return c.Kind == state.ChangeKey && slices.Contains(c.Keys, k.Hash) && !slices.Contains(c.Keys, old)
	})

	a := fullAgent("t1", "ag", day)
	must(t, s.CreateAgent(ctx, a))
	isAgent := func(c state.Change) bool { return c.Kind == state.ChangeAgent && c.Tenant == "t1" && c.ID == "ag" }
	expect("an agent created", isAgent)
	a.Name = "renamed"
	must(t, s.UpdateAgent(ctx, a))
	expect("an agent updated", isAgent)
	_, err := s.PublishVersion(ctx, "t1", a, false, day)
	must(t, err)
	expect("a version published", isAgent)
	must(t, s.DeleteAgent(ctx, "t1", "ag"))
	expect("an agent deleted", isAgent)

	must(t, s.PutTier(ctx, &state.Tier{Name: "gold", RPM: 5}))
	expect("a tier written", func(c state.Change) bool { return c.Kind == state.ChangeTier && c.ID == "gold" })
	must(t, s.DeleteTier(ctx, "gold"))
	expect("a tier deleted", func(c state.Change) bool { return c.Kind == state.ChangeTier && c.ID == "gold" })

	must(t, s.PutMemories(ctx, []*state.Memory{memory("t1", "ag", "m1", day), memory("t1", "ag", "m2", day)}))
	expect("memories written", func(c state.Change) bool {
		return c.Kind == state.ChangeMemory && c.Tenant == "t1" && c.ID == "ag" && (c.Items == nil || slices.Contains(c.Items, "m1") && slices.Contains(c.Items, "m2"))
	})
	n, err := s.DeleteMemories(ctx, "t1", "ag", []string{"m2"})
	if err != nil || n != 1 {
		t.Fatalf("DeleteMemories = %d, %v", n, err)
	}
	expect("a memory deleted", func(c state.Change) bool {
		return c.Kind == state.ChangeMemory && c.ID == "ag" && (c.Items == nil || slices.Equal(c.Items, []string{"m2"}))
	})

	// Many changes at once all arrive (or, past a subscriber's queue, a
	// gap says some were missed).
	for i := range 50 {
		must(t, s.CreateAgent(ctx, &adapters.Agent{ID: fmt.Sprint("bulk", i), Tenant: "t2", Name: "bulk"}))
	}
	expect("the last of many writes", func(c state.Change) bool {
		return c.Kind == state.ChangeAgent && c.ID == "bulk49" || c.Kind == state.ChangeGap && c.Live
	})
}
