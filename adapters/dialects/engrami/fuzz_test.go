package engrami

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// checkError fails unless err is an *adapters.Error with a 4xx status
// and a message: a client's bad input is answered, never a 500.
func checkError(t *testing.T, err error) {
	t.Helper()
	var e *adapters.Error
	if !errors.As(err, &e) {
		t.Fatalf("error is %T, not *adapters.Error: %v", err, err)
	}
	if s := e.Status(); s < 400 || s > 499 {
		t.Fatalf("status %d for %v", s, e)
	}
	if e.Message == "" {
		t.Fatal("error without a message")
	}
}

var commonSeeds = []string{`[]`, `null`, `""`, `{`, ``, "\xff\xfe", `{"a":1} trailing`, `{"":null}`, `1e999`}

func addSeeds(f *testing.F, seeds []string) {
	for _, s := range append(seeds, commonSeeds...) {
		f.Add([]byte(s))
	}
}

// FuzzAgentRequest feeds arbitrary bodies to the POST and PUT /agents
// decoder. Accepted creates have a name and a model; every value accepted
// is within its documented bounds.
func FuzzAgentRequest(f *testing.F) {
	addSeeds(f, []string{docCreate, supportAgent,
		`{"name":"x","model":"m","temperature":null,"max_tokens":null,"tools":null,"memory_config":null}`,
		`{"name":"x","model":"m","temperature":-0.1}`, `{"name":"x","model":"m","max_tokens":1e10}`,
		`{"name":"x","model":"m","memory_config":{"semantic_enabled":1}}`, `{"name":"x","model":"m","tools":[""]}`,
		`{"name":"\u0000","model":"m"}`, `{"id":"a b","name":"x","model":"m"}`, `{"status":"draft"}`, `{"status":"archived"}`,
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, create := range []bool{true, false} {
			s, err := decodeAgent(body, create)
			if err != nil {
				checkError(t, err)
				continue
			}
			if create && (s.name == nil || *s.name == "" || s.model == nil || *s.model == "") {
				t.Fatalf("create accepted without name or model: %s", body)
			}
			if s.name != nil && strings.TrimSpace(*s.name) == "" {
				t.Fatalf("empty name accepted: %s", body)
			}
			if v := s.temperature; v != nil && (*v < 0 || *v > 2) {
				t.Fatalf("temperature %v accepted", *v)
			}
			if v := s.maxTokens; v != nil && (*v < 1 || *v > maxMaxTokens) {
				t.Fatalf("max_tokens %v accepted", *v)
			}
			if s.status != nil && !adapters.ValidStatus(*s.status) {
				t.Fatalf("status %q accepted", *s.status)
			}
			if s.id != nil && (!create || !idPattern.MatchString(*s.id)) {
				t.Fatalf("id %q accepted (create %v)", *s.id, create)
			}
			for _, n := range s.tools {
				if strings.TrimSpace(n) == "" {
					t.Fatalf("empty tool name accepted: %s", body)
				}
			}
		}
	})
}

// FuzzChatRequest feeds arbitrary bodies to the chat decoder: accepted
// requests have a non-empty message.
func FuzzChatRequest(f *testing.F) {
	addSeeds(f, []string{`{"message":"How do I reset my password?","conversation_id":"conv_xyz789","context":{"user_id":"user_123","platform":"web"}}`,
		`{"message":"Explain quantum computing"}`, `{"message":" "}`, `{"message":"hi","context":{"user_id":null,"n":[1,{"a":2}]}}`,
		`{"message":"hi","conversation_id":""}`, `{"message":"hi","context":{"user_id":"\u0007"}}`})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeChat(body)
		if err != nil {
			checkError(t, err)
			return
		}
		if strings.TrimSpace(r.message) == "" {
			t.Fatalf("empty message accepted: %s", body)
		}
		if len(r.conversationID) > maxConversation {
			t.Fatalf("conversation id of %d bytes accepted", len(r.conversationID))
		}
	})
}

// FuzzMemoryRequest feeds arbitrary bodies to the memory decoder: accepted
// items have content, a valid type and a valid id.
func FuzzMemoryRequest(f *testing.F) {
	addSeeds(f, []string{`{"content":"Company refund policy: 30 days..."}`,
		`{"id":"kb_article_456","type":"semantic","content":"x","user_id":"u","metadata":{"a":"b","n":1}}`,
		`{"items":[{"content":"a"},{"type":"procedural","content":"Always answer in French."}]}`,
		`{"items":[{"content":"a"},7]}`, `{"items":{}}`, `{"content":"x","type":"gossip"}`})
	f.Fuzz(func(t *testing.T, body []byte) {
		items, batch, err := decodeMemory(body)
		if err != nil {
			checkError(t, err)
			return
		}
		if len(items) == 0 || len(items) > maxBatchItems || !batch && len(items) != 1 {
			t.Fatalf("%d items accepted (batch %v)", len(items), batch)
		}
		for _, it := range items {
			if strings.TrimSpace(it.content) == "" || !state.ValidMemoryKind(it.kind) || it.id != "" && !idPattern.MatchString(it.id) {
				t.Fatalf("bad item accepted: %+v", it)
			}
		}
	})
}

// FuzzFeedbackRequest: accepted feedback is "up" or "down".
func FuzzFeedbackRequest(f *testing.F) {
	addSeeds(f, []string{`{"rating":"up"}`, `{"rating":"down"}`, `{"thumbs_up":false}`, `{"rating":"UP"}`, `{"rating":1}`})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeFeedback(body)
		if err != nil {
			checkError(t, err)
			return
		}
		if r != "up" && r != "down" {
			t.Fatalf("rating %q", r)
		}
	})
}

// FuzzQuery feeds arbitrary query strings to the query parsers of the
// list routes (page, per_page, limit; the memory filter's type and
// user_id): accepted values are within their bounds, rejections are a 4xx
// naming the parameter.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"", "page=2&per_page=10", "page=0", "per_page=-1", "limit=x", "limit=9223372036854775808",
		"type=semantic&user_id=u", "type=nope", "user_id=", "type=" + strings.Repeat("x", 100), "page=%2B1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest("GET", "/api/v1/agents", nil)
		r.URL.RawQuery = query
		q := r.URL.Query()
		for _, name := range []string{"page", "per_page", "limit"} {
			n, err := queryInt(r, name, 7, 1)
			if err != nil {
				checkError(t, err)
				if !strings.Contains(err.Error(), name) {
					t.Fatalf("%q: %v does not name %s", query, err, name)
				}
				continue
			}
			if n < 1 || (q.Get(name) == "" && n != 7) {
				t.Fatalf("%q: %s = %d", query, name, n)
			}
		}
		filter, err := memoryFilter(r)
		if err != nil {
			checkError(t, err)
			if !strings.Contains(err.Error(), "type") {
				t.Fatalf("%q: %v does not name type", query, err)
			}
			return
		}
		if (filter.Kind != "" && !state.ValidMemoryKind(filter.Kind)) || filter.ByUser != q.Has("user_id") || filter.User != q.Get("user_id") {
			t.Fatalf("%q: filter %+v", query, filter)
		}
	})
}
