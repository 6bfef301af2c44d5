package adapters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrorKind classifies a failure independently of any wire format; each
// dialect maps kinds to its own error shape.
type ErrorKind uint8

// The kinds of error a request can end with.
const (
	KindInvalidRequest ErrorKind = iota + 1
	KindUnauthenticated
	KindForbidden
	KindNotFound
	KindConflict
	KindTooLarge
	KindRateLimited
	KindQuotaExceeded
	KindUpstream
	KindUnavailable
	KindTimeout
	KindInternal
	// KindStoreUnavailable is a request that needed the store while it
	// could not be reached (a shared database down): 503, and the client
	// may retry.
	KindStoreUnavailable
)

var kindStatus = [...]int{
	0,
	http.StatusBadRequest,
	http.StatusUnauthorized,
	http.StatusForbidden,
	http.StatusNotFound,
	http.StatusConflict,
	http.StatusRequestEntityTooLarge,
	http.StatusTooManyRequests,
	http.StatusTooManyRequests,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
	http.StatusInternalServerError,
	http.StatusServiceUnavailable,
}

var kindCodes = [...]string{
	"", "invalid_request", "invalid_api_key", "forbidden", "not_found", "conflict",
	"request_too_large", "rate_limit_exceeded", "insufficient_quota", "upstream_error",
	"upstream_unavailable", "upstream_timeout", "internal_error", "storage_unavailable",
}

// Error is a failure with a kind, a message for the client and, for bad
// input, the field at fault.
type Error struct {
	Kind    ErrorKind `json:"kind"`
	Message string    `json:"message"`
	// Param names the request field at fault, when there is one.
	Param string `json:"param,omitempty"`
	// Code overrides the kind's default machine-readable code.
	Code string `json:"code,omitempty"`
	// Reason refines the kind: for rate limits, which limit was hit
	// (requests, tokens or concurrency).
	Reason string `json:"reason,omitempty"`
	// RetryAfter tells rate-limited clients when to come back.
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	// UpstreamStatus is the HTTP status the upstream answered with.
	UpstreamStatus int `json:"upstream_status,omitempty"`
	// Cause is what went wrong underneath: the connection error, the
	// upstream's own words about a 5xx. It is for the gateway's logs
	// (Unwrap), never for clients, whose answer is Message.
	Cause error `json:"-"`
}

func (e *Error) Error() string {
	// BadField's messages name their field already.
	if e.Param != "" && !strings.HasPrefix(e.Message, e.Param+": ") {
		return e.Param + ": " + e.Message
	}
	return e.Message
}

// Unwrap returns e's cause.
func (e *Error) Unwrap() error { return e.Cause }

// Format prints e as Error does, except for %+v, which adds the cause:
// that is how zap logs an error (its errorVerbose field), so every log
// line of an *Error tells what went wrong underneath.
func (e *Error) Format(s fmt.State, verb rune) {
	switch {
	case verb == 'v' && s.Flag('+') && e.Cause != nil:
		fmt.Fprintf(s, "%s: %+v", e.Error(), e.Cause)
	case verb == 'q':
		fmt.Fprintf(s, "%q", e.Error())
	default:
		_, _ = io.WriteString(s, e.Error())
	}
}

// Describe splits err into what the client was told and the cause
// underneath, for the gateway's logs and records. An error that is not an
// *Error (a bug, a store failure) is its own cause: the client was told
// "internal error"; a caller that went away is said to have.
func Describe(err error) (msg, cause string) {
	var e *Error
	if !errors.As(err, &e) {
		if errors.Is(err, context.Canceled) {
			return "client closed the request", ""
		}
		return AsError(err).Message, err.Error()
	}
	if e.Cause != nil {
		cause = e.Cause.Error()
	}
	msg = e.Message
	if e.Param != "" && !strings.HasPrefix(msg, e.Param) {
		msg = e.Param + ": " + msg
	}
	return msg, cause
}

// Status is the HTTP status for e.
func (e *Error) Status() int {
	if int(e.Kind) < len(kindStatus) && e.Kind != 0 {
		return kindStatus[e.Kind]
	}
	return http.StatusInternalServerError
}

// CodeOrDefault is e.Code, or the kind's default code.
func (e *Error) CodeOrDefault() string {
	if e.Code != "" {
		return e.Code
	}
	if int(e.Kind) < len(kindCodes) {
		return kindCodes[e.Kind]
	}
	return "internal_error"
}

// Errorf builds an Error of kind k.
func Errorf(k ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// BadField builds an invalid-request Error naming field.
func BadField(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalidRequest, Param: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// maxQuoted bounds how much of an upstream's message the gateway repeats.
const maxQuoted = 1000

// Clip shortens an upstream's message to at most 1000 bytes (on a rune
// boundary), marking the cut with "…".
func Clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// UpstreamReported is the error of a 2xx answer that reports one in its
// body (an {"error":…} object in a JSON answer or in a stream's event):
// message is the upstream's ("" when it gave none), status the answer's.
func UpstreamReported(message string, status int) *Error {
	if message == "" {
		message = "upstream reported an error"
	} else {
		message = "upstream error: " + Clip(message)
	}
	return &Error{Kind: KindUpstream, Message: message, UpstreamStatus: status}
}

// ErrStoreUnavailable marks errors of a store that cannot be reached (a
// shared database down or cut off): AsError makes them 503s of
// KindStoreUnavailable. The store packages wrap their connection errors
// with it (state.ErrUnavailable).
var ErrStoreUnavailable = errors.New("store unavailable")

// AsError returns err as an *Error: store outages become 503s of
// KindStoreUnavailable, unknown errors internal ones, so no raw Go error
// text decides a status.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, ErrStoreUnavailable) {
		return &Error{Kind: KindStoreUnavailable, Message: "the gateway's store is unavailable; retry shortly", RetryAfter: time.Second}
	}
	return &Error{Kind: KindInternal, Message: "internal error"}
}
