package gemini

import (
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
)

// clientError fails t unless err is a 4xx *adapters.Error with a message.
func clientError(t *testing.T, err error) {
	t.Helper()
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
}

func seeds(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*/request.json")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":[]}}]},{"parts":[{"functionResponse":{"name":"g","response":1}}]}]}`,
		`{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"!!"}}]}],"generationConfig":{"topK":1.5,"thinkingConfig":{"thinkingBudget":-2}}}`,
		`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":99,"properties":{"a":{"items":{"items":{}}}}}}]}]}`,
		`{"contents":[{"parts":[{"text":"x"}]}],"toolConfig":{"functionCallingConfig":{"mode":2,"allowedFunctionNames":["nope"]}}}`,
		`{"contents":[{"role":"model","parts":[{"text":"t","thought":true,"thoughtSignature":"YWdlbnRnYXRlLnRob3VnaHQudjEAe30="}]}]}`,
		`{"requests":[{"model":"models/m","content":{"parts":[{"text":"a"}]},"taskType":3}]}`,
		`{"generateContentRequest":{"contents":[]}}`,
		`[]`, `null`, `{"contents":{}}`,
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecode feeds arbitrary bodies to every decoder of client input: none
// may panic, and every rejection must be a 4xx *adapters.Error with a
// message.
func FuzzDecode(f *testing.F) {
	seeds(f)
	limits := dialects.Limits{MaxImageBytes: 1 << 10}
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := decodeGenerate(body, limits); err != nil {
			clientError(t, err)
		}
		if _, err := decodeCountTokens(body, limits); err != nil {
			clientError(t, err)
		}
		if _, err := decodeEmbedContent(body, "m"); err != nil {
			clientError(t, err)
		}
		if _, err := decodeBatchEmbed(body, "m"); err != nil {
			clientError(t, err)
		}
	})
}

// FuzzSignature: any thoughtSignature a client sends back decodes into
// whole thinking blocks, each signed or encrypted, that the gateway sends
// back as they came; and every signature the gateway sends comes back as
// it was.
func FuzzSignature(f *testing.F) {
	f.Add("fakesig_0123", "thinking", true)
	f.Add("c2ln", "", false)
	f.Add("", "", false)
	for _, js := range []string{`{"k":[{}]}`, `{"k":[{"s":"x","d":"y"}]}`, `{"s":"sigA","k":[{"d":"R"}]}`, `{"t":"hidden"}`,
		`{"d":[""]}`, `{"k":[{"t":"a","d":"R"}]}`, `{"s":"","k":[{"s":"a"},{"d":"R"}],"b":true}`} {
		f.Add(packedWire(js), "", false)
	}
	f.Fuzz(func(t *testing.T, sig, hidden string, reasoning bool) {
		read := readSignature(sig)
		for _, b := range read.blocks() {
			if (b.Signature == "") == (b.Redacted == "") || b.Redacted != "" && b.Text != "" {
				t.Fatalf("%q gave the block %+v", sig, b)
			}
		}
		if sig == "" || !utf8.ValidString(sig) || !utf8.ValidString(hidden) {
			return // canonical signatures and thinking come from JSON: valid UTF-8
		}
		if again := readSignature(wireSignature(read)); !reflect.DeepEqual(again, read) {
			t.Fatalf("%q read %+v, sent and read back %+v", sig, read, again)
		}
		got := readSignature(wireSignature(packed{Signature: sig, Thinking: hidden, Reasoning: reasoning}))
		if got.Signature != sig || got.Thinking != hidden || got.Reasoning != reasoning {
			t.Fatalf("round trip of %q/%q/%v gave %+v", sig, hidden, reasoning, got)
		}
		// Several blocks that ended together come back in order.
		blocks := []adapters.ReasoningBlock{{Text: hidden, Signature: sig}, {Redacted: sig}, {Text: sig, Signature: hidden + "2"}}
		p := packBlocks(blocks)
		p.Reasoning, p.Before = reasoning, !reasoning
		got = readSignature(wireSignature(p))
		if !reflect.DeepEqual(got.blocks(), blocks) || got.Reasoning != reasoning || got.Before == reasoning {
			t.Fatalf("round trip of blocks %+v gave %+v", blocks, got)
		}
	})
}

// packedWire packs js as wireSignature does, whatever it holds.
func packedWire(js string) string {
	return base64.StdEncoding.EncodeToString(append([]byte(packMagic), js...))
}

// FuzzListModelsQuery: any pageSize and pageToken either page inside the
// list (an end the list can slice, and a next token that reads back) or
// are a 4xx naming the parameter.
func FuzzListModelsQuery(f *testing.F) {
	for _, s := range []string{"pageSize=2&pageToken=1", "pageToken=9223372036854775807", "pageSize=1000&pageToken=9223372036854775807",
		"pageSize=-1", "pageToken=x", "pageSize=0", "pageSize=99999999999999999999", "pageToken=%2B3", "pageToken=", "pageSize=1&pageSize=x"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, query string, n int) {
		q, err := url.ParseQuery(query)
		if err != nil || n < 0 {
			return
		}
		size, offset, err := pageQuery(q)
		if err != nil {
			clientError(t, err)
			return
		}
		end, err := pageEnd(offset, size, n)
		if err != nil {
			clientError(t, err)
			if !strings.Contains(err.Error(), "pageToken") {
				t.Fatalf("%q: %v does not name pageToken", query, err)
			}
			return
		}
		if size < 1 || size > maxPageSize || offset < 0 || end < offset || end > n || end-offset > size {
			t.Fatalf("%q over %d: size %d, offset %d, end %d", query, n, size, offset, end)
		}
		if end < n {
			q := url.Values{"pageToken": {strconv.Itoa(end)}}
			if _, next, err := pageQuery(q); err != nil || next != end {
				t.Fatalf("next token %d reads back as %d, %v", end, next, err)
			}
		}
	})
}
