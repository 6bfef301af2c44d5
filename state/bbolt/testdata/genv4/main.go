// Command genv4 writes state/bbolt/testdata/v4-sessions.db: a store in
// schema version 4, whose sessions' metadata was a bucket of its own
// (agentsessions) beside their turns (agentturns), for the test of the
// migration that moves the metadata beside the turns
// (TestBoltMigratesV4Sessions). It was run once against the code of
// commit 4f48cc9 (of schema 4):
//
//	go run ./state/bbolt/testdata/genv4 state/bbolt/testdata/v4-sessions.db
//
// Against later code it writes a store of their schema.
package main

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

func main() {
	path := os.Args[1]
	_ = os.Remove(path)
	s, err := bbolt.Open(path, bbolt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	created := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	turn := func(q, a string) []adapters.Message {
		return []adapters.Message{adapters.TextMessage(adapters.RoleUser, q), adapters.TextMessage(adapters.RoleAssistant, a)}
	}
	// Ids one of which begins another's, agents and projects that differ
	// only there, two tenants: the sessions' keys interleave.
	for _, c := range []struct {
		key   state.SessionKey
		turns [][2]string
	}{
		{state.SessionKey{Tenant: "tenant-a", AgentID: "assistant", ID: "conv"}, [][2]string{{"My name is Ada.", "Noted."}, {"I live in Paris.", "Noted, Paris."}}},
		{state.SessionKey{Tenant: "tenant-a", AgentID: "assistant", ID: "conv-2"}, [][2]string{{"Think of a number.", "Seven."}}},
		{state.SessionKey{Tenant: "tenant-a", AgentID: "assistant", Project: "proj-1", ID: "conv"}, [][2]string{{"Plan my week.", "Monday: rest."}}},
		{state.SessionKey{Tenant: "tenant-b", AgentID: "assistant", ID: "conv"}, [][2]string{{"My name is Bob.", "Noted, Bob."}, {"And mine?", "Bob."}, {"Bye.", "Bye, Bob."}}},
	} {
		sess := &state.Session{ID: c.key.ID, Tenant: c.key.Tenant, AgentID: c.key.AgentID, Project: c.key.Project, Created: created}
		for i, t := range c.turns {
			sess.Updated = created.Add(time.Duration(i+1) * time.Minute)
			if err := s.AppendTurn(ctx, sess, turn(t[0], t[1])); err != nil {
				log.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
}
