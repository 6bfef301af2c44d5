package pricing

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

func TestTableLookup(t *testing.T) {
	operator := []Price{
		{Model: "claude-*", Rates: Rates{Input: 1}},
		{Model: "gpt-4o-mini", Rates: Rates{Input: 2}},
		{Model: "my-*", Rates: Rates{Input: 3}},
		{Model: "my-long-*", Rates: Rates{Input: 4}},
	}
	defaults := []Price{
		{Model: "claude-haiku-4-5", Rates: Rates{Input: 10}},
		{Model: "gpt-4o-mini", Rates: Rates{Input: 20}},
		{Model: "gpt-4o", Rates: Rates{Input: 30}},
		{Model: "gemini-*", Rates: Rates{Input: 40}},
	}
	tb, err := NewTable(operator, defaults)
	if err != nil {
		t.Fatal(err)
	}
	for model, want := range map[string]Rate{
		"claude-haiku-4-5": 1,  // the operator's prefix wins over a default's exact name
		"gpt-4o-mini":      2,  // the operator's entry replaces the default
		"gpt-4o":           30, // defaults apply where the operator says nothing
		"my-long-model":    4,  // the longest prefix
		"my-model":         3,
		"gemini-2.5-flash": 40,
		"gpt-4o-mini-2024": 0, // no price: exact names are not prefixes
		"":                 0,
		"unknown":          0,
	} {
		p := tb.Lookup(model)
		var got Rate
		if p != nil {
			got = p.Input
		}
		if got != want {
			t.Errorf("Lookup(%q) input = %d, want %d", model, got, want)
		}
	}
	// The reported model, then the asked one.
	u := adapters.Usage{InputTokens: 1_000_000}
	if c, ok := tb.Cost(u, 0, "gpt-4o-mini-2024-07-18", "gpt-4o-mini"); !ok || c != 2 {
		t.Errorf("dated snapshot: %d %v", c, ok)
	}
	if _, ok := tb.Cost(u, 0, "nope", ""); ok {
		t.Error("unknown model priced")
	}
	var nilTable *Table
	if nilTable.Lookup("gpt-4o") != nil {
		t.Error("nil table priced a model")
	}
	if e, ok := tb.Estimate("gpt-4o", 1_000_000, 0, 0); !ok || e != 30 {
		t.Errorf("estimate %d %v", e, ok)
	}
	if _, ok := tb.Estimate("nope", 1, 1, 0); ok {
		t.Error("estimate of an unknown model")
	}
}

func TestNewTableRejects(t *testing.T) {
	for _, tc := range []struct {
		op  []Price
		err string
	}{
		{[]Price{{Model: "a"}, {Model: "a"}}, `price "a" is given twice`},
		{[]Price{{Model: "a*b"}}, `price "a*b"`},
		{[]Price{{Model: "a", Rates: Rates{Output: -1}}}, "output must be"},
	} {
		if _, err := NewTable(tc.op, nil); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: %v, want %q", tc.op, err, tc.err)
		}
	}
}

// TestDefaults: the embedded table loads, is dated, names its sources,
// and every entry is valid and priced.
func TestDefaults(t *testing.T) {
	d, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse("2006-01-02", d.Taken); err != nil {
		t.Errorf("taken %q: %v", d.Taken, err)
	}
	official := regexp.MustCompile(`^https://(developers\.openai\.com|platform\.claude\.com|ai\.google\.dev)/`)
	for _, provider := range []string{"openai", "anthropic", "gemini"} {
		if !official.MatchString(d.Sources[provider]) {
			t.Errorf("source of %s: %q is not the provider's own page", provider, d.Sources[provider])
		}
	}
	prices, err := DefaultPrices()
	if err != nil {
		t.Fatal(err)
	}
	tb, err := NewTable(nil, prices)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prices {
		if p.Input == 0 {
			t.Errorf("%s has no input price", p.Model)
		}
		if strings.HasSuffix(p.Model, "*") {
			t.Errorf("%s: the default table names models exactly, so a new model is never priced as an old one", p.Model)
		}
	}
	for _, model := range []string{"gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"} {
		if tb.Lookup(model) == nil {
			t.Errorf("%s is not in the default table", model)
		}
	}
	// One model per provider, to the micro-dollar.
	u := adapters.Usage{InputTokens: 10_000, CachedTokens: 4_000, OutputTokens: 2_000}
	for model, want := range map[string]Micros{
		"gpt-4o-mini":       6000*150/1000 + 4000*75/1000 + 2000*600/1000, // 900 + 300 + 1200
		"claude-sonnet-4-5": 6000*3 + 4000*3/10 + 2000*15,                 // 18000 + 1200 + 30000
		"gemini-2.5-flash":  6000*3/10 + 4000*3/100 + 2000*25/10,          // 1800 + 120 + 5000
	} {
		if got, ok := tb.Cost(u, 0, model); !ok || got != want {
			t.Errorf("%s: %d %v, want %d", model, got, ok, want)
		}
	}
	// The file is what the package says it is: strict JSON.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(defaultsJSON, &raw); err != nil {
		t.Fatal(err)
	}
}

func TestFirstUnpriced(t *testing.T) {
	if !FirstUnpriced("test-model-a") || FirstUnpriced("test-model-a") {
		t.Fatal("warned twice, or not at all")
	}
	for i := 0; FirstUnpriced("test-flood-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String()); i++ {
		if i > maxWarned {
			t.Fatal("the warned set grows without bound")
		}
	}
}
