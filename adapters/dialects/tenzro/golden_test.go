package tenzro

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/exchange"
	"github.com/agentgate/agentgate/internal/dialecttest"
)

// Scripted upstream answers, as JSON lines of canonical events.
const (
	evSearch = `{"type":"start","model":"gemini-2.5-flash-001"}
{"type":"tool_call","tool_call":{"id":"call_search_1","name":"search_docs","arguments":"{\"query\":\"order #12345\"}"}}
{"type":"usage","usage":{"input_tokens":40,"output_tokens":9}}
{"type":"done","finish_reason":"tool_calls"}`
	evAnswer = `{"type":"start","model":"gemini-2.5-flash-001"}
{"type":"delta","text":"I'd be happy to help "}
{"type":"delta","text":"with order #12345..."}
{"type":"usage","usage":{"input_tokens":60,"output_tokens":10}}
{"type":"done","finish_reason":"stop"}`
	evThinkSearch = `{"type":"start","model":"gemini-2.5-flash-001"}
{"type":"thinking","text":"Analyzing request..."}
{"type":"tool_call","tool_call":{"id":"call_search_2","name":"search_docs","arguments":"{\n  \"query\": \"report template\"\n}"}}
{"type":"usage","usage":{"input_tokens":30,"output_tokens":12,"reasoning_tokens":4}}
{"type":"done","finish_reason":"tool_calls"}`
	evReport = `{"type":"start","model":"gemini-2.5-flash-001"}
{"type":"delta","text":"Based on my analysis..."}
{"type":"usage","usage":{"input_tokens":50,"output_tokens":5}}
{"type":"done","finish_reason":"stop"}`
	evTicket = `{"type":"start","model":"gemini-2.5-flash-001"}
{"type":"tool_call","tool_call":{"id":"call_ticket_1","name":"create_ticket","arguments":"{\"order_id\":\"12345\",\"reason\":\"damaged\"}"}}
{"type":"usage","usage":{"input_tokens":45,"output_tokens":11}}
{"type":"done","finish_reason":"tool_calls"}`
	evJSON = `{"type":"start","model":"gemini-2.5-flash-001"}
{"type":"delta","text":"{\"refund_processed\": true, \"amount\": 99.99}"}
{"type":"usage","usage":{"input_tokens":70,"output_tokens":12}}
{"type":"done","finish_reason":"stop"}`
	evFenced = `{"type":"start","model":"gemini-2.5-flash-001"}
{"type":"delta","text":"` + "```json\\n" + `{\"refund_processed\": true,\n \"amount\": 99.99}\n` + "```" + `"}
{"type":"usage","usage":{"input_tokens":70,"output_tokens":14}}
{"type":"done","finish_reason":"stop"}`
	evProse = `{"type":"start","model":"gemini-2.5-flash-001"}
{"type":"delta","text":"The refund was processed: 99.99."}
{"type":"usage","usage":{"input_tokens":70,"output_tokens":8}}
{"type":"done","finish_reason":"stop"}`
	evArray = `{"type":"start","model":"gemini-2.5-flash-001"}
{"type":"delta","text":"[1, 2]"}
{"type":"usage","usage":{"input_tokens":70,"output_tokens":3}}
{"type":"done","finish_reason":"stop"}`
	evFinding = `{"type":"start","model":"gemini-2.5-flash-001"}
{"type":"delta","text":"A finding."}
{"type":"usage","usage":{"input_tokens":20,"output_tokens":3}}
{"type":"done","finish_reason":"stop"}`
	evSynthesis = `{"type":"start","model":"gemini-2.5-flash-001"}
{"type":"delta","text":"All together: "}
{"type":"delta","text":"done."}
{"type":"usage","usage":{"input_tokens":80,"output_tokens":4}}
{"type":"done","finish_reason":"stop"}`
	evDelegate = `{"type":"start","model":"gemini-2.5-flash-001"}
{"type":"tool_call","tool_call":{"id":"call_delegate_1","name":"researcher","arguments":"{\"task\":\"Find the order's status\"}"}}
{"type":"usage","usage":{"input_tokens":35,"output_tokens":9}}
{"type":"done","finish_reason":"tool_calls"}`
	evUpstreamDown = `{"type":"error","error":{"kind":10,"message":"upstream unavailable: connection refused","code":"upstream_unavailable"}}`
	evMidstream    = `{"type":"start","model":"gemini-2.5-flash-001"}
{"type":"delta","text":"I can"}
{"type":"error","error":{"kind":9,"message":"upstream connection lost","code":"upstream_error"}}`
)

