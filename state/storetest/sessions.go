package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

var sessionTests = []Test{
	single("Append", testSessionAppend),
	single("RecentTurns", testSessionRecentTurns),
	single("PerAgent", testSessionPerAgent),
	single("TenantIsolation", testSessionTenantIsolation),
	{Name: "ConcurrentAppend", Fn: testSessionConcurrentAppend},
	{Name: "OrderAcrossInstances", Fn: testSessionOrderAcrossInstances},
}

func turn(tag string, i int) []adapters.Message {
	answer := adapters.Message{
		Role:      adapters.RoleAssistant,
		Parts:     []adapters.Part{{Type: adapters.PartText, Text: fmt.Sprintf("%s a%d", tag, i)}},
		ToolCalls: []adapters.ToolCall{{ID: "call" + fmt.Sprint(i), Name: "calc", Arguments: `{"x":1}`}},
	}
	if i%2 == 0 {
		// Interleaved thinking: blocks kept one by one.
		answer.SetReasoning([]adapters.ReasoningBlock{{Text: "first", Signature: "sig1"},
			{Redacted: "opaque"}, {Text: "second", Signature: "sig2", At: 1}})
	} else {
		answer.Reasoning, answer.ReasoningSignature = "thought", "sig"
	}
	return []adapters.Message{adapters.TextMessage(adapters.RoleUser, fmt.Sprintf("%s q%d", tag, i)), answer}
}

func turns(tag string, from, to int) []adapters.Message {
	var out []adapters.Message
	for i := from; i <= to; i++ {
		out = append(out, turn(tag, i)...)
	}
	return out
}

func testSessionAppend(t *testing.T, s state.Store) {
	k1 := state.SessionKey{Tenant: "t", AgentID: "ag1", ID: "s1"}
	_, err := s.GetSession(ctx, k1)
	wantErr(t, "GetSession before any turn", err, state.ErrNotFound)

	// A session without a creation time is created at its first turn's.
	created := day.Add(time.Hour)
	must(t, s.AppendTurn(ctx, &state.Session{ID: "s1", Tenant: "t", AgentID: "ag1", Updated: created}, turn("s1", 1)))
	got, err := s.GetSession(ctx, k1)
	must(t, err)
	if got.ID != "s1" || got.Tenant != "t" || got.AgentID != "ag1" || got.Project != "" || got.Turns != 1 {
		t.Fatalf("GetSession after first turn = %+v", got)
	}
	if !got.Created.Equal(created) || !got.Updated.Equal(created) {
		t.Fatalf("session times: created %v updated %v, want both %v", got.Created, got.Updated, created)
	}

	// A later turn keeps the creation time, whatever the caller passes;
	// its update time moves.
	must(t, s.AppendTurn(ctx, &state.Session{ID: "s1", Tenant: "t", AgentID: "ag1", Created: day, Updated: created.Add(time.Minute)}, turn("s1", 2)))
	got, err = s.GetSession(ctx, k1)
	must(t, err)
	if got.Turns != 2 || !got.Created.Equal(created) || !got.Updated.Equal(created.Add(time.Minute)) {
		t.Fatalf("GetSession after second turn = %+v", got)
	}
	// The returned session is a copy.
	got.Turns = 99
	got, err = s.GetSession(ctx, k1)
	must(t, err)
	if got.Turns != 2 {
		t.Fatalf("GetSession after mutating a returned session: Turns = %d", got.Turns)
	}

	// A given creation time is kept.
	k2 := state.SessionKey{Tenant: "t", AgentID: "ag1", Project: "p", ID: "s2"}
	must(t, s.AppendTurn(ctx, &state.Session{ID: "s2", Tenant: "t", AgentID: "ag1", Project: "p", Created: day}, turn("s2", 1)))
	got, err = s.GetSession(ctx, k2)
	must(t, err)
	if !got.Created.Equal(day) || got.Project != "p" {
		t.Fatalf("session %+v, want created %v in project p", got, day)
	}
	if err := s.AppendTurn(ctx, &state.Session{Tenant: "t", AgentID: "ag1"}, turn("x", 1)); err == nil {
		t.Fatal("AppendTurn with empty session id succeeded")
	}
}

