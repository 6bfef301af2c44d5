package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/pricing"
	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// MetricsConfig tunes agentgate's Prometheus metrics. The metrics
// themselves are always on: they are served by Caddy's admin endpoint
// (/metrics) and by the `metrics` handler, beside Caddy's own.
type MetricsConfig struct {
	// TenantLabel adds a tenant label to agentgate_requests_total,
	// agentgate_tokens_total and agentgate_cost_usd_total and exports each
	// tenant's monthly quota (agentgate_tenant_quota_used_tokens,
	// _limit_tokens) and budget (agentgate_tenant_budget_used_usd,
	// _limit_usd). Off by default:
	// one series per tenant is what an operator with a handful of tenants
	// wants and one with thousands does not. Tenants beyond the first
	// maxLabelValues seen share the value "_other".
	TenantLabel bool `json:"tenant_label,omitempty"`
}

const (
	// maxLabelValues caps the distinct values one label (agent, model,
	// provider, tenant) takes in this process; later values are exported
	// as otherLabel. Agents are created through the APIs by tenants, so
	// without a cap one tenant could grow the exposition without bound.
	maxLabelValues = 200
	// maxLabelLen is the longest value exported as is.
	maxLabelLen = 128
	// otherLabel stands for values past the cap (and invalid ones);
	// noneLabel for values a request never had (unauthenticated, or a
	// route that calls no model).
	otherLabel = "_other"
	noneLabel  = "none"
	// maxCachedSeries bounds the series cache; past it, series handles
	// are looked up per request (correct, a little slower).
	maxCachedSeries = 8192
)

// latencyBuckets fit LLM latencies: from a cached answer's 10 ms to a long
// reasoning run's five minutes.
var latencyBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// outcome is how a request through a dialect route ended.
type outcome uint8

const (
	outcomeOK outcome = iota
	// outcomeClientError: the request was invalid, named an unknown agent
	// or model, was too large… (4xx other than auth and limits), whether
	// the gateway or the upstream found it so.
	outcomeClientError
	// outcomeUnauthorized: no key, a bad key or a forbidden action.
	outcomeUnauthorized
	// outcomeRateLimited: refused by the gateway's rate limits.
	outcomeRateLimited
	// outcomeQuotaExceeded: refused by a monthly token quota.
	outcomeQuotaExceeded
	// outcomeUpstreamError: the provider failed, timed out, was
	// unreachable or rate-limited the gateway, before or during a stream.
	outcomeUpstreamError
	// outcomeClientClosed: the client went away before the answer ended.
	outcomeClientClosed
	// outcomeInternalError: a bug or a store failure (500).
	outcomeInternalError
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	"ok", "client_error", "unauthorized", "rate_limited", "quota_exceeded",
	"upstream_error", "client_closed", "internal_error",
}

func (o outcome) String() string { return outcomeNames[o] }

// Token types of agentgate_tokens_total. Reasoning tokens are part of the
// output tokens and cached tokens part of the input tokens, as providers
// report them: add input and output for a total, never all four.
const (
	tokInput = iota
	tokOutput
	tokReasoning
	tokCached
	numTokenTypes
)

var tokenTypeNames = [numTokenTypes]string{"input", "output", "reasoning", "cached"}

