package engrami

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/internal/dialecttest"
)

// reply is one scripted model answer: its text in words, and its usage.
func reply(text string, in, out int) []adapters.Event {
	evs := []adapters.Event{{Type: adapters.EventStart, Model: "gpt-4-0613"}}
	for i, w := range strings.SplitAfter(text, " ") {
		if i > 0 && len(evs) > 6 {
			evs[len(evs)-1].Text += w
			continue
		}
		evs = append(evs, adapters.Event{Type: adapters.EventDelta, Text: w})
	}
	return append(evs, adapters.Event{Type: adapters.EventUsage, Usage: &adapters.Usage{InputTokens: in, OutputTokens: out}},
		adapters.Event{Type: adapters.EventDone, FinishReason: "stop"})
}

// Scripted answers.
var (
	answerReset = reply("To reset your password, please follow these steps:\n\n1. Click on 'Forgot Password' on the login page...", 180, 65)
	answerHello = reply("Nice to meet you, Ada! Teal is a lovely colour.", 40, 12)
	answerColor = reply("Votre couleur préférée est le bleu sarcelle (teal).", 120, 14)
	answerPlain = reply("Quantum computing is a kind of computing that uses qubits.", 30, 11)
	// The memory manager's answers: JSON, once in a code fence.
	extractAda = reply("```json\n"+`{"facts":[{"content":"The user's name is Ada.","replaces":[]},{"content":"The user's favourite colour is teal.","replaces":[]}],`+
		`"instructions":[{"content":"Always answer in French.","replaces":[]}],"forget":[]}`+"\n```", 210, 40)
	extractNothing = reply(`{"facts":[],"instructions":[],"forget":[]}`, 150, 9)
	// A newer fact replaces known memory 1 (the colour, ranked first for
	// a message about colours).
	extractColor = reply(`{"facts":[{"content":"The user's favourite colour is crimson now.","replaces":[1]}],"instructions":[],"forget":[]}`, 230, 20)
	upstreamDown = []adapters.Event{{Type: adapters.EventError, Err: &adapters.Error{Kind: adapters.KindUnavailable,
		Code: "upstream_unavailable", Message: "upstream unavailable: connection refused"}}}
	midstream = []adapters.Event{{Type: adapters.EventStart, Model: "gpt-4-0613"}, {Type: adapters.EventDelta, Text: "Quantum"},
		{Type: adapters.EventError, Err: &adapters.Error{Kind: adapters.KindUpstream, Code: "upstream_error", Message: "upstream connection lost"}}}
)

// step is one request; tenant "b" uses tenant B's key.
type step struct {
	method, path, tenant, body string
}

func get(path string) step              { return step{method: "GET", path: path} }
func post(path, body string) step       { return step{method: "POST", path: path, body: body} }
func put(path, body string) step        { return step{method: "PUT", path: path, body: body} }
func del(path string) step              { return step{method: "DELETE", path: path} }
func asB(s step) step                   { s.tenant = "b"; return s }
func chatAs(agent, body string) step    { return post("/api/v1/agents/"+agent+"/chat", body) }
func streamAs(agent, body string) step  { return post("/api/v1/agents/"+agent+"/chat/stream", body) }
func createAgent(body string) step      { return post("/api/v1/agents?tenant_id=tenant-a", body) }
func memoryOf(agent, query string) step { return get("/api/v1/agents/" + agent + "/memory" + query) }

// The document's create body, with a caller-chosen id so later steps can
// name the agent.
const (
	docCreate = `{"name":"Research Assistant","description":"AI agent for research tasks","model":"gpt-4",` +
		`"system_prompt":"You are a helpful research assistant...","memory_config":{"semantic_enabled":true,"episodic_enabled":true,"procedural_enabled":false},` +
		`"tools":["web_search","document_reader"],"temperature":0.7,"max_tokens":4096}`
	supportAgent = `{"id":"agent_abc123","name":"Customer Support Agent","description":"Handles customer inquiries","model":"gpt-4",` +
		`"system_prompt":"You are a helpful customer support agent...","memory_config":{"semantic_enabled":true,"episodic_enabled":true,"procedural_enabled":true},` +
		`"tools":["knowledge_base","ticket_creation"]}`
)