func testSessionRecentTurns(t *testing.T, s state.Store) {
	sess := &state.Session{ID: "s", Tenant: "t", AgentID: "a"}
	for i := 1; i <= 5; i++ {
		must(t, s.AppendTurn(ctx, sess, turn("s", i)))
	}
	// Neighbours whose keys sort right after s's must not leak in.
	for _, n := range []state.Session{
		{ID: "s0", Tenant: "t", AgentID: "a"},
		{ID: "s", Tenant: "t0", AgentID: "a"},
		{ID: "s", Tenant: "t", AgentID: "a0"},
		{ID: "s", Tenant: "t", AgentID: "a", Project: "p"},
	} {
		must(t, s.AppendTurn(ctx, &n, turn("neighbour", 1)))
	}
	key := func(id string) state.SessionKey { return state.SessionKey{Tenant: "t", AgentID: "a", ID: id} }
	for _, tc := range []struct {
		name string
		key  state.SessionKey
		n    int
		want []adapters.Message
	}{
		{"zero", key("s"), 0, nil},
		{"negative", key("s"), -3, nil},
		{"one", key("s"), 1, turns("s", 5, 5)},
		{"some", key("s"), 3, turns("s", 3, 5)},
		{"all", key("s"), 5, turns("s", 1, 5)},
		{"more than stored", key("s"), 50, turns("s", 1, 5)},
		{"unknown session", key("nope"), 5, nil},
		{"neighbour id", key("s0"), 5, turns("neighbour", 1, 1)},
		{"neighbour project", state.SessionKey{Tenant: "t", AgentID: "a", Project: "p", ID: "s"}, 5, turns("neighbour", 1, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.RecentTurns(ctx, tc.key, tc.n)
			must(t, err)
			if len(got) != len(tc.want) {
				t.Fatalf("RecentTurns(%+v, %d) = %d messages, want %d", tc.key, tc.n, len(got), len(tc.want))
			}
			if len(got) > 0 {
				equalJSON(t, fmt.Sprintf("RecentTurns(%+v, %d)", tc.key, tc.n), got, tc.want)
			}
		})
	}
	// Empty turns count as turns.
	must(t, s.AppendTurn(ctx, sess, nil))
	got, err := s.RecentTurns(ctx, key("s"), 2)
	must(t, err)
	equalJSON(t, "RecentTurns over an empty turn", got, turns("s", 5, 5))
}

func testSessionPerAgent(t *testing.T, s state.Store) {
	sessions := []state.Session{
		{Tenant: "t", AgentID: "aa", ID: "conv"},
		{Tenant: "t", AgentID: "bb", ID: "conv"},
		{Tenant: "t", AgentID: "aa", Project: "p1", ID: "conv"},
		{Tenant: "t", AgentID: "bb", Project: "p1", ID: "conv"},
		{Tenant: "t", AgentID: "a", ID: "aconv"},
		{Tenant: "t", AgentID: "", Project: "aa", ID: "conv"},
	}
	// Interleaved turns: session i gets i+1 of them.
	for round := range len(sessions) {
		for i := range sessions {
			if round <= i {
				must(t, s.AppendTurn(ctx, &sessions[i], turn(fmt.Sprint(i), round+1)))
			}
		}
	}
	for i := range sessions {
		k := sessions[i].Key()
		got, err := s.GetSession(ctx, k)
		must(t, err)
		if got.Key() != k || got.Turns != i+1 {
			t.Errorf("GetSession(%+v) = %+v, want %d turns", k, got, i+1)
		}
		msgs, err := s.RecentTurns(ctx, k, 10)
		must(t, err)
		equalJSON(t, fmt.Sprintf("RecentTurns(%+v)", k), msgs, turns(fmt.Sprint(i), 1, i+1))
	}
	// An agent that never used the id has no session under it.
	for _, k := range []state.SessionKey{
		{Tenant: "t", AgentID: "cc", ID: "conv"},
		{Tenant: "t", AgentID: "aa", Project: "p2", ID: "conv"},
		{Tenant: "t", AgentID: "aac", ID: "onv"},
	} {
		_, err := s.GetSession(ctx, k)
		wantErr(t, fmt.Sprintf("GetSession(%+v)", k), err, state.ErrNotFound)
		if msgs, err := s.RecentTurns(ctx, k, 10); err != nil || len(msgs) != 0 {
			t.Errorf("RecentTurns(%+v) = %d messages, %v", k, len(msgs), err)
		}
	}
}

