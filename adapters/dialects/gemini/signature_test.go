package gemini

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters/dialects"
)

// A model turn's thought signatures become its thinking blocks: a turn of
// encrypted thoughts only is kept, and a signature that looks packed but
// would lose or make up a block is an opaque signature, left for the
// upstream to judge, like any other it cannot read.
func TestDecodeModelTurnSignatures(t *testing.T) {
	thought := `{"text":"A","thought":true}`
	signed := func(js string) string { return `{"text":"","thoughtSignature":"` + packedWire(js) + `"}` }
	answer := `{"text":"answer"}`
	opaque := func(js string) string {
		return `{"role":"assistant","parts":[{"type":"text","text":"answer"}],"reasoning":"A","reasoning_signature":"` + packedWire(js) + `"}`
	}
	tests := []struct {
		name  string
		parts []string
		want  string // the assistant message, or "" for none
	}{
		{"encrypted thoughts only", []string{signed(`{"s":"","d":["R"]}`)}, `{"role":"assistant","redacted_reasoning":["R"]}`},
		{"empty text only", []string{`{"text":""}`}, ""},
		{"blocks", []string{thought, signed(`{"s":"","k":[{"d":"R"},{"s":"s1"}]}`), answer},
			`{"role":"assistant","parts":[{"type":"text","text":"answer"}],"reasoning":"A","reasoning_signature":"s1","redacted_reasoning":["R"],` +
				`"reasoning_blocks":[{"redacted":"R"},{"text":"A","signature":"s1"}]}`},
		{"a block neither signed nor encrypted", []string{thought, signed(`{"k":[{}]}`), answer}, opaque(`{"k":[{}]}`)},
		{"a block signed and encrypted", []string{thought, signed(`{"k":[{"s":"x","d":"y"}]}`), answer}, opaque(`{"k":[{"s":"x","d":"y"}]}`)},
		{"hidden text of encrypted thoughts", []string{thought, signed(`{"k":[{"t":"x","d":"y"}]}`), answer}, opaque(`{"k":[{"t":"x","d":"y"}]}`)},
		{"a signature beside blocks", []string{thought, signed(`{"s":"sigA","k":[{"d":"R"}]}`), answer}, opaque(`{"s":"sigA","k":[{"d":"R"}]}`)},
		{"encrypted thoughts beside blocks", []string{thought, signed(`{"d":["R"],"k":[{"s":"x"}]}`), answer}, opaque(`{"d":["R"],"k":[{"s":"x"}]}`)},
		{"hidden text unsigned", []string{thought, signed(`{"t":"x","d":["R"]}`), answer}, opaque(`{"t":"x","d":["R"]}`)},
		{"empty encrypted thoughts", []string{thought, signed(`{"s":"s1","d":[""]}`), answer}, opaque(`{"s":"s1","d":[""]}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[` + strings.Join(tt.parts, ",") + `]}]}`
			req, err := decodeGenerate([]byte(body), dialects.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			msgs := req.call.Messages
			got := ""
			if len(msgs) == 2 {
				b, _ := json.Marshal(msgs[1])
				got = string(b)
			}
			if len(msgs) > 2 || got != tt.want {
				t.Errorf("got %d messages, the model's\n %s\nwant\n %s", len(msgs), got, tt.want)
			}
		})
	}
}
