package models

import (
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/pricing"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestCostUnknownWarnsOnce: a model without a price costs nil (never 0)
// and is named in one warning per process, however often it is called;
// a prompt above a price's covered length likewise.
func TestCostUnknownWarnsOnce(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	// A model is warned about once per process: names of this run's own
	// keep the test repeatable (-count).
	run := adapters.NewID("-")
	unpriced, short := "cost-test-unpriced"+run, "cost-test-short"+run
	prices, err := pricing.NewTable([]pricing.Price{
		{Model: "cost-test-priced", Rates: pricing.Rates{Input: 2_000_000}},
		{Model: short, Rates: pricing.Rates{Input: 1}, Above: &pricing.Above{Tokens: 10}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Models{prices: prices, log: zap.New(core)}
	u := adapters.Usage{InputTokens: 100}
	for range 3 {
		if c := rt.cost(u, 0, unpriced); c != nil {
			t.Fatalf("unpriced model cost %d", *c)
		}
		if c := rt.cost(u, 0, short); c != nil {
			t.Fatalf("a prompt above the priced length cost %d", *c)
		}
	}
	if c := rt.cost(u, 0, "", "cost-test-priced"); c == nil || *c != 200 {
		t.Fatalf("priced model: %v", c)
	}
	got := map[string]int{}
	for _, e := range logs.All() {
		got[e.ContextMap()["model"].(string)]++
	}
	if len(got) != 2 || got[unpriced] != 1 || got[short] != 1 {
		t.Fatalf("warnings: %v", got)
	}
	var nilPrices Models
	nilPrices.log = zap.NewNop()
	if c := nilPrices.cost(u, 0, "gpt-4o"); c != nil {
		t.Fatal("models without prices priced a call")
	}
}

func TestImagesIn(t *testing.T) {
	msgs := []adapters.Message{
		{Parts: []adapters.Part{{Type: adapters.PartText, Text: "a"}, {Type: adapters.PartImage}}},
		{Parts: []adapters.Part{{Type: adapters.PartImage}, {Type: adapters.PartImage}}},
	}
	if n := imagesIn(msgs); n != 3 {
		t.Fatalf("imagesIn = %d", n)
	}
}
