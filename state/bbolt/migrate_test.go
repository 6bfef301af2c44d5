package bbolt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

// v1Store is a store of schema version 1 (sessions keyed by tenant and id
// across agents), written by the code of that version: see
// testdata/genv1. v1Sessions is what it holds.
const v1Store = "testdata/v1-sessions.db"

var v1Sessions = []struct {
	key   state.SessionKey
	turns [][2]string // user, assistant
}{
	{state.SessionKey{Tenant: "tenant-a", AgentID: "assistant", ID: "conv-v1"},
		[][2]string{{"My name is Ada.", "Noted."}, {"I live in Paris.", "Noted, Paris."}}},
	{state.SessionKey{Tenant: "tenant-a", AgentID: "thinker", ID: "conv-v1-thinker"},
		[][2]string{{"Think of a number.", "Seven."}}},
	{state.SessionKey{Tenant: "tenant-a", AgentID: "planner", Project: "proj-1", ID: "conv-v1-project"},
		[][2]string{{"Plan my week.", "Monday: rest."}}},
	{state.SessionKey{Tenant: "tenant-b", AgentID: "assistant", ID: "conv-v1"},
		[][2]string{{"My name is Bob.", "Noted, Bob."}}},
}

// copyV1Store copies the schema 1 store into a temporary directory (the
// committed file must stay as version 1 wrote it) and returns its path.
func copyV1Store(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(v1Store)
	must(t, err)
	path := filepath.Join(t.TempDir(), "agentgate.db")
	must(t, os.WriteFile(path, data, 0o600))
	return path
}

func textTurns(turns [][2]string) []string {
	var out []string
	for _, t := range turns {
		out = append(out, "user:"+t[0], "assistant:"+t[1])
	}
	return out
}

func texts(msgs []adapters.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Role)+":"+m.Text())
	}
	return out
}

// checkSessions checks that s holds v1Sessions under their agents, with
// their turns and the one extra turn each given.
func checkSessions(t *testing.T, s state.Store, extra map[state.SessionKey][2]string) {
	t.Helper()
	created := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	for _, want := range v1Sessions {
		turns := want.turns
		if e, ok := extra[want.key]; ok {
			turns = append(turns[:len(turns):len(turns)], e)
		}
		got, err := s.GetSession(ctx, want.key)
		if err != nil {
			t.Errorf("GetSession(%+v): %v", want.key, err)
			continue
		}
		if got.Key() != want.key || got.Turns != len(turns) || !got.Created.Equal(created) {
			t.Errorf("GetSession(%+v) = %+v, want %d turns created %v", want.key, got, len(turns), created)
		}
		msgs, err := s.RecentTurns(ctx, want.key, 10)
		must(t, err)
		if g, w := texts(msgs), textTurns(turns); !slices.Equal(g, w) {
			t.Errorf("RecentTurns(%+v) = %q, want %q", want.key, g, w)
		}
	}
}

// TestBoltMigratesV1Sessions opens a store written by schema version 1:
// its sessions are found under the agents (and projects) they recorded,
// continue, and survive a reopen; the id of one agent's session is new to
// another agent; the file is left at version 6 without the old buckets,
// and running the migration again changes nothing.
func TestBoltMigratesV1Sessions(t *testing.T) {
	path := copyV1Store(t)
	s := openBolt(t, path, bbolt.Options{})
	checkSessions(t, s, nil)

	for _, k := range []state.SessionKey{
		{Tenant: "tenant-a", AgentID: "thinker", ID: "conv-v1"},
		{Tenant: "tenant-a", AgentID: "planner", ID: "conv-v1-project"},
		{Tenant: "tenant-b", AgentID: "thinker", ID: "conv-v1-thinker"},
		{Tenant: "tenant-c", AgentID: "assistant", ID: "conv-v1"},
	} {
		if _, err := s.GetSession(ctx, k); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("GetSession(%+v) = %v, want not found", k, err)
		}
	}

	// The sessions continue where version 1 left them.
	extra := map[state.SessionKey][2]string{}
	for _, w := range v1Sessions {
		e := [2]string{"And now? (" + w.key.AgentID + ")", "Continued."}
		sess := &state.Session{ID: w.key.ID, Tenant: w.key.Tenant, AgentID: w.key.AgentID, Project: w.key.Project, Created: time.Now()}
		must(t, s.AppendTurn(ctx, sess, []adapters.Message{
			adapters.TextMessage(adapters.RoleUser, e[0]), adapters.TextMessage(adapters.RoleAssistant, e[1])}))
		extra[w.key] = e
	}
	checkSessions(t, s, extra)

	// The migration is idempotent: run again, it finds nothing to move.
	must(t, bbolt.Migrate(s, 1))
	checkSessions(t, s, extra)
	must(t, s.Close())

	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	must(t, err)
	must(t, db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte("meta")).Get([]byte("schema")); binary.BigEndian.Uint64(v) != 6 {
			t.Errorf("schema version after migration = %x, want 6", v)
		}
		if tx.Bucket([]byte("spend")) == nil {
			t.Error("no spend bucket after migration")
		}
		for _, name := range []string{"sessions", "turns", "agentsessions"} {
			if tx.Bucket([]byte(name)) != nil {
				t.Errorf("bucket %q of version 1 (or 2 to 4) is still there", name)
			}
		}
		return nil
	}))
	must(t, db.Close())

	s = openBolt(t, path, bbolt.Options{})
	defer s.Close()
	checkSessions(t, s, extra)
}