func testSessionTenantIsolation(t *testing.T, s state.Store) {
	a := &state.Session{ID: "shared", Tenant: "A", AgentID: "ag"}
	b := &state.Session{ID: "shared", Tenant: "B", AgentID: "ag"}
	must(t, s.AppendTurn(ctx, a, turn("A", 1)))
	must(t, s.AppendTurn(ctx, b, turn("B", 1)))
	must(t, s.AppendTurn(ctx, a, turn("A", 2)))

	for _, tc := range []struct {
		sess  *state.Session
		turns int
		msgs  []adapters.Message
	}{
		{a, 2, turns("A", 1, 2)},
		{b, 1, turns("B", 1, 1)},
	} {
		got, err := s.GetSession(ctx, tc.sess.Key())
		must(t, err)
		if got.Key() != tc.sess.Key() || got.Turns != tc.turns {
			t.Fatalf("GetSession(%+v) = %+v", tc.sess.Key(), got)
		}
		msgs, err := s.RecentTurns(ctx, tc.sess.Key(), 10)
		must(t, err)
		equalJSON(t, "RecentTurns of tenant "+tc.sess.Tenant, msgs, tc.msgs)
	}
	other := state.SessionKey{Tenant: "C", AgentID: "ag", ID: "shared"}
	_, err := s.GetSession(ctx, other)
	wantErr(t, "GetSession of another tenant", err, state.ErrNotFound)
	msgs, err := s.RecentTurns(ctx, other, 10)
	must(t, err)
	if len(msgs) != 0 {
		t.Fatalf("RecentTurns of another tenant = %d messages", len(msgs))
	}
}

// testSessionConcurrentAppend: concurrent appends to one session, on both
// instances, each get their own turn; one writer's turns keep its order.
func testSessionConcurrentAppend(t *testing.T, s, twin state.Store) {
	const workers = 50
	shared := state.SessionKey{Tenant: "t", AgentID: "a", ID: "shared"}
	own := func(w int) state.SessionKey {
		return state.SessionKey{Tenant: "t", AgentID: "a", ID: fmt.Sprintf("own%d", w)}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*workers)
	numbers := make(chan int, 2*workers)
	for w := range workers {
		s := pick(w, s, twin)
		wg.Go(func() {
			for i := range 2 {
				msg := []adapters.Message{adapters.TextMessage(adapters.RoleUser, fmt.Sprintf("w%d-%d", w, i))}
				sess := &state.Session{ID: shared.ID, Tenant: shared.Tenant, AgentID: shared.AgentID}
				err := s.AppendTurn(ctx, sess, msg)
				numbers <- sess.Turns
				errs <- err
			}
			k := own(w)
			errs <- s.AppendTurn(ctx, &state.Session{ID: k.ID, Tenant: k.Tenant, AgentID: k.AgentID}, turn("own", w))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	close(numbers)
	// Each append got its own number: 1 to 2*workers, once each.
	seenNumbers := map[int]bool{}
	for n := range numbers {
		if n < 1 || n > 2*workers || seenNumbers[n] {
			t.Fatalf("an append was numbered %d (numbers so far %v)", n, seenNumbers)
		}
		seenNumbers[n] = true
	}

	got, err := s.GetSession(ctx, shared)
	must(t, err)
	if got.Turns != 2*workers {
		t.Fatalf("shared session has %d turns, want %d", got.Turns, 2*workers)
	}
	msgs, err := s.RecentTurns(ctx, shared, 3*workers)
	must(t, err)
	seen := map[string]bool{}
	last := map[int]int{}
	for _, m := range msgs {
		text := m.Text()
		if seen[text] {
			t.Fatalf("message %q stored twice", text)
		}
		seen[text] = true
		var w, i int
		if _, err := fmt.Sscanf(text, "w%d-%d", &w, &i); err != nil {
			t.Fatalf("unexpected message %q", text)
		}
		if prev, ok := last[w]; ok && prev >= i {
			t.Fatalf("worker %d's turns out of order", w)
		}
		last[w] = i
	}
	if len(seen) != 2*workers {
		t.Fatalf("shared session has %d distinct messages, want %d", len(seen), 2*workers)
	}
	for w := range workers {
		msgs, err := s.RecentTurns(ctx, own(w), 5)
		must(t, err)
		equalJSON(t, fmt.Sprintf("session own%d", w), msgs, turn("own", w))
	}
}

// testSessionOrderAcrossInstances: a conversation continued through
// alternating instances reads back in the order it was written, from
// either of them.
func testSessionOrderAcrossInstances(t *testing.T, s, twin state.Store) {
	sess := &state.Session{ID: "conv", Tenant: "t", AgentID: "a"}
	for i := 1; i <= 6; i++ {
		must(t, pick(i, s, twin).AppendTurn(ctx, sess, turn("conv", i)))
		if sess.Turns != i {
			t.Fatalf("AppendTurn of turn %d set Turns to %d", i, sess.Turns)
		}
	}
	for _, h := range []state.Store{s, twin} {
		got, err := h.RecentTurns(ctx, sess.Key(), 10)
		must(t, err)
		equalJSON(t, "turns written through alternating instances", got, turns("conv", 1, 6))
		meta, err := h.GetSession(ctx, sess.Key())
		must(t, err)
		if meta.Turns != 6 {
			t.Fatalf("session has %d turns, want 6", meta.Turns)
		}
	}
}