// The collectors are package-level so their values survive config reloads;
// every App Provision registers them into that config's registry.
//
// Requests, tokens and cost are always counted per tenant, whatever
// tenant_label says: with it on the tenant vectors are exported as
// counted, with it off summed over tenants (tenantFamily). A reload that
// turns the option on or off thus changes how the same counts are shown,
// and no series loses its value.
var (
	requestLabels = []string{"dialect", "agent", "model", "provider", "outcome"}
	tokenLabels   = []string{"type", "model", "provider", "agent"}

	requestsOpts = prometheus.CounterOpts{Namespace: "agentgate", Name: "requests_total",
		Help: "Requests served by agentgate's dialect routes, by dialect, agent, model, provider and outcome."}
	tokensOpts = prometheus.CounterOpts{Namespace: "agentgate", Name: "tokens_total",
		Help: "Tokens used, as the upstream reported them (estimated when it reported none), by type (input, output, reasoning, cached), model, provider and agent. Reasoning is part of output and cached part of input."}

	requestsTenantVec = prometheus.NewCounterVec(requestsOpts, withTenant(requestLabels))
	tokensTenantVec   = prometheus.NewCounterVec(tokensOpts, withTenant(tokenLabels))
	requestsSummed    = sumTenants(requestsTenantVec, requestsOpts, requestLabels)
	tokensSummed      = sumTenants(tokensTenantVec, tokensOpts, tokenLabels)

	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "agentgate", Name: "request_duration_seconds",
		Help:    "Time from a dialect request's arrival to the end of its answer (the whole stream for streams), by dialect, model and provider.",
		Buckets: latencyBuckets}, []string{"dialect", "model", "provider"})
	upstreamDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "agentgate", Name: "upstream_duration_seconds",
		Help:    "Time a request spent in upstream model calls, by model and provider.",
		Buckets: latencyBuckets}, []string{"model", "provider"})
	timeToFirstToken = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "agentgate", Name: "time_to_first_token_seconds",
		Help:    "Time from the start of the upstream call to its first generated token (text, reasoning or tool call), by model and provider.",
		Buckets: latencyBuckets}, []string{"model", "provider"})
	activeStreams = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agentgate", Name: "active_streams",
		Help: "Streaming (text/event-stream) responses in flight, by dialect."}, []string{"dialect"})
	rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "agentgate", Name: "rate_limited_requests_total",
		Help: "Requests refused by the gateway's rate limits, by reason: requests (per minute), tokens (per minute) or concurrency."}, []string{"reason"})
	quotaRejected = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "agentgate", Name: "quota_rejected_requests_total",
		Help: "Requests refused because a monthly token quota or budget would be exceeded, by scope: key or tenant (token quotas), key_budget or tenant_budget (budgets)."}, []string{"scope"})
	upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "agentgate", Name: "upstream_errors_total",
		Help: "Failed upstream model calls, by provider and status: the upstream's HTTP status, or timeout, network (unreachable, or the connection broke), stream (a 2xx answer cut off or malformed) or error."}, []string{"provider", "status"})
	limitsUnavailable = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "agentgate", Name: "limits_unavailable_requests_total",
		Help: "Requests that found the limits backend unreachable (limits redis), by what on_error did with them: allowed (admitted unchecked) or refused (503)."}, []string{"action"})
	tenantQuotaUsed = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agentgate", Name: "tenant_quota_used_tokens",
		Help: "Tokens a tenant has used of its monthly quota, as of its latest admitted request (with tenant_label on, for tiers with tenant_monthly_tokens)."}, []string{"tenant"})
	tenantQuotaLimit = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agentgate", Name: "tenant_quota_limit_tokens",
		Help: "A tenant's monthly token quota (with tenant_label on, for tiers with tenant_monthly_tokens)."}, []string{"tenant"})

	costOpts = prometheus.CounterOpts{Namespace: "agentgate", Name: "cost_usd_total",
		Help: "What model calls cost in US dollars at the configured prices, by model, provider and agent; calls of models without a price are not counted."}
	costLabels    = []string{"model", "provider", "agent"}
	costTenantVec = prometheus.NewCounterVec(costOpts, withTenant(costLabels))
	costSummed    = sumTenants(costTenantVec, costOpts, costLabels)

	tenantBudgetUsed = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agentgate", Name: "tenant_budget_used_usd",
		Help: "US dollars a tenant has spent this calendar month (UTC), as the limits backend counted it at its latest admission (with tenant_label on, for tiers with tenant_monthly_budget_usd)."}, []string{"tenant"})
	tenantBudgetLimit = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "agentgate", Name: "tenant_budget_limit_usd",
		Help: "A tenant's monthly budget in US dollars (with tenant_label on, for tiers with tenant_monthly_budget_usd)."}, []string{"tenant"})
)

// Bounded label values, shared by every config like the collectors.
var (
	agentValues    = newBoundedValues(maxLabelValues)
	modelValues    = newBoundedValues(maxLabelValues)
	providerValues = newBoundedValues(maxLabelValues)
	tenantValues   = newBoundedValues(maxLabelValues)
)

