package bbolt

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/agentgate/agentgate/state"
)

// TestNextTurn: the stored metadata's turn count and update time are
// rewritten in place of decoding it, giving what decoding, counting and
// encoding would; metadata of another shape is left to that (nil).
func TestNextTurn(t *testing.T) {
	created := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	now := time.Date(2026, 3, 15, 8, 0, 0, 123456789, time.UTC)
	updated, err := now.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	stored := func(s state.Session) string {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	base := state.Session{ID: "conv", Tenant: "t", AgentID: "a", Turns: 3, Created: created, Updated: created}
	withProject := base
	withProject.Project, withProject.Turns = "p \"quoted\" <é>", 41
	for _, tc := range []struct {
		name, meta string
		want       int // 0: left to the caller
	}{
		{"stored by AppendTurn", stored(base), 4},
		{"with a project", stored(withProject), 42},
		{"keys in another order", `{"turns":7,"updated_at":"2026-03-14T09:26:53Z","id":"conv","tenant":"t","agent_id":"a","created_at":"2026-03-14T09:26:53Z"}`, 8},
		{"no update time", `{"id":"conv","tenant":"t","agent_id":"a","turns":1,"created_at":"2026-03-14T09:26:53Z"}`, 2},
		{"no turns", `{"id":"conv","tenant":"t","agent_id":"a","created_at":"2026-03-14T09:26:53Z"}`, 0},
		{"zero turns", `{"id":"conv","turns":0}`, 0},
		{"fractional turns", `{"id":"conv","turns":1.5}`, 0},
		{"exponent turns", `{"id":"conv","turns":1e2}`, 0},
		{"string turns", `{"id":"conv","turns":"3"}`, 0},
		{"not JSON", `{"id":"conv","turns":3`, 0},
		{"an array", `[3]`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := []byte(tc.meta)
			got, n, err := nextTurn(orig, updated)
			if err != nil {
				t.Fatal(err)
			}
			if string(orig) != tc.meta {
				t.Errorf("nextTurn changed the stored value to %s", orig)
			}
			if tc.want == 0 {
				if got != nil {
					t.Errorf("nextTurn(%s) = %s, %d; want it left to the caller", tc.meta, got, n)
				}
				return
			}
			var before, after state.Session
			if err := json.Unmarshal(orig, &before); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(got, &after); err != nil {
				t.Fatalf("nextTurn gave %s: %v", got, err)
			}
			before.Turns, before.Updated = tc.want, now
			if n != tc.want || after != before {
				t.Errorf("nextTurn(%s) = %s (%+v), turn %d; want %+v, turn %d", tc.meta, got, after, n, before, tc.want)
			}
		})
	}
	if got, _, _ := nextTurn(nil, updated); got != nil {
		t.Errorf("nextTurn(nil) = %s", got)
	}
}
