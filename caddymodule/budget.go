package caddymodule

import (
	"context"
	"net/http"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

// Budgets are monthly quotas of money (limits.MonthlyMicroUSD): a request
// reserves its estimated cost before the upstream call, and settles the
// known cost of its usage records after it. The estimate is a function
// of the model a request calls and its token estimate only
// (costEstimate); which model that is comes from the request's route
// (dialects.Route.Target), before the dialect decodes it.

// maxEstimate caps a reservation: a figure every limits backend counts
// exactly (Lua's doubles), far above any budget (a billion dollars).
const maxEstimate = 1 << 53

// budgetCost is what a request under a budget reserves: its estimated
// cost, in micro-dollars. ok is false when the request calls a model
// without a price (named in unpriced); the caller refuses it or, on a
// tier with `unpriced allow`, leaves the budgets out of its admission.
//
// A request whose model is not known before it runs (a route without a
// Target, an agent or model that does not resolve: the dialect answers
// for those) reserves one micro-dollar, as does one of a free model: so
// a budget spent to the last micro-dollar refuses every request that
// calls a model, and what such a request really costs still settles.
func (h *Handler) budgetCost(ctx context.Context, r *http.Request, p *adapters.Principal, target func(*http.Request, []byte) dialects.Target,
	body []byte, est tokenEstimate) (cost int64, unpriced string, ok bool) {
	if target == nil {
		return 1, "", true
	}
	var worst pricing.Micros
	for _, model := range h.callModels(ctx, p, target(r, body)) {
		c, ok := h.app.costEstimate(model, est)
		if !ok {
			return 0, model, false
		}
		worst = max(worst, c)
	}
	return max(1, min(int64(worst), maxEstimate)), "", true
}

// callModels are the models a request for t may call: the model it asks
// for, else its agent's, then the agent's fallbacks. None when t does not
// resolve.
func (h *Handler) callModels(ctx context.Context, p *adapters.Principal, t dialects.Target) []string {
	if t.Name == "" {
		return nil
	}
	agent, err := dialects.ResolveModel(ctx, h.app.engine, p, t.Name)
	if err != nil {
		return nil
	}
	model := t.Model
	if model == "" {
		model = agent.Model
	}
	return append([]string{model}, agent.Fallbacks...)
}

// costEstimate is what one call of model with a token estimate of est
// may cost at the configuration's prices (pricing.Price.Estimate: the
// prompt at the full input price, the output at the higher of the output
// and reasoning prices, per-request price included, rounded up). ok is
// false when model has no price that covers the call.
func (a *App) costEstimate(model string, est tokenEstimate) (pricing.Micros, bool) {
	if p := a.priceOf(model); p != nil {
		return p.Estimate(est.input, est.output, 0)
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
