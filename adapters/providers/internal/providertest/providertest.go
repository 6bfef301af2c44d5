// Package providertest holds the checks and golden formats the provider
// packages' tests share.
package providertest

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

// CheckToolCallDeltas verifies the contract of tool-call deltas on a
// provider's events: a call's first delta names it, its deltas come before
// its whole ToolCall event, and their arguments add up to the call's.
func CheckToolCallDeltas(t testing.TB, evs []adapters.Event) {
	t.Helper()
	type streamed struct {
		name string
		args strings.Builder
	}
	calls := map[string]*streamed{}
	for i, ev := range evs {
		switch ev.Type {
		case adapters.EventToolCallDelta:
			tc := ev.ToolCall
			if tc == nil || tc.ID == "" {
				t.Fatalf("event %d: a tool-call delta without a call id: %+v", i, tc)
			}
			c := calls[tc.ID]
			if c == nil {
				if tc.Name == "" {
					t.Fatalf("event %d: the first delta of call %q does not name it", i, tc.ID)
				}
				c = &streamed{name: tc.Name}
				calls[tc.ID] = c
			}
			c.args.WriteString(tc.Arguments)
		case adapters.EventToolCall:
			tc := ev.ToolCall
			c := calls[tc.ID]
			if c == nil {
				continue // sent whole
			}
			if c.name != tc.Name || c.args.String() != tc.Arguments {
				t.Fatalf("event %d: call %q streamed as %s(%s), completed as %s(%s)", i, tc.ID, c.name, c.args.String(),
					tc.Name, tc.Arguments)
			}
			delete(calls, tc.ID)
		}
	}
	if len(calls) > 0 && (len(evs) == 0 || evs[len(evs)-1].Type == adapters.EventDone) {
		t.Fatalf("calls streamed but never completed: %v", calls)
	}
}

// Reader counts the bytes read through it.
type Reader struct {
	R io.Reader
	N int64
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.R.Read(p)
	r.N += int64(n)
	return n, err
}

// Arrivals is the golden form of when a stream's events left: for each
// event, how many bytes of the upstream stream (of total) had been read
// when it was emitted, the stream being read one byte at a time. It shows
// which events wait for the end of the stream and which leave as their
// bytes arrive.
func Arrivals(evs []adapters.Event, read []int64, total int64) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# bytes of the %d-byte upstream stream read when each event left (read one byte at a time)\n", total)
	for i, ev := range evs {
		fmt.Fprintf(&b, "%6d %s", read[i], ev.Type)
		if tc := ev.ToolCall; tc != nil {
			fmt.Fprintf(&b, " %s", tc.ID)
			if tc.Name != "" {
				fmt.Fprintf(&b, " %s", tc.Name)
			}
			b.WriteString(" " + strconv.Quote(tc.Arguments))
		}
		if ev.Text != "" {
			b.WriteString(" " + strconv.Quote(ev.Text))
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}
