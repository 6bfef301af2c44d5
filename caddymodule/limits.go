package caddymodule

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/limits"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
	"github.com/tidwall/gjson"
)

const (
	// defaultOutputReserve is the output a request that names no maximum
	// is assumed to produce when its tokens are reserved.
	defaultOutputReserve = 1024
	// maxOutputReserve caps what one request's named maximum reserves.
	maxOutputReserve = 32768
)

// tierRules are the limits a tier puts on each request of a key: where
// each rule takes its maximum (zero: no limit) and scope from. A new
// kind of limit is a line here, its kind in package limits, its refusal
// below and, for a quota, where usage records count it (usageSeeder).
var tierRules = [...]struct {
	kind  limits.Kind
	max   func(state.Tier) int64
	scope func(*adapters.Principal) string
	// model: the rule counts tokens, so only requests that call a model
	// take from it.
	model bool
}{
	{limits.Concurrent, func(t state.Tier) int64 { return t.Concurrent }, keyScope, false},
	{limits.RequestsPerMinute, func(t state.Tier) int64 { return t.RPM }, keyScope, false},
	{limits.TokensPerMinute, func(t state.Tier) int64 { return t.TPM }, keyScope, true},
	{limits.MonthlyTokens, func(t state.Tier) int64 { return t.MonthlyTokens }, keyScope, true},
	{limits.MonthlyTokens, func(t state.Tier) int64 { return t.TenantMonthlyTokens }, tenantScope, true},
	{limits.MonthlyMicroUSD, func(t state.Tier) int64 { return int64(t.MonthlyBudgetUSD) }, keyScope, true},
	{limits.MonthlyMicroUSD, func(t state.Tier) int64 { return int64(t.TenantMonthlyBudgetUSD) }, tenantScope, true},
}

// The scopes of rules: the scopes of the store's monthly counters.
func keyScope(p *adapters.Principal) string    { return "key:" + p.KeyID }
func tenantScope(p *adapters.Principal) string { return "tenant:" + p.Tenant }

// admission is what one request took from its key's limits: every
// request through a dialect route is admitted (or refused) here, before
// the dialect sees it, in one call to the limits backend (all or
// nothing), and settled with its real usage when the dialect returns.
//
//   - concurrent: a slot per request in flight, streams included;
//   - rpm: a token bucket of rpm requests refilled over a minute;
//   - tpm: a token bucket of tpm tokens; a request takes its estimate
//     (prompt bytes / 4 + its maximum output, else 1024) and, when it
//     ends, gives back or owes the difference to its real usage;
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
// max_tokens in every request and no session history that is zero; so it
// is for budgets when the request's calls are those of its model (no
// tool loop, sub-agents or memory steps beyond the first call).
type admission struct {
	lease *limits.Lease
}

