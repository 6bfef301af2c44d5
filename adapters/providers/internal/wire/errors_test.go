package wire

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := http.Header{"Retry-After": {now.Add(30 * time.Second).Format(http.TimeFormat)}}
	if got := RetryAfter(h, now, math.Inf(1)); got != 30*time.Second {
		t.Errorf("HTTP date: got %v", got)
	}
	for _, v := range []string{"-3", "soon", "NaN", "", "1e300"} {
		if got := RetryAfter(http.Header{"Retry-After": {v}}, now, math.Inf(1)); got != 0 {
			t.Errorf("%q: got %v", v, got)
		}
	}
	tests := []struct {
		ms, secs string
		limit    float64
		want     time.Duration
	}{
		{"1500", "2", math.Inf(1), 1500 * time.Millisecond},
		{" 250 ", "", 1e12, 250 * time.Millisecond},
		{"0", "2", math.Inf(1), 2 * time.Second},
		{"NaN", "2", math.Inf(1), 2 * time.Second},
		{"x", "2", math.Inf(1), 2 * time.Second},
		{"2e12", "3", 1e12, 3 * time.Second},
		{"2e9", "", math.Inf(1), 2e9 * time.Millisecond},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.ms != "" {
			h.Set("Retry-After-Ms", tt.ms)
		}
		if tt.secs != "" {
			h.Set("Retry-After", tt.secs)
		}
		if got := RetryAfter(h, now, tt.limit); got != tt.want {
			t.Errorf("ms %q secs %q limit %v: got %v, want %v", tt.ms, tt.secs, tt.limit, got, tt.want)
		}
	}
	h = http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"2"}}
	if got := RetryAfterSeconds(h, now); got != 2*time.Second {
		t.Errorf("RetryAfterSeconds read retry-after-ms: %v", got)
	}
}

func TestMapHTTPStatus(t *testing.T) {
	tests := []struct {
		status int
		d      StatusDetails
		kind   adapters.ErrorKind
		msg    string
	}{
		{400, StatusDetails{Message: "bad", Param: "p", Code: "c"}, adapters.KindInvalidRequest, "bad"},
		{422, StatusDetails{}, adapters.KindInvalidRequest, "upstream rejected the request (HTTP 422)"},
		{401, StatusDetails{Message: "key sk-123 refused"}, adapters.KindUpstream, "upstream rejected the gateway's credentials (HTTP 401)"},
		{404, StatusDetails{Message: "no such model", ModelNotFound: true}, adapters.KindNotFound, "no such model"},
		{404, StatusDetails{Message: "nope"}, adapters.KindUpstream, "upstream endpoint not found (HTTP 404)"},
		{408, StatusDetails{}, adapters.KindTimeout, "upstream timed out (HTTP 408)"},
		{413, StatusDetails{}, adapters.KindTooLarge, "request too large for the upstream (HTTP 413)"},
		{429, StatusDetails{}, adapters.KindRateLimited, "upstream rate limit reached, retry later"},
		{503, StatusDetails{}, adapters.KindUnavailable, "upstream unavailable (HTTP 503)"},
		{500, StatusDetails{}, adapters.KindUpstream, "upstream error (HTTP 500)"},
	}
	h := http.Header{"Retry-After": {"3"}}
	for _, tt := range tests {
		e := MapHTTPStatus(tt.status, h, time.Time{}, tt.d, math.Inf(1))
		if e.Kind != tt.kind || e.Message != tt.msg || e.UpstreamStatus != tt.status {
			t.Errorf("%d %+v: got %+v", tt.status, tt.d, e)
		}
		if retry := tt.status == 429 || tt.status == 503; (e.RetryAfter == 3*time.Second) != retry {
			t.Errorf("%d: RetryAfter %v", tt.status, e.RetryAfter)
		}
	}
	// The upstream's words are the cause where the client's message
	// leaves them out, never about the gateway's credentials.
	for _, tt := range []struct {
		status int
		msg    string
		cause  string
	}{
		{503, "overloaded, try later", "upstream said: overloaded, try later"},
		{500, "boom", "upstream said: boom"},
		{404, "no route", "upstream said: no route"},
		{400, "bad field", ""},
		{401, "key sk-123 refused", ""},
		{403, "forbidden for sk-123", ""},
		{503, "", ""},
	} {
		e := MapHTTPStatus(tt.status, nil, time.Time{}, StatusDetails{Message: tt.msg}, 0)
		got := ""
		if e.Cause != nil {
			got = e.Cause.Error()
		}
		if got != tt.cause || errors.Unwrap(e) != e.Cause {
			t.Errorf("%d %q: cause %q, want %q", tt.status, tt.msg, got, tt.cause)
		}
	}
	if e := MapHTTPStatus(400, nil, time.Time{}, StatusDetails{Param: "p", Code: "c"}, 0); e.Param != "p" || e.Code != "c" {
		t.Errorf("400 lost param and code: %+v", e)
	}
	if e := MapHTTPStatus(404, nil, time.Time{}, StatusDetails{ModelNotFound: true}, 0); e.Param != "model" || e.Code != "model_not_found" || e.Message != "model not found" {
		t.Errorf("404: %+v", e)
	}
}

