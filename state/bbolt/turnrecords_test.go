package bbolt_test

import (
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

// TestBoltSchema4TurnRecords: a store of schema 4, whose turn records are
// JSON, opens as schema 5; its old records are rated and exported as the
// new ones are, beside records written since.
func TestBoltSchema4TurnRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agentgate.db")
	must(t, openBolt(t, path, bbolt.Options{}).Close())
	day := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	old := state.TurnRecord{Tenant: "t", AgentID: "ag", RunID: "run-old", SessionID: "c", NewSession: true, LatencyMs: 10, Time: day}
	v, err := json.Marshal(&old)
	must(t, err)
	writeBolt(t, path, func(tx *bolt.Tx) error { // what schema 4 wrote
		if err := tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, 4)); err != nil {
			return err
		}
		return tx.Bucket([]byte("turnrecs")).Put([]byte("t\x00ag\x00run-old"), v)
	})

	s := openBolt(t, path, bbolt.Options{})
	defer s.Close()
	fresh := state.TurnRecord{Tenant: "t", AgentID: "ag", RunID: "run-new", SessionID: "c", LatencyMs: 30, Time: day.Add(time.Minute)}
	must(t, s.RecordTurns(ctx, []state.TurnRecord{fresh, old})) // old is recorded already
	must(t, s.RateTurn(ctx, "t", "ag", "run-old", "down"))
	must(t, s.RateTurn(ctx, "t", "ag", "run-old", "up"))
	must(t, s.RateTurn(ctx, "t", "ag", "run-new", "down"))
	// The old record was put there without its statistics: only the
	// new run counts, and both votes.
	if st, err := s.AgentStats(ctx, "t", "ag"); err != nil || st != (state.AgentStats{Responses: 1, ResponseMs: 30, Up: 1, Down: 1}) {
		t.Fatalf("AgentStats = %+v, %v", st, err)
	}
	var turns []state.TurnRecord
	must(t, s.Export(ctx, func(r *state.Record) error {
		if r.Turn != nil {
			turns = append(turns, *r.Turn)
		}
		return nil
	}))
	old.Rating, fresh.Rating = "up", "down"
	if want := []state.TurnRecord{fresh, old}; !reflect.DeepEqual(turns, want) {
		t.Fatalf("exported turn records %+v, want %+v", turns, want)
	}
}
