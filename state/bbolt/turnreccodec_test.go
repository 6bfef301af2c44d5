package bbolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/agentgate/agentgate/state"
)

func TestTurnRecordCodecRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    state.TurnRecord
	}{
		{"run", state.TurnRecord{Tenant: "t", AgentID: "a", RunID: "run-x", SessionID: "s", NewSession: true, LatencyMs: 1234,
			Time: time.Date(2026, 12, 5, 1, 2, 3, 4, time.UTC), Rating: "up"}},
		{"no session, no rating", state.TurnRecord{Tenant: "t", AgentID: "a", RunID: "r", Time: time.Unix(0, 0).UTC()}},
		{"zero time", state.TurnRecord{Tenant: "t", AgentID: "a", RunID: "r", Rating: "down"}},
		{"negative latency", state.TurnRecord{Tenant: "t", AgentID: "a", RunID: "r", LatencyMs: -5, Time: time.Unix(1, 999_999_999).UTC()}},
		{"unicode", state.TurnRecord{Tenant: "ünïcode ✓", AgentID: "ägent", RunID: "rün", SessionID: "sëssion", Time: time.Unix(7, 0).UTC()}},
		{"before 1970", state.TurnRecord{Tenant: "t", AgentID: "a", RunID: "r", Time: time.Date(1901, 2, 3, 4, 5, 6, 7, time.UTC)}},
		// A zone other than UTC reads back as its offset, as the JSON
		// records did.
		{"offset", state.TurnRecord{Tenant: "t", AgentID: "a", RunID: "r", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("", -7*3600))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := turnRecordKey(tc.r.Tenant, tc.r.AgentID, tc.r.RunID)
			var got state.TurnRecord
			if err := decodeTurnRecord(k, encodeTurnRecord(&tc.r), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.r) {
				t.Fatalf("got %+v\nwant %+v", got, tc.r)
			}
			// What a JSON record of schema 4 read back as.
			v, err := json.Marshal(&tc.r)
			if err != nil {
				t.Fatal(err)
			}
			var old state.TurnRecord
			if err := json.Unmarshal(v, &old); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, old) {
				t.Fatalf("binary reads %+v, JSON read %+v", got, old)
			}
		})
	}
}

// TestTurnRecordCodecJSON: records written before schema 5 read as the
// JSON they are.
func TestTurnRecordCodecJSON(t *testing.T) {
	want := state.TurnRecord{Tenant: "t", AgentID: "a", RunID: "run-1", SessionID: "s", NewSession: true, LatencyMs: 40,
		Time: time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC), Rating: "up"}
	v, err := json.Marshal(&want)
	if err != nil {
		t.Fatal(err)
	}
	var got state.TurnRecord
	if err := decodeTurnRecord(turnRecordKey("t", "a", "run-1"), v, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// TestTurnRecordCodecMalformed: truncated, extended or otherwise broken
// values, and keys that are not a turn record's, are refused.
func TestTurnRecordCodecMalformed(t *testing.T) {
	r := state.TurnRecord{Tenant: "t", AgentID: "a", RunID: "r", SessionID: "s", Rating: "up", Time: time.Unix(5, 0).UTC()}
	k, v := turnRecordKey("t", "a", "r"), encodeTurnRecord(&r)
	flags := len(v) - len("s") - len("up") - 3 // the flags byte precedes the two strings and their lengths
	for _, tc := range []struct {
		name string
		k, v []byte
	}{
		{"empty", k, nil},
		{"version", k, append([]byte{9}, v[1:]...)},
		{"truncated", k, v[:len(v)-1]},
		{"trailing byte", k, append(bytes.Clone(v), 0)},
		{"unknown flag", k, append(append(bytes.Clone(v[:flags]), 2), v[flags+1:]...)},
		{"nanoseconds", k, append(binary.AppendUvarint([]byte{turnRecordCodecV1, 0}, uint64(time.Second)), v[3:]...)},
		{"key without agent", []byte("t"), v},
		{"key without run", []byte("t\x00a"), v},
		{"broken JSON", k, []byte("{")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got state.TurnRecord
			if err := decodeTurnRecord(tc.k, tc.v, &got); err == nil {
				t.Errorf("% x under %q decoded as %+v", tc.v, tc.k, got)
			}
		})
	}
}

func FuzzDecodeTurnRecord(f *testing.F) {
	f.Add([]byte("t\x00a\x00r"), encodeTurnRecord(&state.TurnRecord{SessionID: "s", LatencyMs: 3, Rating: "up"}))
	f.Add([]byte("t\x00a\x00r"), []byte(`{"tenant":"t"}`))
	f.Add([]byte("t"), []byte{1})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		var r state.TurnRecord
		if len(v) == 0 || v[0] == '{' || decodeTurnRecord(k, v, &r) != nil {
			return
		}
		// What decodes is written back as the same record.
		var again state.TurnRecord
		if err := decodeTurnRecord(k, encodeTurnRecord(&r), &again); err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("% x decoded as %+v, then as %+v (%v)", v, r, again, err)
		}
	})
}
