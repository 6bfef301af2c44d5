package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

var versionTests = []Test{
	single("Publish", testVersions),
	{Name: "ConcurrentPublish", Fn: testVersionsConcurrent},
}

func testVersions(t *testing.T, s state.Store) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if _, err := s.LatestVersion(ctx, "t1", "bot"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("latest of nothing: %v", err)
	}
	if list, err := s.ListVersions(ctx, "t1", "bot"); err != nil || len(list) != 0 {
		t.Fatalf("list of nothing: %v %v", list, err)
	}
	a := &adapters.Agent{ID: "bot", Tenant: "t1", SystemPrompt: "one", Tools: []string{"calculator"}}
	v1, err := s.PublishVersion(ctx, "t1", a, false, at)
	if err != nil || v1.Version != 1 {
		t.Fatalf("publish 1: %+v %v", v1, err)
	}
	a.SystemPrompt, a.Tools[0] = "two", "clock" // the snapshot must not share memory with a
	if v1.Agent.SystemPrompt != "one" || v1.Agent.Tools[0] != "calculator" {
		t.Fatalf("snapshot changed with the agent: %+v", v1.Agent)
	}
	v2, err := s.PublishVersion(ctx, "t1", a, false, at.Add(time.Minute))
	if err != nil || v2.Version != 2 {
		t.Fatalf("publish 2: %+v %v", v2, err)
	}
	// Another agent whose id extends this one's, and another tenant, are
	// numbered on their own.
	if v, err := s.PublishVersion(ctx, "t1", &adapters.Agent{ID: "bot2"}, true, at); err != nil || v.Version != 1 || !v.Declared {
		t.Fatalf("publish bot2: %+v %v", v, err)
	}
	if v, err := s.PublishVersion(ctx, "t2", a, false, at); err != nil || v.Version != 1 {
		t.Fatalf("publish t2: %+v %v", v, err)
	}
	got, err := s.GetVersion(ctx, "t1", "bot", 1)
	if err != nil || got.Agent.SystemPrompt != "one" || !got.Created.Equal(at) || got.Tenant != "t1" || got.AgentID != "bot" {
		t.Fatalf("get 1: %+v %v", got, err)
	}
	latest, err := s.LatestVersion(ctx, "t1", "bot")
	if err != nil || latest.Version != 2 || latest.Agent.SystemPrompt != "two" {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	list, err := s.ListVersions(ctx, "t1", "bot")
	if err != nil || len(list) != 2 || list[0].Version != 1 || list[1].Version != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	for _, c := range []struct {
		tenant, id string
		n          int
	}{{"t1", "bot", 3}, {"t1", "bot", 0}, {"t1", "bot", -1}, {"t3", "bot", 1}, {"t1", "bo", 1}, {"t1", "", 1}, {"t\x00", "bot", 1}} {
		if _, err := s.GetVersion(ctx, c.tenant, c.id, c.n); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("get %+v: %v", c, err)
		}
	}
	if _, err := s.PublishVersion(ctx, "t1", &adapters.Agent{}, false, at); !errors.Is(err, state.ErrInvalidID) {
		t.Errorf("publish without id: %v", err)
	}
}

// testVersionsConcurrent: concurrent publishes on both instances get
// distinct numbers, 1 to n.
func testVersionsConcurrent(t *testing.T, s, twin state.Store) {
	seen := make([]int, 20)
	concurrently(len(seen), s, twin, func(i int, h state.Store) {
		v, err := h.PublishVersion(ctx, "t", &adapters.Agent{ID: "a"}, false, day)
		if err != nil {
			t.Error(err)
			return
		}
		seen[i] = v.Version
	})
	got := map[int]bool{}
	for _, n := range seen {
		got[n] = true
	}
	for n := 1; n <= len(seen); n++ {
		if !got[n] {
			t.Fatalf("versions %v: %d missing", seen, n)
		}
	}
	latest, err := twin.LatestVersion(ctx, "t", "a")
	if err != nil || latest.Version != len(seen) {
		t.Fatalf("latest after concurrent publishes: %+v %v", latest, err)
	}
}
