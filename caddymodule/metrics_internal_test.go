package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/internal/clock"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
)

func TestBoundedValues(t *testing.T) {
	b := newBoundedValues(3)
	for i, c := range []struct{ in, want string }{
		{"", noneLabel},
		{"a", "a"}, {"b", "b"}, {"a", "a"}, {"c", "c"},
		{"d", otherLabel}, {"a", "a"}, {"c", "c"}, {"e", otherLabel},
		{strings.Repeat("x", maxLabelLen+1), otherLabel},
		{"bad\xff", otherLabel},
	} {
		if got := b.get(c.in); got != c.want {
			t.Errorf("case %d: get(%q) = %q, want %q", i, c.in, got, c.want)
		}
	}
}

func TestOutcomeOf(t *testing.T) {
	for i, c := range []struct {
		err  error
		want outcome
	}{
		{&adapters.Error{Kind: adapters.KindInvalidRequest}, outcomeClientError},
		{&adapters.Error{Kind: adapters.KindInvalidRequest, UpstreamStatus: 400}, outcomeClientError},
		{&adapters.Error{Kind: adapters.KindNotFound}, outcomeClientError},
		{&adapters.Error{Kind: adapters.KindTooLarge}, outcomeClientError},
		{&adapters.Error{Kind: adapters.KindUnauthenticated}, outcomeUnauthorized},
		{&adapters.Error{Kind: adapters.KindForbidden}, outcomeUnauthorized},
		{&adapters.Error{Kind: adapters.KindRateLimited, Reason: "requests"}, outcomeRateLimited},
		{&adapters.Error{Kind: adapters.KindRateLimited, UpstreamStatus: 429}, outcomeUpstreamError},
		{&adapters.Error{Kind: adapters.KindQuotaExceeded, Reason: "tenant"}, outcomeQuotaExceeded},
		{&adapters.Error{Kind: adapters.KindUpstream, UpstreamStatus: 500}, outcomeUpstreamError},
		{&adapters.Error{Kind: adapters.KindUnavailable}, outcomeUpstreamError},
		{&adapters.Error{Kind: adapters.KindTimeout}, outcomeUpstreamError},
		{&adapters.Error{Kind: adapters.KindInternal}, outcomeInternalError},
		{fmt.Errorf("wrapped: %w", context.Canceled), outcomeClientClosed},
		{errors.New("store on fire"), outcomeInternalError},
	} {
		if got := outcomeOf(c.err); got != c.want {
			t.Errorf("case %d: outcomeOf(%v) = %s, want %s", i, c.err, got, c.want)
		}
	}
}

func TestCountUpstreamError(t *testing.T) {
	base := func(status string) float64 {
		var d dto.Metric
		if err := upstreamErrors.WithLabelValues("unit-up", status).Write(&d); err != nil {
			t.Fatal(err)
		}
		return d.GetCounter().GetValue()
	}
	cases := []struct {
		err    error
		status string
		counts bool
	}{
		{&adapters.Error{Kind: adapters.KindUnavailable, UpstreamStatus: 503}, "503", true},
		{&adapters.Error{Kind: adapters.KindInvalidRequest, UpstreamStatus: 400}, "400", true},
		{&adapters.Error{Kind: adapters.KindTimeout}, "timeout", true},
		{&adapters.Error{Kind: adapters.KindUnavailable}, "network", true},
		{&adapters.Error{Kind: adapters.KindUpstream}, "error", true},
		{&adapters.Error{Kind: adapters.KindUpstream, UpstreamStatus: 200}, "stream", true},
		// Refused by the provider before sending, or not the upstream's doing.
		{&adapters.Error{Kind: adapters.KindInvalidRequest}, "", false},
		{context.Canceled, "", false},
	}
	for i, c := range cases {
		status := c.status
		if status == "" {
			status = "error"
		}
		before := base(status)
		callObserver{log: zap.NewNop()}.ObserveCall(nil, exchange.Report{Provider: "unit-up", Err: c.err})
		grew := base(status) - before
		if (grew == 1) != c.counts {
			t.Errorf("case %d: %v counted %v times under %q", i, c.err, grew, status)
		}
	}
	before := base("500")
	callObserver{log: zap.NewNop()}.ObserveCall(nil, exchange.Report{Provider: "unit-up", Err: &adapters.Error{Kind: adapters.KindUpstream, UpstreamStatus: 500},
		ClientClosed: true})
	if base("500") != before {
		t.Error("a call whose client left counted as an upstream error")
	}
}

