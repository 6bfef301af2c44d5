// Package pricing turns token usage into money: the price list of models
// (an embedded default table, overridden by the operator's entries) and
// the cost of one model call in integer micro-dollars, computed once when
// its usage record is written. It knows nothing of HTTP, Caddy or the
// store.
package pricing

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"

	"github.com/agentgate/agentgate/adapters"
)

// Price is what one model (or every model with a prefix) costs.
type Price struct {
	// Model is an exact model name, or a prefix ending in "*".
	Model string `json:"model"`
	Rates
	// PerRequest is charged once per model call; PerImage per image of
	// the call's input.
	PerRequest Micros `json:"per_request,omitempty"`
	PerImage   Micros `json:"per_image,omitempty"`
	// Above, when set, prices calls whose prompt is longer than a number
	// of tokens differently (Gemini's and Anthropic's long-context
	// prices), or leaves their cost unknown.
	Above *Above `json:"above,omitempty"`
}

// Rates are the token prices of a model, per million tokens.
type Rates struct {
	// Input is the price of prompt tokens that were neither read from
	// nor written to the upstream's prompt cache.
	Input Rate `json:"input,omitempty"`
	// CachedInput is the price of prompt tokens read from the cache;
	// unset, it is Input.
	CachedInput *Rate `json:"cached_input,omitempty"`
	// CacheWrite is the price of prompt tokens written to the cache
	// (Anthropic's cache_creation_input_tokens, at its five-minute
	// price); unset, it is Input.
	CacheWrite *Rate `json:"cache_write,omitempty"`
	// Output is the price of generated tokens other than reasoning.
	Output Rate `json:"output,omitempty"`
	// Reasoning is the price of reasoning (thinking) tokens; unset, it is
	// Output.
	Reasoning *Rate `json:"reasoning,omitempty"`
}

// Above prices the calls whose prompt (input tokens, cached ones
// included) is longer than Tokens: every token of such a call at Rates,
// or, when Rates is nil, an unknown cost.
type Above struct {
	Tokens int64 `json:"tokens"`
	*Rates
}

func (r *Rates) cachedInput() Rate { return or(r.CachedInput, r.Input) }
func (r *Rates) cacheWrite() Rate  { return or(r.CacheWrite, r.Input) }
func (r *Rates) reasoning() Rate   { return or(r.Reasoning, r.Output) }

func or(p *Rate, def Rate) Rate {
	if p != nil {
		return *p
	}
	return def
}

