package caddymodule

import (
	"strconv"

	"github.com/agentgate/agentgate/pricing"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parsePrice parses a price entry of the agentgate global option, in US
// dollars (per million tokens for the token prices):
//
//	price <model|prefix*> {
//	    input <dollars>          # prompt tokens neither read from nor written to a cache
//	    cached_input <dollars>   # prompt tokens read from the cache; default: input
//	    cache_write <dollars>    # prompt tokens written to the cache; default: input
//	    output <dollars>         # generated tokens other than reasoning
//	    reasoning <dollars>      # reasoning tokens; default: output
//	    per_request <dollars>    # per model call
//	    per_image <dollars>      # per input image
//	    above <tokens> [{        # prompts longer than <tokens>: these prices for
//	        input … output …     # every token of the call; without a block, such
//	    }]                       # calls have an unknown cost
//	}
//
// An entry replaces the default table's entry of the same model; the
// operator's entries are consulted before the defaults.
func parsePrice(d *caddyfile.Dispenser, app *App) error {
	var p pricing.Price
	if !d.Args(&p.Model) {
		return d.ArgErr()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch opt := d.Val(); opt {
		case "per_request", "per_image":
			var s string
			if err = oneArg(d, &s); err != nil {
				return err
			}
			m, perr := pricing.ParseMicros(s)
			if perr != nil {
				return d.Errf("price %s: %s: %v", p.Model, opt, perr)
			}
			if opt == "per_request" {
				p.PerRequest = m
			} else {
				p.PerImage = m
			}
		case "above":
			err = parsePriceAbove(d, &p)
		default:
			err = parseRate(d, p.Model, &p.Rates)
		}
		if err != nil {
			return err
		}
	}
	if err := p.Validate(); err != nil {
		return d.Errf("price %s: %v", p.Model, err)
	}
	for _, q := range app.Prices {
		if q.Model == p.Model {
			return d.Errf("price %s is given twice", p.Model)
		}
	}
	app.Prices = append(app.Prices, p)
	return nil
}

// parseRate parses one token price line (input, cached_input,
// cache_write, output, reasoning) into r.
func parseRate(d *caddyfile.Dispenser, model string, r *pricing.Rates) error {
	opt := d.Val()
	var dst **pricing.Rate
	switch opt {
	case "input", "output":
	case "cached_input":
		dst = &r.CachedInput
	case "cache_write":
		dst = &r.CacheWrite
	case "reasoning":
		dst = &r.Reasoning
	default:
		return d.Errf("price %s: unrecognized option %q (input, cached_input, cache_write, output, reasoning, per_request, per_image, above)", model, opt)
	}
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	v, err := pricing.ParseRate(s)
	if err != nil {
		return d.Errf("price %s: %s: %v", model, opt, err)
	}
	switch {
	case opt == "input":
		r.Input = v
	case opt == "output":
		r.Output = v
	default:
		*dst = &v
	}
	return nil
}

// parsePriceAbove parses `above <tokens> [{ <token prices> }]`.
func parsePriceAbove(d *caddyfile.Dispenser, p *pricing.Price) error {
	var s string
	if !d.Args(&s) {
		return d.ArgErr()
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return d.Errf("price %s: above: want a positive number of prompt tokens, got %q", p.Model, s)
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	if p.Above != nil {
		return d.Errf("price %s: above is given twice", p.Model)
	}
	p.Above = &pricing.Above{Tokens: n}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if p.Above.Rates == nil {
			p.Above.Rates = &pricing.Rates{}
		}
		if err := parseRate(d, p.Model+" above "+s, p.Above.Rates); err != nil {
			return err
		}
	}
	return nil
}