// exchangeSink keeps BenchmarkExchange's baseline exchange on the heap,
// as a request's is.
var exchangeSink *exchange.Exchange

// TestMetricsLint runs Prometheus's linter (promlint, as Caddy's
// promlinter does) over every agentgate collector.
func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, tenant := range []bool{false, true} {
		m := &metrics{tenant: tenant}
		dm := m.dialect("lint")
		snap := exchange.Totals{AgentID: "a", Model: "m", Provider: "p", Calls: 1, Cost: 12,
			Usage: adapters.Usage{InputTokens: 1, OutputTokens: 2}, FirstByte: time.Millisecond, Upstream: time.Second}
		dm.observe(&snap, &adapters.Principal{Tenant: "t"}, outcomeOK, 1)
		m.tenantQuota("t", 1, 2)
		m.tenantBudget("t", 1, 2)
	}
	rateLimitedBy["requests"].Add(0)
	quotaRejectedBy["key"].Add(0)
	upstreamErrors.WithLabelValues("lint", "500").Add(0)
	for _, c := range []prometheus.Collector{requestsSummed, tokensSummed, requestDuration, upstreamDuration, timeToFirstToken,
		activeStreams, rateLimited, quotaRejected, upstreamErrors, tenantQuotaUsed, tenantQuotaLimit, costSummed, tenantBudgetUsed, tenantBudgetLimit} {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	// The tenant variants lint the same; they cannot share a registry
	// with the sums.
	reg = prometheus.NewPedanticRegistry()
	reg.MustRegister(requestsTenantVec, tokensTenantVec, costTenantVec)
	if mfs, err = reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if problems, _ = promlint.NewWithMetricFamilies(mfs).Lint(); len(problems) > 0 {
		t.Errorf("promlint: %v", problems)
	}
}

// TestPlaceholdersResolve checks that every documented placeholder is
// known, before and after the request ends.
func TestPlaceholdersResolve(t *testing.T) {
	m := &metrics{}
	r := httptest.NewRequest("GET", "/v1/models", nil)
	repl := caddyhttp.NewTestReplacer(r)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	x := m.dialect("unit").begin(&Handler{log: zap.NewNop(), app: &App{clock: clock.Real{}}}, httptest.NewRecorder(), r)
	for _, p := range placeholders {
		if _, ok := repl.Get(strings.Trim(p, "{}")); !ok {
			t.Errorf("%s is unknown", p)
		}
	}
	if _, ok := repl.Get("http.agentgate.nonsense"); ok {
		t.Error("an unknown agentgate placeholder resolved")
	}
	x.Principal = &adapters.Principal{Tenant: "t1", KeyID: "k1", Tier: "pro"}
	x.WriteHeader(http.StatusTooManyRequests)
	x.end()
	for k, want := range map[string]any{"tenant": "t1", "key_id": "k1", "tier": "pro", "dialect": "unit", "outcome": "rate_limited", "stream": false, "input_tokens": 0,
		"error": "rate_limited"} {
		if got, _ := repl.Get("http.agentgate." + k); got != want {
			t.Errorf("%s = %#v, want %#v", k, got, want)
		}
	}
}

