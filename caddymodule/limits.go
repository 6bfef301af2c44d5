package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/limits"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

// tierRules are the limits a tier puts on each request of a key: where
// each rule takes its maximum (zero: no limit) and scope from. A new
// kind of limit is a line here, its kind in package limits, its refusal
// below and, for a quota, where usage records count it (usageSeeder).
var tierRules = [...]struct {
	kind limits.Kind
	max  func(state.Tier) int64
	// tenant: the rule's scope is the key's tenant (tenantScope), else
	// the key (keyScope).
	tenant bool
	// model: the rule counts tokens, so only requests that call a model
	// take from it.
	model bool
}{
	{limits.Concurrent, func(t state.Tier) int64 { return t.Concurrent }, false, false},
	{limits.RequestsPerMinute, func(t state.Tier) int64 { return t.RPM }, false, false},
	{limits.TokensPerMinute, func(t state.Tier) int64 { return t.TPM }, false, true},
	{limits.MonthlyTokens, func(t state.Tier) int64 { return t.MonthlyTokens }, false, true},
	{limits.MonthlyTokens, func(t state.Tier) int64 { return t.TenantMonthlyTokens }, true, true},
	{limits.MonthlyMicroUSD, func(t state.Tier) int64 { return int64(t.MonthlyBudgetUSD) }, false, true},
	{limits.MonthlyMicroUSD, func(t state.Tier) int64 { return int64(t.TenantMonthlyBudgetUSD) }, true, true},
}

// The scopes of rules: the scopes of the store's monthly counters.
func keyScope(p *adapters.Principal) string    { return "key:" + p.KeyID }
func tenantScope(p *adapters.Principal) string { return "tenant:" + p.Tenant }

