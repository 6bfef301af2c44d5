package caddymodule

import (
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

// Budgets are monthly quotas of money (limits.MonthlyMicroUSD): a request
// reserves its estimated cost before its first model call, and settles
// the known cost of its usage records after it. The estimate is a
// function of the models that may answer the request and its token
// estimate only (costEstimate), both from its decoded call
// (exchange.Estimate: the call's model resolved, then its agent's
// fallbacks).

// maxEstimate caps a reservation: a figure every limits backend counts
// exactly (Lua's doubles), far above any budget (a billion dollars).
const maxEstimate = 1 << 53

// budgetCost is what a request under a budget reserves: its estimated
// cost at the dearest of the models that may answer it, in
// micro-dollars. ok is false when one of them has no price (named in
// unpriced); the caller refuses the request or, on a tier with `unpriced
// allow`, leaves the budgets out of its admission.
//
// A request that names no model (a file upload passed through) reserves
// one micro-dollar, as does one of a free model: so a budget spent to the
// last micro-dollar refuses every request that calls a model, and what
// such a request really costs still settles.
func (h *Handler) budgetCost(est exchange.Estimate) (cost int64, unpriced string, ok bool) {
	var worst pricing.Micros
	for _, model := range est.Models {
		c, ok := h.app.costEstimate(model, est)
		if !ok {
			return 0, model, false
		}
		worst = max(worst, c)
	}
	return max(1, min(int64(worst), maxEstimate)), "", true
}

// costEstimate is what one call of model with a token estimate of est
// may cost at the configuration's prices (pricing.Price.Estimate: the
// prompt at the full input price, the output at the higher of the output
// and reasoning prices, per-request price included, rounded up). ok is
// false when model has no price that covers the call.
func (a *App) costEstimate(model string, est exchange.Estimate) (pricing.Micros, bool) {
	if p := a.priceOf(model); p != nil {
		return p.Estimate(est.Input, est.Output, 0)
	}
	return 0, false
}

// priceOf finds model's price as usage records are priced: under the
// upstream model the router sends model as, then under model itself.
func (a *App) priceOf(model string) *pricing.Price {
	if _, upstream, ok := a.engine.Models().Router().Resolve(model, ""); ok && upstream != model {
		if p := a.prices.Lookup(upstream); p != nil {
			return p
		}
	}
	return a.prices.Lookup(model)
}

// unpricedRefusal is the 403 of a request under a budget that calls a
// model without a price, on a tier that does not allow them.
func (a *App) unpricedRefusal(model string, tier state.Tier) *adapters.Error {
	what := "has no price"
	if p := a.priceOf(model); p != nil && p.Above != nil {
		what = "has no price for prompts longer than " + strconv.FormatInt(p.Above.Tokens, 10) + " tokens, as this one may be"
	}
	return &adapters.Error{Kind: adapters.KindForbidden, Code: "model_not_priced", Param: "model",
		Message: "model " + strconv.Quote(model) + " " + what + ", and tier " + strconv.Quote(tier.Name) +
			" has a monthly budget its cost must be counted against: ask the operator to price the model, or to set `unpriced allow` on the tier"}
}
