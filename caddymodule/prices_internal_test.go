package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

// TestPricesFromJSON: the JSON config's prices (what the Caddyfile adapts
// to, or what an operator writes) override the default table, and a bad
// entry fails provisioning naming it.
func TestPricesFromJSON(t *testing.T) {
	var app App
	err := json.Unmarshal([]byte(`{"prices":[
		{"model":"gpt-4o-mini","input":1,"output":2},
		{"model":"mine-*","input":0.5,"above":{"tokens":100}}
	]}`), &app)
	if err != nil {
		t.Fatal(err)
	}
	table, err := app.priceTable()
	if err != nil {
		t.Fatal(err)
	}
	u := adapters.Usage{InputTokens: 100, OutputTokens: 10}
	for model, want := range map[string]int64{
		"gpt-4o-mini":             100*1 + 10*2,      // the operator's entry replaces the default
		"gpt-4o":                  100*25/10 + 10*10, // the default table still applies
		"mine-small":              50,                // 100 × 0.5
		"claude-3-haiku-20240307": 38,                // 100 × 0.25 + 10 × 1.25 = 37.5, rounded half up
	} {
		if got, ok := table.Cost(u, 0, model); !ok || int64(got) != want {
			t.Errorf("%s: %d %v, want %d", model, got, ok, want)
		}
	}
	if _, ok := table.Cost(adapters.Usage{InputTokens: 101}, 0, "mine-big"); ok {
		t.Error("a prompt above the priced length has a cost")
	}
	for body, want := range map[string]string{
		`{"prices":[{"model":"a*b","input":1}]}`:             `prices: price "a*b"`,
		`{"prices":[{"model":"m","input":1},{"model":"m"}]}`: `price "m" is given twice`,
		`{"prices":[{"model":"m","above":{"tokens":0}}]}`:    "above: the prompt length",
		`{"prices":[{"model":"m","reasoning":-1}]}`:          "reasoning",
		`{"prices":[{"model":"m","per_image":0.00000001}]}`:  "per_image",
	} {
		var app App
		err := json.Unmarshal([]byte(body), &app)
		if err == nil {
			_, err = app.priceTable()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", body, err, want)
		}
	}
}
