package bbolt_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

// BenchmarkAppendTurnStored is the agent scenario's write: a turn of one
// of 100,000 stored sessions of 10 turns, a lone writer, so every call is
// a commit of its own. It reports the pages each commit writes (two
// fdatasyncs each, bbolt's data and meta syncs) and how long the seeded
// store takes to open.
func BenchmarkAppendTurnStored(b *testing.B) {
	const sessions, turnsEach = 100_000, 10
	path := filepath.Join(b.TempDir(), "bench.db")
	s := openBolt(b, path, bbolt.Options{})
	turn := []adapters.Message{
		adapters.TextMessage(adapters.RoleUser, "Say hello in a few words, turn 3."),
		adapters.TextMessage(adapters.RoleAssistant, strings.TrimSpace(strings.Repeat("word ", 10))),
	}
	name := func(i int) string { return fmt.Sprintf("sess-%07d", i) }
	must(b, bbolt.SeedSessions(s, "tenant", sessions, turnsEach, name, turn))
	must(b, s.Close())
	start := time.Now()
	s = openBolt(b, path, bbolt.Options{})
	b.Logf("the seeded store opened in %v", time.Since(start).Round(time.Millisecond))
	defer s.Close()
	now := time.Now()
	before, seq := bbolt.PagesWritten(s), 0
	for b.Loop() {
		seq++
		k := seeded(name(seq * 7919 % sessions))
		sess := &state.Session{ID: k.ID, Tenant: k.Tenant, AgentID: k.AgentID, Updated: now}
		if err := s.AppendTurn(ctx, sess, turn); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(bbolt.PagesWritten(s)-before)/float64(seq), "pages/commit")
}
