package openai

import (
	"encoding/json"
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

// BenchmarkDecodeChat decodes a small request, as every Chat Completions
// request is decoded once, on the raw lane too.
func BenchmarkDecodeChat(b *testing.B) {
	body := []byte(`{"model":"bench","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello in a few words."}],"max_tokens":32}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeChat(body); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzJSONString: the decoder's fast path for strings decodes exactly as
// encoding/json does.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{`"plain"`, `"é ü"`, `"a\"b"`, `"\u00e9"`, "\"\xff\xfe\"", `""`, `"tab\there"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want string
		if json.Unmarshal(raw, &want) != nil || len(raw) == 0 || raw[0] != '"' {
			return // not a JSON string: the decoder never asks
		}
		got, err := jsonString(raw)
		if err != nil || got != want {
			t.Fatalf("jsonString(%q) = %q, %v; encoding/json: %q", raw, got, err, want)
		}
	})
}
