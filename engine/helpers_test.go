package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/enginetest"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

// The shared test support of the engine's packages (internal/enginetest)
// under the names these tests use.
var (
	testClock = enginetest.Clock
	tenantA   = enginetest.TenantA
	tenantB   = enginetest.TenantB
)

type fakeProvider = enginetest.Provider

func newFake(events ...adapters.Event) *fakeProvider { return enginetest.NewProvider(events...) }

func reply(text string) []adapters.Event { return enginetest.Reply(text) }

func openStore(t *testing.T) *bbolt.Store {
	t.Helper()
	return enginetest.OpenStore(t)
}

// newTestRuntime builds a runtime over a fresh store. The runtime is
// closed before the store.
func newTestRuntime(t *testing.T, cfg Config) (*Engine, *bbolt.Store) {
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
func singleRuntime(t *testing.T, prov adapters.Provider) (*Engine, *bbolt.Store) {
	t.Helper()
	return newTestRuntime(t, Config{Providers: map[string]adapters.Provider{"p": prov}})
}

// usageOf flushes the recorder and returns tenant's usage records, newest
// first.
func usageOf(t *testing.T, rt *Engine, tenant string) []state.UsageRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.Models().Recorder().Flush(ctx); err != nil {
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

func userMsg(text string) adapters.Message { return enginetest.UserMsg(text) }

// wantError checks that err is an *adapters.Error of kind k, with param
// when param is not empty.
func wantError(t *testing.T, err error, k adapters.ErrorKind, code, param string) {
	t.Helper()
	enginetest.WantError(t, err, k, code, param)
}

func ptr[T any](v T) *T { return &v }
