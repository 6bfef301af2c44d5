// Package storetest is the contract suite of state.Store, one suite per
// role: every backend runs Run (or the role suites) from its own tests and
// must pass it. The suites check what the contract promises a gateway of
// several instances sharing one backend, not how a backend keeps it:
// tenant isolation, optimistic concurrency on agents, a paused run
// claimed once, turns in order, counters that add up under concurrent
// writers, and changes told to every handle.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// Backend is what the suites need of a backend.
type Backend struct {
	// Open returns a new, empty store; the suite closes it.
	Open func(t *testing.T) state.Store
	// Twin returns a second handle on the store s: what another gateway
	// instance sharing the backend has (its own connection pool on the
	// same database); it is closed when the test ends. Nil for a backend
	// one process holds alone: the concurrency tests then share s.
	Twin func(t *testing.T, s state.Store) state.Store
}

// Test is one contract test. Twin is s itself for backends without twins.
type Test struct {
	Name string
	Fn   func(t *testing.T, s, twin state.Store)
	// withBackend, instead of Fn, is for tests that open more stores.
	withBackend func(t *testing.T, b Backend, s state.Store)
}

// single adapts a test that uses one handle.
func single(name string, fn func(t *testing.T, s state.Store)) Test {
	return Test{Name: name, Fn: func(t *testing.T, s, _ state.Store) { fn(t, s) }}
}

// Run runs every role's suite.
func Run(t *testing.T, b Backend) {
	for _, suite := range Suites() {
		t.Run(suite.Role, func(t *testing.T) { RunSuite(t, b, suite.Tests) })
	}
}

// Suite is the contract of one role.
type Suite struct {
	Role  string
	Tests []Test
}

// Suites returns the contract suites, one per role of state.Store.
func Suites() []Suite {
	return []Suite{
		{"Agents", agentTests},
		{"Versions", versionTests},
		{"Keys", keyTests},
		{"Tiers", tierTests},
		{"Sessions", sessionTests},
		{"Runs", runTests},
		{"Usage", usageTests},
		{"Counts", countTests},
		{"Memories", memoryTests},
		{"Stats", statsTests},
		{"Documents", documentTests},
		{"Responses", responseTests},
		{"Conversations", conversationTests},
		{"Objects", objectTests},
		{"Changes", changeTests},
		{"Snapshots", snapshotTests},
		{"Totals", totalsTests},
		{"Lifecycle", lifecycleTests},
	}
}

// RunSuite runs tests, each on a new store.
func RunSuite(t *testing.T, b Backend, tests []Test) {
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			s := b.Open(t)
			closer := &closeOnce{Store: s}
			t.Cleanup(func() {
				if err := closer.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			if tt.withBackend != nil {
				tt.withBackend(t, b, closer)
				return
			}
			var twin state.Store = closer
			if b.Twin != nil {
				twin = b.Twin(t, s)
			}
			tt.Fn(t, closer, twin)
		})
	}
}

// closeOnce lets a test close its store and Run's cleanup skip it.
type closeOnce struct {
	state.Store
	once sync.Once
	err  error
}

func (c *closeOnce) Close() error {
	c.once.Do(func() { c.err = c.Store.Close() })
	return c.err
}

var ctx = context.Background()

// day is a fixed, whole-second UTC instant tests build times from.
var day = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// pick alternates between two handles: concurrent writers spread over
// both instances.
func pick(i int, s, twin state.Store) state.Store {
	if i%2 == 0 {
		return s
	}
	return twin
}

