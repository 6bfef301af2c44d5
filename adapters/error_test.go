package adapters

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestErrorCause: an Error unwraps to its cause, prints as its message,
// and with %+v (what zap's errorVerbose field shows) with its cause.
func TestErrorCause(t *testing.T) {
	refused := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	e := &Error{Kind: KindUnavailable, Message: "upstream unreachable", Cause: refused}
	if !errors.Is(e, refused) || errors.Unwrap(e) != refused {
		t.Error("the cause is not unwrapped")
	}
	wrapped := fmt.Errorf("calling gpt: %w", e)
	for _, c := range []struct{ got, want string }{
		{e.Error(), "upstream unreachable"},
		{fmt.Sprint(e), "upstream unreachable"},
		{fmt.Sprintf("%q", e), `"upstream unreachable"`},
		{fmt.Sprintf("%+v", e), "upstream unreachable: dial tcp 127.0.0.1:1: connect: connection refused"},
		{fmt.Sprintf("%+v", &Error{Message: "no cause"}), "no cause"},
		{wrapped.Error(), "calling gpt: upstream unreachable"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	core, logs := observer.New(zapcore.InfoLevel)
	zap.New(core).Warn("call failed", zap.Error(e))
	f := logs.All()[0].ContextMap()
	if f["error"] != "upstream unreachable" || !strings.Contains(fmt.Sprint(f["errorVerbose"]), "connection refused") {
		t.Errorf("zap fields %v", f)
	}
}

// TestErrorText: an error names its field once, whether or not its
// message already does (BadField's do).
func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{BadField("knowledge.embedding_model", "no provider serves model %s", Quote("m")), "knowledge.embedding_model: no provider serves model 'm'"},
		{&Error{Param: "model", Message: "unknown model"}, "model: unknown model"},
		{&Error{Message: "internal error"}, "internal error"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}
