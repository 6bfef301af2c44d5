package tenzro

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

// checkFailure checks a decoder's failure: a 400 validation error with a
// message, that encodes in the document's shape.
func checkFailure(t *testing.T, err error) {
	t.Helper()
	var e *adapters.Error
	if !errors.As(err, &e) {
		t.Fatalf("error is %T, not an *adapters.Error: %v", err, err)
	}
	if e.Kind != adapters.KindInvalidRequest || e.Message == "" || errorCode(e) != "validation_error" {
		t.Fatalf("bad failure %+v", e)
	}
	rec := httptest.NewRecorder()
	(&Dialect{}).WriteError(rec, e)
	if rec.Code != 400 || !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("failure answered %d %s", rec.Code, rec.Body.Bytes())
	}
}

var agentSeeds = []string{
	docCreate, docPatch,
	`{"name":"x","orchestration_pattern":"parallel","sub_agents":["a","b"],"temperature":1.5,"max_iterations":3,"thinking":true,"status":"inactive"}`,
	`{"name":null,"description":null,"system_prompt":null,"tools":null,"sub_agents":null,"temperature":null,"max_iterations":null}`,
	`{"name":"x","tools":["a","a"],"temperature":1e400}`,
	`{"name":"x","max_iterations":1.0000000001,"orchestration_pattern":"star"}`,
	`{"name":"\u0000"}`, `{"nothing":1}`, `{"name":"x","status":"draft"}`, `{"status":"archived"}`,
	`{}`, `[]`, `null`, `""`, `{`, ``, "\xff\xfe", `{"name":"x"} trailing`,
}

// FuzzAgentRequest feeds arbitrary bytes to the create and update
// decoders: they never panic, every failure is a 400 naming what is
// wrong, and an accepted request holds only valid settings.
func FuzzAgentRequest(f *testing.F) {
	for _, s := range agentSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, update bool) {
		s, err := decodeAgent(body, update)
		if err != nil {
			checkFailure(t, err)
			return
		}
		if !update && (!s.name.set || strings.TrimSpace(s.name.v) == "") {
			t.Fatalf("accepted a create without a name: %q", body)
		}
		if s.name.set && (s.name.v == "" || len(s.name.v) > maxName) {
			t.Fatalf("accepted name %q", s.name.v)
		}
		if s.temperature.set && !s.temperature.clear && (s.temperature.v < 0 || s.temperature.v > 2) {
			t.Fatalf("accepted temperature %v", s.temperature.v)
		}
		if s.maxIterations.set && !s.maxIterations.clear && (s.maxIterations.v < 1 || s.maxIterations.v > MaxIterations) {
			t.Fatalf("accepted max_iterations %d", s.maxIterations.v)
		}
		if s.pattern.set && !slices.Contains(adapters.Patterns, s.pattern.v) {
			t.Fatalf("accepted pattern %q", s.pattern.v)
		}
		if s.status.set && !adapters.ValidStatus(s.status.v) {
			t.Fatalf("accepted status %q", s.status.v)
		}
		for _, list := range [][]string{s.tools.v, s.subAgents.v} {
			seen := map[string]bool{}
			for _, n := range list {
				if strings.TrimSpace(n) == "" || seen[n] || strings.ContainsRune(n, 0) {
					t.Fatalf("accepted list item %q of %v", n, list)
				}
				seen[n] = true
			}
		}
		// What was accepted can be stored: it encodes as JSON.
		a := &adapters.Agent{}
		apply(a, s)
		if _, err := json.Marshal(a); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzChatRequest feeds arbitrary bytes to the chat decoder: it never
// panics, every failure is a 400, and an accepted request has a message,
// a valid conversation id if any and a context object.
func FuzzChatRequest(f *testing.F) {
	for _, s := range []string{
		docChat, docStream,
		`{"message":"hi","conversation_id":"conv_1","context":{"user_id":"u","n":1,"o":{"a":[1]},"":null},"stream":false}`,
		`{"message":"hi","conversation_id":"bad id","context":[]}`,
		`{"message":"  "}`, `{"message":7}`, `{"message":"hi","stream":"yes"}`,
		`{}`, `[]`, `null`, `""`, `{`, ``, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeChat(body)
		if err != nil {
			checkFailure(t, err)
			return
		}
		if strings.TrimSpace(req.message) == "" {
			t.Fatal("accepted an empty message")
		}
		if req.conversationID != "" && !validConversation(req.conversationID) {
			t.Fatalf("accepted conversation id %q", req.conversationID)
		}
		if req.context != nil {
			var o map[string]json.RawMessage
			if json.Unmarshal(req.context, &o) != nil || o == nil {
				t.Fatalf("context %s is not an object", req.context)
			}
			// The context fills a prompt without breaking it.
			_ = withContext("Hi {{user_id}} {{context}}", req.vars, req.context)
		}
	})
}

// FuzzExecuteRequest feeds arbitrary bytes to the execute decoder: it
// never panics, every failure is a 400, and an accepted request has a
// task, an inputs object if any and a bounded max_iterations.
func FuzzExecuteRequest(f *testing.F) {
	for _, s := range []string{
		docExecute,
		`{"task":"x","inputs":null,"max_iterations":1}`,
		`{"task":"x","inputs":[1],"max_iterations":0}`,
		`{"task":"x","max_iterations":1e9}`, `{"task":""}`,
		`{}`, `[]`, `null`, `""`, `{`, ``, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeExecute(body)
		if err != nil {
			checkFailure(t, err)
			return
		}
		if strings.TrimSpace(req.task) == "" || req.maxIterations < 1 || req.maxIterations > MaxIterations {
			t.Fatalf("accepted %+v", req)
		}
		if req.inputs != nil {
			var o map[string]json.RawMessage
			if json.Unmarshal(req.inputs, &o) != nil || o == nil {
				t.Fatalf("inputs %s is not an object", req.inputs)
			}
		}
	})
}

// FuzzParseResult checks that an execution's result is always a JSON
// object when accepted.
func FuzzParseResult(f *testing.F) {
	for _, s := range []string{`{"a":1}`, "```json\n{\"a\":1}\n```", "```\n{}\n```", `[1]`, `"x"`, ``, "```", `{"a":1} {"b":2}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		obj, err := parseResult(text)
		if err != nil {
			return
		}
		var o map[string]json.RawMessage
		if json.Unmarshal(obj, &o) != nil || o == nil {
			t.Fatalf("accepted %q as %s", text, obj)
		}
	})
}
