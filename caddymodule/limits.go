package caddymodule

import (
	"bytes"
	"context"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/state"
	"github.com/tidwall/gjson"
	"go.uber.org/zap"
)

const (
	// defaultOutputReserve is the output a request that names no maximum
	// is assumed to produce when its tokens are reserved.
	defaultOutputReserve = 1024
	// maxOutputReserve caps what one request's named maximum reserves.
	maxOutputReserve = 32768
)

const minute = time.Minute

// admission is what one request took from its key's limits. Every request
// through a dialect route is admitted (or refused) here, before the
// dialect sees it, and settled when the dialect returns:
//
//   - concurrent: a slot per request in flight, streams included;
//   - rpm: a token bucket of rpm requests refilled over a minute;
//   - tpm: a token bucket of tpm tokens; a request takes its estimate
//     (prompt bytes / 4 + its maximum output, else 1024) and, when it
//     ends, gives back or owes the difference to its real usage;
//   - monthly quotas (per key and, where the tier says so, per tenant):
//     the estimate is reserved before the upstream call and replaced by
//     the real usage after it. A request whose reservation does not fit
//     is refused before any upstream call.
//
// Overspend bound: at any time used + reserved <= quota, and each
// request's reservation is replaced by its real usage, so the settled
// total can exceed the quota only by what in-flight requests use beyond
// their own estimates: sum over them of max(0, actual - estimate). With a
// max_tokens in every request and no session history that is zero.
type admission struct {
	lim      state.Limits
	clock    clock.Clock
	keyID    string
	tier     state.Tier
	slot     bool
	estimate int64
	// scopes are the quota scopes the estimate is reserved in.
	scopes []string
}

// admit applies p's tier to r. It sets the x-ratelimit-* headers OpenAI
// clients read and returns an *adapters.Error when the request is refused.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, p *adapters.Principal, callsModel bool) (*admission, error) {
	tiers := h.app.runtime.Tiers()
	if tiers.Empty() {
		return nil, nil
	}
	tier, ok := tiers.Get(p.Tier)
	if !ok {
		return nil, &adapters.Error{Kind: adapters.KindForbidden, Code: "unknown_tier",
			Message: "this key's tier " + strconv.Quote(p.Tier) + " is not configured; ask the operator to define it or move the key to another tier"}
	}
	ctx := r.Context()
	lim := h.app.backend.limits
	a := &admission{lim: lim, clock: h.app.clock, keyID: p.KeyID, tier: tier}
	t := a.clock.Now()
	hdr := w.Header()

	if tier.Concurrent > 0 {
		ok, err := lim.Acquire(ctx, "conc:"+p.KeyID, tier.Concurrent)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &adapters.Error{Kind: adapters.KindRateLimited, Reason: "concurrency", Code: "rate_limit_exceeded", RetryAfter: time.Second,
				Message: "too many requests in flight for this key: the limit of tier " + strconv.Quote(tier.Name) + " is " + strconv.FormatInt(tier.Concurrent, 10) + " at a time"}
		}
		a.slot = true
	}
	if tier.RPM > 0 {
		b := state.Bucket{Capacity: float64(tier.RPM), Period: minute}
		st, ok, err := lim.Take(ctx, "rpm:"+p.KeyID, b, 1, t)
		if err != nil {
			a.release(ctx)
			return nil, err
		}
		setLimitHeaders(hdr, "requests", tier.RPM, st)
		if !ok {
			a.release(ctx)
			return nil, &adapters.Error{Kind: adapters.KindRateLimited, Reason: "requests", Code: "rate_limit_exceeded", RetryAfter: st.RetryAfter,
				Message: "rate limit reached for requests: " + strconv.FormatInt(tier.RPM, 10) + " per minute on tier " + strconv.Quote(tier.Name) + "; retry in " + st.RetryAfter.Round(time.Millisecond).String()}
		}
	}
	if callsModel {
		h.exportTenantBudget(ctx, p, tier, t)
	}
	if !callsModel || (tier.TPM == 0 && tier.MonthlyTokens == 0 && tier.TenantMonthlyTokens == 0) {
		return a, nil
	}
	var err error
	a.estimate, err = estimateTokens(r, h.app.MaxBodyBytes)
	if err != nil {
		// A body that failed to arrive ended the request's context.
		a.release(context.WithoutCancel(ctx))
		return nil, err
	}
	if tier.TPM > 0 {
		b := state.Bucket{Capacity: float64(tier.TPM), Period: minute}
		st, ok, err := lim.Take(ctx, "tpm:"+p.KeyID, b, float64(a.estimate), t)
		if err != nil {
			a.release(ctx)
			return nil, err
		}
		setLimitHeaders(hdr, "tokens", tier.TPM, st)
		if !ok {
			a.release(ctx)
			msg := "rate limit reached for tokens: " + strconv.FormatInt(tier.TPM, 10) + " per minute on tier " + strconv.Quote(tier.Name) +
				"; this request needs about " + strconv.FormatInt(a.estimate, 10)
			if a.estimate > tier.TPM {
				msg += ", more than a whole minute's allowance: lower max_tokens or shorten the input"
				st.RetryAfter = 0
			} else {
				msg += "; retry in " + st.RetryAfter.Round(time.Millisecond).String()
			}
			return nil, &adapters.Error{Kind: adapters.KindRateLimited, Reason: "tokens", Code: "rate_limit_exceeded", RetryAfter: st.RetryAfter, Message: msg}
		}
	}
	for _, q := range []struct {
		scope, kind string
		limit       int64
		who         string
	}{{"key:" + p.KeyID, "key", tier.MonthlyTokens, "this key"}, {"tenant:" + p.Tenant, "tenant", tier.TenantMonthlyTokens, "tenant " + strconv.Quote(p.Tenant)}} {
		if q.limit == 0 {
			continue
		}
		st, ok, err := lim.Reserve(ctx, q.scope, q.limit, a.estimate, t)
		if err != nil {
			a.done(ctx, nil)
			return nil, err
		}
		if q.kind == "tenant" {
			h.app.metrics.tenantQuota(p.Tenant, st.Used, q.limit)
		}
		if !ok {
			a.done(ctx, nil)
			reset := state.MonthEnd(t)
			hdr.Set("x-should-retry", "false")
			return nil, &adapters.Error{Kind: adapters.KindQuotaExceeded, Code: "insufficient_quota", Reason: q.kind,
				Message: "monthly token quota exhausted for " + q.who + ": " + strconv.FormatInt(st.Used, 10) + " of " + strconv.FormatInt(q.limit, 10) +
					" tokens used (" + strconv.FormatInt(st.Reserved, 10) + " reserved by requests in flight), this request needs about " +
					strconv.FormatInt(a.estimate, 10) + "; the quota resets at " + reset.Format(time.RFC3339)}
		}
		a.scopes = append(a.scopes, q.scope)
	}
	return a, nil
}

