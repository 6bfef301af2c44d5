package responses

import (
	"errors"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
)

// FuzzDecodeRequest feeds arbitrary bodies to the request decoder: it
// must never panic, every rejection must be a 4xx *adapters.Error with a
// message, and every accepted request has a model and at least one input
// message.
func FuzzDecodeRequest(f *testing.F) {
	for _, c := range goldenCases {
		for _, s := range c.steps {
			if s.method == "POST" && s.body != "" {
				f.Add([]byte(s.body))
			}
		}
	}
	f.Add([]byte(`{"model":"a","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{"},{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"x"}]}]}`))
	f.Add([]byte(`{"model":"a","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,%%%"}]}]}`))
	f.Add([]byte(`{"model":"a","input":[{"role":"assistant","content":[{"type":"refusal","refusal":"no"}]},{"type":"function_call","call_id":"c","name":"f"}]}`))
	f.Add([]byte(`{"model":"a","input":"x","version":1e300,"tools":[{"type":"function","name":"f","parameters":[]}]}`))
	f.Add([]byte(`{"model":"a","input":"x","tool_choice":{"type":"function"},"text":{"format":null},"reasoning":{"summary":"auto"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeRequest(body, dialects.Limits{MaxImageBytes: 1 << 10})
		if err != nil {
			var e *adapters.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *adapters.Error", err, err)
			}
			if s := e.Status(); s < 400 || s >= 500 {
				t.Fatalf("status %d for client input: %v", s, e)
			}
			if e.Message == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if req.model == "" || len(req.input) == 0 {
			t.Fatalf("accepted a request without model or input: %s", body)
		}
		if req.version < 0 {
			t.Fatalf("negative version accepted: %s", body)
		}
		for _, o := range req.outputs {
			if o.msg >= len(req.input) || req.input[o.msg].Role != adapters.RoleTool {
				t.Fatalf("output %+v does not point at a tool message", o)
			}
		}
	})
}
