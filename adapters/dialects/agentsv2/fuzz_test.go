package agentsv2

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/internal/dialecttest"
)

// checkFailure checks a decoder's failure: a validation error listing at
// least one item, each with a location in the body and a message, that
// encodes as JSON.
func checkFailure(t *testing.T, err error) {
	t.Helper()
	var v *invalid
	if !errors.As(err, &v) {
		t.Fatalf("error is %T, not a validation error: %v", err, err)
	}
	if len(v.details) == 0 {
		t.Fatal("validation error without details")
	}
	for _, d := range v.details {
		if len(d.Loc) == 0 || d.Loc[0] != "body" || d.Msg == "" || d.Type == "" {
			t.Fatalf("bad detail %+v", d)
		}
	}
	if !json.Valid(marshal(v.details)) {
		t.Fatalf("details do not encode: %+v", v.details)
	}
}

// FuzzChatRequest feeds arbitrary bytes to the ChatRequest decoder: it
// never panics, every failure is a 422 listing what is wrong, and an
// accepted request has every required field, a known time zone and only
// data-URL image parts.
func FuzzChatRequest(f *testing.F) {
	seeds := []string{
		docChat,
		`{"message":"Hi","user_id":"u","session_id":"s","timezone":"UTC","locale":"en"}`,
		`{"message":"Hi","user_id":"u","session_id":"s","timezone":"UTC","locale":"en","stream":false,"temperature":0.5,"max_tokens":10,"tools":["EmailToolkit"]}`,
		`{"message":"Hi","user_id":"u","session_id":"s","timezone":"UTC","locale":"en","images":[{"data":"` + pngB64 + `"},"data:image/gif;base64,` + gifB64 + `",{"url":"x"},7]}`,
		`{"message":"Hi","user_id":"u","session_id":"s","timezone":"UTC","locale":"en","user_profile":{"a":{"b":{"c":{"d":{"e":1}}}}},"tenant_profile":{"x":[1,2]}}`,
		`{"message":"Hi","user_id":"u","session_id":"s","timezone":"Local","locale":"en","max_tokens":1e400,"temperature":-0}`,
		`{"message":null,"user_id":[],"session_id":{},"timezone":1,"locale":true}`,
		`{}`, `[]`, `null`, `""`, `{`, ``, "\xff\xfe", `{"message":"Hi"} trailing`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	reg := registry(f, &webhooks{})
	limits := dialects.Limits{MaxBodyBytes: 1 << 20, MaxImageBytes: 256}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeChat(body, limits, reg)
		if err != nil {
			checkFailure(t, err)
			return
		}
		if strings.TrimSpace(req.message) == "" || req.userID == "" || req.sessionID == "" || req.locale == "" || req.loc == nil {
			t.Fatalf("accepted a request missing a required field: %+v", req)
		}
		if t := req.sampling.Temperature; t != nil && (*t < 0 || *t > 2) {
			panic("temperature out of range")
		}
		for _, p := range req.images {
			if p.Type != adapters.PartImage || !strings.HasPrefix(p.ImageURL, "data:image/") {
				t.Fatalf("bad image part: %+v", p)
			}
		}
		if _, err := reg.Resolve(req.tools); err != nil {
			t.Fatalf("accepted unknown tools %v", req.tools)
		}
	})
}

// FuzzCommitRequest feeds arbitrary bytes to the CommitRequest decoder:
// it never panics, every failure is a 422, and an accepted request names
// its run, user and session and has one decision per distinct tool call,
// with arguments that are a JSON object when given.
func FuzzCommitRequest(f *testing.F) {
	seeds := []string{
		docCommit, docCancel,
		`{"run_id":"r","user_id":"u","session_id":"s","updated_tools":[]}`,
		`{"run_id":"r","user_id":"u","session_id":"s","updated_tools":[{"tool_call_id":"a","confirmed":true,"tool_args":{"x":[1,{"y":null}]}},{"tool_call_id":"b","confirmed":false,"tool_args":null}]}`,
		`{"run_id":"r","user_id":"u","session_id":"s","updated_tools":[{"tool_call_id":"a","confirmed":"true"},{"tool_call_id":"a","confirmed":true},1,null]}`,
		`{"run_id":"","user_id":"u\u0007","session_id":"s","updated_tools":{},"stream":null,"model":""}`,
		`{}`, `[]`, `null`, `{`, ``, "\xff",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeCommit(body)
		if err != nil {
			checkFailure(t, err)
			return
		}
		if req.runID == "" || req.userID == "" || req.sessionID == "" {
			t.Fatalf("accepted a request missing a required field: %+v", req)
		}
		seen := map[string]bool{}
		for _, d := range req.decisions {
			if d.ToolCallID == "" || seen[d.ToolCallID] {
				t.Fatalf("bad decisions %+v", req.decisions)
			}
			seen[d.ToolCallID] = true
			if d.Args != nil && (!json.Valid(d.Args) || kind(d.Args) != '{') {
				t.Fatalf("arguments are not an object: %s", d.Args)
			}
		}
	})
}