// admit applies p's tier to a request of p, which est says what it may
// cost: every request through a dialect route is admitted (or refused)
// here, once, in one call to the limits backend (all or nothing), and its
// lease settled with its real usage when it ends (exchange.Exchange.Settle).
// Routes that call no model are admitted before their handler runs, with
// a zero estimate; the others once their call is decoded, with the
// estimate of the engine (models.EstimateCall: the prompt the run sends,
// history included, and the maximum output it names, else 1024 tokens),
// or of the OpenAI passthrough (models.EstimateBody). A request refused
// by its own bad input (400, 404, 413) is answered before admission and
// takes nothing.
//
//   - concurrent: a slot per request in flight, streams included;
//   - rpm: a token bucket of rpm requests refilled over a minute;
//   - tpm: a token bucket of tpm tokens; a request takes its estimate and,
//     when it ends, gives back or owes the difference to its real usage;
//   - monthly quotas (per key and, where the tier says so, per tenant):
//     the estimate is reserved before the upstream call and replaced by
//     the real usage after it. A request whose reservation does not fit
//     is refused before any upstream call;
//   - monthly budgets (per key and per tenant) are quotas of money: the
//     estimate is the token estimate at the prices of the model the
//     request calls (budget.go), the real usage the known cost of its
//     usage records.
//
// Overspend bound: at any time used + reserved <= quota in the limits
// backend, shared by every instance on limits redis, and each request's
// reservation is replaced by its real usage, so the settled total can
// exceed the quota only by what in-flight requests use beyond their own
// estimates: sum over them of max(0, actual - estimate). With a
// max_tokens in every request that is zero for requests whose model calls
// are one (no tool loop, sub-agents or knowledge lookups beyond the first
// call); so it is for budgets.
//
// The x-ratelimit-* headers OpenAI clients read go in hdr; a refusal is
// an *adapters.Error.
func (h *Handler) admit(ctx context.Context, hdr http.Header, p *adapters.Principal, est exchange.Estimate) (*limits.Lease, error) {
	tiers := h.app.engine.Tiers()
	if tiers.Empty() {
		return nil, nil
	}
	tier, ok := tiers.Get(p.Tier)
	if !ok {
		return nil, &adapters.Error{Kind: adapters.KindForbidden, Code: "unknown_tier",
			Message: "this key's tier " + strconv.Quote(p.Tier) + " is not configured; ask the operator to define it or move the key to another tier"}
	}
	callsModel := est.CallsModel()
	rules := make([]limits.Rule, 0, len(tierRules))
	budgeted := false
	// Each scope is built once, however many rules share it.
	var keyScoped, tenantScoped string
	for _, tr := range tierRules {
		if tr.model && !callsModel {
			continue
		}
		if m := tr.max(tier); m > 0 {
			scope := &keyScoped
			if tr.tenant {
				scope = &tenantScoped
			}
			if *scope == "" {
				if tr.tenant {
					*scope = tenantScope(p)
				} else {
					*scope = keyScope(p)
				}
			}
			rules = append(rules, limits.Rule{Scope: *scope, Kind: tr.kind, Max: m})
			budgeted = budgeted || tr.kind == limits.MonthlyMicroUSD
		}
	}
	if len(rules) == 0 {
		return nil, nil
	}
	cost := limits.Cost{Tokens: est.Tokens()}
	if budgeted {
		micros, model, ok := h.budgetCost(est)
		switch {
		case ok:
			cost.MicroUSD = micros
		case tier.Unpriced == state.UnpricedAllow:
			// Outside the budgets: its cost is unknown.
			rules = slices.DeleteFunc(rules, func(r limits.Rule) bool { return r.Kind == limits.MonthlyMicroUSD })
			if len(rules) == 0 {
				return nil, nil
			}
		default:
			return nil, h.app.unpricedRefusal(model, tier)
		}
	}
	d, err := h.app.limiter.Admit(ctx, rules, cost)
	if errors.Is(err, limits.ErrUnavailable) {
		countLimitsUnavailable("refused")
		return nil, &adapters.Error{Kind: adapters.KindStoreUnavailable, Code: "limits_unavailable", RetryAfter: time.Second,
			Message: "the gateway's rate limits cannot be checked right now; retry shortly"}
	}
	if err != nil {
		return nil, err // the store, reading a quota's month: a 503 when it is down
	}
	if d.Unchecked {
		countLimitsUnavailable("allowed")
		return d.Lease, nil
	}
	var values []string // the headers' values, in one allocation
	for i, rule := range rules {
		switch st := d.States[i]; {
		case rule.Kind == limits.RequestsPerMinute:
			setLimitHeaders(hdr, &values, limitRequests, rule.Max, st)
		case rule.Kind == limits.TokensPerMinute:
			setLimitHeaders(hdr, &values, limitTokens, rule.Max, st)
		case rule.Kind == limits.MonthlyTokens && rule.Scope == tenantScoped:
			h.app.metrics.tenantQuota(p.Tenant, st.Used, rule.Max)
		case rule.Kind == limits.MonthlyMicroUSD && rule.Scope == tenantScoped:
			h.app.metrics.tenantBudget(p.Tenant, pricing.Micros(st.Used), pricing.Micros(rule.Max))
		}
	}
	if !d.Admitted {
		return nil, refusal(hdr, rules[d.Refused], d.States[d.Refused], tier, p, cost, d.Now)
	}
	return d.Lease, nil
}

