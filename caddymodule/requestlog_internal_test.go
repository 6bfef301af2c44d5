package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestRequestLog: a failed request is logged once, when it ends, at the
// level its outcome calls for, with the error's cause and the attempt
// that failed; each failed attempt also at DEBUG; a request that did not
// fail is not logged.
func TestRequestLog(t *testing.T) {
	refused := &adapters.Error{Kind: adapters.KindUnavailable, Message: "upstream unreachable",
		Cause: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}
	unavailable := &adapters.Error{Kind: adapters.KindUnavailable, Message: "upstream unavailable (HTTP 503)", UpstreamStatus: 503}
	tests := []struct {
		name string
		// upstream fails every model call with it; calls is how many the
		// request makes (retries).
		upstream error
		calls    int
		answered error // the error the request is answered with
		level    zapcore.Level
		logged   bool
		fields   map[string]any
	}{
		{name: "refused", upstream: refused, calls: 3, answered: refused, level: zapcore.WarnLevel, logged: true,
			fields: map[string]any{"outcome": "upstream_error", "provider": "up", "model": "m-1", "attempts": int64(3),
				"error": "upstream unreachable", "cause": "dial tcp: connect: connection refused"}},
		{name: "503", upstream: unavailable, calls: 1, answered: unavailable, level: zapcore.WarnLevel, logged: true,
			fields: map[string]any{"upstream_status": int64(503), "attempts": int64(1), "error": "upstream unavailable (HTTP 503)"}},
		{name: "in-band stream failure", upstream: refused, calls: 1, level: zapcore.WarnLevel, logged: true,
			fields: map[string]any{"outcome": "upstream_error", "cause": "dial tcp: connect: connection refused"}},
		{name: "client error", answered: adapters.BadField("model", "is required"), level: zapcore.DebugLevel, logged: true,
			fields: map[string]any{"outcome": "client_error", "error": "model: is required", "attempts": int64(0)}},
		{name: "internal", answered: fmt.Errorf("reading the session: %w", errors.New("disk on fire")), level: zapcore.ErrorLevel, logged: true,
			fields: map[string]any{"outcome": "internal_error", "error": "internal error", "cause": "reading the session: disk on fire"}},
		{name: "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			log := zap.New(core)
			r := httptest.NewRequest("POST", "/v1/chat/completions?key=secret-in-query", nil)
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddyhttp.NewTestReplacer(r)))
			clk := clock.NewManual(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
			x := (&metrics{}).dialect("openai").begin(&Handler{log: log, app: &App{clock: clk}}, httptest.NewRecorder(), r)
			x.Principal = &adapters.Principal{Tenant: "t1", KeyID: "k1"}
			x.Admitter = nil // admitted without limits
			if err := x.Admit(r.Context(), exchange.Estimate{}); err != nil {
				t.Fatal(err)
			}
			// Each model call as the accountant reports it: to the
			// request's exchange, then to the call observer.
			obs := callObserver{log: log}
			for range tt.calls {
				call := &exchange.Report{Model: "m-1", Provider: "up", Status: adapters.AsError(tt.upstream).CodeOrDefault(),
					Err: tt.upstream, Latency: time.Millisecond, At: clk.Now()}
				x.Account(call)
				obs.ObserveCall(&x.Exchange, *call)
			}
			if tt.answered != nil {
				x.Fail(tt.answered)
				x.WriteHeader(adapters.AsError(tt.answered).Status())
			} else {
				x.WriteHeader(http.StatusOK)
			}
			// The request's latency is read from the app's clock.
			clk.Add(1500 * time.Millisecond)
			x.end()
			x.end() // once only

			attempts := logs.FilterMessage("upstream attempt failed").All()
			if len(attempts) != tt.calls {
				t.Errorf("%d attempt lines, want %d", len(attempts), tt.calls)
			}
			for i, a := range attempts {
				if a.Level != zapcore.DebugLevel || a.ContextMap()["attempt"] != int64(i+1) {
					t.Errorf("attempt line %d: %v %v", i, a.Level, a.ContextMap())
				}
			}
			lines := logs.FilterMessage("request failed").All()
			if !tt.logged {
				if len(lines) != 0 {
					t.Fatalf("a request that did not fail was logged: %v", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("%d request lines, want 1", len(lines))
			}
			got := lines[0].ContextMap()
			if lines[0].Level != tt.level {
				t.Errorf("level %v, want %v", lines[0].Level, tt.level)
			}
			for k, want := range tt.fields {
				if got[k] != want {
					t.Errorf("%s = %#v, want %#v", k, got[k], want)
				}
			}
			if got["latency"] != 1500*time.Millisecond {
				t.Errorf("latency = %v, want the 1.5s the app's clock moved", got["latency"])
			}
			for _, k := range []string{"dialect", "path", "tenant", "key_id"} {
				if _, ok := got[k]; !ok {
					t.Errorf("no %s field: %v", k, got)
				}
			}
			if fmt.Sprint(got) != strings.ReplaceAll(fmt.Sprint(got), "secret-in-query", "") {
				t.Errorf("the query was logged: %v", got)
			}
			want := got["error"].(string)
			if c, ok := got["cause"]; ok {
				want += ": " + c.(string)
			}
			if ph, _ := x.placeholder("http.agentgate.error"); ph != want {
				t.Errorf("{http.agentgate.error} = %q, want %q", ph, want)
			}
		})
	}
}