// admit applies p's tier to r. It sets the x-ratelimit-* headers OpenAI
// clients read and returns an *adapters.Error when the request is refused.
// target, when set, names the model the request calls, for its budgets.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, p *adapters.Principal, callsModel bool,
	target func(*http.Request, []byte) dialects.Target) (*admission, error) {
	tiers := h.app.engine.Tiers()
	if tiers.Empty() {
		return nil, nil
	}
	tier, ok := tiers.Get(p.Tier)
	if !ok {
		return nil, &adapters.Error{Kind: adapters.KindForbidden, Code: "unknown_tier",
			Message: "this key's tier " + strconv.Quote(p.Tier) + " is not configured; ask the operator to define it or move the key to another tier"}
	}
	rules := make([]limits.Rule, 0, len(tierRules))
	counted, budgeted := false, false
	for _, tr := range tierRules {
		if tr.model && !callsModel {
			continue
		}
		if m := tr.max(tier); m > 0 {
			rules = append(rules, limits.Rule{Scope: tr.scope(p), Kind: tr.kind, Max: m})
			counted = counted || tr.model
			budgeted = budgeted || tr.kind == limits.MonthlyMicroUSD
		}
	}
	if len(rules) == 0 {
		return nil, nil
	}
	var cost limits.Cost
	if counted {
		body, err := readJSONBody(r, h.app.MaxBodyBytes)
		if err != nil {
			return nil, err
		}
		est := estimateTokens(body)
		cost.Tokens = est.input + est.output
		if budgeted {
			micros, model, ok := h.budgetCost(r.Context(), r, p, target, body, est)
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
	}
	d, err := h.app.limiter.Admit(r.Context(), rules, cost)
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
		return &admission{lease: d.Lease}, nil
	}
	hdr := w.Header()
	for i, rule := range rules {
		switch st := d.States[i]; {
		case rule.Kind == limits.RequestsPerMinute:
			setLimitHeaders(hdr, "requests", rule.Max, st)
		case rule.Kind == limits.TokensPerMinute:
			setLimitHeaders(hdr, "tokens", rule.Max, st)
		case rule.Kind == limits.MonthlyTokens && rule.Scope == tenantScope(p):
			h.app.metrics.tenantQuota(p.Tenant, st.Used, rule.Max)
		case rule.Kind == limits.MonthlyMicroUSD && rule.Scope == tenantScope(p):
			h.app.metrics.tenantBudget(p.Tenant, pricing.Micros(st.Used), pricing.Micros(rule.Max))
		}
	}
	if !d.Admitted {
		return nil, refusal(hdr, rules[d.Refused], d.States[d.Refused], tier, p, cost, d.Now)
	}
	return &admission{lease: d.Lease}, nil
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

// done settles the request with the tokens it really spent and their
// known cost. Each model call's usage counts in the quota month of its usage record, stamped
// when the call ended: a call reserved before midnight at the end of a
// month and answered after it is billed to the new month, as the store's
// counters, which a backend that lost its figures reads, bill it.
func (a *admission) done(ctx context.Context, spent []state.Spend) {
	if a == nil {
		return
	}
	s := make([]limits.Spend, len(spent))
	for i, sp := range spent {
		s[i] = limits.Spend{At: sp.At, Cost: limits.Cost{Tokens: sp.Tokens, MicroUSD: int64(sp.Cost)}}
	}
	// A client that left is billed all the same; a settlement the
	// backend could not take is kept and retried by the Limiter.
	_ = a.lease.Settle(context.WithoutCancel(ctx), s)
}

// setLimitHeaders sets OpenAI's x-ratelimit-{limit,remaining,reset}-<kind>.
func setLimitHeaders(h http.Header, kind string, limit int64, st limits.State) {
	h.Set("x-ratelimit-limit-"+kind, strconv.FormatInt(limit, 10))
	h.Set("x-ratelimit-remaining-"+kind, strconv.FormatInt(st.Remaining, 10))
	h.Set("x-ratelimit-reset-"+kind, st.Reset.Round(time.Millisecond).String())
}

// tokenEstimate is what a request is expected to use before it runs:
// its prompt (input) and the most it may generate (output).
type tokenEstimate struct{ input, output int64 }

// readJSONBody reads a request's JSON body and puts it back for the
// dialect. It returns nil for a body that is not JSON (an upload, passed
// through as it streams) or is larger than limit (the dialect answers
// for it: 413). A body that cannot be read (the server's read timeout
// passed, the client broke off) is a 400, answered before the request
// takes anything from its limits.
func readJSONBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength > limit || !jsonOrUntyped(r.Header.Get("Content-Type")) {
		return nil, nil
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(r.ContentLength, 512)))
	_, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, dialects.BodyError(err)
	}
	body := buf.Bytes()
	if int64(len(body)) > limit {
		// Let the dialect see the whole body and answer for it (413).
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
		return nil, nil
	}
	r.Body = dialects.NewBufferedBody(body)
	return body, nil
}

// estimateTokens approximates what a request will use before it runs:
// its JSON body's bytes / 4 for the prompt, and the maximum output it
// names (else defaultOutputReserve, at most maxOutputReserve).
func estimateTokens(body []byte) tokenEstimate {
	est := tokenEstimate{input: int64(len(body)+3) / 4, output: defaultOutputReserve}
	for _, f := range [...]string{"max_completion_tokens", "max_tokens", "max_output_tokens",
		"generationConfig.maxOutputTokens", "generation_config.max_output_tokens"} {
		if v := gjson.GetBytes(body, f); v.Type == gjson.Number && v.Int() > 0 {
			est.output = min(v.Int(), maxOutputReserve)
			break
		}
	}
	return est
}

// jsonOrUntyped reports whether a request's Content-Type says JSON, or
// nothing (clients of the JSON dialects often send none).
func jsonOrUntyped(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "" || mt == "application/json"
}