// Children of the small, fixed label sets, created once.
var (
	rateLimitedBy = map[string]prometheus.Counter{
		"requests": rateLimited.WithLabelValues("requests"), "tokens": rateLimited.WithLabelValues("tokens"),
		"concurrency": rateLimited.WithLabelValues("concurrency"), otherLabel: rateLimited.WithLabelValues(otherLabel),
	}
	quotaRejectedBy = map[string]prometheus.Counter{
		"key": quotaRejected.WithLabelValues("key"), "tenant": quotaRejected.WithLabelValues("tenant"),
		"key_budget": quotaRejected.WithLabelValues("key_budget"), "tenant_budget": quotaRejected.WithLabelValues("tenant_budget"),
	}
)

// metrics is one App's view of the collectors.
type metrics struct {
	tenant bool
	cache  seriesCache
}

// newMetrics registers the collectors into ctx's metrics registry (a new
// one per config load), tolerating the ones already there.
func newMetrics(ctx caddy.Context, cfg *MetricsConfig) (*metrics, error) {
	m := &metrics{tenant: cfg != nil && cfg.TenantLabel}
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{requestDuration, upstreamDuration, timeToFirstToken, activeStreams, rateLimited, quotaRejected, upstreamErrors, limitsUnavailable}
	if m.tenant {
		cs = append(cs, requestsTenantVec, tokensTenantVec, costTenantVec, tenantQuotaUsed, tenantQuotaLimit, tenantBudgetUsed, tenantBudgetLimit)
	} else {
		cs = append(cs, requestsSummed, tokensSummed, costSummed)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) && are.ExistingCollector == c {
				continue
			}
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return m, nil
}

// dialectMetrics is what one dialect's routes observe into.
type dialectMetrics struct {
	m      *metrics
	name   string
	active prometheus.Gauge
}

func (m *metrics) dialect(name string) *dialectMetrics {
	return &dialectMetrics{m: m, name: name, active: activeStreams.WithLabelValues(name)}
}

// tenantQuota exports a tenant's quota figures, when tenant labels are on.
func (m *metrics) tenantQuota(tenant string, used, limit int64) {
	if m == nil || !m.tenant {
		return
	}
	t := tenantValues.get(tenant)
	tenantQuotaUsed.WithLabelValues(t).Set(float64(used))
	tenantQuotaLimit.WithLabelValues(t).Set(float64(limit))
}

// tenantBudget exports a tenant's monthly spend and budget, when tenant
// labels are on.
func (m *metrics) tenantBudget(tenant string, spent, budget pricing.Micros) {
	if m == nil || !m.tenant {
		return
	}
	t := tenantValues.get(tenant)
	tenantBudgetUsed.WithLabelValues(t).Set(spent.Dollars())
	tenantBudgetLimit.WithLabelValues(t).Set(budget.Dollars())
}

// observe records one finished request.
func (dm *dialectMetrics) observe(snap *exchange.Totals, p *adapters.Principal, o outcome, seconds float64) {
	tenant := ""
	if p != nil {
		tenant = p.Tenant
	}
	s := dm.m.series(dm.name, snap.AgentID, snap.Model, snap.Provider, tenant)
	s.requests(o).Inc()
	s.duration.Observe(seconds)
	if snap.Calls > 0 {
		u := s.usage()
		u.tokens[tokInput].Add(float64(snap.Usage.InputTokens))
		u.tokens[tokOutput].Add(float64(snap.Usage.OutputTokens))
		u.tokens[tokReasoning].Add(float64(snap.Usage.ReasoningTokens))
		u.tokens[tokCached].Add(float64(snap.Usage.CachedTokens))
		if snap.Calls > snap.Unpriced {
			u.cost().Add(snap.Cost.Dollars())
		}
		u.upstream.Observe(snap.Upstream.Seconds())
		if snap.FirstByte > 0 {
			u.ttft.Observe(snap.FirstByte.Seconds())
		}
	}
}

// seriesKey is a request's raw label values.
type seriesKey struct {
	dialect, agent, model, provider, tenant string
}

// series holds the collector children of one label tuple, so a request
// finds all of them with one map lookup and no allocation.
type series struct {
	// dialect, agent, model, provider, tenant after bounding.
	dialect, agent, model, provider, tenant string

	duration prometheus.Observer
	outcomes [numOutcomes]atomic.Pointer[prometheus.Counter]
	// usageSeries is created on the first request that called a model,
	// so routes that call none export no token series.
	usageOnce   sync.Once
	usageSeries *usageSeries
}

