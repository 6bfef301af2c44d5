package openai

import (
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

// TestDeepBodies: a body nested deeper than encoding/json allows is a 400
// on the fast path's watch too, and a body of the default max_body_bytes
// made of '[' is refused without overflowing the goroutine's stack (a
// fatal error that would end the process: this test binary would crash).
func TestDeepBodies(t *testing.T) {
	for name, body := range map[string]string{
		"10001 deep": `{"model":"a","messages":[],"stop":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
		"8 MiB of [": `{"model":"a","messages":[],"stop":` + strings.Repeat("[", 8<<20-64) + `}`,
	} {
		var fast chatRequest
		if _, ok := fastChatRequest([]byte(body), &fast, nil); ok {
			t.Errorf("%s: the fast path took it", name)
		}
		_, err := decodeChat([]byte(body))
		if e := adapters.AsError(err); err == nil || e.Kind != adapters.KindInvalidRequest {
			t.Errorf("%s: decodeChat: %v, want a 400", name, err)
		}
	}
}
