package bbolt

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

// turnSamples are stored turns of every shape: the text turns
// decodeTextTurn reads itself, and the others it leaves to encoding/json.
var turnSamples = []struct {
	name string
	turn string
	fast bool // decodeTextTurn reads it
}{
	{"text turn", `[{"role":"user","parts":[{"type":"text","text":"Hello"}]},{"role":"assistant","parts":[{"type":"text","text":"Hi there"}]}]`, true},
	{"parts twice", `[{"role":"user","parts":[{"type":"text","text":"x"}],"parts":[{"type":"text"}]}]`, false},
	{"escapes", `[{"role":"user","parts":[{"type":"text","text":"line\nbreak \"quoted\" \u00e9 \ud83d\ude00 \ud800 lone"}]}]`, true},
	{"several parts", `[{"role":"user","parts":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]`, true},
	{"empty", `[]`, true},
	{"no parts", `[{"role":"assistant"}]`, true},
	{"empty parts", `[{"role":"assistant","parts":[]}]`, true},
	{"duplicate key", `[{"role":"user","role":"assistant","parts":[{"type":"text","text":"x","text":"y"}]}]`, true},
	{"whitespace", " [ {\"role\" : \"user\" ,\n\"parts\":[ ]} ] ", true},
	{"tool call", `[{"role":"assistant","tool_calls":[{"id":"c1","name":"f","arguments":"{}"}]}]`, false},
	{"tool result", `[{"role":"tool","parts":[{"type":"text","text":"42"}],"tool_call_id":"c1","is_error":true}]`, false},
	{"image", `[{"role":"user","parts":[{"type":"image","image_url":"https://x/y.png","detail":"low"}]}]`, false},
	{"cache control", `[{"role":"user","parts":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}]}]`, false},
	{"reasoning", `[{"role":"assistant","reasoning":"hm","reasoning_signature":"sig","parts":[{"type":"text","text":"a"}]}]`, false},
	{"key in another case", `[{"Role":"user"}]`, false},
	{"escaped key", `[{"\u0072ole":"user"}]`, false},
	{"null parts", `[{"role":"user","parts":null}]`, false},
	{"number role", `[{"role":1}]`, false},
	{"not an array", `{"role":"user"}`, false},
	{"null", `null`, false},
	{"invalid JSON", `[{"role":"user"`, false},
	{"invalid UTF-8", "[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"\xff\"}]}]", false},
}

// TestDecodeTurn: every stored turn decodes as encoding/json decodes it,
// text turns without it.
func TestDecodeTurn(t *testing.T) {
	for _, c := range turnSamples {
		t.Run(c.name, func(t *testing.T) {
			if _, fast := decodeTextTurn([]byte(c.turn)); fast != c.fast {
				t.Errorf("read by decodeTextTurn: %v, want %v", fast, c.fast)
			}
			checkDecodeTurn(t, []byte(c.turn))
		})
	}
}

// TestDecodeTurnRoundTrip: what AppendTurn writes reads back the same.
func TestDecodeTurnRoundTrip(t *testing.T) {
	turn := []adapters.Message{
		adapters.TextMessage(adapters.RoleUser, "What is <b>2 & 2</b>?\n\t\u2028"),
		adapters.TextMessage(adapters.RoleAssistant, "4"),
	}
	v, err := json.Marshal(turn)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeTurn(v, "s")
	if err != nil || !reflect.DeepEqual(got, turn) {
		t.Fatalf("decodeTurn(%s) = %#v, %v; want %#v", v, got, err, turn)
	}
}

func checkDecodeTurn(t *testing.T, v []byte) {
	t.Helper()
	var want []adapters.Message
	wantErr := json.Unmarshal(v, &want)
	got, err := decodeTurn(v, "s")
	switch {
	case (err != nil) != (wantErr != nil):
		t.Fatalf("decodeTurn(%q) error %v, encoding/json's %v", v, err, wantErr)
	case err == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("decodeTurn(%q) = %#v\nencoding/json: %#v", v, got, want)
	}
}

func FuzzDecodeTurn(f *testing.F) {
	for _, c := range turnSamples {
		f.Add([]byte(c.turn))
	}
	f.Fuzz(func(t *testing.T, v []byte) { checkDecodeTurn(t, v) })
}

// BenchmarkDecodeTurn compares decodeTurn with encoding/json on a turn of
// the bench's agent scenario (a question and a ten-word answer).
func BenchmarkDecodeTurn(b *testing.B) {
	v, err := json.Marshal([]adapters.Message{
		adapters.TextMessage(adapters.RoleUser, "Say hello in a few words, turn 3."),
		adapters.TextMessage(adapters.RoleAssistant, "word1 word2 word3 word4 word5 word6 word7 word8 word9 word10"),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decodeTurn", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeTurn(v, "s"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var msgs []adapters.Message
			if err := json.Unmarshal(v, &msgs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
