package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

// testClock is the fixed time test runtimes run at.
var testClock = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

var (
	tenantA = &adapters.Principal{KeyID: "key_a", Tenant: "tenant-a", Tier: "pro"}
	tenantB = &adapters.Principal{KeyID: "key_b", Tenant: "tenant-b", Tier: "free"}
)

// fakeProvider records each request and replays scripted events: one
// list per call, the last one repeating.
type fakeProvider struct {
	mu     sync.Mutex
	script [][]adapters.Event
	// err is returned before any event when set.
	err  error
	reqs []*adapters.Request
}

func newFake(events ...adapters.Event) *fakeProvider {
	return &fakeProvider{script: [][]adapters.Event{events}}
}

func (f *fakeProvider) Chat(ctx context.Context, req *adapters.Request, emit adapters.Emit) error {
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, req)
	var events []adapters.Event
	if len(f.script) > 0 {
		events = f.script[min(n, len(f.script)-1)]
	}
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return err
	}
	for _, ev := range events {
		if ev.Type == adapters.EventError {
			_ = emit(ev)
			return ev.Err
		}
		if err := emit(ev); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeProvider) requests() []*adapters.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*adapters.Request(nil), f.reqs...)
}

func (f *fakeProvider) lastRequest(t *testing.T) *adapters.Request {
	t.Helper()
	reqs := f.requests()
	if len(reqs) == 0 {
		t.Fatal("provider was not called")
	}
	return reqs[len(reqs)-1]
}

// reply is the usual event sequence of a plain text answer without usage.
func reply(text string) []adapters.Event {
	return []adapters.Event{
		{Type: adapters.EventStart},
		{Type: adapters.EventDelta, Text: text},
		{Type: adapters.EventDone, FinishReason: "stop"},
	}
}

func openStore(t *testing.T) *bbolt.Store {
	t.Helper()
	store, err := bbolt.Open(filepath.Join(t.TempDir(), "test.db"), bbolt.Options{})
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// newTestRuntime builds a runtime over a fresh store. The runtime is
// closed before the store.
func newTestRuntime(t *testing.T, cfg Config) (*Runtime, *bbolt.Store) {
	t.Helper()
	store := openStore(t)
	cfg.Store = store
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testClock }
	}
	if cfg.UsageFlushInterval == 0 {
		cfg.UsageFlushInterval = time.Millisecond
	}
	rt, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(rt.Close)
	return rt, store
}

// singleRuntime is a runtime whose only provider, "p", is prov.
func singleRuntime(t *testing.T, prov adapters.Provider) (*Runtime, *bbolt.Store) {
	t.Helper()
	return newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": prov}})
}

// usageOf flushes the recorder and returns tenant's usage records, newest
// first.
func usageOf(t *testing.T, rt *Runtime, tenant string) []state.UsageRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.Recorder().Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	recs, err := rt.Store().ListUsage(ctx, tenant, 1000)
	if err != nil {
		t.Fatalf("ListUsage: %v", err)
	}
	return recs
}

// collect is an Emit keeping every event.
type collect struct{ events []adapters.Event }

func (c *collect) emit(ev adapters.Event) error {
	c.events = append(c.events, ev)
	return nil
}

func (c *collect) types() []adapters.EventType {
	out := make([]adapters.EventType, len(c.events))
	for i, ev := range c.events {
		out[i] = ev.Type
	}
	return out
}

// describe renders messages compactly for comparisons:
// "role:text[|r=reasoning][|tc=name(args)...]".
func describe(msgs []adapters.Message) []string {
	out := make([]string, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s:%s", m.Role, m.Text())
		if m.Reasoning != "" {
			fmt.Fprintf(&sb, "|r=%s", m.Reasoning)
		}
		for _, tc := range m.ToolCalls {
			fmt.Fprintf(&sb, "|tc=%s(%s)", tc.Name, tc.Arguments)
		}
		out[i] = sb.String()
	}
	return out
}

func userMsg(text string) adapters.Message { return adapters.TextMessage(adapters.RoleUser, text) }

// wantError checks that err is an *adapters.Error of kind k, with param
// when param is not empty.
func wantError(t *testing.T, err error, k adapters.ErrorKind, code, param string) {
	t.Helper()
	var e *adapters.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *adapters.Error", err, err)
	}
	if e.Kind != k {
		t.Errorf("error kind = %d, want %d (%v)", e.Kind, k, e)
	}
	if code != "" && e.CodeOrDefault() != code {
		t.Errorf("error code = %q, want %q", e.CodeOrDefault(), code)
	}
	if param != "" && e.Param != param {
		t.Errorf("error param = %q, want %q", e.Param, param)
	}
}

func ptr[T any](v T) *T { return &v }
