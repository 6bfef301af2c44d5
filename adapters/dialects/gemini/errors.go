package gemini

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
)

// WriteError implements dialects.Dialect with Google's error object, which
// the Gen AI SDKs raise as their APIError (code, message, status).
func (d *Dialect) WriteError(w http.ResponseWriter, err *adapters.Error) {
	dialects.SetRetryAfter(w, err)
	dialects.WriteRawJSON(w, err.Status(), appendError(nil, err))
}

// googleStatus is the google.rpc.Code name of an error kind.
func googleStatus(k adapters.ErrorKind) string {
	switch k {
	case adapters.KindInvalidRequest, adapters.KindTooLarge:
		return "INVALID_ARGUMENT"
	case adapters.KindUnauthenticated:
		return "UNAUTHENTICATED"
	case adapters.KindForbidden:
		return "PERMISSION_DENIED"
	case adapters.KindNotFound:
		return "NOT_FOUND"
	case adapters.KindConflict:
		return "ABORTED"
	case adapters.KindRateLimited, adapters.KindQuotaExceeded:
		return "RESOURCE_EXHAUSTED"
	case adapters.KindUnavailable:
		return "UNAVAILABLE"
	case adapters.KindTimeout:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL"
}

// appendError writes {"error":{"code","message","status","details"}}:
// the HTTP status, the message, Google's status name, and as details the
// field at fault (google.rpc.BadRequest), agentgate's machine-readable
// code (google.rpc.ErrorInfo, the code in upper case as Google writes its
// reasons) and when to retry (google.rpc.RetryInfo).
func appendError(b []byte, err *adapters.Error) []byte {
	b = append(b, `{"error":{"code":`...)
	b = strconv.AppendInt(b, int64(err.Status()), 10)
	b = append(b, `,"message":`...)
	b = dialects.AppendString(b, err.Message)
	b = append(b, `,"status":`...)
	b = dialects.AppendString(b, googleStatus(err.Kind))
	b = append(b, `,"details":[`...)
	if err.Param != "" && (err.Kind == adapters.KindInvalidRequest || err.Kind == adapters.KindTooLarge) {
		b = append(b, `{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":`...)
		b = dialects.AppendString(b, err.Param)
		b = append(b, `,"description":`...)
		b = dialects.AppendString(b, strings.TrimPrefix(err.Message, err.Param+": "))
		b = append(b, `}]},`...)
	}
	b = append(b, `{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":`...)
	b = dialects.AppendString(b, strings.ToUpper(err.CodeOrDefault()))
	b = append(b, `,"domain":"agentgate"}`...)
	if err.RetryAfter > 0 {
		b = append(b, `,{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"`...)
		b = strconv.AppendFloat(b, err.RetryAfter.Seconds(), 'f', -1, 64)
		b = append(b, `s"}`...)
	}
	return append(b, "]}}"...)
}
