package gemini

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/providertest"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
	"google.golang.org/genai"
)

// FuzzResponse feeds arbitrary genai responses (decoded from JSON as the
// SDK does) to the translation into canonical events, whole and as the
// chunks of a stream: no panic, and the events keep the provider
// contract.
func FuzzResponse(f *testing.F) {
	paths, _ := filepath.Glob("testdata/responses/*.json")
	sse, _ := filepath.Glob("testdata/responses/*.sse")
	for _, p := range sse {
		b, _ := os.ReadFile(p)
		for _, line := range strings.Split(string(b), "\n") {
			if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data:"); ok {
				f.Add([]byte(data))
			}
		}
	}
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":[1,{"b":null}]}},"thoughtSignature":"c2ln"},{"text":"t","thought":true},{"thoughtSignature":"eA=="},null]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":-1,"thoughtsTokenCount":2147483647}}`,
		`{"candidates":[null]}`, `{"candidates":[{"finishReason":"MALFORMED_FUNCTION_CALL"}]}`, `{"candidates":[{"finishReason":"SAFETY"}]}`,
		`{"promptFeedback":{"blockReason":"OTHER","blockReasonMessage":"no"}}`, `{"candidates":[{"content":{"parts":[{"functionCall":{}}]}}]}`,
		`{}`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var resp *genai.GenerateContentResponse
		if json.Unmarshal(body, &resp) != nil {
			return
		}
		n := 0
		newID := func() string { n++; return "call_" + strconv.Itoa(n) }
		for _, streaming := range []bool{false, true} {
			var evs []adapters.Event
			s := &events{Emitter: wire.NewEmitter(providertest.Collect(&evs), "m"), newCallID: newID, streaming: streaming, status: 200}
			var err error
			if streaming {
				if err = s.chunk(resp); err == nil {
					err = s.endStream()
				} else {
					err = s.Fail(err)
				}
			} else {
				err = s.response(resp)
			}
			checkOrder(t, evs, err)
		}
	})
}