func events(t testing.TB, jsonl string) []adapters.Event {
	t.Helper()
	var out []adapters.Event
	for _, line := range strings.Split(jsonl, "\n") {
		var ev adapters.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out = append(out, ev)
	}
	return out
}

// webhooks records what the test tools received.
type webhooks struct {
	mu       sync.Mutex
	received []string
}

func (k *webhooks) all() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.received...)
}

// registry holds the document's tools (search_docs, create_ticket), one
// that needs confirmation and the built-ins.
func registry(t testing.TB, k *webhooks) *tools.Registry {
	method := func(name string, confirm bool, result string) *tools.Method {
		return &tools.Method{Name: name, Description: "The " + name + " tool.", RequiresConfirmation: confirm,
			Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"}}}`), Timeout: time.Second,
			Call: func(_ context.Context, args json.RawMessage) (json.RawMessage, error) {
				k.mu.Lock()
				k.received = append(k.received, name+" "+string(args))
				k.mu.Unlock()
				return json.RawMessage(result), nil
			}}
	}
	reg, err := tools.NewRegistry(
		tools.Builtins(func() time.Time { return dialecttest.Clock }),
		&tools.Toolkit{Name: "support", Kind: tools.KindHTTP, Methods: []*tools.Method{
			method("search_docs", false, "{\n  \"found\": true,\n  \"status\": \"shipped\"\n}"),
			method("create_ticket", false, `{"ticket_id":"T-1001","status":"open"}`),
		}},
		&tools.Toolkit{Name: "payments", Kind: tools.KindHTTP, Methods: []*tools.Method{
			method("refund", true, `{"refunded":true}`),
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// declared are the operator's agents: two every tenant and project may
// use as sub-agents.
func declared() []*adapters.Agent {
	return []*adapters.Agent{
		{ID: "researcher", Name: "Researcher", Description: "Finds facts", SystemPrompt: "You research.", Model: "gemini-2.5-flash"},
		{ID: "writer", Name: "Writer", SystemPrompt: "You write.", Model: "gemini-2.5-flash"},
	}
}

// The principals of test requests, chosen by the step's key.
var (
	tenantA  = dialecttest.TenantA
	tenantB  = dialecttest.TenantB
	limitedA = &adapters.Principal{KeyID: "key_pa", Tenant: "tenant-a", Tier: "pro", Projects: []string{"proj_a"}}
)

// harness serves the dialect over dialecttest's runtime with the
// principal a request's X-Test-Key names.
type harness struct {
	*dialecttest.Harness
	hooks *webhooks
	mux   *http.ServeMux
	mu    sync.Mutex
	now   time.Time
}

// advance moves the harness's clock.
func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

func newHarness(t *testing.T, scripts []string) *harness {
	t.Helper()
	script := &dialecttest.Script{}
	for _, s := range scripts {
		script.Events = append(script.Events, events(t, s))
	}
	if len(script.Events) == 0 {
		script.Events = [][]adapters.Event{events(t, evAnswer)}
	}
	h := &harness{hooks: &webhooks{}, mux: http.NewServeMux(), now: dialecttest.Clock}
	h.Harness = dialecttest.NewWith(t, Name, script, dialecttest.Options{Tools: registry(t, h.hooks), Now: func() time.Time {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.now
	}}, declared()...)
	d, err := dialects.New(Name, h.Env)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range d.Routes() {
		fn := r.Handler
		h.mux.HandleFunc(r.Pattern, func(w http.ResponseWriter, req *http.Request) {
			p := tenantA
			switch req.Header.Get("X-Test-Key") {
			case "b":
				p = tenantB
			case "pa":
				p = limitedA
			}
			if err := fn(w, req, &exchange.Exchange{Principal: p, Dialect: Name}); err != nil {
				d.WriteError(w, adapters.AsError(err))
			}
		})
	}
	return h
}

// step is one request of a case. key: "" tenant-a, "b" tenant-b, "pa"
// tenant-a's key limited to proj_a. project: "" proj_xyz, "-" none.
// {a0}, {a1}, … in paths and bodies are the agent ids created so far;
// {conv} is the last conversation id answered.
type step struct {
	method, path, body, key, project string
}

func post(path, body string) step  { return step{method: "POST", path: path, body: body} }
func get(path string) step         { return step{method: "GET", path: path} }
func patch(path, body string) step { return step{method: "PATCH", path: path, body: body} }
func del(path string) step         { return step{method: "DELETE", path: path} }
func in(project string, s step) step {
	s.project = project
	return s
}
func as(key string, s step) step {
	s.key = key
	return s
}

type goldenCase struct {
	name   string
	events []string // one script per upstream call; the last repeats
	steps  []step
	// unordered: upstream calls happen concurrently; their golden is
	// sorted.
	unordered bool
}

// The requests of the document, as written.
const (
	docCreate = `{
"name": "customer-support",
"description": "Customer support agent",
"system_prompt": "You are a helpful customer support agent.",
"ai_model": "gemini-2.5-flash",
"orchestration_pattern": "SINGLE",
"tools": ["search_docs", "create_ticket"]
}`
	docChat = `{
"message": "I need help with my order #12345",
"conversation_id": "conv_xyz",
"context": {
"user_id": "user_123"
}
}`
	docExecute = `{
"task": "Process refund for order #12345",
"inputs": {
"order_id": "12345",
"reason": "damaged"
},
"max_iterations": 10
}`
	docStream = `{
"message": "Help me write a report",
"stream": true
}`
	docPatch = `{
"system_prompt": "Updated system prompt",
"temperature": 0.5
}`
)

var goldenCases = []goldenCase{
	{name: "create", steps: []step{
		post("/agent/agents", docCreate),
		get("/agent/agents/{a0}"),
		post("/agent/agents", `{"name":"minimal"}`),
		get("/agent/agents/{a1}"),
		post("/agent/agents", `{"name":"full","description":null,"system_prompt":"Be {{context.tone}}.","ai_model":"gpt-test","orchestration_pattern":"single",`+
			`"tools":["builtin","support.search_docs"],"temperature":0,"max_iterations":50,"thinking":true,"status":"inactive","unknown":1}`),
		get("/agent/agents/{a2}"),
		get("/agent/agents"),
		// A draft answers nothing until it is made active.
		post("/agent/agents", `{"name":"drafted","status":"draft"}`),
		post("/agent/agents/{a3}/chat", `{"message":"Hi"}`),
		post("/agent/agents/{a3}/execute", `{"task":"Say hi"}`),
		patch("/agent/agents/{a3}", `{"status":"archived"}`),
		patch("/agent/agents/{a3}", `{"status":"active"}`),
		get("/agent/agents/{a3}"),
	}},
	{name: "create_invalid", steps: []step{
		post("/agent/agents", `{}`),
		post("/agent/agents", `{"name":"  "}`),
		post("/agent/agents", `{"name":7}`),
		post("/agent/agents", `{"name":"x","description":"`+strings.Repeat("d", 2001)+`"}`),
		post("/agent/agents", `{"name":"x","orchestration_pattern":"STAR"}`),
		post("/agent/agents", `{"name":"x","tools":["search_docs","nope"]}`),
		post("/agent/agents", `{"name":"x","tools":["payments"]}`),
		post("/agent/agents", `{"name":"x","tools":"search_docs"}`),
		post("/agent/agents", `{"name":"x","tools":["search_docs","search_docs"]}`),
		post("/agent/agents", `{"name":"x","temperature":2.5}`),
		post("/agent/agents", `{"name":"x","temperature":"hot"}`),
		post("/agent/agents", `{"name":"x","max_iterations":0}`),
		post("/agent/agents", `{"name":"x","max_iterations":2.5}`),
		post("/agent/agents", `{"name":"x","status":"archived"}`),
		post("/agent/agents", `{"name":"x","thinking":"yes"}`),
		post("/agent/agents", `{"name":"x","orchestration_pattern":"PARALLEL"}`),
		post("/agent/agents", `{"name":"x","orchestration_pattern":"PARALLEL","sub_agents":["ghost"]}`),
		post("/agent/agents", `{"name":"x","sub_agents":["researcher"]}`),
		post("/agent/agents", `{"name":"x","orchestration_pattern":"SEQUENTIAL","sub_agents":["researcher","researcher"]}`),
		post("/agent/agents", `{"name":"x","orchestration_pattern":"SEQUENTIAL","sub_agents":["a","b","c","d","e","f","g","h","i","j","k"]}`),
		post("/agent/agents", `[{"name":"x"}]`),
		post("/agent/agents", `{"name":"x"`),
		post("/agent/agents", ``),
		get("/agent/agents"),
	}},
	{name: "projects", events: []string{evAnswer}, steps: []step{
		in("proj_a", post("/agent/agents", `{"name":"in-a"}`)),
		in("proj_b", post("/agent/agents", `{"name":"in-b"}`)),
		in("-", get("/agent/agents")),
		in("bad project!", get("/agent/agents")),
		in("proj_a", get("/agent/agents")),
		in("proj_b", get("/agent/agents")),
		as("pa", in("proj_a", get("/agent/agents"))),
		as("pa", in("proj_b", get("/agent/agents"))),
		as("pa", in("proj_b", post("/agent/agents", `{"name":"sneaky"}`))),
		// Project B's agent, from project A, with an unlimited and a limited key.
		in("proj_a", get("/agent/agents/{a1}")),
		as("pa", in("proj_a", get("/agent/agents/{a1}"))),
		as("pa", in("proj_a", post("/agent/agents/{a1}/chat", `{"message":"hi"}`))),
		as("pa", in("proj_a", post("/agent/agents/{a1}/execute", `{"task":"x"}`))),
		as("pa", in("proj_a", patch("/agent/agents/{a1}", `{"name":"mine"}`))),
		as("pa", in("proj_a", del("/agent/agents/{a1}"))),
		in("proj_b", post("/agent/agents/{a1}/chat", `{"message":"hi","conversation_id":"conv_b"}`)),
		as("pa", in("proj_a", get("/agent/agents/{a1}/conversations/conv_b"))),
		in("proj_a", get("/agent/agents/{a1}/conversations/conv_b")),
		in("proj_b", get("/agent/agents/{a1}/conversations/conv_b")),
		// A shared (declared) agent: a conversation stays in its project;
		// the same id in another project is another conversation.
		in("proj_b", post("/agent/agents/researcher/chat", `{"message":"hi","conversation_id":"conv_shared"}`)),
		as("pa", in("proj_a", get("/agent/agents/researcher/conversations/conv_shared"))),
		as("pa", in("proj_a", post("/agent/agents/researcher/chat", `{"message":"again","conversation_id":"conv_shared"}`))),
		// Another tenant sees nothing of tenant-a's.
		as("b", in("proj_b", get("/agent/agents"))),
		as("b", in("proj_b", get("/agent/agents/{a1}"))),
	}},
	{name: "chat", events: []string{evSearch, evAnswer}, steps: []step{
		post("/agent/agents", docCreate),
		post("/agent/agents/{a0}/chat", docChat),
		get("/agent/agents/{a0}/conversations/conv_xyz"),
	}},
	{name: "chat_context", events: []string{evAnswer}, steps: []step{
		post("/agent/agents", `{"name":"templated","system_prompt":"Help {{user_id}} ({{context.plan}}); all: {{context}}; {{other}} stays."}`),
		post("/agent/agents/{a0}/chat", `{"message":"Hi","context":{"user_id":"user_123","plan":{"tier":"gold"}}}`),
		post("/agent/agents", `{"name":"plain","system_prompt":"Help."}`),
		post("/agent/agents/{a1}/chat", `{"message":"Hi","context":{"user_id":"user_123"},"stream":false}`),
		post("/agent/agents/{a1}/chat", `{"message":"Hi","conversation_id":"{conv}","context":{}}`),
		get("/agent/agents/{a1}/conversations/{conv}"),
	}},
	{name: "chat_invalid", steps: []step{
		post("/agent/agents", docCreate),
		post("/agent/agents/{a0}/chat", `{}`),
		post("/agent/agents/{a0}/chat", `{"message":""}`),
		post("/agent/agents/{a0}/chat", `{"message":"hi","conversation_id":"has space"}`),
		post("/agent/agents/{a0}/chat", `{"message":"hi","context":"user_123"}`),
		post("/agent/agents/{a0}/chat", `{"message":"hi","stream":"yes"}`),
		post("/agent/agents/agent_xyz/chat", `{"message":"hi"}`),
		get("/agent/agents/{a0}/conversations/conv_nope"),
		get("/agent/agents/agent_xyz/conversations/conv_nope"),
	}},
	{name: "chat_stream", events: []string{evThinkSearch, evReport}, steps: []step{
		post("/agent/agents", `{"name":"writer-bot","tools":["search_docs"],"thinking":true}`),
		post("/agent/agents/{a0}/chat", docStream),
		get("/agent/agents/{a0}/conversations/{conv}"),
	}},
	{name: "execute", events: []string{evTicket, evJSON}, steps: []step{
		post("/agent/agents", docCreate),
		post("/agent/agents/{a0}/execute", docExecute),
		get("/agent/agents"),
	}},
	{name: "execute_no_tools", events: []string{evFenced}, steps: []step{
		post("/agent/agents", `{"name":"calc","system_prompt":"You compute refunds."}`),
		post("/agent/agents/{a0}/execute", `{"task":"Compute the refund","inputs":null}`),
	}},
	{name: "execute_repair", events: []string{evProse, evJSON}, steps: []step{
		post("/agent/agents", `{"name":"calc"}`),
		post("/agent/agents/{a0}/execute", `{"task":"Compute the refund","inputs":{"amount":99.99}}`),
	}},
	{name: "execute_failed", events: []string{evProse, evArray}, steps: []step{
		post("/agent/agents", `{"name":"calc"}`),
		post("/agent/agents/{a0}/execute", `{"task":"Compute the refund"}`),
		get("/agent/agents"),
	}},
	{name: "execute_max_iterations", events: []string{evTicket}, steps: []step{
		post("/agent/agents", docCreate),
		post("/agent/agents/{a0}/execute", `{"task":"Process refund for order #12345","max_iterations":3}`),
		post("/agent/agents/{a0}/execute", `{"task":"Process refund","max_iterations":1}`),
		get("/agent/agents"),
	}},
	{name: "execute_invalid", steps: []step{
		post("/agent/agents", docCreate),
		post("/agent/agents/{a0}/execute", `{}`),
		post("/agent/agents/{a0}/execute", `{"task":"x","inputs":[1]}`),
		post("/agent/agents/{a0}/execute", `{"task":"x","max_iterations":51}`),
		post("/agent/agents/{a0}/execute", `{"task":"x","max_iterations":"10"}`),
		post("/agent/agents/agent_xyz/execute", `{"task":"x"}`),
	}},
	{name: "patch_delete", events: []string{evAnswer}, steps: []step{
		post("/agent/agents", docCreate),
		patch("/agent/agents/{a0}", docPatch),
		get("/agent/agents/{a0}"),
		patch("/agent/agents/{a0}", `{"temperature":null,"tools":null,"description":null,"max_iterations":7,"name":"renamed"}`),
		get("/agent/agents/{a0}"),
		patch("/agent/agents/{a0}", `{"name":null}`),
		patch("/agent/agents/{a0}", `{"nothing":1}`),
		patch("/agent/agents/{a0}", `{"tools":["nope"]}`),
		patch("/agent/agents/{a0}", `{"orchestration_pattern":"HIERARCHICAL"}`),
		patch("/agent/agents/researcher", `{"name":"mine"}`),
		patch("/agent/agents/agent_xyz", `{"name":"x"}`),
		post("/agent/agents", `{"name":"boss","orchestration_pattern":"SEQUENTIAL","sub_agents":["{a0}","writer"]}`),
		del("/agent/agents/{a0}"),
		patch("/agent/agents/{a0}", `{"orchestration_pattern":"PARALLEL","sub_agents":["{a1}"]}`),
		patch("/agent/agents/{a1}", `{"orchestration_pattern":"SINGLE"}`),
		get("/agent/agents/{a1}"),
		del("/agent/agents/{a0}"),
		get("/agent/agents/{a0}"),
		post("/agent/agents/{a0}/chat", `{"message":"hi"}`),
		del("/agent/agents/{a0}"),
		del("/agent/agents/researcher"),
		get("/agent/agents"),
	}},
	{name: "sequential", events: []string{evFinding, evFinding, evSynthesis}, steps: []step{
		post("/agent/agents", `{"name":"pipeline","system_prompt":"You are the editor.","orchestration_pattern":"SEQUENTIAL","sub_agents":["researcher","writer"]}`),
		post("/agent/agents/{a0}/chat", `{"message":"Write about order #12345","stream":true}`),
	}},
	{name: "parallel", unordered: true, events: []string{evFinding, evFinding, evSynthesis}, steps: []step{
		post("/agent/agents", `{"name":"panel","system_prompt":"You are the chair.","orchestration_pattern":"PARALLEL","sub_agents":["researcher","writer"]}`),
		post("/agent/agents/{a0}/chat", `{"message":"Compare the options"}`),
	}},
	{name: "parallel_execute", unordered: true, events: []string{evFinding, evFinding, evJSON}, steps: []step{
		post("/agent/agents", `{"name":"panel","orchestration_pattern":"PARALLEL","sub_agents":["researcher","writer"]}`),
		post("/agent/agents/{a0}/execute", `{"task":"Decide the refund","inputs":{"order_id":"12345"}}`),
	}},
	{name: "hierarchical", events: []string{evDelegate, evFinding, evSynthesis}, steps: []step{
		post("/agent/agents", `{"name":"supervisor","system_prompt":"You supervise.","orchestration_pattern":"HIERARCHICAL","sub_agents":["researcher","writer"],"tools":["search_docs"]}`),
		post("/agent/agents/{a0}/chat", `{"message":"Where is order #12345?","stream":true}`),
		post("/agent/agents/{a0}/chat", `{"message":"Again, as JSON","conversation_id":"{conv}"}`),
	}},
	{name: "hierarchical_execute", events: []string{evDelegate, evFinding, evJSON}, steps: []step{
		post("/agent/agents", `{"name":"supervisor","orchestration_pattern":"HIERARCHICAL","sub_agents":["researcher"]}`),
		post("/agent/agents/{a0}/execute", `{"task":"Find the order's status","max_iterations":5}`),
	}},
	{name: "nested", events: []string{evFinding, evFinding, evSynthesis}, steps: []step{
		post("/agent/agents", `{"name":"inner","orchestration_pattern":"SEQUENTIAL","sub_agents":["researcher"]}`),
		post("/agent/agents", `{"name":"middle","orchestration_pattern":"SEQUENTIAL","sub_agents":["{a0}"]}`),
		post("/agent/agents", `{"name":"outer","orchestration_pattern":"SEQUENTIAL","sub_agents":["{a1}"]}`),
		post("/agent/agents", `{"name":"too-deep","orchestration_pattern":"SEQUENTIAL","sub_agents":["{a2}"]}`),
		patch("/agent/agents/{a0}", `{"sub_agents":["{a2}"]}`),
	}},
	{name: "upstream_down", events: []string{evUpstreamDown}, steps: []step{
		post("/agent/agents", docCreate),
		post("/agent/agents/{a0}/chat", docChat),
		post("/agent/agents/{a0}/chat", docStream),
		post("/agent/agents/{a0}/execute", docExecute),
	}},
	{name: "midstream_error", events: []string{evMidstream}, steps: []step{
		post("/agent/agents", docCreate),
		post("/agent/agents/{a0}/chat", docStream),
	}},
}

var agentIDs = regexp.MustCompile(`"agent_id":"(agent_[a-z2-7]{26})"`)

// TestGolden runs each case's requests in order and compares what the
// client got (testdata/<case>/response.golden), what the scripted
// provider was sent (upstream.golden.json) and what the tools received
// (tools.golden) with the golden files. Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range goldenCases {
		if seen[c.name] {
			t.Fatalf("duplicate case %s", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.events)
			var out bytes.Buffer
			var agents []string
			conv := ""
			for i, s := range c.steps {
				if i > 0 {
					out.WriteString("\n")
				}
				for j, id := range agents {
					s.path = strings.ReplaceAll(s.path, fmt.Sprintf("{a%d}", j), id)
					s.body = strings.ReplaceAll(s.body, fmt.Sprintf("{a%d}", j), id)
				}
				s.path = strings.ReplaceAll(s.path, "{conv}", conv)
				s.body = strings.ReplaceAll(s.body, "{conv}", conv)
				if s.method == "POST" && s.path == "/agent/agents" {
					// Agents made at different times list in a stable order.
					h.advance(time.Minute)
				}
				rec := h.do(s)
				if s.method == "POST" && s.path == "/agent/agents" {
					if m := agentIDs.FindSubmatch(rec.Body.Bytes()); m != nil {
						agents = append(agents, string(m[1]))
					}
				}
				if v := rec.Header().Get(ConversationHeader); v != "" {
					conv = v
				}
				writeExchange(&out, s, rec)
			}
			dir := filepath.Join("testdata", c.name)
			dialecttest.Golden(t, filepath.Join(dir, "response.golden"), out.Bytes())
			reqs := h.Script.Requests()
			var encoded [][]byte
			for _, r := range reqs {
				b, _ := json.MarshalIndent(r, "  ", "  ")
				encoded = append(encoded, dialecttest.Normalize(b))
			}
			if c.unordered {
				slices.SortFunc(encoded, bytes.Compare)
			}
			up := []byte("null")
			if len(encoded) > 0 {
				up = append(append([]byte("[\n  "), bytes.Join(encoded, []byte(",\n  "))...), "\n]"...)
			}
			dialecttest.Golden(t, filepath.Join(dir, "upstream.golden.json"), append(up, '\n'))
			got := strings.Join(h.hooks.all(), "\n")
			if got != "" {
				got += "\n"
			}
			dialecttest.Golden(t, filepath.Join(dir, "tools.golden"), []byte(got))
		})
	}
	dirs, _ := filepath.Glob("testdata/*/response.golden")
	for _, d := range dirs {
		if name := filepath.Base(filepath.Dir(d)); !seen[name] && name != "errors" {
			t.Errorf("testdata/%s belongs to no case", name)
		}
	}
}

func (h *harness) do(s step) *httptest.ResponseRecorder {
	req := httptest.NewRequest(s.method, s.path, strings.NewReader(s.body))
	if s.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch s.project {
	case "":
		req.Header.Set(ProjectHeader, "proj_xyz")
	case "-":
	default:
		req.Header.Set(ProjectHeader, s.project)
	}
	if s.key != "" {
		req.Header.Set("X-Test-Key", s.key)
	}
	rec := httptest.NewRecorder()
	h.mux.ServeHTTP(rec, req)
	return rec
}

func writeExchange(out *bytes.Buffer, s step, rec *httptest.ResponseRecorder) {
	who := map[string]string{"": "tenant-a", "b": "tenant-b", "pa": "tenant-a, key limited to proj_a"}[s.key]
	project := s.project
	switch project {
	case "":
		project = "proj_xyz"
	case "-":
		project = "no project"
	}
	fmt.Fprintf(out, ">>> %s %s (%s; %s)\n", s.method, s.path, who, project)
	if s.body != "" {
		body := s.body
		if len(body) > 400 {
			body = body[:400] + fmt.Sprintf("… (%d bytes)", len(s.body))
		}
		out.WriteString(body + "\n")
	}
	fmt.Fprintf(out, "<<< %d\n", rec.Code)
	for _, k := range []string{"Cache-Control", "Content-Type", "Retry-After", ConversationHeader} {
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
// including those only the Caddy handler raises (401, 429 from limits).
func TestGoldenErrors(t *testing.T) {
	d := &Dialect{}
	errs := []*adapters.Error{
		invalid("name", "is required"),
		{Kind: adapters.KindInvalidRequest, Code: "validation_error", Param: ProjectHeader, Message: "the X-Project-ID header is required: name the project the request belongs to"},
		{Kind: adapters.KindInvalidRequest, Code: "unknown_tool", Param: "tools", Message: "unknown tool 'x'"},
		adapters.NotActive(&adapters.Agent{ID: "a", Status: adapters.StatusInactive}, "agent"),
		{Kind: adapters.KindInvalidRequest, Code: "invalid_json", Message: "malformed JSON"},
		{Kind: adapters.KindUnauthenticated, Code: "missing_api_key", Message: "missing API key: send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"},
		{Kind: adapters.KindUnauthenticated, Code: "invalid_api_key", Message: "invalid API key"},
		{Kind: adapters.KindForbidden, Code: "project_forbidden", Message: "this API key may not use project 'proj_b'"},
		{Kind: adapters.KindForbidden, Code: "agent_declared", Message: "Agent 'a' is declared in the gateway's configuration and cannot be changed through the API"},
		{Kind: adapters.KindForbidden, Code: "model_not_allowed", Message: "tier 'free' may not call model 'm' directly"},
		{Kind: adapters.KindForbidden, Message: "forbidden"},
		notFound("agent_xyz"),
		{Kind: adapters.KindNotFound, Code: "conversation_not_found", Param: "conversation_id", Message: "Conversation 'conv_x' not found"},
		{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model", Message: "no provider serves model 'm'"},
		{Kind: adapters.KindNotFound, Message: "not found"},
		{Kind: adapters.KindConflict, Code: "agent_in_use", Message: "Agent 'a' is a sub-agent of 'b'"},
		{Kind: adapters.KindConflict, Code: "tool_requires_confirmation", Message: "the tool 'refund' needs a person's confirmation before it runs, which this API cannot give"},
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
		var body struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
				Status  int    `json:"status"`
			} `json:"error"`
		}
		if rec.Code != e.Status() || rec.Header().Get("Content-Type") != "application/json" ||
			json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error.Status != rec.Code || body.Error.Code == "" || body.Error.Message == "" {
			t.Errorf("%v: status %d, content type %q, body %s", e, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
		}
	}
	dialecttest.Golden(t, "testdata/errors/response.golden", out.Bytes())
}
