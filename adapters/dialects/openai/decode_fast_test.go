package openai

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/agentgate/agentgate/adapters/dialects"
)

// fastChatSeeds are bodies on both sides of fastChatRequest's line.
var fastChatSeeds = []struct {
	name string
	body string
	fast bool // fastChatRequest takes it
}{
	{"plain", `{"model":"a","messages":[{"role":"user","content":"hi"}]}`, true},
	{"every field", `{"model":"a","messages":[{"role":"system","content":"s","name":"n"},{"role":"tool","content":[{"type":"text","text":"x"}],"tool_call_id":"c"}],` +
		`"stream":true,"stream_options":{"include_usage":true},"tool_choice":"auto","temperature":0.5,"top_p":1,"max_tokens":10,` +
		`"max_completion_tokens":20,"stop":["x"],"seed":-3,"response_format":{"type":"json_object"},"reasoning_effort":"low","user":"u","n":null}`, true},
	{"spaces", " \n{ \"model\" : \"a\" , \"messages\" : [ ] } \n", true},
	{"non-ASCII content", `{"model":"a","messages":[{"role":"user","content":"héllo \u00e9"}]}`, true},
	{"escaped model", `{"model":"a\u0062","messages":[]}`, false},
	{"cased key", `{"Model":"a","messages":[]}`, false},
	{"cased message key", `{"model":"a","messages":[{"ROLE":"user"}]}`, false},
	{"non-ASCII key", `{"model":"a","meſsages":[]}`, false},
	{"duplicate key", `{"model":"a","model":"b","messages":[]}`, false},
	{"null field", `{"model":null,"messages":[]}`, false},
	{"null message", `{"model":"a","messages":[null]}`, false},
	{"tools", `{"model":"a","messages":[],"tools":[]}`, false},
	{"tool calls", `{"model":"a","messages":[{"role":"assistant","tool_calls":[]}]}`, false},
	{"string stream", `{"model":"a","messages":[],"stream":"yes"}`, false},
	{"float max_tokens", `{"model":"a","messages":[],"max_tokens":1.5}`, false},
	{"huge temperature", `{"model":"a","messages":[],"temperature":1e400}`, false},
	{"stream_options null usage", `{"model":"a","messages":[],"stream_options":{"include_usage":null}}`, false},
	{"trailing data", `{"model":"a","messages":[]} {}`, false},
	{"array", `[]`, false},
	{"empty", ``, false},
	{"bad UTF-8", "{\"model\":\"a\xff\",\"messages\":[]}", false},
}

// TestFastChatRequest: fastChatRequest takes the common shapes, leaves
// the rest to encoding/json, and decodes what it takes as it does.
func TestFastChatRequest(t *testing.T) {
	for _, tc := range fastChatSeeds {
		t.Run(tc.name, func(t *testing.T) {
			var fast chatRequest
			if _, got := fastChatRequest([]byte(tc.body), &fast, nil); got != tc.fast {
				t.Fatalf("fastChatRequest took it: %v, want %v", got, tc.fast)
			}
			checkFastChat(t, []byte(tc.body))
		})
	}
}

// FuzzFastChatRequest: whatever fastChatRequest takes, encoding/json
// (dialects.Unmarshal) takes too, and decodes to the same request; and
// what its pass notes of the top level is what topFields finds.
func FuzzFastChatRequest(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/request.json")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	for _, tc := range fastChatSeeds {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(checkFastChat)
}

func checkFastChat(t *testing.T, body []byte) {
	var fast, slow chatRequest
	var top decodedChat
	extra, ok := fastChatRequest(body, &fast, &top)
	if !ok {
		return
	}
	var want decodedChat
	wantExtra := topFields(body, &want)
	if !reflect.DeepEqual(top, want) || !reflect.DeepEqual(extra, wantExtra) {
		t.Fatalf("fastChatRequest noted the top level of %q as\n%#v %q\ntopFields as\n%#v %q", body, top, extra, want, wantExtra)
	}
	if err := dialects.Unmarshal(body, &slow); err != nil {
		t.Fatalf("fastChatRequest took a body encoding/json refuses (%v): %q", err, body)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fastChatRequest decoded %q as\n%#v\nencoding/json as\n%#v", body, fast, slow)
	}
}