type usageSeries struct {
	tokens         [numTokenTypes]prometheus.Counter
	upstream, ttft prometheus.Observer
	// costSeries is created on the first request with a known cost, so a
	// model without a price exports no cost series (rather than a 0).
	costOnce   sync.Once
	costSeries prometheus.Counter
	s          *series
}

func (u *usageSeries) cost() prometheus.Counter {
	u.costOnce.Do(func() {
		s := u.s
		u.costSeries = costTenantVec.WithLabelValues(s.model, s.provider, s.agent, s.tenant)
	})
	return u.costSeries
}

func (s *series) requests(o outcome) prometheus.Counter {
	if c := s.outcomes[o].Load(); c != nil {
		return *c
	}
	c := requestsTenantVec.WithLabelValues(s.dialect, s.agent, s.model, s.provider, o.String(), s.tenant)
	s.outcomes[o].Store(&c) // a racing request stores the same child
	return c
}

func (s *series) usage() *usageSeries {
	s.usageOnce.Do(func() {
		u := &usageSeries{
			s:        s,
			upstream: upstreamDuration.WithLabelValues(s.model, s.provider),
			ttft:     timeToFirstToken.WithLabelValues(s.model, s.provider),
		}
		for i, typ := range tokenTypeNames {
			u.tokens[i] = tokensTenantVec.WithLabelValues(typ, s.model, s.provider, s.agent, s.tenant)
		}
		s.usageSeries = u
	})
	return s.usageSeries
}

// seriesCache maps raw label tuples to their series.
type seriesCache struct {
	mu sync.RWMutex
	m  map[seriesKey]*series
}

func (m *metrics) series(dialect, agent, model, provider, tenant string) *series {
	k := seriesKey{dialect: dialect, agent: agent, model: model, provider: provider, tenant: tenant}
	c := &m.cache
	c.mu.RLock()
	s, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return s
	}
	s = newSeries(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[k]; ok {
		return prev
	}
	if len(c.m) < maxCachedSeries {
		if c.m == nil {
			c.m = make(map[seriesKey]*series)
		}
		c.m[k] = s
	}
	return s
}

func newSeries(k seriesKey) *series {
	s := &series{
		dialect: k.dialect, agent: agentValues.get(k.agent), model: modelValues.get(k.model),
		provider: providerValues.get(k.provider), tenant: tenantValues.get(k.tenant),
	}
	s.duration = requestDuration.WithLabelValues(s.dialect, s.model, s.provider)
	return s
}

// boundedValues admits the first max distinct values of a label; the rest
// become otherLabel.
type boundedValues struct {
	mu   sync.RWMutex
	seen map[string]struct{}
	max  int
}

func newBoundedValues(max int) *boundedValues {
	return &boundedValues{seen: make(map[string]struct{}), max: max}
}

