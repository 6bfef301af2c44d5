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

// TestEncodeTurn: encodeTurn writes what json.Marshal writes, for text
// turns (which it writes itself) and every other shape.
func TestEncodeTurn(t *testing.T) {
	raw := json.RawMessage(`{"type":"ephemeral"}`)
	for _, c := range []struct {
		name string
		turn []adapters.Message
	}{
		{"text turn", []adapters.Message{adapters.TextMessage(adapters.RoleUser, "Hello"), adapters.TextMessage(adapters.RoleAssistant, "Hi")}},
		{"escapes", []adapters.Message{adapters.TextMessage(adapters.RoleUser, "<b>2 & 2</b>\n\t\r\b\f\x01\x7f \"q\" \\ \u2028\u2029 é 😀 \xff\xfe")}},
		{"empty", []adapters.Message{}},
		{"nil", nil},
		{"no parts", []adapters.Message{{Role: adapters.RoleAssistant}}},
		{"empty parts", []adapters.Message{{Role: adapters.RoleAssistant, Parts: []adapters.Part{}}}},
		{"empty text", []adapters.Message{{Role: adapters.RoleUser, Parts: []adapters.Part{{Type: adapters.PartText}}}}},
		{"several parts", []adapters.Message{{Role: adapters.RoleUser, Parts: []adapters.Part{{Type: adapters.PartText, Text: "a"}, {Type: adapters.PartText, Text: "b"}}}}},
		{"tool call", []adapters.Message{{Role: adapters.RoleAssistant, ToolCalls: []adapters.ToolCall{{ID: "c1", Name: "f", Arguments: "{}"}}}}},
		{"tool result", []adapters.Message{{Role: adapters.RoleTool, ToolCallID: "c1", IsError: true, Parts: []adapters.Part{{Type: adapters.PartText, Text: "42"}}}}},
		{"image", []adapters.Message{{Role: adapters.RoleUser, Parts: []adapters.Part{{Type: adapters.PartImage, ImageURL: "https://x/y.png", Detail: "low"}}}}},
		{"cache control", []adapters.Message{{Role: adapters.RoleUser, Parts: []adapters.Part{{Type: adapters.PartText, Text: "a", CacheControl: raw}}}}},
		{"reasoning", []adapters.Message{{Role: adapters.RoleAssistant, Reasoning: "hm", ReasoningSignature: "sig"}}},
		{"name", []adapters.Message{{Role: adapters.RoleUser, Name: "n"}}},
	} {
		t.Run(c.name, func(t *testing.T) { checkEncodeTurn(t, c.turn) })
	}
}

// FuzzEncodeTurn: for any texts and roles, encodeTurn writes json.Marshal's
// bytes.
func FuzzEncodeTurn(f *testing.F) {
	f.Add("user", "Hello <there> & \u2028", "assistant", "\xff\x00")
	f.Fuzz(func(t *testing.T, role1, text1, role2, text2 string) {
		checkEncodeTurn(t, []adapters.Message{adapters.TextMessage(adapters.Role(role1), text1), adapters.TextMessage(adapters.Role(role2), text2)})
	})
}

func checkEncodeTurn(t *testing.T, turn []adapters.Message) {
	t.Helper()
	want, err := json.Marshal(turn)
	if err != nil {
		t.Fatal(err)
	}
	got, err := encodeTurn(turn)
	if err != nil || string(got) != string(want) {
		t.Fatalf("encodeTurn = %s, %v\njson.Marshal: %s", got, err, want)
	}
}

// TestScanTextTurn: what encodeTurn writes for a text turn is read in
// one pass, as encoding/json reads it.
func TestScanTextTurn(t *testing.T) {
	for _, turn := range [][]adapters.Message{
		{adapters.TextMessage(adapters.RoleUser, "Hello"), adapters.TextMessage(adapters.RoleAssistant, "Hi there")},
		{adapters.TextMessage(adapters.RoleUser, "<b>2 & 2</b>\n\t\"q\" \\ \u2028 é 😀")},
		{{Role: adapters.RoleAssistant}},
		{{Role: adapters.RoleUser, Parts: []adapters.Part{{Type: adapters.PartText}, {Type: adapters.PartText, Text: "b"}}}},
		{},
	} {
		v, err := encodeTurn(turn)
		if err != nil {
			t.Fatal(err)
		}
		d := historyDecoder{msgs: []adapters.Message{}}
		if !d.scanTextTurn(string(v)) {
			t.Errorf("scanTextTurn(%s) did not read it", v)
		}
		checkDecodeTurn(t, v)
	}
}
