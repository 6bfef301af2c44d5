package openai

import "testing"

// TestLaneSafe: a body that names an interpreted field twice, or in
// another case (which encoding/json decodes as that field), does not go
// on the raw lane, whose patched body an upstream could read otherwise
// (another model than the one patched, a system prompt it does not see);
// bodies decoded by either path that name each field once do.
func TestLaneSafe(t *testing.T) {
	const hi = `[{"role":"user","content":"hi"}]`
	for _, tc := range []struct {
		name, body string
		safe       bool
	}{
		{"plain", `{"model":"agent","messages":` + hi + `}`, true},
		{"tools (encoding/json's path)", `{"model":"agent","messages":` + hi + `,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}`, true},
		{"extra field", `{"model":"agent","messages":` + hi + `,"user":"u1"}`, true},
		{"escaped name", `{"mod\u0065l":"agent","messages":` + hi + `}`, true},
		{"cased model", `{"Model":"agent","messages":` + hi + `}`, false},
		{"cased messages", `{"model":"agent","Messages":` + hi + `}`, false},
		{"cased stream", `{"model":"agent","messages":` + hi + `,"Stream":true}`, false},
		{"long s folds to s", `{"model":"agent","messages":` + hi + `,"ſtream":true}`, false},
		{"duplicate model", `{"model":"other","model":"agent","messages":` + hi + `}`, false},
		{"duplicate temperature", `{"model":"agent","messages":` + hi + `,"temperature":1,"temperature":0}`, false},
	} {
		req, err := decodeChat([]byte(tc.body))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if req.laneSafe != tc.safe {
			t.Errorf("%s: laneSafe = %v, want %v", tc.name, req.laneSafe, tc.safe)
		}
	}
}