// exportTenantBudget sets the tenant budget gauges (with tenant labels on,
// for a tier with a tenant budget) to the month's spend the store has
// recorded so far. Budgets are not enforced by admission yet; when they
// are, the gauges will follow its figures as the quota gauges do.
func (h *Handler) exportTenantBudget(ctx context.Context, p *adapters.Principal, tier state.Tier, now time.Time) {
	if tier.TenantMonthlyBudgetUSD == 0 || !h.app.metrics.tenant {
		return
	}
	spent, err := h.app.backend.store.MonthlySpend(ctx, "tenant:"+p.Tenant, now)
	if err != nil {
		h.log.Warn("reading a tenant's monthly spend for its budget gauge", zap.String("tenant", p.Tenant), zap.Error(err))
		return
	}
	h.app.metrics.tenantBudget(p.Tenant, spent, tier.TenantMonthlyBudgetUSD)
}

// release frees the concurrency slot.
func (a *admission) release(ctx context.Context) {
	if a.slot {
		_ = a.lim.Release(ctx, "conc:"+a.keyID)
		a.slot = false
	}
}

// done settles the request with the tokens it really spent. Each model
// call's tokens count in the quota month of its usage record, stamped
// when the call ended: a call reserved before midnight at the end of a
// month and answered after it is billed to the new month, as the store's
// counters, which a restart reads, bill it.
func (a *admission) done(ctx context.Context, spent []state.Spend) {
	if a == nil {
		return
	}
	ctx = context.WithoutCancel(ctx) // a client that left is billed all the same
	a.release(ctx)
	if a.tier.TPM > 0 && a.estimate > 0 {
		var used int64
		for _, s := range spent {
			used += s.Tokens
		}
		_ = a.lim.Adjust(ctx, "tpm:"+a.keyID, state.Bucket{Capacity: float64(a.tier.TPM), Period: minute}, float64(a.estimate-used), a.clock.Now())
	}
	for _, s := range a.scopes {
		_ = a.lim.Settle(ctx, s, a.estimate, spent)
	}
}

// setLimitHeaders sets OpenAI's x-ratelimit-{limit,remaining,reset}-<kind>.
func setLimitHeaders(h http.Header, kind string, limit int64, st state.BucketState) {
	h.Set("x-ratelimit-limit-"+kind, strconv.FormatInt(limit, 10))
	h.Set("x-ratelimit-remaining-"+kind, strconv.FormatInt(int64(math.Floor(st.Remaining)), 10))
	h.Set("x-ratelimit-reset-"+kind, st.Reset.Round(time.Millisecond).String())
}

// estimateTokens approximates what a request will cost before it runs:
// its body's bytes / 4 for the prompt, plus the maximum output it names.
// It reads the body and puts it back for the dialect; a body that is not
// JSON (an upload, passed through as it streams) is not read. A body that
// cannot be read (the server's read timeout passed, the client broke
// off) is a 400, answered before the request takes anything from its
// limits.
func estimateTokens(r *http.Request, limit int64) (int64, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength > limit || !jsonOrUntyped(r.Header.Get("Content-Type")) {
		return defaultOutputReserve, nil
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(r.ContentLength, 512)))
	_, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return 0, dialects.BodyError(err)
	}
	body := buf.Bytes()
	if int64(len(body)) > limit {
		// Let the dialect see the whole body and answer for it (413).
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
		return defaultOutputReserve, nil
	}
	r.Body = dialects.NewBufferedBody(body)
	out := int64(defaultOutputReserve)
	for _, f := range [...]string{"max_completion_tokens", "max_tokens", "max_output_tokens",
		"generationConfig.maxOutputTokens", "generation_config.max_output_tokens"} {
		if v := gjson.GetBytes(body, f); v.Type == gjson.Number && v.Int() > 0 {
			out = min(v.Int(), maxOutputReserve)
			break
		}
	}
	return int64(len(body)+3)/4 + out, nil
}

// jsonOrUntyped reports whether a request's Content-Type says JSON, or
// nothing (clients of the JSON dialects often send none).
func jsonOrUntyped(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "" || mt == "application/json"
}
