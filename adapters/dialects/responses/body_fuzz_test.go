package responses

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/agentgate/agentgate/internal/dialecttest"
	"github.com/tidwall/gjson"
)

// clientAnswer fails t unless rec is a success (want) or a 4xx in
// OpenAI's error shape with a message naming what is wrong: the field
// (param), or, for a body that is not JSON at all, the body.
func clientAnswer(t *testing.T, what string, body []byte, rec *httptest.ResponseRecorder, want int) gjson.Result {
	t.Helper()
	res := gjson.ParseBytes(rec.Body.Bytes())
	named := res.Get("error.param").Str != "" || res.Get("error.code").Str == "invalid_json"
	switch {
	case rec.Code == want:
	case rec.Code >= 400 && rec.Code < 500 && res.Get("error.message").Str != "" && res.Get("error.type").Str != "" && named:
	default:
		t.Fatalf("%s %q: %d %s", what, body, rec.Code, rec.Body)
	}
	return res
}

// sameJSON reports whether a and b hold the same JSON value (a store may
// escape characters differently).
func sameJSON(a, b []byte) bool {
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(va, vb)
}

var conversationSeeds = []string{
	`{"metadata":{"topic":"demo"},"items":[{"type":"message","role":"user","content":"Hello!"}]}`,
	`{"metadata":{"a":"` + string(make([]byte, 600)) + `"}}`,
	`{"metadata":{"a":1,"b":null}}`, `{"metadata":[]}`, `{"metadata":null}`, `{"metadata":"x"}`,
	`{"metadata":{"1":"","2":"","3":"","4":"","5":"","6":"","7":"","8":"","9":"","10":"","11":"","12":"","13":"","14":"","15":"","16":"","17":""}}`,
	`{"items":[{"type":"function_call_output","call_id":"c","output":"x"},{"type":"nope"},1]}`,
	`{"items":{}}`, `{}`, `[]`, `null`, ``, `{`, "\xff", `{"metadata":{}} trailing`,
}

// FuzzConversationBody feeds arbitrary bodies to POST /v1/conversations
// (create) and POST /v1/conversations/{id} (update): every answer is the
// success or a 4xx naming what is wrong, and a refused update leaves the
// conversation's metadata as it was.
func FuzzConversationBody(f *testing.F) {
	for _, s := range conversationSeeds {
		f.Add([]byte(s))
	}
	h := dialecttest.New(f, Name, &dialecttest.Script{})
	rec := h.Do("POST", "/v1/conversations", []byte(`{"metadata":{"k":"v"}}`))
	id := gjson.GetBytes(rec.Body.Bytes(), "id").Str
	if rec.Code != 200 || id == "" {
		f.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		created := clientAnswer(t, "create", body, h.Do("POST", "/v1/conversations", body), 200)
		if id := created.Get("id").Str; id != "" && !created.Get("metadata").IsObject() {
			t.Fatalf("created %s", created.Raw)
		}
		before := h.Do("GET", "/v1/conversations/"+id, nil).Body.Bytes()
		rec := h.Do("POST", "/v1/conversations/"+id, body)
		updated := clientAnswer(t, "update", body, rec, 200)
		after := h.Do("GET", "/v1/conversations/"+id, nil).Body.Bytes()
		if rec.Code != 200 && !sameJSON(after, before) {
			t.Fatalf("refused update %q changed %s to %s", body, before, after)
		}
		if rec.Code == 200 && (!updated.Get("metadata").IsObject() || !sameJSON(after, rec.Body.Bytes())) {
			t.Fatalf("update %q answered %s, then reads %s", body, rec.Body, after)
		}
	})
}

// FuzzDocumentBody feeds arbitrary bodies to POST
// /api/client/v1/knowledge/{source}/documents: every answer is a 201 with
// the document or a 4xx naming what is wrong.
func FuzzDocumentBody(f *testing.F) {
	for _, s := range []string{
		`{"id":"guide","title":"Guide","text":"# Install\n\nRun it.","format":"markdown","metadata":{"lang":"en"}}`,
		`{"text":"plain words"}`, `{"text":"x","format":"md"}`, `{"text":"x","format":"html"}`, `{"text":""}`, `{"text":"   \n\n"}`,
		`{"id":"a/b","text":"x"}`, `{"id":"","text":"x"}`, `{"text":"x","metadata":{"a":1}}`, `{"text":"x","embedding_model":"nope"}`,
		`{"text":"\ud800"}`, `{"text":1}`, `{}`, `[]`, `null`, ``, `{`, "\xff",
	} {
		f.Add([]byte(s))
	}
	h := dialecttest.New(f, Name, &dialecttest.Script{})
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := h.Do("POST", Prefix+"/knowledge/docs/documents", body)
		res := clientAnswer(t, "add", body, rec, 201)
		if rec.Code == 201 && (res.Get("id").Str == "" || res.Get("source").Str != "docs" || res.Get("chunks").Int() < 1) {
			t.Fatalf("added %s", rec.Body)
		}
	})
}
