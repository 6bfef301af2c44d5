// Command genv1 writes state/testdata/v1-sessions.db, a store in schema
// version 1 (sessions keyed by tenant and id across agents), for the
// migration tests. It was run once against the code of commit edf932c
// (the last commit with that layout), from a checkout of it:
//
//	go run ./state/testdata/genv1 state/testdata/v1-sessions.db
//
// It does not build against later code (the Store's session methods
// changed, and the store moved to state/bbolt, with this directory); it
// is kept to show how the file was made.
package main

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

func main() {
	path := os.Args[1]
	_ = os.Remove(path)
	s, err := state.OpenBolt(path, state.BoltOptions{})
	if err != nil {
		log.Fatal(err)
	}
	created := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	turn := func(q, a string) []adapters.Message {
		return []adapters.Message{adapters.TextMessage(adapters.RoleUser, q), adapters.TextMessage(adapters.RoleAssistant, a)}
	}
	for _, w := range []struct {
		tenant, agent, project, id string
		turn                       []adapters.Message
	}{
		{"tenant-a", "assistant", "", "conv-v1", turn("My name is Ada.", "Noted.")},
		{"tenant-a", "assistant", "", "conv-v1", turn("I live in Paris.", "Noted, Paris.")},
		{"tenant-a", "thinker", "", "conv-v1-thinker", turn("Think of a number.", "Seven.")},
		{"tenant-a", "planner", "proj-1", "conv-v1-project", turn("Plan my week.", "Monday: rest.")},
		{"tenant-b", "assistant", "", "conv-v1", turn("My name is Bob.", "Noted, Bob.")},
	} {
		sess := &state.Session{ID: w.id, Tenant: w.tenant, AgentID: w.agent, Project: w.project, Created: created}
		if err := s.AppendTurn(context.Background(), sess, w.turn); err != nil {
			log.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
}
