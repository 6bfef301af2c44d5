package responses

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/tidwall/gjson"
)

// FuzzDecodeRequest feeds arbitrary bodies to the request decoder: it
// must never panic, every rejection must be a 4xx *adapters.Error with a
// message, and every accepted request has a model and at least one input
// message.
func FuzzDecodeRequest(f *testing.F) {
	for _, c := range goldenCases {
		for _, s := range c.steps {
			if s.method == "POST" && s.body != "" {
				f.Add([]byte(s.body))
			}
		}
	}
	f.Add([]byte(`{"model":"a","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{"},{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"x"}]}]}`))
	f.Add([]byte(`{"model":"a","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,%%%"}]}]}`))
	f.Add([]byte(`{"model":"a","input":[{"role":"assistant","content":[{"type":"refusal","refusal":"no"}]},{"type":"function_call","call_id":"c","name":"f"}]}`))
	f.Add([]byte(`{"model":"a","input":"x","version":1e300,"tools":[{"type":"function","name":"f","parameters":[]}]}`))
	f.Add([]byte(`{"model":"a","input":"x","tool_choice":{"type":"function"},"text":{"format":null},"reasoning":{"summary":"auto"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeRequest(body, dialects.Limits{MaxImageBytes: 1 << 10})
		if err != nil {
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
			return
		}
		if req.model == "" || len(req.input) == 0 {
			t.Fatalf("accepted a request without model or input: %s", body)
		}
		if req.version < 0 {
			t.Fatalf("negative version accepted: %s", body)
		}
		for _, o := range req.outputs {
			if o.msg >= len(req.input) || req.input[o.msg].Role != adapters.RoleTool {
				t.Fatalf("output %+v does not point at a tool message", o)
			}
		}
	})
}

// FuzzDecodeItems: items a client adds to a conversation never panic the
// decoder; rejections are 4xx naming a field under items; accepted items
// each have an id, and decode back into messages a model can see.
func FuzzDecodeItems(f *testing.F) {
	f.Add([]byte(`[{"role":"user","content":"hi"},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"ok"}]}]`))
	f.Add([]byte(`[{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"x","id":"fco_1"}]`))
	f.Add([]byte(`[{"type":"reasoning","summary":[]}]`))
	f.Add([]byte(`[{"role":"robot","content":"x"}]`))
	f.Add([]byte(`{"role":"user"}`))
	f.Add([]byte(`[{"role":"user","content":"x","id":7}]`))
	limits := dialects.Limits{MaxImageBytes: 1 << 10}
	f.Fuzz(func(t *testing.T, raw []byte) {
		items, err := decodeItems("items", raw, limits, true)
		if err != nil {
			var e *adapters.Error
			if !errors.As(err, &e) || e.Status() < 400 || e.Status() >= 500 || e.Message == "" || !strings.HasPrefix(e.Param, "items") {
				t.Fatalf("bad rejection %T %v", err, err)
			}
			return
		}
		raws := make([]json.RawMessage, len(items))
		for i, it := range items {
			if it.ID == "" || gjson.GetBytes(it.Item, "id").Str != it.ID {
				t.Fatalf("item %d without its id: %s", i, it.Item)
			}
			raws[i] = it.Item
		}
		if _, err := itemsOf(raws, limits); err != nil {
			t.Fatalf("stored items %s do not decode: %v", joinItems(raws), err)
		}
	})
}

// FuzzListPage: any query of a list decodes to a valid page or a 400
// naming the parameter, and paging any items never panics.
func FuzzListPage(f *testing.F) {
	f.Add("limit=2&order=asc&after=msg_1")
	f.Add("limit=0")
	f.Add("order=sideways&before=x")
	f.Add("include[]=reasoning.encrypted_content&include=nope")
	items := []json.RawMessage{json.RawMessage(`{"id":"msg_1"}`), json.RawMessage(`{"id":"msg_2"}`), json.RawMessage(`{"id":"msg_3"}`)}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		page, err := decodeListPage(q, true)
		if err != nil {
			var e *adapters.Error
			if !errors.As(err, &e) || e.Status() != 400 || e.Param == "" {
				t.Fatalf("bad rejection %T %v", err, err)
			}
			return
		}
		if page.limit < 1 || page.limit > 100 {
			t.Fatalf("limit %d accepted", page.limit)
		}
		got := page.apply(items)
		if len(got.items) > page.limit {
			t.Fatalf("%d items for limit %d", len(got.items), page.limit)
		}
	})
}
