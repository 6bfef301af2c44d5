package exchange_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/limits"
	"github.com/agentgate/agentgate/limits/memory"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

var (
	nov = time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC)
	dec = time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC)
)

func usd(m pricing.Micros) *pricing.Micros { return &m }

func TestTotals(t *testing.T) {
	failed := errors.New("upstream failed")
	tests := []struct {
		name  string
		calls []exchange.Report
		want  exchange.Totals
	}{
		{"no calls", nil, exchange.Totals{}},
		{
			"one call",
			[]exchange.Report{{AgentID: "a", Model: "m", Provider: "p", Usage: adapters.Usage{InputTokens: 3, OutputTokens: 4}, Cost: usd(9),
				FirstByte: time.Millisecond, Latency: 5 * time.Millisecond, Status: "ok"}},
			exchange.Totals{AgentID: "a", Model: "m", Provider: "p", Usage: adapters.Usage{InputTokens: 3, OutputTokens: 4},
				Cost: 9, Calls: 1, FirstByte: time.Millisecond, Upstream: 5 * time.Millisecond},
		},
		{
			"sums calls: first agent and first byte, last model",
			[]exchange.Report{
				{AgentID: "a", Model: "m1", Provider: "p1", Usage: adapters.Usage{InputTokens: 1, OutputTokens: 2, ReasoningTokens: 1, CachedTokens: 1},
					Cost: usd(5), FirstByte: time.Millisecond, Latency: 10 * time.Millisecond, Status: "ok"},
				{AgentID: "b", Model: "m2", Provider: "p2", Usage: adapters.Usage{InputTokens: 10, OutputTokens: 20, Estimated: true},
					FirstByte: time.Second, Latency: 20 * time.Millisecond, Status: "ok"},
				{AgentID: "c", Model: "m3", Provider: "p3", Usage: adapters.Usage{InputTokens: 100, CachedTokens: 5}, Cost: usd(7),
					FirstByte: time.Hour, Latency: 30 * time.Millisecond, Status: "ok"},
			},
			exchange.Totals{AgentID: "a", Model: "m3", Provider: "p3",
				Usage: adapters.Usage{InputTokens: 111, OutputTokens: 22, ReasoningTokens: 1, CachedTokens: 6, Estimated: true},
				Cost:  12, Unpriced: 1, Calls: 3, FirstByte: time.Millisecond, Upstream: 60 * time.Millisecond},
		},
		{
			"model of the last call that answered",
			[]exchange.Report{
				{AgentID: "a", Model: "m1", Provider: "p1", Cost: usd(0), Status: "upstream_unavailable", Err: failed},
				{AgentID: "a", Model: "m2", Provider: "p2", Usage: adapters.Usage{OutputTokens: 1}, Cost: usd(0), Status: "ok"},
				{AgentID: "a", Model: "m3", Provider: "p3", Cost: usd(0), Status: "client_closed", Err: context.Canceled, ClientClosed: true},
			},
			exchange.Totals{AgentID: "a", Model: "m2", Provider: "p2", Usage: adapters.Usage{OutputTokens: 1}, Calls: 3},
		},
		{
			"a failed first call names the model",
			[]exchange.Report{{AgentID: "a", Model: "m1", Provider: "p1", Status: "upstream_error", Err: failed}},
			exchange.Totals{AgentID: "a", Model: "m1", Provider: "p1", Unpriced: 1, Calls: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := &exchange.Exchange{}
			for i := range tc.calls {
				x.Account(&tc.calls[i])
			}
			if got := x.Totals(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Totals = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestLastCall: the request's outcome follows its latest model call: a
// failure retried successfully is no failure, and a call that failed
// because the client left says so.
func TestLastCall(t *testing.T) {
	failed := errors.New("upstream failed")
	x := &exchange.Exchange{}
	if err, closed := x.LastCall(); err != nil || closed {
		t.Errorf("no calls: LastCall = %v, %v", err, closed)
	}
	if _, ok := x.LastFailure(); ok {
		t.Error("no calls, yet a failure")
	}
	x.Account(&exchange.Report{Status: "upstream_error", Err: failed})
	if err, closed := x.LastCall(); err != failed || closed {
		t.Errorf("after a failure: LastCall = %v, %v", err, closed)
	}
	x.Account(&exchange.Report{Status: "ok"})
	if err, _ := x.LastCall(); err != nil {
		t.Errorf("after a retry that answered: LastCall = %v", err)
	}
	// The failure the retry rescued is still the request's last failure,
	// for its log line.
	if f, ok := x.LastFailure(); !ok || f.Err != failed {
		t.Errorf("LastFailure = %+v, %v; want the rescued failure", f, ok)
	}
	x.Account(&exchange.Report{Status: "client_closed", Err: context.Canceled, ClientClosed: true})
	if err, closed := x.LastCall(); err != context.Canceled || !closed {
		t.Errorf("after the client left: LastCall = %v, %v", err, closed)
	}
}

// TestNilExchange: a call no request made (memory's own) has no exchange:
// admitting and accounting it does nothing.
func TestNilExchange(t *testing.T) {
	var x *exchange.Exchange
	if err := x.Admit(context.Background(), exchange.Estimate{Input: 1}); err != nil {
		t.Errorf("Admit = %v", err)
	}
	x.Account(&exchange.Report{Usage: adapters.Usage{InputTokens: 1}}) // must not panic
	if x.Refused() {
		t.Error("a nil exchange says it was refused")
	}
}

func TestConcurrentAccount(t *testing.T) {
	x := &exchange.Exchange{}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 100 {
				x.Account(&exchange.Report{AgentID: "a", Model: "m", Provider: "p", Usage: adapters.Usage{InputTokens: 1, OutputTokens: 2},
					Cost: usd(3), FirstByte: time.Millisecond, Latency: time.Millisecond, At: nov, Status: "ok"})
				_ = x.Totals()
			}
		})
	}
	wg.Wait()
	s := x.Totals()
	if s.Calls != 5000 || s.Usage.InputTokens != 5000 || s.Usage.OutputTokens != 10000 || s.Upstream != 5*time.Second || s.Cost != 15000 {
		t.Errorf("Totals = %+v, want 5000 calls summed", s)
	}
	if sp := x.Spent(); len(sp) != 1 || sp[0].Cost != (limits.Cost{Tokens: 15000, MicroUSD: 15000}) {
		t.Errorf("Spent = %+v, want 15000 tokens and micro-dollars in one month", sp)
	}
}

// TestSpent: a request's tokens and known cost are kept by the quota
// month of each call's usage record, so a request whose calls straddle
// midnight at the end of a month settles each part in its own month; a
// call without a price adds its tokens and no money.
func TestSpent(t *testing.T) {
	type call struct {
		at      time.Time
		in, out int
		cost    *pricing.Micros
	}
	tests := []struct {
		name  string
		calls []call
		want  []limits.Spend
	}{
		{"no calls", nil, nil},
		{"one month", []call{{nov, 3, 4, usd(70)}, {nov.Add(time.Millisecond), 1, 1, usd(5)}},
			[]limits.Spend{{At: nov, Cost: limits.Cost{Tokens: 9, MicroUSD: 75}}}},
		{"across midnight", []call{{nov, 3, 4, usd(70)}, {dec, 10, 0, nil}, {dec, 0, 5, usd(12)}},
			[]limits.Spend{{At: nov, Cost: limits.Cost{Tokens: 7, MicroUSD: 70}}, {At: dec, Cost: limits.Cost{Tokens: 15, MicroUSD: 12}}}},
		{"unpriced", []call{{nov, 3, 4, nil}}, []limits.Spend{{At: nov, Cost: limits.Cost{Tokens: 7}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := &exchange.Exchange{}
			for _, c := range tc.calls {
				x.Account(&exchange.Report{Usage: adapters.Usage{InputTokens: c.in, OutputTokens: c.out}, Cost: c.cost, At: c.at, Status: "ok"})
			}
			got := x.Spent()
			if len(got) != len(tc.want) {
				t.Fatalf("Spent = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if state.MonthKey(got[i].At) != state.MonthKey(tc.want[i].At) || got[i].Cost != tc.want[i].Cost {
					t.Errorf("Spent = %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

// tierAdmitter admits against a real Limiter with a monthly quota and
// counts how often it is asked.
type tierAdmitter struct {
	lim   *limits.Limiter
	rule  limits.Rule
	calls atomic.Int32
	// gate, when set, holds admissions until it is closed.
	gate chan struct{}
}

func (a *tierAdmitter) Admit(ctx context.Context, _ *exchange.Exchange, est exchange.Estimate) (*limits.Lease, error) {
	a.calls.Add(1)
	if a.gate != nil {
		<-a.gate
	}
	d, err := a.lim.Admit(ctx, []limits.Rule{a.rule}, limits.Cost{Tokens: est.Tokens()})
	if err != nil {
		return nil, err
	}
	if !d.Admitted {
		return nil, &adapters.Error{Kind: adapters.KindQuotaExceeded, Code: "insufficient_quota", Message: "quota"}
	}
	return d.Lease, nil
}

// noUsage is a Seeder for a store with no usage records.
type noUsage struct{}

func (noUsage) Used(context.Context, string, limits.Kind, time.Time) (int64, error) { return 0, nil }

func newAdmitter(t *testing.T, quota int64) *tierAdmitter {
	clk := clock.NewManual(nov.Add(-time.Hour))
	lim := limits.New(memory.New(clk), limits.Options{Seeder: noUsage{}})
	t.Cleanup(func() { _ = lim.Close() })
	return &tierAdmitter{lim: lim, rule: limits.Rule{Scope: "key:k", Kind: limits.MonthlyTokens, Max: quota}}
}

func (a *tierAdmitter) quota(t *testing.T) limits.State {
	t.Helper()
	d, err := a.lim.Peek(context.Background(), []limits.Rule{a.rule})
	if err != nil {
		t.Fatal(err)
	}
	return d.States[0]
}

// TestAdmitOnceAndSettle: a request is admitted once, whoever asks first
// (sub-agents running in parallel ask together and wait for the one
// admission); its reservation holds until Settle replaces it with what
// its calls really used, once.
func TestAdmitOnceAndSettle(t *testing.T) {
	a := newAdmitter(t, 100)
	a.gate = make(chan struct{})
	x := &exchange.Exchange{Admitter: a}
	est := exchange.Estimate{Input: 30, Output: 10, Models: []string{"m"}}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = x.Admit(context.Background(), est) })
	}
	close(a.gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Admit %d: %v", i, err)
		}
	}
	if n := a.calls.Load(); n != 1 {
		t.Fatalf("the admitter was asked %d times, want once", n)
	}
	if !x.Admitted() || x.Refused() {
		t.Fatalf("Admitted %v, Refused %v", x.Admitted(), x.Refused())
	}
	if st := a.quota(t); st.Reserved != 40 || st.Used != 0 {
		t.Fatalf("after admission: %+v, want 40 reserved", st)
	}
	x.Account(&exchange.Report{Usage: adapters.Usage{InputTokens: 20, OutputTokens: 5}, At: nov, Status: "ok"})
	x.Settle(context.Background())
	x.Settle(context.Background()) // once
	if st := a.quota(t); st.Reserved != 0 || st.Used != 25 {
		t.Fatalf("after settlement: %+v, want 25 used", st)
	}
}

// TestAdmitRefused: a refusal is the request's answer: every later Admit
// returns it, and the request is marked refused (nothing of it ran).
func TestAdmitRefused(t *testing.T) {
	a := newAdmitter(t, 10)
	x := &exchange.Exchange{Admitter: a}
	est := exchange.Estimate{Input: 30, Output: 10}
	err := x.Admit(context.Background(), est)
	if adapters.AsError(err).Code != "insufficient_quota" {
		t.Fatalf("Admit over the quota = %v", err)
	}
	if err2 := x.Admit(context.Background(), est); err2 != err {
		t.Errorf("a second Admit = %v, want the refusal again", err2)
	}
	if !x.Refused() || x.Admitted() {
		t.Errorf("Refused %v, Admitted %v", x.Refused(), x.Admitted())
	}
	x.Settle(context.Background()) // nothing to settle
	if st := a.quota(t); st.Reserved != 0 || st.Used != 0 {
		t.Errorf("quota after a refusal: %+v", st)
	}
}

func TestEstimateCallsModel(t *testing.T) {
	for _, tc := range []struct {
		est  exchange.Estimate
		want bool
	}{
		{exchange.Estimate{}, false},
		{exchange.Estimate{Output: 1024}, true},
		{exchange.Estimate{Models: []string{"m"}}, true},
	} {
		if got := tc.est.CallsModel(); got != tc.want {
			t.Errorf("%+v.CallsModel() = %v, want %v", tc.est, got, tc.want)
		}
	}
}

// TestAccountWithoutAdmissionIsLogged: a model call accounted to a
// request that never asked for admission escaped its limits: a bug the
// exchange logs, naming the call.
func TestAccountWithoutAdmissionIsLogged(t *testing.T) {
	core, logs := observer.New(zap.ErrorLevel)
	x := &exchange.Exchange{Dialect: "unit", Log: zap.New(core)}
	x.Account(&exchange.Report{Model: "m", Provider: "p", Status: "ok"})
	if logs.Len() != 1 || logs.All()[0].ContextMap()["model"] != "m" {
		t.Fatalf("logged %v, want one error naming the call", logs.All())
	}
	if err := x.Admit(context.Background(), exchange.Estimate{}); err != nil {
		t.Fatal(err)
	}
	x.Account(&exchange.Report{Model: "m", Provider: "p", Status: "ok"})
	if logs.Len() != 1 {
		t.Errorf("a call of an admitted request was logged: %v", logs.All())
	}
}