type goldenCase struct {
	name   string
	script [][]adapters.Event // one answer per model call, in order; the last repeats
	steps  []step
}

var goldenCases = []goldenCase{
	{name: "agents", script: [][]adapters.Event{answerPlain}, steps: []step{
		get("/api/v1/agents?tenant_id=tenant-a"),
		createAgent(supportAgent),
		createAgent(`{"id":"agent_research","name":"Research Assistant","model":"gpt-4","memory_config":{}}`),
		get("/api/v1/agents"),
		get("/api/v1/agents?page=2&per_page=1"),
		get("/api/v1/agents?page=9"),
		get("/api/v1/agents?per_page=500"),
		asB(get("/api/v1/agents")),
		get("/api/v1/agents/agent_abc123"),
		put("/api/v1/agents/agent_abc123", `{"name":"Enhanced Support Agent","temperature":0.5,"tools":["knowledge_base","ticket_creation","escalation"]}`),
		get("/api/v1/agents/agent_abc123"),
		put("/api/v1/agents/agent_abc123", `{"status":"inactive","temperature":null,"max_tokens":512,"memory_config":{"procedural_enabled":false}}`),
		get("/api/v1/agents/agent_abc123"),
		chatAs("agent_abc123", `{"message":"Hello?"}`),
		get("/api/v1/agents/helper"),
		del("/api/v1/agents/agent_abc123?delete_memory=true"),
		get("/api/v1/agents/agent_abc123"),
		del("/api/v1/agents/agent_abc123"),
		// The document's example: a generated id.
		createAgent(docCreate),
		// A draft answers nothing until it is made active.
		createAgent(`{"id":"agent_draft","name":"Drafted","model":"gpt-4","status":"draft"}`),
		chatAs("agent_draft", `{"message":"Hello?"}`),
		streamAs("agent_draft", `{"message":"Hello?"}`),
		put("/api/v1/agents/agent_draft", `{"status":"archived"}`),
		put("/api/v1/agents/agent_draft", `{"status":"active"}`),
		chatAs("agent_draft", `{"message":"Hello?"}`),
	}},
	{name: "agent_errors", steps: []step{
		get("/api/v1/agents?page=0"),
		get("/api/v1/agents?per_page=abc"),
		get("/api/v1/agents?tenant_id=tenant-b"),
		createAgent(``),
		createAgent(`[1,2]`),
		createAgent(`{"name":"x",`),
		createAgent(`{"model":"gpt-4"}`),
		createAgent(`{"name":"  ","model":"gpt-4"}`),
		createAgent(`{"name":"No Model"}`),
		createAgent(`{"name":7,"model":"gpt-4"}`),
		createAgent(`{"name":"Bad Tools","model":"gpt-4","tools":["web_search","shell_exec","rm_rf"]}`),
		createAgent(`{"name":"Bad Tools","model":"gpt-4","tools":"web_search"}`),
		createAgent(`{"name":"Bad Tools","model":"gpt-4","tools":["web_search",3]}`),
		createAgent(`{"name":"Hot","model":"gpt-4","temperature":3}`),
		createAgent(`{"name":"Long","model":"gpt-4","max_tokens":0}`),
		createAgent(`{"name":"Long","model":"gpt-4","max_tokens":10.5}`),
		createAgent(`{"name":"Mem","model":"gpt-4","memory_config":{"semantic_enabled":"yes"}}`),
		createAgent(`{"name":"Mem","model":"gpt-4","memory_config":[]}`),
		createAgent(`{"name":"Id","model":"gpt-4","id":"has space"}`),
		createAgent(`{"name":"Status","model":"gpt-4","status":"archived"}`),
		createAgent(`{"name":"Declared","model":"gpt-4","id":"helper"}`),
		createAgent(`{"name":"First","model":"gpt-4","id":"agent_dup"}`),
		createAgent(`{"name":"Second","model":"gpt-4","id":"agent_dup"}`),
		put("/api/v1/agents/agent_dup", `{"id":"agent_other"}`),
		put("/api/v1/agents/agent_dup", `{"name":""}`),
		put("/api/v1/agents/agent_dup", `{"tools":["nope"]}`),
		put("/api/v1/agents/helper", `{"name":"Renamed"}`),
		del("/api/v1/agents/helper"),
		put("/api/v1/agents/nobody", `{"name":"Renamed"}`),
		del("/api/v1/agents/nobody"),
		del("/api/v1/agents/agent_dup?delete_memory=maybe"),
		asB(get("/api/v1/agents/agent_dup")),
		asB(put("/api/v1/agents/agent_dup", `{"name":"Stolen"}`)),
		asB(del("/api/v1/agents/agent_dup?delete_memory=true")),
		asB(get("/api/v1/agents/secret-a")),
		get("/api/v1/agents/Helper"),
	}},
	// Memory across conversations: Ada states her name, colour and a
	// standing instruction in one conversation; a new conversation of the
	// same user recalls them (and the episode); another user and another
	// tenant recall nothing; the colour is then updated, superseding the
	// old fact; clearing semantic memory forgets the facts only.
	{name: "memory_recall", script: [][]adapters.Event{answerHello, extractAda, answerColor, extractNothing, answerPlain, extractNothing,
		answerColor, extractColor, answerPlain, extractNothing}, steps: []step{
		createAgent(supportAgent),
		chatAs("agent_abc123", `{"message":"Hi, I'm Ada. My favourite colour is teal. Please always answer in French.","conversation_id":"conv_a","context":{"user_id":"user_ada","platform":"web"}}`),
		chatAs("agent_abc123", `{"message":"What is my favourite colour?","conversation_id":"conv_b","context":{"user_id":"user_ada"}}`),
		chatAs("agent_abc123", `{"message":"What is my favourite colour?","context":{"user_id":"user_bob"}}`),
		memoryOf("agent_abc123", "?type=semantic"),
		memoryOf("agent_abc123", "?type=semantic&user_id=user_bob"),
		asB(memoryOf("agent_abc123", "?type=semantic")),
		chatAs("agent_abc123", `{"message":"Actually my favourite colour is crimson now.","conversation_id":"conv_b","context":{"user_id":"user_ada"}}`),
		memoryOf("agent_abc123", "?type=semantic"),
		memoryOf("agent_abc123", "?limit=2"),
		del("/api/v1/agents/agent_abc123/memory?type=semantic"),
		memoryOf("agent_abc123", ""),
		chatAs("agent_abc123", `{"message":"What is my favourite colour?","context":{"user_id":"user_ada"}}`),
		del("/api/v1/agents/agent_abc123/memory"),
		memoryOf("agent_abc123", ""),
	}},
	{name: "memory_api", script: [][]adapters.Event{answerReset, extractNothing}, steps: []step{
		createAgent(supportAgent),
		post("/api/v1/agents/agent_abc123/memory", `{"id":"kb_article_456","content":"Password resets: users click 'Forgot Password' on the login page and follow the emailed link.","metadata":{"source":"kb"}}`),
		post("/api/v1/agents/agent_abc123/memory", `{"items":[{"id":"kb_article_789","content":"Reset links expire after 24 hours; request a new password reset link if it expired."},`+
			`{"type":"procedural","content":"Always greet the customer by name."},{"type":"semantic","content":"The user prefers email contact.","user_id":"user_123"}]}`),
		post("/api/v1/agents/agent_abc123/memory", `{"id":"kb_article_456","content":"again"}`),
		post("/api/v1/agents/agent_abc123/memory", `{"content":"x","type":"gossip"}`),
		post("/api/v1/agents/agent_abc123/memory", `{"content":"   "}`),
		post("/api/v1/agents/agent_abc123/memory", `{"items":[]}`),
		post("/api/v1/agents/agent_abc123/memory", `{"items":[{"content":"ok"},{"content":7}]}`),
		post("/api/v1/agents/agent_abc123/memory", `{"content":"x","id":"bad id"}`),
		memoryOf("agent_abc123", ""),
		memoryOf("agent_abc123", "?type=procedural"),
		memoryOf("agent_abc123", "?type=bogus"),
		memoryOf("agent_abc123", "?limit=0"),
		memoryOf("agent_abc123", "?limit=1000"),
		asB(memoryOf("agent_abc123", "")),
		asB(post("/api/v1/agents/agent_abc123/memory", `{"content":"planted"}`)),
		asB(del("/api/v1/agents/agent_abc123/memory")),
		memoryOf("nobody", ""),
		chatAs("agent_abc123", `{"message":"How do I reset my password?","conversation_id":"conv_xyz789","context":{"user_id":"user_123","platform":"web"}}`),
		del("/api/v1/agents/agent_abc123/memory?type=episodic"),
		del("/api/v1/agents/agent_abc123/memory?type=nope"),
	}},
	{name: "chat", script: [][]adapters.Event{answerReset, extractNothing, answerPlain}, steps: []step{
		createAgent(supportAgent),
		chatAs("agent_abc123", `{"message":"How do I reset my password?","conversation_id":"conv_xyz789","context":{"user_id":"user_123","platform":"web"}}`),
		chatAs("agent_abc123", `{"message":"Thanks!","conversation_id":"conv_xyz789","context":{"user_id":"user_123"}}`),
		chatAs("helper", `{"message":"Explain quantum computing"}`),
		get("/api/v1/agents/agent_abc123"),
		chatAs("agent_abc123", ``),
		chatAs("agent_abc123", `{}`),
		chatAs("agent_abc123", `{"message":""}`),
		chatAs("agent_abc123", `{"message":["hi"]}`),
		chatAs("agent_abc123", `{"message":"hi","conversation_id":12}`),
		chatAs("agent_abc123", `{"message":"hi","conversation_id":"a\u0001b"}`),
		chatAs("agent_abc123", `{"message":"hi","context":"web"}`),
		chatAs("agent_abc123", `{"message":"hi","context":{"user_id":5}}`),
		chatAs("nobody", `{"message":"hi"}`),
		asB(chatAs("agent_abc123", `{"message":"hi"}`)),
		asB(chatAs("secret-a", `{"message":"hi"}`)),
		// The id is new to helper: a conversation of its own.
		chatAs("helper", `{"message":"hi","conversation_id":"conv_xyz789"}`),
	}},
	{name: "feedback", script: [][]adapters.Event{answerPlain, extractNothing}, steps: []step{
		createAgent(supportAgent),
		chatAs("agent_abc123", `{"message":"Explain quantum computing","conversation_id":"conv_q"}`),
		post("/api/v1/agents/agent_abc123/messages/MESSAGE/feedback", `{"rating":"down"}`),
		get("/api/v1/agents/agent_abc123"),
		post("/api/v1/agents/agent_abc123/messages/MESSAGE/feedback", `{"thumbs_up":true}`),
		get("/api/v1/agents/agent_abc123"),
		post("/api/v1/agents/agent_abc123/messages/msg_unknown/feedback", `{"rating":"up"}`),
		post("/api/v1/agents/agent_abc123/messages/run-x/feedback", `{"rating":"up"}`),
		post("/api/v1/agents/agent_abc123/messages/MESSAGE/feedback", `{"rating":"meh"}`),
		post("/api/v1/agents/agent_abc123/messages/MESSAGE/feedback", `{}`),
		post("/api/v1/agents/agent_abc123/messages/MESSAGE/feedback", `{"rating":"up","thumbs_up":true}`),
		asB(post("/api/v1/agents/agent_abc123/messages/MESSAGE/feedback", `{"rating":"up"}`)),
	}},
	{name: "stream", script: [][]adapters.Event{answerPlain, extractNothing, answerPlain, extractNothing}, steps: []step{
		createAgent(supportAgent),
		streamAs("agent_abc123", `{"message":"Explain quantum computing"}`),
		streamAs("agent_abc123", `{"message":"Explain quantum computing","conversation_id":"conv_s","context":{"user_id":"u1"}}`),
		streamAs("agent_abc123", `{"message":""}`),
		streamAs("nobody", `{"message":"hi"}`),
	}},
	{name: "stream_midstream_error", script: [][]adapters.Event{midstream}, steps: []step{
		createAgent(`{"id":"plain","name":"Plain","model":"gpt-4","memory_config":{"semantic_enabled":false,"episodic_enabled":false}}`),
		streamAs("plain", `{"message":"Explain quantum computing"}`),
	}},
	{name: "upstream_down", script: [][]adapters.Event{upstreamDown}, steps: []step{
		createAgent(`{"id":"plain","name":"Plain","model":"gpt-4"}`),
		chatAs("plain", `{"message":"hi"}`),
		streamAs("plain", `{"message":"hi"}`),
	}},
}

