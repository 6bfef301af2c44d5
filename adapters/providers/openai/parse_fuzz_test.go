package openai

import (
	"errors"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

// upstreamFailure fails t unless err is an *adapters.Error with a
// message: an upstream's bad answer is reported, never a panic.
func upstreamFailure(t *testing.T, err error) {
	t.Helper()
	var e *adapters.Error
	if !errors.As(err, &e) || e.Message == "" {
		t.Fatalf("error %T %v is not an *adapters.Error with a message", err, err)
	}
}

// FuzzParseEmbeddings feeds arbitrary upstream bodies to the embeddings
// parser: no panic, failures are *adapters.Error, and an accepted answer
// has one vector per input.
func FuzzParseEmbeddings(f *testing.F) {
	for _, s := range []string{
		`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2]},{"index":1,"embedding":"AACAPwAAAEA="}],"usage":{"prompt_tokens":4}}`,
		`{"data":[{"index":1,"embedding":[1]},{"index":0,"embedding":[2]}]}`,
		`{"data":[{"index":-1,"embedding":[1]}]}`, `{"data":[{"index":9223372036854775807,"embedding":[1]}]}`,
		`{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}`, `{"data":[{"embedding":"AAA"}]}`,
		`{"data":[{"embedding":["x"]}]}`, `{"data":{}}`, `{"error":{"message":"no","type":"invalid_request_error"}}`,
		`{"error":null,"data":[]}`, `[]`, `null`, ``, `{`, "\xff",
	} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, body string, want uint8) {
		vecs, _, err := parseEmbeddings(body, int(want%8), 200)
		if err != nil {
			upstreamFailure(t, err)
			return
		}
		if len(vecs) != int(want%8) {
			t.Fatalf("%d vectors for %d inputs", len(vecs), want%8)
		}
		for i, v := range vecs {
			if v == nil {
				t.Fatalf("vector %d missing", i)
			}
		}
	})
}

// FuzzParseModels feeds arbitrary upstream bodies to the model list
// parser: no panic, failures are *adapters.Error, every model listed has
// an id.
func FuzzParseModels(f *testing.F) {
	for _, s := range []string{
		`{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"}]}`,
		`{"data":[{"id":""},{"created":-1},{"id":7,"created":"x"},null,1]}`, `{"data":{}}`, `{"data":[{"id":"m","created":1e300}]}`,
		`[]`, `null`, ``, `{`, "\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		models, err := parseModels(body)
		if err != nil {
			upstreamFailure(t, err)
			return
		}
		for _, m := range models {
			if m.ID == "" {
				t.Fatalf("model without an id: %+v", models)
			}
		}
	})
}