// refusal is the error a request refused by rule is answered with.
func refusal(hdr http.Header, rule limits.Rule, st limits.State, tier state.Tier, p *adapters.Principal, cost limits.Cost, now time.Time) *adapters.Error {
	limit := strconv.FormatInt(rule.Max, 10)
	estimate := strconv.FormatInt(cost.Tokens, 10)
	retry := st.RetryAfter.Round(time.Millisecond).String()
	switch rule.Kind {
	case limits.Concurrent:
		return &adapters.Error{Kind: adapters.KindRateLimited, Reason: "concurrency", Code: "rate_limit_exceeded", RetryAfter: st.RetryAfter,
			Message: "too many requests in flight for this key: the limit of tier " + strconv.Quote(tier.Name) + " is " + limit + " at a time"}
	case limits.RequestsPerMinute:
		return &adapters.Error{Kind: adapters.KindRateLimited, Reason: "requests", Code: "rate_limit_exceeded", RetryAfter: st.RetryAfter,
			Message: "rate limit reached for requests: " + limit + " per minute on tier " + strconv.Quote(tier.Name) + "; retry in " + retry}
	case limits.TokensPerMinute:
		msg := "rate limit reached for tokens: " + limit + " per minute on tier " + strconv.Quote(tier.Name) + "; this request needs about " + estimate
		if cost.Tokens > rule.Max {
			msg += ", more than a whole minute's allowance: lower max_tokens or shorten the input"
			st.RetryAfter = 0
		} else {
			msg += "; retry in " + retry
		}
		return &adapters.Error{Kind: adapters.KindRateLimited, Reason: "tokens", Code: "rate_limit_exceeded", RetryAfter: st.RetryAfter, Message: msg}
	}
	// A monthly quota or budget.
	scope, who := "key", "this key"
	if rule.Scope == tenantScope(p) {
		scope, who = "tenant", "tenant "+strconv.Quote(p.Tenant)
	}
	hdr.Set("x-should-retry", "false")
	if rule.Kind == limits.MonthlyMicroUSD {
		return &adapters.Error{Kind: adapters.KindQuotaExceeded, Code: "insufficient_quota", Reason: scope + "_budget",
			Message: "monthly budget of $" + pricing.Micros(rule.Max).String() + " for " + who + " (tier " + strconv.Quote(tier.Name) +
				") cannot cover this request: $" + pricing.Micros(st.Used).String() + " spent and $" + pricing.Micros(st.Reserved).String() +
				" reserved by requests in flight, and this request may cost up to $" + pricing.Micros(cost.MicroUSD).String() +
				"; the budget resets at " + state.MonthEnd(now).Format(time.RFC3339)}
	}
	return &adapters.Error{Kind: adapters.KindQuotaExceeded, Code: "insufficient_quota", Reason: scope,
		Message: "monthly token quota exhausted for " + who + ": " + strconv.FormatInt(st.Used, 10) + " of " + limit +
			" tokens used (" + strconv.FormatInt(st.Reserved, 10) + " reserved by requests in flight), this request needs about " +
			estimate + "; the quota resets at " + state.MonthEnd(now).Format(time.RFC3339)}
}

// The kinds of OpenAI's x-ratelimit-* headers.
const (
	limitRequests = iota
	limitTokens
	numLimitKinds
)

// limitHeaderNames are OpenAI's x-ratelimit-{limit,remaining,reset}-<kind>
// headers, in canonical form, so setting them allocates no key.
var limitHeaderNames = [numLimitKinds][3]string{
	limitRequests: {"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests"},
	limitTokens:   {"X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens"},
}

// limitTexts remembers the text of each kind's latest limit: a tier's
// limit is the same request after request.
var limitTexts [numLimitKinds]atomic.Pointer[limitText]

type limitText struct {
	limit int64
	text  string
}

// setLimitHeaders sets OpenAI's x-ratelimit-{limit,remaining,reset}-<kind>,
// their values appended to values (the request's, which share one
// allocation).
func setLimitHeaders(h http.Header, values *[]string, kind int, limit int64, st limits.State) {
	lt := limitTexts[kind].Load()
	if lt == nil || lt.limit != limit {
		lt = &limitText{limit: limit, text: strconv.FormatInt(limit, 10)}
		limitTexts[kind].Store(lt)
	}
	reset := "0s" // a full bucket's: Duration.String allocates even this
	if r := st.Reset.Round(time.Millisecond); r != 0 {
		reset = r.String()
	}
	if *values == nil {
		*values = make([]string, 0, 3*numLimitKinds)
	}
	n := len(*values)
	v := append(*values, lt.text, strconv.FormatInt(st.Remaining, 10), reset)
	*values = v
	for i, name := range limitHeaderNames[kind] {
		h[name] = v[n+i : n+i+1 : n+i+1]
	}
}
