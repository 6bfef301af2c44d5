package pricing

import (
	"math"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

func rate(s string) *Rate {
	r, err := ParseRate(s)
	if err != nil {
		panic(err)
	}
	return &r
}

func micros(s string) Micros {
	m, err := ParseMicros(s)
	if err != nil {
		panic(err)
	}
	return m
}

var (
	miniPrice   = Price{Model: "gpt-4o-mini", Rates: Rates{Input: *rate("0.15"), CachedInput: rate("0.075"), Output: *rate("0.6")}}
	sonnetPrice = Price{Model: "claude-sonnet-*", Rates: Rates{Input: *rate("3"), CachedInput: rate("0.3"), CacheWrite: rate("3.75"), Output: *rate("15")}}
	thinkPrice  = Price{Model: "thinker", Rates: Rates{Input: *rate("1.1"), Output: *rate("4.4"), Reasoning: rate("10")}}
	proPrice    = Price{Model: "gemini-2.5-pro", Rates: Rates{Input: *rate("1.25"), CachedInput: rate("0.125"), Output: *rate("10")},
		Above: &Above{Tokens: 200_000, Rates: &Rates{Input: *rate("2.5"), CachedInput: rate("0.25"), Output: *rate("15")}}}
	shortPrice = Price{Model: "gpt-5.5", Rates: Rates{Input: *rate("5"), Output: *rate("30")}, Above: &Above{Tokens: 270_000}}
	flatPrice  = Price{Model: "flat", PerRequest: micros("0.01"), PerImage: micros("0.002"), Rates: Rates{Input: *rate("1")}}
	tinyPrice  = Price{Model: "tiny", Rates: Rates{Input: *rate("0.075"), Output: *rate("0.025"), Reasoning: rate("0.499999")}}
)

// TestCost: each kind of token at its own price, nothing billed twice,
// rounded once per call, half up, to the micro-dollar.
func TestCost(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      Price
		u      adapters.Usage
		images int
		want   Micros
		ok     bool
	}{
		{"input and output", miniPrice, adapters.Usage{InputTokens: 1000, OutputTokens: 500}, 0, 450, true},
		// 600 × 0.15 + 400 × 0.075 + 500 × 0.6 µ$.
		{"cached input at the cached price", miniPrice, adapters.Usage{InputTokens: 1000, CachedTokens: 400, OutputTokens: 500}, 0, 420, true},
		// Anthropic: 500 fresh × 3 + 200 read × 0.3 + 300 written × 3.75 + 100 × 15.
		{"cache reads and writes", sonnetPrice, adapters.Usage{InputTokens: 1000, CachedTokens: 200, CacheWriteTokens: 300, OutputTokens: 100}, 0, 4185, true},
		// Reasoning is part of output: 40 × 4.4 + 60 × 10, plus 100 × 1.1.
		{"reasoning at the reasoning price", thinkPrice, adapters.Usage{InputTokens: 100, OutputTokens: 100, ReasoningTokens: 60}, 0, 886, true},
		// Unset, reasoning is billed at the output price.
		{"reasoning defaults to output", miniPrice, adapters.Usage{InputTokens: 0, OutputTokens: 100, ReasoningTokens: 60}, 0, 60, true},
		{"cached defaults to input", thinkPrice, adapters.Usage{InputTokens: 100, CachedTokens: 100}, 0, 110, true},
		{"per request and per image", flatPrice, adapters.Usage{InputTokens: 1000}, 3, 1000 + 10_000 + 6_000, true},
		{"a failed call still pays per request", flatPrice, adapters.Usage{}, 0, 10_000, true},
		// 7 × 0.075 = 0.525 µ$ → 1; 6 × 0.075 = 0.45 → 0.
		{"rounds half up: above half", tinyPrice, adapters.Usage{InputTokens: 7}, 0, 1, true},
		{"rounds half up: below half", tinyPrice, adapters.Usage{InputTokens: 6}, 0, 0, true},
		// 20 × 0.025 = 0.5 µ$ exactly → 1.
		{"rounds half up: exactly half", tinyPrice, adapters.Usage{OutputTokens: 20}, 0, 1, true},
		// 1 × 0.499999 µ$ → 0.
		{"rounds half up: just below half", tinyPrice, adapters.Usage{OutputTokens: 1, ReasoningTokens: 1}, 0, 0, true},
		// The fractions of the parts add up before rounding: 0.45 + 0.45.
		{"rounds the call, not each part", tinyPrice, adapters.Usage{InputTokens: 6, OutputTokens: 18}, 0, 1, true},
		{"long prompt at the long price", proPrice, adapters.Usage{InputTokens: 200_001, CachedTokens: 1, OutputTokens: 1000}, 0, 200_000*5/2 + 0 + 15_000, true},
		{"at the threshold: short price", proPrice, adapters.Usage{InputTokens: 200_000, OutputTokens: 1000}, 0, 250_000 + 10_000, true},
		{"long prompt without a price: unknown", shortPrice, adapters.Usage{InputTokens: 270_001}, 0, 0, false},
		{"short prompt of the same model", shortPrice, adapters.Usage{InputTokens: 270_000}, 0, 1_350_000, true},
		// Inconsistent counts are clamped, never negative.
		{"cached above input is clamped", miniPrice, adapters.Usage{InputTokens: 100, CachedTokens: 500, CacheWriteTokens: 50, OutputTokens: 10, ReasoningTokens: 99}, 0, 14, true},
		{"negative counts are zero", miniPrice, adapters.Usage{InputTokens: -5, OutputTokens: -5}, -2, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.p.Cost(tc.u, tc.images)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Cost(%+v, %d) = %d, %v; want %d, %v", tc.u, tc.images, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestCostNoDrift: a thousand calls cost exactly a thousand times one,
// however many decimals the prices have.
func TestCostNoDrift(t *testing.T) {
	one, _ := miniPrice.Cost(adapters.Usage{InputTokens: 1234, CachedTokens: 1000, OutputTokens: 77}, 0)
	var sum Micros
	for range 1000 {
		c, _ := miniPrice.Cost(adapters.Usage{InputTokens: 1234, CachedTokens: 1000, OutputTokens: 77}, 0)
		sum += c
	}
	if sum != 1000*one {
		t.Fatalf("sum %d, want %d", sum, 1000*one)
	}
}

func TestEstimate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       Price
		in, out int64
		want    Micros
		ok      bool
	}{
		// No cache discount counted on, output at the higher of output
		// and reasoning: 100 × 1.1 + 100 × 10.
		{"reasoning price when higher", thinkPrice, 100, 100, 1110, true},
		// Cache writes cost more than input: the estimate takes them.
		{"the dearest input price", sonnetPrice, 1000, 0, 3750, true},
		// 7 × 0.075 = 0.525 → 1: rounded up.
		{"rounded up", tinyPrice, 7, 0, 1, true},
		{"rounded up from any fraction", tinyPrice, 1, 0, 1, true},
		{"long prompt", proPrice, 300_000, 0, 750_000, true},
		{"long prompt without a price", shortPrice, 300_000, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.p.Estimate(tc.in, tc.out, 0)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Estimate(%d, %d) = %d, %v; want %d, %v", tc.in, tc.out, got, ok, tc.want, tc.ok)
			}
		})
	}
	// An estimate is never below the cost of a call within it.
	u := adapters.Usage{InputTokens: 1000, CachedTokens: 300, CacheWriteTokens: 200, OutputTokens: 400, ReasoningTokens: 100}
	for _, p := range []Price{miniPrice, sonnetPrice, thinkPrice, proPrice, tinyPrice, flatPrice} {
		c, _ := p.Cost(u, 2)
		e, _ := p.Estimate(1000, 400, 2)
		if e < c {
			t.Errorf("%s: estimate %d below cost %d", p.Model, e, c)
		}
	}
}