// concurrently runs fn(i, h) for every i below n at once, worker i on
// one instance or the other (pick), and waits for them all: the shape of
// every test of concurrent writers.
func concurrently(n int, s, twin state.Store, fn func(i int, h state.Store)) {
	var wg sync.WaitGroup
	for i := range n {
		h := pick(i, s, twin)
		wg.Go(func() { fn(i, h) })
	}
	wg.Wait()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func ptr[T any](v T) *T { return &v }

// equalJSON compares two values by their JSON encodings, which is what
// a store is asked to preserve (times compare by instant, in UTC).
func equalJSON(t testing.TB, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(normalize(got))
	must(t, err)
	w, err := json.Marshal(normalize(want))
	must(t, err)
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// normalize converts the times in agents, keys and usage records to UTC.
func normalize(v any) any {
	switch v := v.(type) {
	case *adapters.Agent:
		if v == nil {
			return v
		}
		c := *v
		c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
		return &c
	case []*adapters.Agent:
		out := make([]any, len(v))
		for i, a := range v {
			out[i] = normalize(a)
		}
		return out
	case *state.APIKey:
		if v == nil {
			return v
		}
		c := *v
		c.Created = c.Created.UTC()
		return &c
	case []*state.APIKey:
		out := make([]any, len(v))
		for i, k := range v {
			out[i] = normalize(k)
		}
		return out
	case []state.UsageRecord:
		out := make([]state.UsageRecord, len(v))
		for i, r := range v {
			r.Time = r.Time.UTC()
			out[i] = r
		}
		return out
	}
	return v
}

var lifecycleTests = []Test{
	single("Close", testClose),
	single("InvalidNames", testInvalidNames),
}

func testClose(t *testing.T, s state.Store) {
	must(t, s.CreateAgent(ctx, fullAgent("t", "a", day)))
	must(t, s.AppendTurn(ctx, &state.Session{ID: "s", Tenant: "t"}, turn("s", 1)))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.GetAgent(ctx, "t", "a"); !errors.Is(err, state.ErrClosed) {
		t.Fatalf("GetAgent after Close: %v, want ErrClosed", err)
	}
}

// testInvalidNames: names no backend can store (NUL, invalid UTF-8) are
// refused on write and find nothing on read, never an error of the
// backend's own.
func testInvalidNames(t *testing.T, s state.Store) {
	for _, bad := range []string{"a\x00b", "caf\xe9"} {
		wantErr(t, "CreateAgent "+bad, s.CreateAgent(ctx, fullAgent(bad, "x", day)), state.ErrInvalidID)
		wantErr(t, "CreateAgent id "+bad, s.CreateAgent(ctx, fullAgent("t", bad, day)), state.ErrInvalidID)
		_, err := s.GetAgent(ctx, "t", bad)
		wantErr(t, "GetAgent "+bad, err, state.ErrNotFound)
		_, err = s.GetKey(ctx, bad)
		wantErr(t, "GetKey "+bad, err, state.ErrNotFound)
		_, err = s.GetSession(ctx, state.SessionKey{Tenant: "t", AgentID: "a", ID: bad})
		wantErr(t, "GetSession "+bad, err, state.ErrNotFound)
		wantErr(t, "AppendTurn "+bad, s.AppendTurn(ctx, &state.Session{Tenant: "t", AgentID: bad, ID: "s"}, nil), state.ErrInvalidID)
		_, err = s.GetRun(ctx, bad, "r")
		wantErr(t, "GetRun "+bad, err, state.ErrNotFound)
		wantErr(t, "PutRun "+bad, s.PutRun(ctx, &state.Run{ID: bad, Tenant: "t"}), state.ErrInvalidID)
		wantErr(t, "AppendUsage "+bad, s.AppendUsage(ctx, []state.UsageRecord{{ID: "u", Tenant: bad}}), state.ErrInvalidID)
		if n, err := s.MonthlyTokens(ctx, bad, day); err != nil || n != 0 {
			t.Errorf("MonthlyTokens(%q) = %d, %v", bad, n, err)
		}
		if list, err := s.ListMemories(ctx, bad, "a"); err != nil || len(list) != 0 {
			t.Errorf("ListMemories(%q) = %v, %v", bad, list, err)
		}
		_, err = s.GetDocument(ctx, "t", bad)
		wantErr(t, "GetDocument "+bad, err, state.ErrNotFound)
		_, err = s.GetResponse(ctx, "t", bad)
		wantErr(t, "GetResponse "+bad, err, state.ErrNotFound)
		_, err = s.GetVersion(ctx, "t", bad, 1)
		wantErr(t, "GetVersion "+bad, err, state.ErrNotFound)
		if _, err := s.AddCount(ctx, "t", bad, 1); !errors.Is(err, state.ErrInvalidID) {
			t.Errorf("AddCount(%q): %v", bad, err)
		}
		wantErr(t, "PutTier "+bad, s.PutTier(ctx, &state.Tier{Name: bad}), state.ErrInvalidID)
		wantErr(t, "PutKey "+bad, s.PutKey(ctx, &state.APIKey{ID: bad}), state.ErrInvalidID)
	}
}
