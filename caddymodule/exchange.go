package caddymodule

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// exchange follows one request through a dialect route: it wraps the
// response writer to see the status and whether a stream began, publishes
// the {http.agentgate.*} placeholders, and exports the request's metrics
// when it ends. It is not pooled: the placeholders read it after the
// route returned, when Caddy writes the access log.
type exchange struct {
	w     http.ResponseWriter
	dm    *dialectMetrics
	ctx   context.Context
	start time.Time

	principal *adapters.Principal
	meter     *models.Meter
	// log is the handler's logger, for the request's line when it fails
	// (requestlog.go); method and path (never the query, which may hold
	// a key) say which request it was.
	log          *zap.Logger
	method, path string
	// logged: the request's failure was already logged (a panic, with
	// its stack).
	logged bool
	// attempts follows the request's upstream attempts.
	attempts attemptLog
	elapsed  time.Duration
	// err is the error the request was answered with, if any.
	err    error
	status int
	stream bool
	// marked: the dialect said its answer is a stream (MarkStream).
	marked bool
	ended  bool
	result outcome
	// lastCall is the outcome of the request's latest model call, plus
	// one (0: none yet), as meteredProvider saw it: a stream reports a
	// failure in-band and returns no error, and a call that failed and
	// was retried successfully is no failure.
	lastCall atomic.Uint32
}

type exchangeKey struct{}

// withMeter returns ctx carrying a new models.Meter and x, for
// meteredProvider to report calls to.
func (x *exchange) withMeter(ctx context.Context) (context.Context, *models.Meter) {
	ctx, x.meter = models.WithMeter(ctx)
	return context.WithValue(ctx, exchangeKey{}, x), x.meter
}

// noteCall records how a model call of x's request ended. emitErr is the
// error writing to the client returned during the call, if any.
func (x *exchange) noteCall(ctx context.Context, err, emitErr error) {
	o := outcomeOK
	if err != nil {
		if ctx.Err() != nil || emitErr != nil {
			o = outcomeClientClosed
		} else {
			o = outcomeOf(err)
		}
	}
	x.lastCall.Store(uint32(o) + 1)
}

// begin starts following r; log is where its failure is logged.
func (dm *dialectMetrics) begin(w http.ResponseWriter, r *http.Request, log *zap.Logger) *exchange {
	x := &exchange{w: w, dm: dm, ctx: r.Context(), start: time.Now(), log: log, method: r.Method, path: r.URL.Path}
	if repl, ok := x.ctx.Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Map(x.placeholder)
	}
	return x
}

// fail records the error the request is answered with.
func (x *exchange) fail(err error) { x.err = err }

// end exports the request's metrics and logs its failure, once.
func (x *exchange) end() {
	if x.ended {
		return
	}
	if x.stream {
		x.dm.active.Dec()
	}
	snap := x.meter.Snapshot()
	x.result = x.classify()
	x.ended = true
	x.elapsed = time.Since(x.start)
	x.dm.observe(&snap, x.principal, x.result, x.elapsed.Seconds())
	if x.result == outcomeRateLimited || x.result == outcomeQuotaExceeded {
		countRefusal(x.result, x.err)
	}
	x.logOutcome()
}

// classify decides the request's outcome: by the error it was answered
// with, else by its last model call if that failed after the response
// began (a stream reports its failure in-band), else by the status
// written.
func (x *exchange) classify() outcome {
	if x.err != nil {
		if x.ctx.Err() != nil {
			return outcomeClientClosed
		}
		return outcomeOf(x.err)
	}
	if last := x.lastCall.Load(); last > 0 && outcome(last-1) != outcomeOK {
		if x.ctx.Err() != nil {
			return outcomeClientClosed
		}
		return outcome(last - 1)
	}
	return outcomeOfStatus(x.status)
}

// Header implements http.ResponseWriter.
func (x *exchange) Header() http.Header { return x.w.Header() }

// WriteHeader implements http.ResponseWriter; a text/event-stream answer,
// or one the dialect marked as a stream, counts as an active stream until
// the request ends.
func (x *exchange) WriteHeader(code int) {
	if x.status == 0 && code >= 200 {
		x.wroteHeader(code)
	}
	x.w.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (x *exchange) Write(b []byte) (int, error) {
	if x.status == 0 {
		x.wroteHeader(http.StatusOK)
	}
	return x.w.Write(b)
}

func (x *exchange) wroteHeader(code int) {
	x.status = code
	if x.marked || strings.HasPrefix(x.w.Header().Get("Content-Type"), "text/event-stream") {
		x.stream = true
		x.dm.active.Inc()
	}
}

// MarkStream implements the dialects' stream marker: the answer that
// follows is a stream in a framing other than text/event-stream.
func (x *exchange) MarkStream() { x.marked = true }

// Unwrap lets http.ResponseController reach the connection (Flush).
func (x *exchange) Unwrap() http.ResponseWriter { return x.w }

// Interface guards.
var _ http.ResponseWriter = (*exchange)(nil)