// TestBoltMigrationAllOrNothing: a version 1 store with a session the
// migration cannot read is refused, naming the file, and left exactly as
// it was (the migration is one transaction).
func TestBoltMigrationAllOrNothing(t *testing.T) {
	path := copyV1Store(t)
	db, err := bolt.Open(path, 0o600, nil)
	must(t, err)
	must(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("sessions")).Put([]byte("tenant-a\x00zz-broken"), []byte("{not json"))
	}))
	must(t, db.Close())
	before, err := os.ReadFile(path)
	must(t, err)

	_, err = bbolt.Open(path, bbolt.Options{})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "migrate schema version 1 to 2") {
		t.Fatalf("OpenBolt of a store that cannot migrate: %v", err)
	}
	t.Log(err)
	after, err := os.ReadFile(path)
	must(t, err)
	if !bytes.Equal(before, after) {
		t.Error("a failed migration changed the file")
	}
}

// v4Store is a store of schema version 4 (the sessions' metadata in a
// bucket of its own), written by the code of that version: see
// testdata/genv4. v4Sessions is what it holds; each turn was written a
// minute after the session's creation time, a minute apart.
const v4Store = "testdata/v4-sessions.db"

var v4Sessions = []struct {
	key   state.SessionKey
	turns [][2]string // user, assistant
}{
	{state.SessionKey{Tenant: "tenant-a", AgentID: "assistant", ID: "conv"},
		[][2]string{{"My name is Ada.", "Noted."}, {"I live in Paris.", "Noted, Paris."}}},
	{state.SessionKey{Tenant: "tenant-a", AgentID: "assistant", ID: "conv-2"},
		[][2]string{{"Think of a number.", "Seven."}}},
	{state.SessionKey{Tenant: "tenant-a", AgentID: "assistant", Project: "proj-1", ID: "conv"},
		[][2]string{{"Plan my week.", "Monday: rest."}}},
	{state.SessionKey{Tenant: "tenant-b", AgentID: "assistant", ID: "conv"},
		[][2]string{{"My name is Bob.", "Noted, Bob."}, {"And mine?", "Bob."}, {"Bye.", "Bye, Bob."}}},
}

