package openai

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

// FuzzDecodeChat feeds arbitrary bodies to the Chat Completions decoder:
// it must never panic, and every rejection must be a 4xx *adapters.Error.
func FuzzDecodeChat(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/request.json")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"model":"a","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`))
	f.Add([]byte(`{"model":"a","messages":[{"role":"tool","content":"x"}],"stop":["a",1]}`))
	f.Add([]byte(`{"model":"a","messages":null,"tools":[{"type":"function","function":{}}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := decodeChat(body)
		if err == nil {
			return
		}
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
	})
}

// FuzzDecodeEmbeddings: arbitrary bodies never panic the embeddings
// decoder, and rejections are 4xx *adapters.Error naming what is wrong.
func FuzzDecodeEmbeddings(f *testing.F) {
	f.Add([]byte(`{"model":"m","input":"x"}`))
	f.Add([]byte(`{"model":"m","input":["a",""],"encoding_format":"base64"}`))
	f.Add([]byte(`{"model":"m","input":[[1,2]],"dimensions":3}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _, err := decodeEmbeddings(body)
		if err == nil {
			return
		}
		var e *adapters.Error
		if !errors.As(err, &e) || e.Status() >= 500 || e.Message == "" {
			t.Fatalf("bad rejection %T %v", err, err)
		}
	})
}
