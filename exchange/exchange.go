// Package exchange is one request's state on its way through the
// gateway. The Caddy handler (caddymodule) makes an Exchange for every
// request it routes to a dialect and passes it explicitly, as a
// parameter, to the dialect, which passes it to the engine, which passes
// it to the models layer that makes the upstream calls (engine/models).
// Nothing comes back up through context values: what the layers below
// learn (the request's admission, each model call's usage, how its last
// call ended) they write into the Exchange, and the handler reads it
// there when the request ends (metrics, placeholders, the settlement of
// the request's limits, its log line).
//
// An Exchange holds:
//
//   - the caller (Principal), the dialect and a logger;
//   - the admission: Admit is the request's one admission against its
//     key's limits (the tier's rules, limits.Limiter.Admit), made once the
//     request's cost can be estimated from its decoded call, and the
//     lease it returns, which Settle gives back with what the request
//     really spent;
//   - the request's account: every model call made for it is reported
//     once, by the accountant (engine/models/report.go), which writes the
//     call's usage record and hands the priced call to Account; Totals
//     and the per-month spend add those calls up;
//   - its outcome: the error it was answered with (Fail) and how its
//     last model call ended.
//
// It is safe for concurrent use: orchestrated sub-agents run in parallel
// and report into their parent's exchange.
package exchange

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/limits"
	"github.com/agentgate/agentgate/pricing"
	"github.com/agentgate/agentgate/state"
)

// Exchange is one request. The zero value, with Principal set, is a
// request admitted without limits; the frame that serves requests sets
// Admitter.
type Exchange struct {
	// Principal is the caller, set once it is authenticated.
	Principal *adapters.Principal
	// Dialect names the API the request came in by.
	Dialect string
	// Log is where lines about the request go; nil means nowhere.
	Log *zap.Logger
	// Admitter admits the request against its key's limits; nil admits
	// every request without a lease.
	Admitter Admitter

	admission struct {
		sync.Mutex
		done    bool
		refused bool
		err     error
		lease   *limits.Lease
		settled bool
	}

	mu     sync.Mutex
	totals Totals
	// spent is the request's usage by quota month, in the order the
	// months came.
	spent []limits.Spend
	// lastErr is how the latest model call failed (nil: it did not);
	// lastClosed that the client had gone.
	lastErr    error
	lastClosed bool
	// failed is the latest call that failed, if any.
	failed *Report
	// answered is the error the request was answered with.
	answered error
}

// Admitter is the gateway's admission against a key's limits
// (caddymodule's, over limits.Limiter): it admits x's request with the
// cost est, or returns the error x's request is to be refused with.
type Admitter interface {
	Admit(ctx context.Context, x *Exchange, est Estimate) (*limits.Lease, error)
}

// Estimate is what a request is expected to cost, as admission reserves
// it before the request's first model call. The zero Estimate is a
// request that calls no model: only the rules counting requests (rpm,
// concurrency) apply to it.
type Estimate struct {
	// Input is the prompt's tokens; Output the most the request's answer
	// may generate.
	Input, Output int64
	// Models are the models that may answer, in the order they are tried
	// (the call's model, then the agent's fallbacks): admission prices
	// the estimate at them. Empty when the request names none (a file
	// upload passed through).
	Models []string
}

// Tokens is the estimate's total.
func (e Estimate) Tokens() int64 { return e.Input + e.Output }

// CallsModel reports whether the estimate is of a request that calls a
// model, to which the rules counting tokens and money apply.
func (e Estimate) CallsModel() bool { return e.Tokens() > 0 || len(e.Models) > 0 }

// Admit admits x's request with the cost est: the first call decides,
// and later ones (a sub-agent's run, a retry, a call after the first)
// return its answer without asking again. A nil x admits everything.
func (x *Exchange) Admit(ctx context.Context, est Estimate) error {
	if x == nil {
		return nil
	}
	a := &x.admission
	a.Lock()
	defer a.Unlock()
	if a.done {
		return a.err
	}
	a.done = true
	if x.Admitter == nil {
		return nil
	}
	a.lease, a.err = x.Admitter.Admit(ctx, x, est)
	a.refused = a.err != nil
	return a.err
}

// Admitted reports whether x's request was admitted.
func (x *Exchange) Admitted() bool {
	a := &x.admission
	a.Lock()
	defer a.Unlock()
	return a.done && !a.refused
}

// admissionAsked reports whether Admit was called.
func (x *Exchange) admissionAsked() bool {
	a := &x.admission
	a.Lock()
	defer a.Unlock()
	return a.done
}

// Refused reports whether admission refused x's request: the error it
// returned is what the request is answered with, and nothing of it ran.
func (x *Exchange) Refused() bool {
	if x == nil {
		return false
	}
	a := &x.admission
	a.Lock()
	defer a.Unlock()
	return a.refused
}

