// Package enginetest is the test support the engine's packages share: a
// scripted provider, the fixed clock and principals their tests run with,
// a throwaway store, and checks of canonical errors.
package enginetest

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

// Clock is the fixed time the engine's tests run at.
var Clock = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// The principals of two tenants.
var (
	TenantA = &adapters.Principal{KeyID: "key_a", Tenant: "tenant-a", Tier: "pro"}
	TenantB = &adapters.Principal{KeyID: "key_b", Tenant: "tenant-b", Tier: "free"}
)

// Provider records each request and replays scripted events: one list
// per call, the last one repeating.
type Provider struct {
	mu     sync.Mutex
	Script [][]adapters.Event
	// Err is returned before any event when set.
	Err  error
	reqs []*adapters.Request
}

// NewProvider returns a provider answering every call with events.
func NewProvider(events ...adapters.Event) *Provider {
	return &Provider{Script: [][]adapters.Event{events}}
}

// Chat implements adapters.Provider.
func (f *Provider) Chat(ctx context.Context, req *adapters.Request, emit adapters.Emit) error {
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, req)
	var events []adapters.Event
	if len(f.Script) > 0 {
		events = f.Script[min(n, len(f.Script)-1)]
	}
	err := f.Err
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

// Then adds an answer to the script, safely while calls are made.
func (f *Provider) Then(events ...adapters.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Script = append(f.Script, events)
}

// SetScript replaces the script, safely while calls are made.
func (f *Provider) SetScript(script ...[]adapters.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Script = script
}

// SetErr sets the error calls return, safely while calls are made.
func (f *Provider) SetErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Err = err
}

// Requests are the requests received so far.
func (f *Provider) Requests() []*adapters.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*adapters.Request(nil), f.reqs...)
}

// LastRequest is the last request received; the test fails when there
// was none.
func (f *Provider) LastRequest(t testing.TB) *adapters.Request {
	t.Helper()
	reqs := f.Requests()
	if len(reqs) == 0 {
		t.Fatal("provider was not called")
	}
	return reqs[len(reqs)-1]
}

// Reply is the usual event sequence of a plain text answer without
// usage.
func Reply(text string) []adapters.Event {
	return []adapters.Event{
		{Type: adapters.EventStart},
		{Type: adapters.EventDelta, Text: text},
		{Type: adapters.EventDone, FinishReason: "stop"},
	}
}

// OpenStore opens a fresh store, closed when the test ends.
func OpenStore(t testing.TB) *bbolt.Store {
	t.Helper()
	store, err := bbolt.Open(filepath.Join(t.TempDir(), "test.db"), bbolt.Options{})
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// ListUsage returns tenant's usage records in store, newest first.
func ListUsage(t testing.TB, store state.Store, tenant string) []state.UsageRecord {
	t.Helper()
	recs, err := store.ListUsage(context.Background(), tenant, 1<<20)
	if err != nil {
		t.Fatalf("ListUsage: %v", err)
	}
	return recs
}

// UserMsg is a user message of text.
func UserMsg(text string) adapters.Message { return adapters.TextMessage(adapters.RoleUser, text) }

// WantError checks that err is an *adapters.Error of kind k, with code
// and param when they are not empty.
func WantError(t testing.TB, err error, k adapters.ErrorKind, code, param string) {
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