// registry declares the tools of the document's examples, as the e2e
// Caddyfile does with webhooks.
func registry(t testing.TB) *tools.Registry {
	method := func(name string) *tools.Method {
		return &tools.Method{Name: name, Description: "The " + name + " tool",
			Call: func(context.Context, json.RawMessage) (json.RawMessage, error) {
				return json.RawMessage(`{"ok":true}`), nil
			}}
	}
	reg, err := tools.NewRegistry(
		&tools.Toolkit{Name: "Research", Kind: tools.KindHTTP, Methods: []*tools.Method{method("web_search"), method("document_reader")}},
		&tools.Toolkit{Name: "Support", Kind: tools.KindHTTP, Methods: []*tools.Method{method("knowledge_base"), method("ticket_creation"), method("escalation")}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// newHarness runs the dialect with memory on (keyword recall) over
// declared agents: a shared helper without memory, and one private to
// tenant-a.
func newHarness(t testing.TB, script [][]adapters.Event) *dialecttest.Harness {
	t.Helper()
	if len(script) == 0 {
		script = [][]adapters.Event{answerPlain}
	}
	agents := []*adapters.Agent{
		{ID: "helper", Name: "Helper", Description: "A shared helper", SystemPrompt: "You help.", Model: "gpt-4", Status: adapters.StatusActive},
		{ID: "secret-a", Name: "Secret A", Tenant: "tenant-a", Model: "gpt-4"},
	}
	return dialecttest.NewWith(t, Name, &dialecttest.Script{Events: script},
		dialecttest.Options{Tools: registry(t), Memory: &memory.Options{}}, agents...)
}

// TestGolden runs each case's requests in order, waiting after each for
// the memory manager, and compares what the client got
// (testdata/<case>/response.golden) and what the scripted provider was
// sent, the memory manager's calls included (upstream.golden.json). Run
// with -update to rewrite them.
func TestGolden(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range goldenCases {
		if seen[c.name] {
			t.Fatalf("duplicate case %s", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.script)
			var out bytes.Buffer
			lastMessage := ""
			for i, s := range c.steps {
				s.path = strings.Replace(s.path, "MESSAGE", lastMessage, 1)
				if i > 0 {
					out.WriteString("\n")
				}
				rec := do(h, s)
				if err := h.Engine.Knowledge().Memory().Flush(t.Context()); err != nil {
					t.Fatal(err)
				}
				var body struct {
					MessageID string `json:"message_id"`
				}
				if json.Unmarshal(rec.Body.Bytes(), &body) == nil && body.MessageID != "" {
					lastMessage = body.MessageID
				}
				writeExchange(&out, s, rec)
			}
			dir := filepath.Join("testdata", c.name)
			dialecttest.Golden(t, filepath.Join(dir, "response.golden"), out.Bytes())
			up := []byte("null")
			if reqs := h.Script.Requests(); len(reqs) > 0 {
				up, _ = json.MarshalIndent(reqs, "", "  ")
			}
			dialecttest.Golden(t, filepath.Join(dir, "upstream.golden.json"), append(up, '\n'))
		})
	}
	dirs, _ := filepath.Glob("testdata/*/response.golden")
	for _, d := range dirs {
		if name := filepath.Base(filepath.Dir(d)); !seen[name] && name != "errors" {
			t.Errorf("testdata/%s belongs to no case", name)
		}
	}
}

func do(h *dialecttest.Harness, s step) *httptest.ResponseRecorder {
	var hdr []string
	if s.tenant == "b" {
		hdr = []string{"X-Test-Tenant", "b"}
	}
	if s.body != "" {
		hdr = append(hdr, "Content-Type", "application/json")
	}
	return h.Do(s.method, s.path, []byte(s.body), hdr...)
}

func writeExchange(out *bytes.Buffer, s step, rec *httptest.ResponseRecorder) {
	who := "tenant-a"
	if s.tenant == "b" {
		who = "tenant-b"
	}
	fmt.Fprintf(out, ">>> %s %s (%s)\n", s.method, s.path, who)
	if s.body != "" {
		body := s.body
		if len(body) > 240 {
			body = body[:240] + fmt.Sprintf("… (%d bytes)", len(s.body))
		}
		out.WriteString(body + "\n")
	}
	fmt.Fprintf(out, "<<< %d\n", rec.Code)
	for _, k := range []string{"Cache-Control", "Content-Type", "Retry-After"} {
		if v := rec.Header().Get(k); v != "" {
			fmt.Fprintf(out, "%s: %s\n", k, v)
		}
	}
	out.WriteString("\n")
	body := rec.Body.Bytes()
	if rec.Header().Get("Content-Type") == "application/json" {
		body = dialecttest.Indent(body)
	}
	out.Write(body)
}

// TestGoldenErrors renders every kind of error in the dialect's shape,
// including those only the Caddy handler raises (401, 429).
func TestGoldenErrors(t *testing.T) {
	d := &Dialect{}
	errs := []*adapters.Error{
		adapters.BadField("memory_config.semantic_enabled", "expected a boolean, got a string"),
		{Kind: adapters.KindUnauthenticated, Code: "missing_api_key", Message: "missing API key: send it as 'Authorization: Bearer <key>'"},
		{Kind: adapters.KindUnauthenticated, Code: "invalid_api_key", Message: "invalid API key"},
		{Kind: adapters.KindForbidden, Code: "tenant_forbidden", Param: "tenant_id", Message: "tenant_id 'x' is not the tenant of this API key"},
		{Kind: adapters.KindNotFound, Code: "agent_not_found", Param: "agent_id", Message: "agent 'x' not found"},
		{Kind: adapters.KindConflict, Code: "agent_exists", Param: "id", Message: "agent 'x' already exists"},
		{Kind: adapters.KindTooLarge, Code: "request_too_large", Message: "request body is larger than the limit of 1024 bytes"},
		{Kind: adapters.KindRateLimited, Message: "rate limit of 20 requests per minute reached", RetryAfter: 1500 * time.Millisecond},
		{Kind: adapters.KindQuotaExceeded, Message: "monthly token quota exhausted", RetryAfter: 72 * time.Hour},
		{Kind: adapters.KindUpstream, Message: "upstream returned an invalid response"},
		{Kind: adapters.KindUnavailable, Message: "upstream unavailable"},
		{Kind: adapters.KindTimeout, Message: "upstream timed out"},
		adapters.AsError(fmt.Errorf("disk on fire")),
	}
	var out bytes.Buffer
	for _, e := range errs {
		rec := httptest.NewRecorder()
		d.WriteError(rec, e)
		fmt.Fprintf(&out, "<<< %d", rec.Code)
		if ra := rec.Header().Get("Retry-After"); ra != "" {
			fmt.Fprintf(&out, " Retry-After: %s", ra)
		}
		fmt.Fprintf(&out, "\n%s\n", rec.Body.Bytes())
		if rec.Code != e.Status() || rec.Header().Get("Content-Type") != "application/json" || !json.Valid(rec.Body.Bytes()) {
			t.Errorf("%v: status %d, content type %q, body %s", e, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
		}
	}
	dialecttest.Golden(t, "testdata/errors/response.golden", out.Bytes())
}
