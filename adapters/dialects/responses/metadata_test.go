package responses

import (
	"testing"

	"github.com/agentgate/agentgate/internal/dialecttest"
	"github.com/tidwall/gjson"
)

// TestMetadataCanonical: metadata is stored and shown as any JSON reader
// reads it — a repeated key once, with its last value, at its first
// place — on create, update and responses, so what was counted against
// the 16-key limit is what is kept.
func TestMetadataCanonical(t *testing.T) {
	h := dialecttest.New(t, Name, &dialecttest.Script{})
	for _, c := range []struct{ metadata, want string }{
		{`{"a":"1","b":"x","a":"2"}`, `{"a":"2","b":"x"}`},
		{`{ "k" : "v\u00e9" , "&":"<>" }`, `{"k":"vé","&":"<>"}`},
		{`{}`, `{}`},
	} {
		rec := h.Do("POST", "/v1/conversations", []byte(`{"metadata":`+c.metadata+`}`))
		id := gjson.GetBytes(rec.Body.Bytes(), "id").Str
		if got := gjson.GetBytes(rec.Body.Bytes(), "metadata").Raw; rec.Code != 200 || got != c.want {
			t.Errorf("create with %s: %d %s, want metadata %s", c.metadata, rec.Code, rec.Body, c.want)
		}
		rec = h.Do("POST", "/v1/conversations/"+id, []byte(`{"metadata":`+c.metadata+`}`))
		if got := gjson.GetBytes(rec.Body.Bytes(), "metadata").Raw; rec.Code != 200 || got != c.want {
			t.Errorf("update with %s: %d %s, want metadata %s", c.metadata, rec.Code, rec.Body, c.want)
		}
		rec = h.Do("GET", "/v1/conversations/"+id, nil)
		if got := gjson.GetBytes(rec.Body.Bytes(), "metadata"); !sameJSON([]byte(got.Raw), []byte(c.want)) {
			t.Errorf("stored %s: %s, want %s", c.metadata, got.Raw, c.want)
		}
	}
	seventeen := `{"1":"","2":"","3":"","4":"","5":"","6":"","7":"","8":"","9":"","10":"","11":"","12":"","13":"","14":"","15":"","16":"","17":""}`
	rec := h.Do("POST", "/v1/conversations", []byte(`{"metadata":`+seventeen+`}`))
	if rec.Code != 400 || gjson.GetBytes(rec.Body.Bytes(), "error.param").Str != "metadata" {
		t.Errorf("17 keys: %d %s", rec.Code, rec.Body)
	}
}