func TestClip(t *testing.T) {
	if s := strings.Repeat("a", 1000); Clip(s) != s {
		t.Error("clipped a message at the limit")
	}
	got := Clip(strings.Repeat("a", 999) + "ü" + "tail")
	if got != strings.Repeat("a", 999)+"…" {
		t.Errorf("got %q", got)
	}
}

func TestRedact(t *testing.T) {
	e := Redact(&adapters.Error{Message: "key sk-12345678 is bad, sk-12345678"}, "sk-12345678")
	if e.Message != "key [redacted] is bad, [redacted]" {
		t.Errorf("got %q", e.Message)
	}
	e = Redact(&adapters.Error{Message: "m", Cause: UpstreamSaid("echo sk-12345678")}, "sk-12345678")
	if e.Cause.Error() != "upstream said: echo [redacted]" {
		t.Errorf("cause not redacted: %q", e.Cause)
	}
	if e := Redact(&adapters.Error{Message: "a short key"}, "short"); e.Message != "a short key" {
		t.Errorf("short keys are left alone: %q", e.Message)
	}
}

var errTestTimeout = errors.New("test: call timed out")

func TestTransportError(t *testing.T) {
	timedOut, cancel := context.WithTimeoutCause(context.Background(), 0, errTestTimeout)
	defer cancel()
	deadline, cancel2 := context.WithTimeout(context.Background(), 0)
	defer cancel2()
	cancelled, cancel3 := context.WithCancel(context.Background())
	cancel3()
	live := context.Background()

	dial := &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		kind adapters.ErrorKind
		msg  string
	}{
		{"call timeout", timedOut, dial, adapters.KindTimeout, "upstream did not finish within 1m0s"},
		{"request deadline", deadline, dial, adapters.KindTimeout, "upstream did not finish before the request deadline"},
		{"refused", live, fmt.Errorf("post: %w", dial), adapters.KindUnavailable, "upstream unreachable"},
		{"dns", live, &net.DNSError{Err: "no such host", Name: "x"}, adapters.KindUnavailable, "upstream unreachable (DNS)"},
		{"net timeout", live, &net.OpError{Op: "read", Err: timeoutErr{}}, adapters.KindTimeout, "upstream timed out"},
		{"other", live, errors.New("reset"), adapters.KindUnavailable, "upstream connection failed"},
		{"late headers", live, &url.Error{Op: "Post", Err: &StallError{Headers: true, After: time.Second}}, adapters.KindTimeout,
			"upstream sent no response headers within 1s"},
		{"silent stream", live, &StallError{After: 2 * time.Second}, adapters.KindTimeout, "upstream stream was silent for 2s"},
	}
	for _, tt := range tests {
		err := TransportError(tt.ctx, tt.err, time.Minute, errTestTimeout)
		var ae *adapters.Error
		if !errors.As(err, &ae) || ae.Kind != tt.kind || ae.Message != tt.msg {
			t.Errorf("%s: got %v", tt.name, err)
		}
		if ae != nil && !errors.Is(err, tt.err) {
			t.Errorf("%s: the cause %v is lost: %v", tt.name, tt.err, ae.Cause)
		}
	}
	if err := TransportError(cancelled, dial, time.Minute, errTestTimeout); err != context.Canceled {
		t.Errorf("cancelled: got %v, want the context's error", err)
	}

	err := StreamError(live, errors.New("reset"), time.Minute, errTestTimeout, 200)
	if ae, ok := err.(*adapters.Error); !ok || ae.Message != "upstream connection broke during the stream" || ae.UpstreamStatus != 200 {
		t.Errorf("StreamError: got %v", err)
	}
	err = StreamError(live, &StallError{After: time.Second}, time.Minute, errTestTimeout, 200)
	if ae, ok := err.(*adapters.Error); !ok || ae.Kind != adapters.KindTimeout || ae.Message != "upstream stream was silent for 1s" || ae.UpstreamStatus != 200 {
		t.Errorf("StreamError: got %v", err)
	}
	err = StreamError(live, ErrEventTooLarge, time.Minute, errTestTimeout, 200)
	if ae, ok := err.(*adapters.Error); !ok || ae.Kind != adapters.KindUpstream || ae.Message != "upstream sent an oversized stream event" {
		t.Errorf("StreamError: got %v", err)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
