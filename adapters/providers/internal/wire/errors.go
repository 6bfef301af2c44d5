package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// Clip shortens an upstream's message to at most 1000 bytes (on a rune
// boundary), marking the cut with "…" (adapters.Clip).
func Clip(s string) string { return adapters.Clip(s) }

// OrDefault returns s, or def when s is empty.
func OrDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Redact replaces the provider's key in e's message and in the
// upstream's words of its cause (both written by the upstream) with
// "[redacted]". Keys under 8 bytes are left alone: they would match
// ordinary words.
func Redact(e *adapters.Error, key string) *adapters.Error {
	if len(key) < 8 {
		return e
	}
	if strings.Contains(e.Message, key) {
		e.Message = strings.ReplaceAll(e.Message, key, "[redacted]")
	}
	if words, ok := e.Cause.(UpstreamSaid); ok && strings.Contains(string(words), key) {
		e.Cause = UpstreamSaid(strings.ReplaceAll(string(words), key, "[redacted]"))
	}
	return e
}

// UpstreamSaid is the cause of an error the upstream answered with: its
// own message, which the client's message leaves out (a 503's reason),
// for the gateway's logs.
type UpstreamSaid string

func (s UpstreamSaid) Error() string { return "upstream said: " + string(s) }

// Said is the cause of an answer whose message the upstream wrote, or nil
// when it wrote none.
func Said(msg string) error {
	if msg == "" {
		return nil
	}
	return UpstreamSaid(msg)
}

// StatusDetails is what a provider read from the body of a non-2xx answer.
type StatusDetails struct {
	Message     string // the upstream's message (clipped), or ""
	Code, Param string // reported with an invalid request
	// ModelNotFound tells a 404 about the model from a wrong endpoint.
	ModelNotFound bool
}

// MapHTTPStatus maps a non-2xx answer the way the HTTP providers do:
// 400/422 → invalid request with the upstream's message, code and param;
// 401/403 → upstream error (the gateway's own credentials were refused,
// and nothing the upstream says about them is repeated); 404 → not found
// on param "model" when d.ModelNotFound, an upstream error otherwise;
// 408 → timeout; 413 → too large; 429 → rate limited and 502/503/504 →
// unavailable, with RetryAfter (see RetryAfter for retryMsLimit); any other
// status → upstream error; a Retry-After date counts from now.
// UpstreamStatus is always set, and the
// upstream's message, where the client's leaves it out, is the cause
// (never what it says about the gateway's credentials).
func MapHTTPStatus(status int, header http.Header, now time.Time, d StatusDetails, retryMsLimit float64) *adapters.Error {
	e := &adapters.Error{UpstreamStatus: status}
	switch {
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		e.Kind = adapters.KindInvalidRequest
		e.Message = OrDefault(d.Message, fmt.Sprintf("upstream rejected the request (HTTP %d)", status))
		e.Param = d.Param
		e.Code = d.Code
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = adapters.KindUpstream
		e.Message = fmt.Sprintf("upstream rejected the gateway's credentials (HTTP %d)", status)
		return e
	case status == http.StatusNotFound:
		if d.ModelNotFound {
			e.Kind = adapters.KindNotFound
			e.Message = OrDefault(d.Message, "model not found")
			e.Code = "model_not_found"
			e.Param = "model"
		} else {
			e.Kind = adapters.KindUpstream
			e.Message = "upstream endpoint not found (HTTP 404)"
		}
	case status == http.StatusRequestTimeout:
		e.Kind = adapters.KindTimeout
		e.Message = "upstream timed out (HTTP 408)"
	case status == http.StatusRequestEntityTooLarge:
		e.Kind = adapters.KindTooLarge
		e.Message = OrDefault(d.Message, "request too large for the upstream (HTTP 413)")
	case status == http.StatusTooManyRequests:
		e.Kind = adapters.KindRateLimited
		e.Message = "upstream rate limit reached, retry later"
		e.RetryAfter = RetryAfter(header, now, retryMsLimit)
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		e.Kind = adapters.KindUnavailable
		e.Message = fmt.Sprintf("upstream unavailable (HTTP %d)", status)
		e.RetryAfter = RetryAfter(header, now, retryMsLimit)
	default:
		e.Kind = adapters.KindUpstream
		e.Message = fmt.Sprintf("upstream error (HTTP %d)", status)
	}
	if e.Message != d.Message {
		e.Cause = Said(d.Message)
	}
	return e
}

// RetryAfter is how long an upstream asks the gateway to wait:
// retry-after-ms (milliseconds, which the OpenAI and Anthropic SDKs
// prefer) when it is a positive number under msLimit (math.Inf(1) for no
// limit), else Retry-After (see RetryAfterSeconds).
func RetryAfter(h http.Header, now time.Time, msLimit float64) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms > 0 && Finite(ms) && ms < msLimit {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	return RetryAfterSeconds(h, now)
}

// RetryAfterSeconds reads Retry-After alone: seconds (under 1e9) or an
// HTTP date. It is 0 when the header is absent, unusable or in the past.
func RetryAfterSeconds(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 && Finite(s) && s < 1e9 {
			return time.Duration(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// TransportError classifies a failure to reach or read the upstream. ctx
// is the call's context, whose deadline (timeout) was set with cause
// callTimeout (see Client.WithTimeout). It returns ctx's error unchanged
// when the caller cancelled, and an *adapters.Error otherwise, whose
// cause is err: a stalled stream (*StallError) is a timeout that says
// which bound it passed.
func TransportError(ctx context.Context, err error, timeout time.Duration, callTimeout error) error {
	fail := func(k adapters.ErrorKind, msg string) error {
		return &adapters.Error{Kind: k, Message: msg, Cause: err}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(context.Cause(ctx), callTimeout) {
			return fail(adapters.KindTimeout, fmt.Sprintf("upstream did not finish within %s", timeout))
		}
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fail(adapters.KindTimeout, "upstream did not finish before the request deadline")
		}
		return ctxErr
	}
	var stall *StallError
	if errors.As(err, &stall) {
		return fail(adapters.KindTimeout, stall.Error())
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fail(adapters.KindUnavailable, "upstream unreachable")
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fail(adapters.KindUnavailable, "upstream unreachable (DNS)")
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return fail(adapters.KindTimeout, "upstream timed out")
	}
	return fail(adapters.KindUnavailable, "upstream connection failed")
}

// StreamError is TransportError for a stream that broke after its 2xx
// status: the error carries status, a lost connection says so, and an
// oversized event (ErrEventTooLarge) is an upstream error.
func StreamError(ctx context.Context, err error, timeout time.Duration, callTimeout error, status int) error {
	if errors.Is(err, ErrEventTooLarge) {
		return &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream sent an oversized stream event", UpstreamStatus: status, Cause: err}
	}
	te := TransportError(ctx, err, timeout, callTimeout)
	if ae, ok := te.(*adapters.Error); ok {
		ae.UpstreamStatus = status
		if ae.Kind == adapters.KindUnavailable {
			ae.Message = "upstream connection broke during the stream"
		}
	}
	return te
}
