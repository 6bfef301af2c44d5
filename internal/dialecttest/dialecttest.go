// Package dialecttest runs a dialect's handlers over the real runtime and
// store with a scripted provider, for golden-file tests of what a dialect
// sends upstream (the canonical Request) and what it answers the client.
package dialecttest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine"
	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Clock is the fixed time every harness runs at.
var Clock = time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)

// Script is a provider that records each Request and replays Events.
type Script struct {
	mu       sync.Mutex
	Events   [][]adapters.Event // one list per call; the last repeats
	Err      error              // returned before any event when set
	requests []*adapters.Request
}

// Chat implements adapters.Provider.
func (s *Script) Chat(ctx context.Context, req *adapters.Request, emit adapters.Emit) error {
	s.mu.Lock()
	n := len(s.requests)
	s.requests = append(s.requests, req)
	events := s.Events[min(n, len(s.Events)-1)]
	s.mu.Unlock()
	if s.Err != nil {
		return s.Err
	}
	for _, ev := range events {
		if ev.Type == adapters.EventError {
			_ = emit(ev)
			return ev.Err
		}
		if err := emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// Requests returns the requests the provider received.
func (s *Script) Requests() []*adapters.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*adapters.Request(nil), s.requests...)
}

// LoadEvents reads a JSON-lines file of canonical events.
func LoadEvents(t testing.TB, path string) []adapters.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []adapters.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var ev adapters.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, ev)
	}
	return out
}

// Harness is a runtime over a temporary store with the Script as its only
// provider ("script"), and the dialect under test.
type Harness struct {
	Script *Script
	Engine *engine.Engine
	Store  state.Store
	Env    *dialects.Env
	mux    *http.ServeMux
	d      dialects.Dialect
}

// Principals used by harness requests, chosen with the X-Test-Tenant
// header ("a" by default).
var (
	TenantA = &adapters.Principal{KeyID: "key_a", Tenant: "tenant-a", Tier: "pro", Email: "a@example.com"}
	TenantB = &adapters.Principal{KeyID: "key_b", Tenant: "tenant-b", Tier: "free", Email: "b@example.com"}
)

// Options tune a harness's runtime beyond the defaults of New.
type Options struct {
	// Tools are the operator-declared toolkits; nil means none.
	Tools *tools.Registry
	// Routes map model names to the "script" provider (capabilities).
	Routes []models.Route
	// PausedRunTTL is how long paused runs wait; 0 means the default.
	PausedRunTTL time.Duration
	// Now replaces the fixed Clock (a test that lets time pass).
	Now func() time.Time
	// Memory configures long-term memory; nil turns it off (recall,
	// write-back and statistics), so the memory manager's background
	// calls do not interleave with a case's scripted ones.
	Memory *memory.Options
	// Prices price the calls; nil means Prices.
	Prices []pricing.Price
	// Providers are more providers beside the script (an HTTP provider
	// on a local upstream), by instance name.
	Providers map[string]adapters.Provider
}

// Prices are the harness's default prices: the scripted gpt-test models
// at $1.50 per million input tokens and $6 per million output tokens
// (1.5 and 6 micro-dollars a token); other models (o-test…) have none,
// so goldens show both a cost and an unknown one.
var Prices = []pricing.Price{{Model: "gpt-test*", Rates: pricing.Rates{Input: 1_500_000, Output: 6_000_000}}}

// New builds a harness for dialect name with agents declared.
func New(t testing.TB, name string, script *Script, agents ...*adapters.Agent) *Harness {
	t.Helper()
	return NewWith(t, name, script, Options{}, agents...)
}

// NewWith is New with opts.
func NewWith(t testing.TB, name string, script *Script, opts Options, agents ...*adapters.Agent) *Harness {
	t.Helper()
	store, err := bbolt.Open(filepath.Join(t.TempDir(), "test.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, a := range agents {
		if a.Provider == "" {
			a.Provider = "script"
		}
	}
	now := opts.Now
	if now == nil {
		now = func() time.Time { return Clock }
	}
	mem := memory.Options{Disabled: true}
	if opts.Memory != nil {
		mem = *opts.Memory
	}
	prices := opts.Prices
	if prices == nil {
		prices = Prices
	}
	table, err := pricing.NewTable(prices, nil)
	if err != nil {
		t.Fatal(err)
	}
	providers := map[string]adapters.Provider{"script": script}
	for name, p := range opts.Providers {
		providers[name] = p
	}
	rt, err := engine.New(engine.Config{
		Store: store, Providers: providers, Agents: agents,
		Now: now, UsageFlushInterval: time.Millisecond, Prices: table,
		Tools: opts.Tools, Routes: opts.Routes, PausedRunTTL: opts.PausedRunTTL, Memory: mem,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	env := &dialects.Env{Engine: rt, Limits: dialects.Limits{MaxBodyBytes: 1 << 20, MaxImageBytes: 64 << 10},
		Passthrough: rt.Models().PassthroughEnabled()}
	d, err := dialects.New(name, env)
	if err != nil {
		t.Fatal(err)
	}
	h := &Harness{Script: script, Engine: rt, Store: store, Env: env, mux: http.NewServeMux(), d: d}
	for _, r := range d.Routes() {
		fn := r.Handler
		h.mux.HandleFunc(r.Pattern, func(w http.ResponseWriter, req *http.Request) {
			p := TenantA
			if req.Header.Get("X-Test-Tenant") == "b" {
				p = TenantB
			}
			if err := fn(w, req, &exchange.Exchange{Principal: p, Dialect: name}); err != nil {
				d.WriteError(w, adapters.AsError(err))
			}
		})
	}
	return h
}

// ServeHTTP serves a request as Do does, to a writer of the caller's.
func (h *Harness) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Do serves one request and returns the recorded response.
func (h *Harness) Do(method, path string, body []byte, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.mux.ServeHTTP(rec, req)
	return rec
}

var ids = regexp.MustCompile(`\b(chatcmpl-|run-|conv_|msg_|resp_|exec_|agent_|sess_|mem_|call_)[a-z2-7]{26}\b`)

// Normalize replaces generated ids by stable placeholders.
func Normalize(b []byte) []byte { return ids.ReplaceAll(b, []byte("${1}ID")) }

// Golden compares got (normalized) with the golden file at path, or
// rewrites it under -update.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	got = Normalize(got)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got: %s\nwant: %s", path, got, want)
	}
}

// Indent pretty-prints JSON for readable golden files; other bytes pass.
func Indent(b []byte) []byte {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		return b
	}
	return append(buf.Bytes(), '\n')
}
