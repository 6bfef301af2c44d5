package caddymodule

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// A request that fails is logged once, when it ends, at a level that fits
// its outcome: upstream failures at WARN, internal errors (bugs, a store
// that cannot be reached) at ERROR, and what the client caused (a bad
// request, a bad key, a limit, leaving early) at DEBUG. Each failed
// upstream attempt is logged at DEBUG as it fails, so a request that a
// retry rescued shows its failed attempts only there. The lines carry
// what explains the failure (dialect, agent, model, provider, upstream
// status, attempts, latency, the error and its cause) and never a secret:
// no key, no header, no prompt or completion text.

// callFailure is an upstream attempt that failed.
type callFailure struct {
	err             error
	provider, model string
	attempt         int
	latency         time.Duration
}

// attemptLog follows the upstream attempts of one request.
type attemptLog struct {
	mu       sync.Mutex
	attempts int
	failed   callFailure
}

// begin counts an attempt and returns its number (1-based).
func (l *attemptLog) begin() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts++
	return l.attempts
}

func (l *attemptLog) fail(f callFailure) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed = f
}

func (l *attemptLog) snapshot() (int, callFailure) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.attempts, l.failed
}

// logAttemptFailure logs one failed upstream attempt at DEBUG. A caller
// that went away is no upstream failure and is not logged.
func logAttemptFailure(log *zap.Logger, ctx context.Context, f callFailure) {
	if ctx.Err() != nil {
		return
	}
	ce := log.Check(zapcore.DebugLevel, "upstream attempt failed")
	if ce == nil {
		return
	}
	fields := []zap.Field{zap.String("provider", f.provider), zap.String("model", f.model),
		zap.Int("attempt", f.attempt), zap.Duration("latency", f.latency)}
	ce.Write(append(fields, errorFields(f.err)...)...)
}

// levelOf is the level a request that ended with o is logged at, and
// whether it is logged at all.
func levelOf(o outcome) (zapcore.Level, bool) {
	switch o {
	case outcomeOK:
		return 0, false
	case outcomeUpstreamError:
		return zapcore.WarnLevel, true
	case outcomeInternalError:
		return zapcore.ErrorLevel, true
	}
	return zapcore.DebugLevel, true
}

// logOutcome writes x's request line, if its outcome calls for one.
func (x *exchange) logOutcome() {
	if x.log == nil || x.logged {
		return
	}
	lvl, ok := levelOf(x.result)
	if !ok {
		return
	}
	ce := x.log.Check(lvl, "request failed")
	if ce == nil {
		return
	}
	snap := x.meter.Snapshot()
	attempts, failed := x.attempts.snapshot()
	err := x.failure()
	model, provider := snap.Model, snap.Provider
	if failed.err != nil && errors.Is(err, failed.err) {
		model, provider = failed.model, failed.provider
	}
	fields := []zap.Field{
		zap.String("dialect", x.dm.name), zap.String("method", x.method), zap.String("path", x.path),
		zap.Int("status", x.status), zap.String("outcome", x.result.String()),
	}
	if p := x.principal; p != nil {
		fields = append(fields, zap.String("tenant", p.Tenant), zap.String("key_id", p.KeyID))
	}
	if snap.AgentID != "" {
		fields = append(fields, zap.String("agent", snap.AgentID))
	}
	if model != "" || provider != "" {
		fields = append(fields, zap.String("model", model), zap.String("provider", provider))
	}
	fields = append(fields, zap.Int("attempts", attempts), zap.Duration("latency", x.elapsed),
		zap.Duration("upstream", snap.Upstream))
	ce.Write(append(fields, errorFields(err)...)...)
}

// failure is the error x's request failed with: the one it was answered
// with, else (a stream that reported its failure in-band) its last failed
// upstream attempt's.
func (x *exchange) failure() error {
	if x.err != nil {
		return x.err
	}
	_, failed := x.attempts.snapshot()
	return failed.err
}

// errorText is {http.agentgate.error}: the error x's request failed with
// and its cause, or "" for a request that did not fail.
func (x *exchange) errorText() string {
	if !x.ended || x.result == outcomeOK {
		return ""
	}
	err := x.failure()
	if err == nil {
		return x.result.String()
	}
	msg, cause := adapters.Describe(err)
	if cause != "" {
		return msg + ": " + cause
	}
	return msg
}

// errorFields are the log fields of err: its message, the upstream's
// status and the cause underneath.
func errorFields(err error) []zap.Field {
	if err == nil {
		return nil
	}
	msg, cause := adapters.Describe(err)
	fields := []zap.Field{zap.String("error", msg)}
	var e *adapters.Error
	if errors.As(err, &e) && e.UpstreamStatus != 0 {
		fields = append(fields, zap.Int("upstream_status", e.UpstreamStatus))
	}
	if cause != "" {
		fields = append(fields, zap.String("cause", cause))
	}
	return fields
}
