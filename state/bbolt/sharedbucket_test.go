package bbolt_test

import (
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
	"github.com/agentgate/agentgate/state/storetest"
)

// TestBoltSessionsShareABucket: sessions whose keys are prefixes of one
// another's, or differ only in an empty tenant, agent or project, share
// the bucket of schema 6 (metadata beside turns) without one seeing
// another's turns, are each exported with their own, and keep their
// turns and their count (Totals) when copied into another store, twice.
func TestBoltSessionsShareABucket(t *testing.T) {
	keys := []state.SessionKey{
		{Tenant: "t", AgentID: "a", ID: "s"},
		{Tenant: "t", AgentID: "a", ID: "s\x01"}, // sorts between s's metadata and its turns' end
		{Tenant: "t", AgentID: "a", ID: "s0"},
		{Tenant: "t", AgentID: "a", Project: "s", ID: "s"},
		{Tenant: "t", AgentID: "", ID: "s"},
		{Tenant: "", AgentID: "a", ID: "s"},
		{Tenant: "t\x01", AgentID: "a", ID: "s"},
	}
	// Session i has i+1 turns, each naming its session and number.
	want := func(i int) []string {
		var w []string
		for j := range i + 1 {
			w = append(w, "user:"+strconv.Itoa(i)+"/"+strconv.Itoa(j))
		}
		return w
	}
	check := func(t *testing.T, s *bbolt.Store) {
		t.Helper()
		for i, k := range keys {
			sess, err := s.GetSession(ctx, k)
			if err != nil || sess.Turns != i+1 {
				t.Errorf("GetSession(%q) = %+v, %v; want %d turns", k, sess, err, i+1)
			}
			msgs, err := s.RecentTurns(ctx, k, 100)
			must(t, err)
			if got := texts(msgs); !slices.Equal(got, want(i)) {
				t.Errorf("RecentTurns(%q) = %q, want %q", k, got, want(i))
			}
		}
		exported := 0
		for _, r := range storetest.Export(t, s) {
			if r.Session == nil {
				continue
			}
			exported++
			i := slices.Index(keys, r.Session.Key())
			var got []string
			for _, m := range r.Session.Messages {
				got = append(got, texts(m)...)
			}
			if i < 0 || !slices.Equal(got, want(i)) {
				t.Errorf("exported session %q with %q", r.Session.Key(), got)
			}
		}
		totals, err := s.Totals(ctx)
		must(t, err)
		if exported != len(keys) || totals.Sessions != int64(len(keys)) {
			t.Errorf("%d sessions exported, %d counted; want %d", exported, totals.Sessions, len(keys))
		}
	}

	src := openBolt(t, filepath.Join(t.TempDir(), "src.db"), bbolt.Options{})
	defer src.Close()
	at := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	// Turns are added round by round, so sessions' writes interleave.
	for j := range len(keys) {
		for i, k := range keys[j:] {
			i += j
			sess := &state.Session{Tenant: k.Tenant, AgentID: k.AgentID, Project: k.Project, ID: k.ID, Updated: at}
			must(t, src.AppendTurn(ctx, sess, []adapters.Message{adapters.TextMessage(adapters.RoleUser, strconv.Itoa(i)+"/"+strconv.Itoa(j))}))
		}
	}
	check(t, src)

	recs := storetest.Export(t, src)
	dst := openBolt(t, filepath.Join(t.TempDir(), "dst.db"), bbolt.Options{})
	defer dst.Close()
	storetest.ImportAll(t, dst, recs, 2)
	check(t, dst)
	storetest.ImportAll(t, dst, recs, 3) // again: nothing counted twice
	check(t, dst)
}
