package caddymodule

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/limits"
	"github.com/caddyserver/caddy/v2"
)

// httpExchange is the HTTP side of one request's exchange through a
// dialect route: it embeds the exchange.Exchange the dialect, the engine
// and the models layer are handed (and report into), wraps the response
// writer to see the status and whether a stream began, admits the
// request against its key's limits when the exchange asks (admission),
// publishes the {http.agentgate.*} placeholders, and when the request
// ends settles its limits, exports its metrics and logs its failure
// (requestlog.go). It is not pooled: the placeholders read it after the
// route returned, when Caddy writes the access log.
type httpExchange struct {
	exchange.Exchange
	w   http.ResponseWriter
	h   *Handler
	dm  *dialectMetrics
	ctx context.Context
	// start is when the request began, on the app's clock: its latency
	// (logged, and exported as a metric) is read from the same clock.
	start time.Time

	// method and path (never the query, which may hold a key) say which
	// request it was, in its log line.
	method, path string
	// logged: the request's failure was already logged (a panic, with
	// its stack).
	logged  bool
	elapsed time.Duration
	status  int
	stream  bool
	// marked: the dialect said its answer is a stream (MarkStream).
	marked bool
	ended  bool
	result outcome
}

// begin starts following r for h.
func (dm *dialectMetrics) begin(h *Handler, w http.ResponseWriter, r *http.Request) *httpExchange {
	x := &httpExchange{w: w, h: h, dm: dm, ctx: r.Context(), start: h.app.clock.Now(), method: r.Method, path: r.URL.Path}
	x.Dialect, x.Log, x.Admitter = dm.name, h.log, admission{x}
	if repl, ok := x.ctx.Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Map(x.placeholder)
	}
	return x
}

// admission admits the request of x against its key's tier (limits.go),
// as its exchange asks (exchange.Exchange.Admit); the rate-limit headers
// go on x's response.
type admission struct{ x *httpExchange }

// Admit implements exchange.Admitter.
func (a admission) Admit(ctx context.Context, _ *exchange.Exchange, est exchange.Estimate) (*limits.Lease, error) {
	return a.x.h.admit(ctx, a.x.w.Header(), a.x.Principal, est)
}

// end settles the request's limits, exports its metrics and logs its
// failure, once.
func (x *httpExchange) end() {
	if x.ended {
		return
	}
	x.Settle(x.ctx)
	if x.stream {
		x.dm.active.Dec()
	}
	totals := x.Totals()
	x.result = x.classify()
	x.ended = true
	x.elapsed = x.h.app.clock.Now().Sub(x.start)
	x.dm.observe(&totals, x.Principal, x.result, x.elapsed.Seconds())
	if x.result == outcomeRateLimited || x.result == outcomeQuotaExceeded {
		countRefusal(x.result, x.Answered())
	}
	x.logOutcome()
}

// classify decides the request's outcome: by the error it was answered
// with, else by its last model call if that failed after the response
// began (a stream reports its failure in-band), else by the status
// written.
func (x *httpExchange) classify() outcome {
	if err := x.Answered(); err != nil {
		if x.ctx.Err() != nil {
			return outcomeClientClosed
		}
		return outcomeOf(err)
	}
	if err, closed := x.LastCall(); err != nil {
		if closed || x.ctx.Err() != nil {
			return outcomeClientClosed
		}
		return outcomeOf(err)
	}
	return outcomeOfStatus(x.status)
}

// Header implements http.ResponseWriter.
func (x *httpExchange) Header() http.Header { return x.w.Header() }

// WriteHeader implements http.ResponseWriter; a text/event-stream answer,
// or one the dialect marked as a stream, counts as an active stream until
// the request ends.
func (x *httpExchange) WriteHeader(code int) {
	if x.status == 0 && code >= 200 {
		x.wroteHeader(code)
	}
	x.w.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (x *httpExchange) Write(b []byte) (int, error) {
	if x.status == 0 {
		x.wroteHeader(http.StatusOK)
	}
	return x.w.Write(b)
}

func (x *httpExchange) wroteHeader(code int) {
	x.status = code
	if x.marked || strings.HasPrefix(x.w.Header().Get("Content-Type"), "text/event-stream") {
		x.stream = true
		x.dm.active.Inc()
	}
}

// MarkStream implements the dialects' stream marker: the answer that
// follows is a stream in a framing other than text/event-stream.
func (x *httpExchange) MarkStream() { x.marked = true }

// Unwrap lets http.ResponseController reach the connection (Flush).
func (x *httpExchange) Unwrap() http.ResponseWriter { return x.w }

// Interface guards.
var (
	_ http.ResponseWriter = (*httpExchange)(nil)
	_ exchange.Admitter   = admission{}
)