// BenchmarkMetricsObserve is the per-request cost of exporting a finished
// model request's metrics: one series lookup, a request counter, four
// token counters and three histograms.
func BenchmarkMetricsObserve(b *testing.B) {
	for _, tenant := range []bool{false, true} {
		b.Run(fmt.Sprintf("tenant_label=%v", tenant), func(b *testing.B) {
			dm := (&metrics{tenant: tenant}).dialect("bench")
			p := &adapters.Principal{Tenant: "bench-tenant", KeyID: "k"}
			snap := exchange.Totals{AgentID: "bench-agent", Model: "bench-model", Provider: "bench-provider", Calls: 1,
				Usage:     adapters.Usage{InputTokens: 120, OutputTokens: 48, ReasoningTokens: 8},
				FirstByte: 80 * time.Millisecond, Upstream: 900 * time.Millisecond}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					dm.observe(&snap, p, outcomeOK, 0.95)
				}
			})
		})
	}
	// For comparison: the same without the series cache, looking each
	// child up by its label values.
	b.Run("uncached", func(b *testing.B) {
		snap := exchange.Totals{AgentID: "bench-agent", Model: "bench-model", Provider: "bench-provider", Calls: 1,
			Usage: adapters.Usage{InputTokens: 120, OutputTokens: 48, ReasoningTokens: 8}, FirstByte: 80 * time.Millisecond, Upstream: 900 * time.Millisecond}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				a, m, p := agentValues.get(snap.AgentID), modelValues.get(snap.Model), providerValues.get(snap.Provider)
				requestsTenantVec.WithLabelValues("bench", a, m, p, "ok", "bench-tenant").Inc()
				requestDuration.WithLabelValues("bench", m, p).Observe(0.95)
				for i, typ := range tokenTypeNames {
					tokensTenantVec.WithLabelValues(typ, m, p, a, "bench-tenant").Add(float64(i))
				}
				upstreamDuration.WithLabelValues(m, p).Observe(snap.Upstream.Seconds())
				timeToFirstToken.WithLabelValues(m, p).Observe(snap.FirstByte.Seconds())
			}
		})
	})
}

// BenchmarkExchange is the whole per-request metrics path of a dialect
// route: the response writer wrapper, the placeholders' registration,
// the status and stream bookkeeping and the export at the end. The
// baseline does what happens for every request anyway (a replacer in the
// request's context, the request's exchange); the difference is the
// metrics' cost.
func BenchmarkExchange(b *testing.B) {
	dm := (&metrics{}).dialect("bench")
	h := &Handler{log: zap.NewNop(), app: &App{clock: clock.Real{}}}
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	for _, metered := range []bool{false, true} {
		name := "baseline"
		if metered {
			name = "metered"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := httptest.NewRecorder()
				p := &adapters.Principal{Tenant: "bench-tenant"}
				for pb.Next() {
					repl := caddy.NewReplacer()
					rr := r.WithContext(context.WithValue(context.Background(), caddy.ReplacerCtxKey, repl))
					if !metered {
						exchangeSink = &exchange.Exchange{Principal: p}
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusOK)
						continue
					}
					x := dm.begin(h, w, rr)
					x.Principal = p
					x.Header().Set("Content-Type", "application/json")
					x.WriteHeader(http.StatusOK)
					x.end()
				}
			})
		})
	}
}

// TestCostCounter: a request adds its known cost in dollars to
// agentgate_cost_usd_total; one whose every call was unpriced adds no
// series (no "$0" for a model without a price).
func TestCostCounter(t *testing.T) {
	value := func(model string) float64 {
		c, err := costTenantVec.GetMetricWithLabelValues(model, "p", "a", noneLabel)
		if err != nil {
			t.Fatal(err)
		}
		var d dto.Metric
		if err := c.Write(&d); err != nil {
			t.Fatal(err)
		}
		return d.GetCounter().GetValue()
	}
	has := func(model string) bool {
		n := 0
		ch := make(chan prometheus.Metric, 1024)
		costSummed.Collect(ch)
		close(ch)
		for mt := range ch {
			var d dto.Metric
			_ = mt.Write(&d)
			for _, l := range d.GetLabel() {
				if l.GetName() == "model" && l.GetValue() == model {
					n++
				}
			}
		}
		return n > 0
	}
	dm := (&metrics{}).dialect("unit-cost")
	// The counter is process-wide: measure what this run adds (go test
	// -count=2 runs the test twice in one process).
	before := value("unit-cost-priced")
	for range 3 {
		snap := exchange.Totals{AgentID: "a", Model: "unit-cost-priced", Provider: "p", Calls: 2, Unpriced: 1, Cost: 1_234_567}
		dm.observe(&snap, nil, outcomeOK, 1)
	}
	if v := value("unit-cost-priced") - before; v < 3.703700 || v > 3.703702 {
		t.Errorf("cost added = %v, want 3.703701", v)
	}
	snap := exchange.Totals{AgentID: "a", Model: "unit-cost-unpriced", Provider: "p", Calls: 1, Unpriced: 1}
	dm.observe(&snap, nil, outcomeOK, 1)
	if has("unit-cost-unpriced") {
		t.Error("an unpriced request exported a cost series")
	}
}