// checkV4Sessions checks that s holds v4Sessions, with their times,
// turns and the one extra turn each given (at extraAt), and nothing else.
func checkV4Sessions(t *testing.T, s state.Store, extra map[state.SessionKey][2]string, extraAt time.Time) {
	t.Helper()
	created := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	exported := map[state.SessionKey]*state.SessionRecord{}
	must(t, s.Export(ctx, func(r *state.Record) error {
		if r.Session != nil {
			exported[r.Session.Key()] = r.Session
		}
		return nil
	}))
	if len(exported) != len(v4Sessions) {
		t.Errorf("Export gave %d sessions, want %d", len(exported), len(v4Sessions))
	}
	totals, err := s.(state.Totals).Totals(ctx)
	must(t, err)
	if totals.Sessions != int64(len(v4Sessions)) {
		t.Errorf("Totals().Sessions = %d, want %d", totals.Sessions, len(v4Sessions))
	}
	for _, want := range v4Sessions {
		turns := want.turns
		updated := created.Add(time.Duration(len(turns)) * time.Minute)
		if e, ok := extra[want.key]; ok {
			turns = append(turns[:len(turns):len(turns)], e)
			updated = extraAt
		}
		got, err := s.GetSession(ctx, want.key)
		if err != nil {
			t.Errorf("GetSession(%+v): %v", want.key, err)
			continue
		}
		if got.Key() != want.key || got.Turns != len(turns) || !got.Created.Equal(created) || !got.Updated.Equal(updated) {
			t.Errorf("GetSession(%+v) = %+v, want %d turns created %v updated %v", want.key, got, len(turns), created, updated)
		}
		msgs, err := s.RecentTurns(ctx, want.key, 10)
		must(t, err)
		if g, w := texts(msgs), textTurns(turns); !slices.Equal(g, w) {
			t.Errorf("RecentTurns(%+v) = %q, want %q", want.key, g, w)
		}
		rec := exported[want.key]
		if rec == nil || rec.Turns != len(turns) || len(rec.Messages) != len(turns) {
			t.Errorf("Export of %+v = %+v, want %d turns", want.key, rec, len(turns))
			continue
		}
		var all []adapters.Message
		for _, m := range rec.Messages {
			all = append(all, m...)
		}
		if g, w := texts(all), textTurns(turns); !slices.Equal(g, w) {
			t.Errorf("Export of %+v = %q, want %q", want.key, g, w)
		}
	}
}

// TestBoltMigratesV4Sessions opens a store written by schema version 4:
// its sessions keep their metadata and turns, are exported and counted,
// continue, and survive a reopen; a new session is counted; the file is
// left at version 6 without the old bucket, and running the migration
// again changes nothing.
func TestBoltMigratesV4Sessions(t *testing.T) {
	data, err := os.ReadFile(v4Store)
	must(t, err)
	path := filepath.Join(t.TempDir(), "agentgate.db")
	must(t, os.WriteFile(path, data, 0o600))
	s := openBolt(t, path, bbolt.Options{})
	checkV4Sessions(t, s, nil, time.Time{})

	extra := map[state.SessionKey][2]string{}
	at := time.Date(2026, 3, 15, 8, 0, 0, 0, time.UTC)
	for _, w := range v4Sessions {
		e := [2]string{"And now? (" + w.key.ID + ")", "Continued."}
		sess := &state.Session{ID: w.key.ID, Tenant: w.key.Tenant, AgentID: w.key.AgentID, Project: w.key.Project, Created: at, Updated: at}
		must(t, s.AppendTurn(ctx, sess, []adapters.Message{
			adapters.TextMessage(adapters.RoleUser, e[0]), adapters.TextMessage(adapters.RoleAssistant, e[1])}))
		if sess.Turns != len(w.turns)+1 {
			t.Errorf("AppendTurn to %+v made turn %d, want %d", w.key, sess.Turns, len(w.turns)+1)
		}
		extra[w.key] = e
	}
	checkV4Sessions(t, s, extra, at)

	must(t, bbolt.Migrate(s, 5))
	checkV4Sessions(t, s, extra, at)
	must(t, s.Close())

	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	must(t, err)
	must(t, db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte("meta")).Get([]byte("schema")); binary.BigEndian.Uint64(v) != 6 {
			t.Errorf("schema version after migration = %x, want 6", v)
		}
		if tx.Bucket([]byte("agentsessions")) != nil {
			t.Error(`bucket "agentsessions" of versions 2 to 5 is still there`)
		}
		return nil
	}))
	must(t, db.Close())

	s = openBolt(t, path, bbolt.Options{})
	defer s.Close()
	checkV4Sessions(t, s, extra, at)
	// A new session beside the migrated ones is counted too.
	must(t, s.AppendTurn(ctx, &state.Session{ID: "conv-1", Tenant: "tenant-a", AgentID: "assistant", Updated: at},
		[]adapters.Message{adapters.TextMessage(adapters.RoleUser, "Hi.")}))
	totals, err := s.Totals(ctx)
	must(t, err)
	if totals.Sessions != int64(len(v4Sessions))+1 {
		t.Errorf("Totals().Sessions after a new session = %d, want %d", totals.Sessions, len(v4Sessions)+1)
	}
}
