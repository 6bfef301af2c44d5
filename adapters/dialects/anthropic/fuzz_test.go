package anthropic

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
)

// FuzzDecodeMessages feeds arbitrary bodies to the Messages decoder (and
// the count_tokens variant): it must never panic, and every rejection must
// be a 4xx *adapters.Error with a message.
func FuzzDecodeMessages(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/request.json")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"model":"a","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}]}]}`))
	f.Add([]byte(`{"model":"a","max_tokens":1,"system":[{"type":"text","text":"s","cache_control":{"type":"persistent"}}],"messages":[{"role":"user","content":"x"}]}`))
	f.Add([]byte(`{"model":"a","max_tokens":5000,"thinking":{"type":"enabled","budget_tokens":1024},"tool_choice":{"type":"tool"},"messages":[{"role":"assistant","content":[{"type":"thinking"}]}]}`))
	f.Add([]byte(`{"model":"a","max_tokens":1,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":[{"type":"document","source":{"type":"content","content":[1]}}]}]}`))
	f.Add([]byte(`[]`))
	limits := dialects.Limits{MaxImageBytes: 16}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, counting := range []bool{false, true} {
			_, err := decodeMessages(body, limits, counting)
			if err == nil {
				continue
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
		}
	})
}

// FuzzMetadataUserID: any metadata.user_id is either kept exactly as sent
// (at most 256 characters, all printable) or a 400 naming it.
func FuzzMetadataUserID(f *testing.F) {
	f.Add("user-1")
	f.Add("a\nb")
	f.Add(strings.Repeat("ü", 257))
	f.Add("\xff")
	f.Fuzz(func(t *testing.T, id string) {
		v, _ := json.Marshal(id)
		body := `{"model":"a","max_tokens":1,"metadata":{"user_id":` + string(v) + `},"messages":[{"role":"user","content":"x"}]}`
		req, err := decodeMessages([]byte(body), dialects.Limits{}, false)
		var sent string // what the JSON carries: invalid UTF-8 replaced
		_ = json.Unmarshal(v, &sent)
		ok := utf8.RuneCountInString(sent) <= 256 && !strings.ContainsFunc(sent, func(r rune) bool { return !unicode.IsPrint(r) })
		if err != nil {
			var e *adapters.Error
			if ok || !errors.As(err, &e) || e.Status() != 400 || !strings.HasPrefix(e.Message, "metadata.user_id") {
				t.Fatalf("%q: %v", id, err)
			}
			return
		}
		if !ok || req.call.UserID != sent || req.call.UpstreamUser != sent {
			t.Fatalf("%q accepted as %q / %q", id, req.call.UserID, req.call.UpstreamUser)
		}
	})
}