// Settle gives back x's lease with what the request really spent: each
// model call's tokens and known cost count in the quota month of its
// usage record, stamped when the call ended (a call reserved before
// midnight at the end of a month and answered after it is billed to the
// new month, as the store's counters bill it). The frame calls it once
// the request has ended; later calls do nothing. A client that left is
// billed all the same.
func (x *Exchange) Settle(ctx context.Context) {
	a := &x.admission
	a.Lock()
	if a.settled || a.lease == nil {
		a.settled = true
		a.Unlock()
		return
	}
	a.settled = true
	lease := a.lease
	a.Unlock()
	// A settlement the backend could not take is kept and retried by the
	// Limiter, which settles past ctx's end.
	_ = lease.Settle(ctx, x.Spent())
}

// Report is one model call, priced, as the accountant hands it to the
// request's exchange.
type Report struct {
	AgentID         string
	Model, Provider string
	Usage           adapters.Usage
	// Cost is the call's cost at the configured prices; nil: unknown.
	Cost *pricing.Micros
	// FirstByte is the time from the call's start to its first generated
	// output; Latency its whole duration.
	FirstByte, Latency time.Duration
	// At is when the call ended, the time of its usage record: it decides
	// the quota month its usage counts in.
	At time.Time
	// Status is "ok" or how the call ended (its usage record's status).
	Status string
	// Err is the error the call failed with, if it did; ClientClosed says
	// it failed because the client went away.
	Err          error
	ClientClosed bool
}

// Account adds one model call of x's request. Only the accountant
// (engine/models/report.go) calls it, after writing the call's usage
// record: each call is accounted exactly once. A nil x (a call no request
// made: memory's own work) accounts nothing.
func (x *Exchange) Account(r *Report) {
	if x == nil {
		return
	}
	if x.Log != nil && !x.admissionAsked() {
		// Every path that calls a model admits first; one that does not
		// escapes the key's limits.
		x.Log.Error("a model call was made for a request that was never admitted (a bug: its limits were not checked)",
			zap.String("dialect", x.Dialect), zap.String("model", r.Model), zap.String("provider", r.Provider))
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if n := len(x.spent); n == 0 || state.MonthKey(x.spent[n-1].At) != state.MonthKey(r.At) {
		x.spent = append(x.spent, limits.Spend{At: r.At})
	}
	sp := &x.spent[len(x.spent)-1].Cost
	sp.Tokens += int64(r.Usage.Total())
	if r.Cost != nil {
		sp.MicroUSD += int64(*r.Cost)
	}
	t := &x.totals
	failed := r.Status != "" && r.Status != "ok"
	if t.Calls == 0 {
		t.AgentID, t.FirstByte = r.AgentID, r.FirstByte
	}
	if t.Calls == 0 || !failed {
		// The model that answered, after retries and fallbacks.
		t.Model, t.Provider = r.Model, r.Provider
	}
	t.Calls++
	t.Usage.Add(r.Usage)
	if r.Cost != nil {
		t.Cost += *r.Cost
	} else {
		t.Unpriced++
	}
	t.Upstream += r.Latency
	x.lastErr, x.lastClosed = r.Err, r.ClientClosed
	if r.Err != nil {
		f := *r
		x.failed = &f
	}
}

// Totals are what a request's model calls add up to.
type Totals struct {
	// AgentID is the agent of the first call; Model and Provider the
	// model that answered (the latest call that did not fail).
	AgentID, Model, Provider string
	Usage                    adapters.Usage
	// Cost is the sum of the known costs of the calls; Unpriced counts
	// the calls whose cost is unknown.
	Cost     pricing.Micros
	Unpriced int
	// Calls is the number of upstream model calls made.
	Calls int
	// FirstByte is the time from the first call's start to its first
	// generated token; Upstream the total time spent in upstream calls.
	FirstByte, Upstream time.Duration
}

// Totals returns what x's request's model calls added up to so far.
func (x *Exchange) Totals() Totals {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.totals
}

// Spent is x's request's usage so far by quota month: the tokens and
// known cost of its model calls whose usage records fall in each month,
// with the time of one of them.
func (x *Exchange) Spent() []limits.Spend {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]limits.Spend(nil), x.spent...)
}

// LastCall is how the request's latest model call ended: nil if it did
// not fail (or none was made); clientClosed when it failed because the
// client went away. A stream reports a failure in-band, and a call that
// failed and was retried successfully is no failure: the frame reads the
// request's outcome here when no error was returned.
func (x *Exchange) LastCall() (err error, clientClosed bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.lastErr, x.lastClosed
}

// LastFailure is the request's latest model call that failed, even if a
// retry or a fallback answered after it (ok false: none failed): what
// the request's log line names when it failed.
func (x *Exchange) LastFailure() (r Report, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.failed == nil {
		return Report{}, false
	}
	return *x.failed, true
}

// Fail records the error x's request is answered with.
func (x *Exchange) Fail(err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.answered = err
}

// Answered is the error x's request was answered with, if any.
func (x *Exchange) Answered() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.answered
}