func (b *boundedValues) get(v string) string {
	if v == "" {
		return noneLabel
	}
	if len(v) > maxLabelLen || !utf8.ValidString(v) {
		return otherLabel
	}
	b.mu.RLock()
	_, ok := b.seen[v]
	b.mu.RUnlock()
	if ok {
		return v
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[v]; ok {
		return v
	}
	if len(b.seen) >= b.max {
		return otherLabel
	}
	b.seen[v] = struct{}{}
	return v
}

// outcomeOf classifies the error a request failed with. Rate limits the
// upstream imposed on the gateway are upstream errors, not the gateway's.
func outcomeOf(err error) outcome {
	var e *adapters.Error
	if !errors.As(err, &e) {
		if errors.Is(err, context.Canceled) {
			return outcomeClientClosed
		}
		return outcomeInternalError
	}
	switch e.Kind {
	case adapters.KindInvalidRequest, adapters.KindNotFound, adapters.KindConflict, adapters.KindTooLarge:
		return outcomeClientError
	case adapters.KindUnauthenticated, adapters.KindForbidden:
		return outcomeUnauthorized
	case adapters.KindRateLimited:
		if e.UpstreamStatus != 0 {
			return outcomeUpstreamError
		}
		return outcomeRateLimited
	case adapters.KindQuotaExceeded:
		return outcomeQuotaExceeded
	case adapters.KindUpstream, adapters.KindUnavailable, adapters.KindTimeout:
		return outcomeUpstreamError
	}
	return outcomeInternalError
}

// outcomeOfStatus classifies a response a dialect answered with an error
// status on its own, without returning the error.
func outcomeOfStatus(status int) outcome {
	switch {
	case status == 0 || status < 400:
		return outcomeOK
	case status == 401 || status == 403:
		return outcomeUnauthorized
	case status == 429:
		return outcomeRateLimited
	case status == 502 || status == 503 || status == 504:
		return outcomeUpstreamError
	case status < 500:
		return outcomeClientError
	}
	return outcomeInternalError
}

// countRefusal counts a request the gateway's own limits refused.
func countRefusal(o outcome, err error) {
	var e *adapters.Error
	if !errors.As(err, &e) {
		return
	}
	switch o {
	case outcomeRateLimited:
		c, ok := rateLimitedBy[e.Reason]
		if !ok {
			c = rateLimitedBy[otherLabel]
		}
		c.Inc()
	case outcomeQuotaExceeded:
		c, ok := quotaRejectedBy[e.Reason]
		if !ok {
			c = quotaRejectedBy["key"]
		}
		c.Inc()
	}
}

// countLimitsUnavailable counts a request admitted unchecked ("allowed")
// or refused ("refused") because the limits backend was unreachable.
func countLimitsUnavailable(action string) { limitsUnavailable.WithLabelValues(action).Inc() }

// callObserver is the engine's call observer (models.CallObserver): the
// accountant tells it of every model call once, made for a request or
// not. It counts failed upstream calls in agentgate_upstream_errors_total,
// logs each at DEBUG (logAttemptFailure) and keeps each provider's latest
// success and failure for the status. A call the client gave up on tells
// nothing of the upstream.
type callObserver struct {
	// log is where failed calls are logged.
	log *zap.Logger
}

// ObserveCall implements models.CallObserver.
func (o callObserver) ObserveCall(x *exchange.Exchange, r exchange.Report) {
	if r.ClientClosed {
		return
	}
	state := stateOf(r.Provider)
	if r.Err == nil {
		if r.Status == "ok" {
			state.succeeded(r.At)
		}
		return
	}
	countUpstreamError(r.Provider, r.Err)
	if providerFault(r.Err) {
		state.failed(r.At, r.Model, r.Err)
	}
	attempt := 1
	if x != nil {
		attempt = x.Totals().Calls // this call is the request's latest
	}
	logAttemptFailure(o.log, callFailure{err: r.Err, provider: r.Provider, model: r.Model, attempt: attempt, latency: r.Latency})
}

// providerFault reports whether err says the upstream is in trouble: it
// failed, timed out, could not be reached or rate-limited the gateway;
// not a request it refused as invalid.
func providerFault(err error) bool {
	var e *adapters.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Kind {
	case adapters.KindUpstream, adapters.KindUnavailable, adapters.KindTimeout:
		return true
	case adapters.KindRateLimited:
		return e.UpstreamStatus != 0
	}
	return false
}

// countUpstreamError counts err if the upstream caused it: an HTTP error
// status, a timeout, an unreachable upstream, a broken connection or
// stream. Requests the provider refused to send are not upstream errors;
// nor are failures of the caller (it went away), which the caller leaves
// out.
func countUpstreamError(provider string, err error) {
	var e *adapters.Error
	if !errors.As(err, &e) {
		return
	}
	var status string
	switch {
	case e.UpstreamStatus >= 400:
		status = strconv.Itoa(e.UpstreamStatus)
	case e.Kind == adapters.KindTimeout:
		status = "timeout"
	case e.UpstreamStatus != 0:
		// The upstream's answer began (2xx) and then failed: cut off
		// or malformed.
		status = "stream"
	case e.Kind == adapters.KindUnavailable:
		status = "network"
	case e.Kind == adapters.KindUpstream:
		status = "error"
	default:
		return
	}
	upstreamErrors.WithLabelValues(providerValues.get(provider), status).Inc()
}

// Interface guards.
var _ models.CallObserver = callObserver{}