// FuzzToolkitArgs feeds arbitrary query strings to the argument coercion
// of the typed test method: no panic, and accepted arguments are a JSON
// object holding the required integer.
func FuzzToolkitArgs(f *testing.F) {
	for _, s := range []string{"i=1", "i=1&arr=1&arr=2", "i=x&b=maybe", "arr=%5B1%2C%22a%22%5D&i=2", "obj=%7B%7D&i=3&opt=", "i=9223372036854775808"} {
		f.Add(s)
	}
	reg := registry(f, &webhooks{})
	m, _ := reg.Method("Typed", "typed")
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		out, err := coerceArgs(m.Parameters, q)
		if err != nil {
			var v *invalid
			if !errors.As(err, &v) || len(v.details) == 0 || v.details[0].Loc[0] != "query" {
				t.Fatalf("bad failure %v", err)
			}
			return
		}
		var args map[string]any
		if json.Unmarshal(out, &args) != nil {
			t.Fatalf("arguments are not an object: %s", out)
		}
		if _, ok := args["i"].(float64); !ok {
			t.Fatalf("required i missing or not a number: %s", out)
		}
	})
}

// FuzzCreateRequest feeds arbitrary bodies to the CreateAgentRequest
// decoder: it never panics, every failure is a 422 listing what is wrong,
// and an accepted agent has its required fields, a known status, declared
// tools and step bounds in order.
func FuzzCreateRequest(f *testing.F) {
	seeds := []string{
		docCreate,
		`{"id":"a","name":"A","template":"t","status":"draft","model":"gpt-test","tags":["x"],"tools":["EmailToolkit","send_email"]}`,
		`{"id":"a","name":"A","template":"t","config":{"enable_memory":false,"enable_history":false,"enable_reasoning":true,"num_history_runs":3,"reasoning_min_steps":4,"reasoning_max_steps":2}}`,
		`{"id":"a","name":"A","template":"t","config":{"reasoning_min_steps":9,"worker_config":{"tools":["CalendarToolkit"],"mcp_servers":[{"url":"x"}]}}}`,
		`{"id":"a b","name":"","template":"","status":"gone","model":"nope","tools":["Nope",1],"config":{"num_history_runs":1e400}}`,
		`{"id":null,"name":[],"template":{},"tags":"x","config":[]}`,
		`{}`, `[]`, `null`, `""`, `{`, ``, "\xff\xfe", `{"id":"a"} trailing`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	h := dialecttest.NewWith(f, Name, &dialecttest.Script{}, dialecttest.Options{Tools: registry(f, &webhooks{})})
	d := &Dialect{env: h.Env}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := d.decodeCreate(body)
		if err != nil {
			checkFailure(t, err)
			return
		}
		if !agentID.MatchString(a.ID) || a.Name == "" || a.SystemPrompt == "" || !adapters.ValidStatus(a.Status) || a.Model == "" {
			t.Fatalf("accepted an agent missing a required field: %+v", a)
		}
		if a.ReasoningMinSteps > a.ReasoningMaxSteps || a.HistoryTurns < 1 {
			t.Fatalf("bounds out of order: %+v", a)
		}
		if _, err := h.Engine.Tools().Resolve(a.Tools); err != nil {
			t.Fatalf("accepted unknown tools %v: %v", a.Tools, err)
		}
	})
}

// FuzzBatchRequest feeds arbitrary bodies to the batch decoder: no panic,
// failures are 422s, and an accepted list is at most maxBatch ids.
func FuzzBatchRequest(f *testing.F) {
	for _, s := range []string{`{"agent_ids":["a","b","a"]}`, `{"agent_ids":[]}`, `{"agent_ids":[1,null]}`, `{"agent_ids":"a"}`,
		`{"agent_ids":[` + strings.Repeat(`"x",`, maxBatch) + `"x"]}`, `{}`, `[]`, `null`, `{`, ``, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ids, err := decodeBatch(body)
		if err != nil {
			checkFailure(t, err)
			return
		}
		if len(ids) > maxBatch {
			t.Fatalf("accepted %d ids", len(ids))
		}
	})
}
