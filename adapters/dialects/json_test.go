package dialects

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

type strictTarget struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func TestUnmarshalRefusesWhatIsNotOneObject(t *testing.T) {
	tests := []struct {
		name, body string
		// code and param are the 400's; code "" means accepted. strict is
		// UnmarshalStrict's answer where it differs from Unmarshal's.
		code, param, msg string
		strict           string
	}{
		{"object", `{"name":"a","count":2}`, "", "", "", ""},
		{"object and whitespace", " \n{\"name\":\"a\"}\r\n\t ", "", "", "", ""},
		{"empty", ``, "invalid_json", "", "body is empty", ""},
		{"whitespace", " \n\t", "invalid_json", "", "body is empty", ""},
		{"null", `null`, "invalid_json", "", "body is null", ""},
		{"null padded", ` null `, "invalid_json", "", "body is null", ""},
		{"array", `[]`, "invalid_json", "", "must be a JSON object, not array", ""},
		{"string", `"x"`, "invalid_json", "", "must be a JSON object, not string", ""},
		{"trailing garbage", `{"name":"a"}x`, "invalid_json", "", "after the JSON object at byte 12", ""},
		{"two objects", `{"name":"a"} {"name":"b"}`, "invalid_json", "", "after the JSON object at byte 13", ""},
		{"trailing bracket", "{}\n]", "invalid_json", "", "after the JSON object at byte 3", ""},
		{"truncated", `{"name":"a"`, "invalid_json", "", "", ""},
		{"wrong type", `{"count":"3"}`, "invalid_type", "count", "count: expected a number", ""},
		{"unknown field", `{"name":"a","cuont":3}`, "", "", "", "unknown_field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, strict := range []bool{false, true} {
				var v strictTarget
				var err error
				code := tc.code
				if strict {
					err = UnmarshalStrict([]byte(tc.body), &v)
					if tc.strict != "" {
						code = tc.strict
					}
				} else {
					err = Unmarshal([]byte(tc.body), &v)
				}
				if code == "" {
					if err != nil {
						t.Errorf("strict=%v: %v", strict, err)
					}
					continue
				}
				var e *adapters.Error
				if !errors.As(err, &e) || e.Kind != adapters.KindInvalidRequest || e.Code != code {
					t.Errorf("strict=%v: err = %#v, want a 400 %s", strict, err, code)
					continue
				}
				if code == "unknown_field" {
					if e.Param != "cuont" || e.Message != "cuont: unknown field" {
						t.Errorf("unknown field not named: %+v", e)
					}
					continue
				}
				if e.Param != tc.param || !strings.Contains(e.Message, tc.msg) {
					t.Errorf("strict=%v: %+v, want param %q and a message with %q", strict, e, tc.param, tc.msg)
				}
			}
		})
	}
}

// FuzzUnmarshalStrict: any body is either one JSON object, decoded, or a
// 400; never a panic.
func FuzzUnmarshalStrict(f *testing.F) {
	for _, s := range []string{`{"name":"a","count":1}`, `{}x`, `null`, ``, `{"count":1e400}`, `{"name":"\ud800"} `, `[{}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v strictTarget
		err := UnmarshalStrict(body, &v)
		if err == nil {
			if tb := bytes.TrimSpace(body); !json.Valid(tb) || tb[0] != '{' {
				t.Fatalf("accepted %q", body)
			}
			return
		}
		var e *adapters.Error
		if !errors.As(err, &e) || e.Kind != adapters.KindInvalidRequest {
			t.Fatalf("%q: %v is not a 400", body, err)
		}
	})
}
