package caddymodule

import (
	"path/filepath"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/mock"
	"github.com/agentgate/agentgate/engine"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state/bbolt"
	"go.uber.org/zap"
)

// TestCostEstimate: a budget's estimate is the token estimate at the
// price usage records would be priced at: under the upstream model an
// alias or a stripped prefix routes to, else the name itself; rounded
// up, per-request price included. A model without a price, or whose
// price leaves a prompt this long unpriced, has none.
func TestCostEstimate(t *testing.T) {
	up, err := mock.New(adapters.ProviderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	opener := &bbolt.Module{File: filepath.Join(t.TempDir(), "budget.db")}
	be, err := acquireBackend(opener, 0, clock.Real{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = releaseStore(opener.Location()) })
	rt, err := engine.New(engine.Config{Store: be.store, Recorder: be.recorder, Providers: map[string]adapters.Provider{"up": up}, Routes: []models.Route{
		{Pattern: "fast", Provider: "up", Target: "cheap-1"},
		{Pattern: "vendor/*", Provider: "up"},
		{Pattern: "named", Provider: "up", Target: "unpriced-upstream"},
		{Pattern: "*", Provider: "up"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	var app App
	app.engine = rt
	rate := func(dollars string) pricing.Rate { r, _ := pricing.ParseRate(dollars); return r }
	app.prices, err = pricing.NewTable([]pricing.Price{
		{Model: "cheap-1", Rates: pricing.Rates{Input: rate("1"), Output: rate("2")}},
		{Model: "named", Rates: pricing.Rates{Input: rate("3"), Output: rate("3")}},
		{Model: "reasoner", Rates: pricing.Rates{Input: rate("1"), Output: rate("2"), Reasoning: ptr(rate("5"))}, PerRequest: 7},
		{Model: "long*", Rates: pricing.Rates{Input: rate("0.5")}, Above: &pricing.Above{Tokens: 100}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	est := tokenEstimate{input: 100, output: 10}
	for _, tc := range []struct {
		model string
		want  int64 // micro-dollars; -1: no estimate
	}{
		{"fast", 100*1 + 10*2},       // the alias, priced as its upstream model
		{"vendor/cheap-1", 100 + 20}, // the prefix stripped
		{"cheap-1", 120},             // the name itself
		{"named", 100*3 + 10*3},      // its upstream has no price: the name's
		{"reasoner", 100 + 10*5 + 7}, // output at the reasoning price, per request
		{"long-1", 50},               // 100 tokens: not above the threshold
		{"unknown", -1},
	} {
		got, ok := app.costEstimate(tc.model, est)
		if !ok {
			got = -1
		}
		if int64(got) != tc.want {
			t.Errorf("%s: %d, want %d", tc.model, got, tc.want)
		}
	}
	if _, ok := app.costEstimate("long-1", tokenEstimate{input: 101}); ok {
		t.Error("a prompt above the priced length has an estimate")
	}
	// A fraction of a micro-dollar is rounded up.
	if got, ok := app.costEstimate("long-1", tokenEstimate{input: 3}); !ok || got != 2 {
		t.Errorf("3 tokens at $0.5 a million: %d %v, want 2", got, ok)
	}
}

func ptr[T any](v T) *T { return &v }