// Validate reports what is wrong with p, naming the field.
func (p *Price) Validate() error {
	if p.Model == "" || p.Model == "*" {
		return errors.New("model is required (an exact name, or a prefix ending in *)")
	}
	if i := strings.IndexByte(p.Model, '*'); i >= 0 && i != len(p.Model)-1 {
		return fmt.Errorf("model %q: * may only end a prefix", p.Model)
	}
	if err := p.Rates.validate(""); err != nil {
		return err
	}
	for name, m := range map[string]Micros{"per_request": p.PerRequest, "per_image": p.PerImage} {
		if m < 0 || m > maxDollars*scale {
			return fmt.Errorf("%s must be between 0 and a billion dollars, got %s", name, m)
		}
	}
	if a := p.Above; a != nil {
		if a.Tokens <= 0 {
			return fmt.Errorf("above: the prompt length must be a positive number of tokens, got %d", a.Tokens)
		}
		if a.Rates != nil {
			if err := a.Rates.validate("above: "); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Rates) validate(prefix string) error {
	for _, f := range []struct {
		name string
		r    *Rate
	}{{"input", &r.Input}, {"cached_input", r.CachedInput}, {"cache_write", r.CacheWrite}, {"output", &r.Output}, {"reasoning", r.Reasoning}} {
		if f.r != nil && (*f.r < 0 || *f.r > maxDollars*scale) {
			return fmt.Errorf("%s%s must be between 0 and a billion dollars per million tokens, got %s", prefix, f.name, *f.r)
		}
	}
	return nil
}

// Cost is what a model call with usage u and images input images costs,
// rounded once, half up, to the micro-dollar; ok is false when the price
// does not cover the call (a prompt above a length without a price).
//
// Usage follows adapters.Usage: InputTokens is the whole prompt, with the
// cache reads (CachedTokens) and writes (CacheWriteTokens) part of it;
// OutputTokens is everything generated, with ReasoningTokens part of it.
// Every provider adapter reports it so (OpenAI's completion_tokens include
// its reasoning_tokens; the Gemini adapter adds thoughtsTokenCount to
// candidatesTokenCount; Anthropic counts thinking in output_tokens and
// reports no reasoning count, so its thinking is billed at the output
// price, as Anthropic bills it), so no token is billed twice:
//
//	(input − cached − cache_write) × input + cached × cached_input
//	+ cache_write × cache_write + (output − reasoning) × output
//	+ reasoning × reasoning + per_request + images × per_image
func (p *Price) Cost(u adapters.Usage, images int) (Micros, bool) {
	r, ok := p.ratesFor(int64(u.InputTokens))
	if !ok {
		return 0, false
	}
	in := max(0, int64(u.InputTokens))
	cached := min(max(0, int64(u.CachedTokens)), in)
	written := min(max(0, int64(u.CacheWriteTokens)), in-cached)
	out := max(0, int64(u.OutputTokens))
	reasoning := min(max(0, int64(u.ReasoningTokens)), out)
	var sum picos
	sum.add(in-cached-written, int64(r.Input))
	sum.add(cached, int64(r.cachedInput()))
	sum.add(written, int64(r.cacheWrite()))
	sum.add(out-reasoning, int64(r.Output))
	sum.add(reasoning, int64(r.reasoning()))
	sum.add(1, int64(p.PerRequest)*scale)
	sum.add(max(0, int64(images)), int64(p.PerImage)*scale)
	return sum.micros(scale / 2), true
}

// Estimate is what a call may cost before it runs, for reserving a
// budget: a prompt of inputTokens at the full input price (no cache
// discount counted on) and up to maxOutput tokens at the higher of the
// output and reasoning prices, rounded up to the micro-dollar, so an
// estimate never falls short of the cost of a call that stays within it.
func (p *Price) Estimate(inputTokens, maxOutput int64, images int) (Micros, bool) {
	r, ok := p.ratesFor(inputTokens)
	if !ok {
		return 0, false
	}
	var sum picos
	sum.add(max(0, inputTokens), int64(max(r.Input, r.cachedInput(), r.cacheWrite())))
	sum.add(max(0, maxOutput), int64(max(r.Output, r.reasoning())))
	sum.add(1, int64(p.PerRequest)*scale)
	sum.add(max(0, int64(images)), int64(p.PerImage)*scale)
	return sum.micros(scale - 1), true
}

// ratesFor returns the rates of a call with a prompt of prompt tokens.
func (p *Price) ratesFor(prompt int64) (*Rates, bool) {
	if a := p.Above; a != nil && prompt > a.Tokens {
		return a.Rates, a.Rates != nil
	}
	return &p.Rates, true
}

// picos is an exact sum of pico-dollars in 128 bits: tokens × rate
// products and their sum cannot overflow it.
type picos struct{ hi, lo uint64 }

// add adds n × rate (both non-negative).
func (s *picos) add(n, rate int64) {
	hi, lo := bits.Mul64(uint64(n), uint64(rate))
	var carry uint64
	s.lo, carry = bits.Add64(s.lo, lo, 0)
	s.hi += hi + carry
}

// micros divides the sum by a million after adding bias (half a million
// rounds half up, a million less one rounds up), saturating at the
// largest Micros.
func (s picos) micros(bias uint64) Micros {
	lo, carry := bits.Add64(s.lo, bias, 0)
	hi := s.hi + carry
	if hi >= scale {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, scale)
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return Micros(q)
}
