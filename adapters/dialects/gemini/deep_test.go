package gemini

import (
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

// TestDeepBody: a body of the default max_body_bytes made of '[' is a 400,
// not a stack overflow (a fatal error: this test binary would crash).
func TestDeepBody(t *testing.T) {
	_, err := parseBody([]byte(`{"contents":` + strings.Repeat("[", 8<<20-64) + `}`))
	if e := adapters.AsError(err); err == nil || e.Kind != adapters.KindInvalidRequest {
		t.Fatalf("parseBody: %v, want a 400", err)
	}
}