func TestPicosSaturate(t *testing.T) {
	var s picos
	s.add(math.MaxInt64, math.MaxInt64)
	if got := s.micros(scale / 2); got != math.MaxInt64 {
		t.Fatalf("got %d", got)
	}
	var big picos
	big.add(1<<31, int64(maxDollars)*scale) // the largest call a validated price can bill
	if got := big.micros(scale / 2); got != Micros(1<<31)*maxDollars {
		t.Fatalf("got %d", got)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		p   Price
		err string
	}{
		{Price{}, "model is required"},
		{Price{Model: "*"}, "model is required"},
		{Price{Model: "a*b"}, "only end a prefix"},
		{Price{Model: "m", Rates: Rates{Input: -1}}, "input must be"},
		{Price{Model: "m", Rates: Rates{CachedInput: func() *Rate { r := Rate(-1); return &r }()}}, "cached_input must be"},
		{Price{Model: "m", PerImage: -1}, "per_image must be"},
		{Price{Model: "m", Above: &Above{}}, "above: the prompt length"},
		{Price{Model: "m", Above: &Above{Tokens: 5, Rates: &Rates{Output: -3}}}, "above: output must be"},
	} {
		err := tc.p.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: %v, want %q", tc.p, err, tc.err)
		}
	}
	for _, p := range []Price{miniPrice, sonnetPrice, proPrice, shortPrice, flatPrice} {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", p.Model, err)
		}
	}
}
