package agentsv2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/tools"
	"github.com/agentgate/agentgate/internal/dialecttest"
)

// Tiny images (the JPEG is only a JFIF header: enough for sniffing).
const (
	pngB64  = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAAEElEQVR4nGI6IScHCAAA//8CvgEHAOBnOAAAAABJRU5ErkJggg=="
	gifB64  = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
	jpegB64 = "/9j/4AAQSkZJRgABAQ=="
)

// Scripted upstream answers, as JSON lines of canonical events.
const (
	evText = `{"type":"start","model":"gemini-2.5-pro-001"}
{"type":"delta","text":"I can help "}
{"type":"delta","text":"you reset your password."}
{"type":"usage","usage":{"input_tokens":42,"output_tokens":9}}
{"type":"done","model":"gemini-2.5-pro-001","finish_reason":"stop"}`
	evThinking = `{"type":"start","model":"o-test"}
{"type":"thinking","text":"The user wants a reset link."}
{"type":"delta","text":"Go to Settings."}
{"type":"usage","usage":{"input_tokens":30,"output_tokens":20,"reasoning_tokens":12}}
{"type":"done","finish_reason":"stop"}`
	evSendEmail = `{"type":"start","model":"gemini-2.5-pro-001"}
{"type":"tool_call","tool_call":{"id":"tc-001","name":"send_email","arguments":"{\"to\":\"jane@acme.com\",\"subject\":\"Password Reset\"}"}}
{"type":"usage","usage":{"input_tokens":50,"output_tokens":12}}
{"type":"done","finish_reason":"tool_calls"}`
	evTwoConfirms = `{"type":"start","model":"gemini-2.5-pro-001"}
{"type":"tool_call","tool_call":{"id":"tc-001","name":"send_email","arguments":"{\"to\":\"jane@acme.com\",\"subject\":\"Password Reset\"}"}}
{"type":"tool_call","tool_call":{"id":"tc-002","name":"delete_event","arguments":"{\"event_id\":\"evt-001\"}"}}
{"type":"usage","usage":{"input_tokens":50,"output_tokens":20}}
{"type":"done","finish_reason":"tool_calls"}`
	evListEvents = `{"type":"start","model":"gemini-2.5-pro-001"}
{"type":"tool_call","tool_call":{"id":"tc-010","name":"list_events","arguments":"{\"organizer_email\":\"jane@acme.com\",\"max_results\":5}"}}
{"type":"usage","usage":{"input_tokens":40,"output_tokens":10}}
{"type":"done","finish_reason":"tool_calls"}`
	evAfterTools = `{"type":"start","model":"gemini-2.5-pro-001"}
{"type":"delta","text":"Done: "}
{"type":"delta","text":"the email is on its way."}
{"type":"usage","usage":{"input_tokens":70,"output_tokens":8}}
{"type":"done","finish_reason":"stop"}`
	evUpstreamDown = `{"type":"error","error":{"kind":10,"message":"upstream unavailable: connection refused","code":"upstream_unavailable"}}`
	evMidstream    = `{"type":"start","model":"gemini-2.5-pro-001"}
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

// webhooks records what the test toolkits' methods received.
type webhooks struct {
	mu       sync.Mutex
	received []string
}

func (k *webhooks) record(name string, args json.RawMessage) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.received = append(k.received, name+" "+string(args))
}

func (k *webhooks) all() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.received...)
}

// registry is the operator's toolkits in every case: the documented
// EmailToolkit (send_email needs confirmation) and CalendarToolkit, a
// method with every schema type, a broken one, an MCP server and the
// built-ins. Methods record their arguments instead of calling out.
func registry(t testing.TB, k *webhooks) *tools.Registry {
	method := func(name string, confirm bool, params string, fn func(json.RawMessage) (json.RawMessage, error)) *tools.Method {
		return &tools.Method{Name: name, Description: "The " + name + " method.", RequiresConfirmation: confirm,
			Parameters: json.RawMessage(params), Timeout: time.Second,
			Call: func(_ context.Context, args json.RawMessage) (json.RawMessage, error) {
				k.record(name, args)
				return fn(args)
			}}
	}
	static := func(v string) func(json.RawMessage) (json.RawMessage, error) {
		return func(json.RawMessage) (json.RawMessage, error) { return json.RawMessage(v), nil }
	}
	echo := func(args json.RawMessage) (json.RawMessage, error) { return args, nil }
	reg, err := tools.NewRegistry(
		tools.Builtins(func() time.Time { return dialecttest.Clock }),
		&tools.Toolkit{Name: "EmailToolkit", Kind: tools.KindHTTP, Methods: []*tools.Method{
			method("send_email", true, `{"type":"object","properties":{"to":{"type":"string"},"subject":{"type":"string"}},"required":["to"]}`,
				static(`{"status":"sent","message_id":"msg-1"}`)),
		}},
		&tools.Toolkit{Name: "CalendarToolkit", Kind: tools.KindHTTP, Methods: []*tools.Method{
			method("list_events", false, `{"type":"object","properties":{"organizer_email":{"type":"string"},"max_results":{"type":"integer"}}}`,
				static(`{"events":[{"id":"evt-001","summary":"Team Standup","start":"2025-01-15T09:00:00Z"}]}`)),
			method("delete_event", true, `{"type":"object","properties":{"event_id":{"type":"string"}}}`, static(`{"deleted":true}`)),
		}},
		&tools.Toolkit{Name: "Typed", Kind: tools.KindHTTP, Methods: []*tools.Method{
			method("typed", false, `{"type":"object","properties":{"i":{"type":"integer"},"n":{"type":"number"},"b":{"type":"boolean"},`+
				`"arr":{"type":"array","items":{"type":"integer"}},"obj":{"type":"object"},"s":{"type":"string"},"opt":{"type":["null","integer"]},`+
				`"user_id":{"type":"string"}},"required":["i"],"additionalProperties":false}`, echo),
			method("open", false, `{"type":"object","properties":{"n":{"type":"number"}}}`, echo),
		}},
		&tools.Toolkit{Name: "Broken", Kind: tools.KindHTTP, Methods: []*tools.Method{
			method("explode", false, ``, func(json.RawMessage) (json.RawMessage, error) {
				return nil, errors.New("the webhook answered 500 Internal Server Error")
			}),
			// hang answers only when its call's context ends: its
			// timeout (a real wait, a millisecond) always passes first.
			{Name: "hang", Description: "The hang method.", Timeout: time.Millisecond,
				Call: func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
					<-ctx.Done()
					return nil, ctx.Err()
				}},
		}},
		&tools.Toolkit{Name: "docs", Kind: tools.KindMCP, Methods: []*tools.Method{
			method("search_docs", false, `{"type":"object","properties":{"query":{"type":"string"}}}`, static(`{"hits":[]}`)),
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// agents are the declared agents: one every tenant shares (with the
// documented toolkits) and one private to tenant-a.
func agents() []*adapters.Agent {
	return []*adapters.Agent{
		{ID: "assistant", Name: "Assistant", Description: "General helper", SystemPrompt: "You are the assistant.",
			Model: "gemini-2.5-pro", Tools: []string{"EmailToolkit", "CalendarToolkit"}, Tags: []string{"declared"}},
		{ID: "secret-a", Name: "Secret A", Tenant: "tenant-a", Model: "gemini-2.5-pro"},
	}
}

// step is one request of a case; tenant "b" uses tenant B's key. In
// bodies and paths, {run} is the last run_id answered. advance moves the
// clock before the request.
type step struct {
	method, path, tenant, body string
	advance                    time.Duration
}

func post(path, body string) step { return step{method: "POST", path: path, body: body} }
func get(path string) step        { return step{method: "GET", path: path} }
func asB(s step) step             { s.tenant = "b"; return s }

type goldenCase struct {
	name   string
	events []string // one script per upstream call; the last repeats
	steps  []step
}

// The requests of the document, as written.
const (
	docCreate = `{
    "id": "code-reviewer",
    "name": "Code Reviewer Agent",
    "template": "You are an expert code reviewer. Review code for bugs, security issues, and best practices.",
    "description": "Reviews pull requests and code changes",
    "tags": ["engineering", "code-review"],
    "config": {
      "enable_memory": true,
      "enable_history": true,
      "num_history_runs": 5,
      "enable_reasoning": true,
      "reasoning_min_steps": 2,
      "reasoning_max_steps": 8
    }
  }`
	docChat = `{
    "message": "I need help resetting my password",
    "stream": false,
    "model": "gemini-2.5-pro",
    "user_id": "user-42",
    "session_id": "sess-abc123",
    "timezone": "America/New_York",
    "locale": "en-US",
    "user_profile": {
      "profile_id": "prof-42",
      "email": "jane@acme.com",
      "full_name": "Jane Smith",
      "role": "Engineering Manager",
      "tenant_id": "tenant-acme"
    },
    "tenant_profile": {
      "tenant_id": "tenant-acme",
      "name": "Acme Corp",
      "website": "https://acme.com"
    }
  }`
	docCommit = `{
    "run_id": "{run}",
    "stream": false,
    "model": "gemini-2.5-pro",
    "user_id": "user-42",
    "session_id": "sess-abc123",
    "updated_tools": [
      {
        "tool_call_id": "tc-001",
        "confirmed": true,
        "tool_args": {
          "to": "jane@acme.com",
          "subject": "Password Reset Instructions"
        }
      }
    ]
  }`
	docCancel = `{
  "run_id": "{run}",
  "user_id": "user-42",
  "session_id": "sess-abc123",
  "updated_tools": [
    { "tool_call_id": "tc-001", "confirmed": false }
  ]
}`
	docToolkit = "/v2/agents/calendar-agent/toolkit/run?toolkit_name=CalendarToolkit&method_name=list_events&user_id=user-42&session_id=sess-1&organizer_email=jane@acme.com&max_results=5"
)

// createSupport makes the document's customer-support agent, with the
// documented toolkits and a template using the request's context.
var createSupport = post("/v2/agents", `{"id":"customer-support","name":"Customer Support Agent",`+
	`"description":"Handles customer inquiries and troubleshooting",`+
	`"template":"You are a customer support agent for {{tenant_profile.name}}. You are talking to {{user_profile.full_name}} ({{user_profile.role}}) at {{current_time}} in {{timezone}}, locale {{locale}}. {{unknown.placeholder}} stays.",`+
	`"tags":["support","customer-facing"],"config":{"worker_config":{"tools":["EmailToolkit","CalendarToolkit"]}}}`)

var createCalendar = post("/v2/agents", `{"id":"calendar-agent","name":"Calendar Agent","template":"You manage calendars.",`+
	`"config":{"worker_config":{"tools":["CalendarToolkit"]}}}`)

// chatBody is the documented chat with changes.
func chatBody(stream bool, extra string) string {
	b := strings.Replace(docChat, `"stream": false`, fmt.Sprintf(`"stream": %v`, stream), 1)
	if extra != "" {
		b = strings.Replace(b, `"message"`, extra+`, "message"`, 1)
	}
	return b
}

func commitBody(stream bool, tools string) string {
	return fmt.Sprintf(`{"run_id":"{run}","stream":%v,"user_id":"user-42","session_id":"sess-abc123","updated_tools":%s}`, stream, tools)
}

const chatPath = "/v2/agents/customer-support/chat"
const commitPath = "/v2/agents/customer-support/chat/commit"

var goldenCases = []goldenCase{
	{name: "list", steps: []step{
		createSupport,
		get("/v2/agents"),
		asB(get("/v2/agents")),
	}},
	{name: "get", steps: []step{
		get("/v2/agents/assistant"),
		get("/v2/agents/secret-a"),
		asB(get("/v2/agents/secret-a")),
		get("/v2/agents/nobody"),
		get("/v2/agents/Assistant"),
	}},
	{name: "batch", steps: []step{
		createSupport,
		post("/v2/agents/batch", `{
    "agent_ids": ["customer-support", "sales-assistant"]
  }`),
		post("/v2/agents/batch", `{"agent_ids":["secret-a","nobody","assistant","secret-a"]}`),
		asB(post("/v2/agents/batch", `{"agent_ids":["secret-a","customer-support","assistant"]}`)),
		post("/v2/agents/batch", `{"agent_ids":[]}`),
		post("/v2/agents/batch", `{}`),
		post("/v2/agents/batch", `{"agent_ids":"assistant"}`),
		post("/v2/agents/batch", `{"agent_ids":["assistant",7,null]}`),
		post("/v2/agents/batch", `{"agent_ids":[`),
		post("/v2/agents/batch", ``),
	}},
	{name: "create", steps: []step{
		post("/v2/agents", docCreate),
		get("/v2/agents/code-reviewer"),
		post("/v2/agents", docCreate),
		asB(post("/v2/agents", docCreate)),
		post("/v2/agents", `{"id":"assistant","name":"Mine","template":"t"}`),
		post("/v2/agents", `{"id":"minimal_1","name":"Minimal","template":"Be brief.","description":null,"tags":null,"config":null}`),
		get("/v2/agents/minimal_1"),
		post("/v2/agents", `{"id":"no-history","name":"No History","template":"t","config":{"enable_history":false,"enable_memory":false,"reasoning_min_steps":12}}`),
		get("/v2/agents/no-history"),
		post("/v2/agents", `{"id":"worker","name":"Worker","template":"t","tools":["builtin","EmailToolkit.send_email"],`+
			`"config":{"worker_config":{"tools":["CalendarToolkit","calculator"],"mcp_servers":["docs"],"hooks":{"pre_tool":["audit"]},"permissions":{"mode":"ask"}}}}`),
		get("/v2/agents/worker"),
		post("/v2/agents", `{"id":"worker2","name":"Worker 2","template":"t","config":{"worker_config":{"mcp_servers":{"docs":{"allowed_tools":["search_docs"]}}}}}`),
		get("/v2/agents"),
		asB(get("/v2/agents")),
		// A draft is listed and shown, but answers nothing.
		post("/v2/agents", `{"id":"drafted","name":"Drafted","template":"t","status":"draft"}`),
		get("/v2/agents/drafted"),
		post("/v2/agents/drafted/chat", `{"message":"Hi","stream":false,"user_id":"u","session_id":"s","timezone":"UTC","locale":"en"}`),
		post("/v2/agents/drafted/chat", `{"message":"Hi","user_id":"u","session_id":"s","timezone":"UTC","locale":"en"}`),
	}},
	{name: "create_invalid", steps: []step{
		post("/v2/agents", `{"id":"x","name":"x","template":"t","status":"archived"}`),
		post("/v2/agents", `{"id":"x","name":"x","template":"t","status":7}`),
		post("/v2/agents", `{}`),
		post("/v2/agents", `{"id":"bad id!","name":"","template":7,"description":"`+strings.Repeat("d", 1001)+`"}`),
		post("/v2/agents", `{"id":"`+strings.Repeat("i", 256)+`","name":"`+strings.Repeat("n", 256)+`","template":""}`),
		post("/v2/agents", `{"id":null,"name":["x"],"template":"t","tags":"a,b"}`),
		post("/v2/agents", `{"id":"x","name":"x","template":"t","tags":["ok",1],"config":"on"}`),
		post("/v2/agents", `{"id":"x","name":"x","template":"t","config":{"enable_memory":"yes","enable_history":1,"num_history_runs":0,"enable_reasoning":null,"reasoning_min_steps":2.5,"reasoning_max_steps":"8"}}`),
		post("/v2/agents", `{"id":"x","name":"x","template":"t","config":{"num_history_runs":101,"reasoning_min_steps":8,"reasoning_max_steps":2}}`),
		post("/v2/agents", `{"id":"x","name":"x","template":"t","tools":["nope"],"config":{"worker_config":{"tools":["EmailToolkit","send_sms"]}}}`),
		post("/v2/agents", `{"id":"x","name":"x","template":"t","config":{"worker_config":{"mcp_servers":["EmailToolkit","unknown",{"name":"docs","url":"https://evil.example/mcp"},{"command":"rm"},3]}}}`),
		post("/v2/agents", `{"id":"x","name":"x","template":"t","config":{"worker_config":{"mcp_servers":{"docs":{"command":"npx"},"other":{}}}}}`),
		post("/v2/agents", `{"id":"x","name":"x","template":"t","config":{"worker_config":"all"}}`),
		post("/v2/agents", `[{"id":"x"}]`),
		post("/v2/agents", `{"id":"x",`),
		post("/v2/agents", ``),
		get("/v2/agents"),
	}},
	{name: "delete", events: []string{evText}, steps: []step{
		post("/v2/agents", docCreate),
		{method: "POST", path: "/v2/agents/code-reviewer/chat", body: strings.Replace(chatBody(false, ""), "sess-abc123", "sess-review", 1)},
		{method: "DELETE", path: "/v2/agents/code-reviewer"},
		get("/v2/agents/code-reviewer"),
		get("/v2/agents"),
		post("/v2/agents/batch", `{"agent_ids":["code-reviewer"]}`),
		{method: "POST", path: "/v2/agents/code-reviewer/chat", body: chatBody(false, "")},
		{method: "DELETE", path: "/v2/agents/code-reviewer"},
		asB(step{method: "DELETE", path: "/v2/agents/code-reviewer"}),
		{method: "DELETE", path: "/v2/agents/assistant"},
		asB(step{method: "DELETE", path: "/v2/agents/secret-a"}),
		{method: "DELETE", path: "/v2/agents/nobody"},
		post("/v2/agents", docCreate),
		get("/v2/agents/code-reviewer"),
	}},
	{name: "chat", events: []string{evText}, steps: []step{createSupport, post(chatPath, docChat)}},
	{name: "chat_stream", events: []string{evText}, steps: []step{createSupport, post(chatPath, chatBody(true, ""))}},
	{name: "chat_stream_default", events: []string{evText}, steps: []step{createSupport,
		post(chatPath, `{"message":"Hi","user_id":"u","session_id":"s","timezone":"UTC","locale":"en"}`)}},
	{name: "chat_options", events: []string{evText}, steps: []step{createSupport,
		post(chatPath, chatBody(false, `"temperature": 0.2, "max_tokens": 256, "system_prompt": "Override for {{user_profile.email}} on {{current_date}} ({{agent_name}}), {{user_profile}}"`)),
		post("/v2/agents/assistant/chat", strings.Replace(chatBody(false, `"model": null, "tools": ["builtin"], "images": null, "user_profile": null`), "sess-abc123", "sess-2", 1)),
	}},
	{name: "chat_invalid", events: []string{evText}, steps: []step{createSupport,
		post(chatPath, `{}`),
		post(chatPath, `{"message":"  ","user_id":"","session_id":null,"timezone":"Mars/Olympus","locale":7}`),
		post(chatPath, `{"message":"Hi","user_id":"u","session_id":"s\u0000","timezone":"Local","locale":"en","stream":"yes","model":3,"temperature":2.5,"max_tokens":0}`),
		post(chatPath, `{"message":"Hi","user_id":"u","session_id":"s","timezone":"UTC","locale":"en","user_profile":"Jane","tenant_profile":[],"system_prompt":false,"tools":"EmailToolkit","images":{}}`),
		post(chatPath, `{"message":"Hi","user_id":"u","session_id":"s","timezone":"UTC","locale":"en","tools":["EmailToolkit","nope",1],"max_tokens":1.5}`),
		post(chatPath, `"Hi"`),
		post(chatPath, `{"message":"Hi"`),
		post("/v2/agents/nobody/chat", `{"message":"Hi","user_id":"u","session_id":"s","timezone":"UTC","locale":"en"}`),
		asB(post("/v2/agents/secret-a/chat", `{"message":"Hi","user_id":"u","session_id":"s","timezone":"UTC","locale":"en"}`)),
	}},
	{name: "chat_images", events: []string{evText}, steps: []step{createSupport,
		post(chatPath, `{"message":"What is in these?","stream":false,"user_id":"u","session_id":"s","timezone":"UTC","locale":"en","images":[`+
			`{"data":"`+pngB64+`","mime_type":"image/png"},{"data":"data:image/gif;base64,`+gifB64+`"},{"url":"data:image/jpg;base64,`+jpegB64+`"},`+
			`"data:image/png;base64,`+pngB64+`",{"data":"`+gifB64+`"}]}`),
		post(chatPath, `{"message":"Look","stream":false,"user_id":"u","session_id":"s","timezone":"UTC","locale":"en","images":[`+
			`{"url":"https://example.com/cat.png"},{"data":"%%%"},{"data":"`+pngB64+`","mime_type":"image/bmp"},{"data":"`+pngB64+`","mime_type":"image/gif"},`+
			`{"data":"aGVsbG8gd29ybGQ="},{},{"data":7},"data:text/plain;base64,aGVsbG8=",42,{"data":"data:image/png,raw"},{"data":""}]}`),
	}},
	{name: "history", events: []string{evText}, steps: []step{
		post("/v2/agents", `{"id":"short","name":"Short Memory","template":"t","config":{"num_history_runs":1}}`),
		post("/v2/agents", `{"id":"amnesiac","name":"Amnesiac","template":"t","config":{"enable_history":false}}`),
		post("/v2/agents/short/chat", `{"message":"one","stream":false,"user_id":"u","session_id":"s1","timezone":"UTC","locale":"en"}`),
		post("/v2/agents/short/chat", `{"message":"two","stream":false,"user_id":"u","session_id":"s1","timezone":"UTC","locale":"en"}`),
		post("/v2/agents/short/chat", `{"message":"three","stream":false,"user_id":"u","session_id":"s1","timezone":"UTC","locale":"en"}`),
		post("/v2/agents/amnesiac/chat", `{"message":"one","stream":false,"user_id":"u","session_id":"s2","timezone":"UTC","locale":"en"}`),
		post("/v2/agents/amnesiac/chat", `{"message":"two","stream":false,"user_id":"u","session_id":"s2","timezone":"UTC","locale":"en"}`),
		asB(post("/v2/agents/short/chat", `{"message":"other tenant","stream":false,"user_id":"u","session_id":"s1","timezone":"UTC","locale":"en"}`)),
		// short's session id is new to amnesiac: a session of its own.
		post("/v2/agents/amnesiac/chat", `{"message":"same id, another agent","stream":false,"user_id":"u","session_id":"s1","timezone":"UTC","locale":"en"}`),
	}},
	{name: "reasoning", events: []string{evThinking}, steps: []step{
		post("/v2/agents", docCreate),
		post("/v2/agents", `{"id":"plain","name":"Plain","template":"Think.","model":"nothink-1","config":{"enable_reasoning":true,"reasoning_min_steps":3,"reasoning_max_steps":5}}`),
		post("/v2/agents/code-reviewer/chat", `{"message":"Review this","stream":false,"user_id":"u","session_id":"s","timezone":"UTC","locale":"en"}`),
		post("/v2/agents/plain/chat", `{"message":"Why?","stream":false,"user_id":"u","session_id":"s2","timezone":"UTC","locale":"en"}`),
		post("/v2/agents/code-reviewer/chat", `{"message":"Review this","stream":false,"model":"nothink-2","user_id":"u","session_id":"s3","timezone":"UTC","locale":"en"}`),
	}},
	{name: "chat_tools", events: []string{evListEvents, evAfterTools}, steps: []step{createSupport,
		post(chatPath, chatBody(false, "")),
	}},
	{name: "chat_tools_stream", events: []string{evListEvents, evAfterTools}, steps: []step{createSupport,
		post(chatPath, chatBody(true, "")),
	}},
	{name: "paused_commit", events: []string{evSendEmail, evAfterTools}, steps: []step{createSupport,
		post(chatPath, docChat),
		post(commitPath, docCommit),
		post(commitPath, docCommit),
	}},
	{name: "paused_commit_stream", events: []string{evSendEmail, evAfterTools}, steps: []step{createSupport,
		post(chatPath, chatBody(true, "")),
		post(commitPath, commitBody(true, `[{"tool_call_id":"tc-001","confirmed":true,"tool_args":{"to":"jane@acme.com","subject":"Edited"}}]`)),
	}},
	{name: "paused_tools_request", events: []string{evSendEmail, evAfterTools}, steps: []step{
		post("/v2/agents", `{"id":"bare","name":"Bare","template":"No tools of my own."}`),
		post("/v2/agents/bare/chat", `{"message":"Mail Jane","stream":false,"user_id":"u","session_id":"s","timezone":"UTC","locale":"en","tools":["send_email"]}`),
		post("/v2/agents/bare/chat/commit", `{"run_id":"{run}","stream":false,"user_id":"u","session_id":"s","updated_tools":[{"tool_call_id":"tc-001","confirmed":true}]}`),
	}},
	// The document's cancel example as written (no stream) answers JSON.
	{name: "cancel", events: []string{evSendEmail, evAfterTools}, steps: []step{createSupport,
		post(chatPath, docChat),
		post(commitPath, docCancel),
	}},
	{name: "cancel_stream", events: []string{evSendEmail, evAfterTools}, steps: []step{createSupport,
		post(chatPath, docChat),
		post(commitPath, strings.Replace(docCancel, `"run_id"`, `"stream": true, "run_id"`, 1)),
	}},
	{name: "mixed_confirm", events: []string{evTwoConfirms, evAfterTools}, steps: []step{createSupport,
		post(chatPath, chatBody(false, "")),
		post(commitPath, commitBody(false, `[{"tool_call_id":"tc-002","confirmed":false},{"tool_call_id":"tc-001","confirmed":true,"tool_args":null}]`)),
	}},
	{name: "commit_errors", events: []string{evSendEmail, evAfterTools}, steps: []step{createSupport,
		post(chatPath, docChat),
		post(commitPath, `{}`),
		post(commitPath, `{"run_id":"{run}","user_id":"user-42","session_id":"sess-abc123","updated_tools":[{"confirmed":"yes","tool_args":"x"},3,{"tool_call_id":"tc-001"}],"stream":1}`),
		post(commitPath, commitBody(false, `[{"tool_call_id":"tc-001","confirmed":true},{"tool_call_id":"tc-001","confirmed":false}]`)),
		post(commitPath, commitBody(false, `[{"tool_call_id":"tc-999","confirmed":true}]`)),
		post(commitPath, commitBody(false, `[]`)),
		post(commitPath, strings.Replace(commitBody(false, `[{"tool_call_id":"tc-001","confirmed":true}]`), "sess-abc123", "sess-other", 1)),
		post(commitPath, strings.Replace(commitBody(false, `[{"tool_call_id":"tc-001","confirmed":true}]`), "{run}", "run-nosuchrun", 1)),
		asB(post(commitPath, commitBody(false, `[{"tool_call_id":"tc-001","confirmed":true}]`))),
		post("/v2/agents/assistant/chat/commit", commitBody(false, `[{"tool_call_id":"tc-001","confirmed":true}]`)),
		post("/v2/agents/nobody/chat/commit", commitBody(false, `[{"tool_call_id":"tc-001","confirmed":true}]`)),
		post(commitPath, commitBody(false, `[{"tool_call_id":"tc-001","confirmed":true}]`)),
		post(commitPath, commitBody(false, `[{"tool_call_id":"tc-001","confirmed":true}]`)),
		post(commitPath, commitBody(true, `[{"tool_call_id":"tc-001","confirmed":false}]`)),
	}},
	{name: "commit_expired", events: []string{evSendEmail, evAfterTools}, steps: []step{createSupport,
		post(chatPath, docChat),
		{method: "POST", path: commitPath, body: docCommit, advance: 2 * time.Hour},
	}},
	{name: "toolkit_run", steps: []step{
		createCalendar,
		get(docToolkit),
		get("/v2/agents/assistant/toolkit/run?toolkit_name=Typed&method_name=typed&i=42&n=2.5&b=yes&arr=1&arr=2&obj=%7B%22k%22%3A1%7D&s=12&opt=7&user_id=u1&session_id=s1"),
		get("/v2/agents/assistant/toolkit/run?toolkit_name=Typed&method_name=typed&i=1&arr=%5B3%2C%224%22%5D"),
		get("/v2/agents/assistant/toolkit/run?toolkit_name=Typed&method_name=open&n=1e3&free=text&free=more&session_id=s1"),
		get("/v2/agents/assistant/toolkit/run?toolkit_name=Typed&method_name=typed&i=x&n=nan&b=maybe&arr=1&arr=two&obj=%5B%5D&extra=1"),
		get("/v2/agents/assistant/toolkit/run?toolkit_name=Typed&method_name=typed"),
		get("/v2/agents/assistant/toolkit/run?toolkit_name=builtin&method_name=calculator&expression=sqrt(144)%2B56"),
		get("/v2/agents/assistant/toolkit/run?toolkit_name=Broken&method_name=explode"),
		get("/v2/agents/assistant/toolkit/run?toolkit_name=Broken&method_name=hang"),
		get("/v2/agents/assistant/toolkit/run?toolkit_name=EmailToolkit&method_name=send_email&to=jane@acme.com"),
		get("/v2/agents/assistant/toolkit/run?toolkit_name=Nope&method_name=x"),
		get("/v2/agents/assistant/toolkit/run?toolkit_name=CalendarToolkit&method_name=send_email"),
		get("/v2/agents/assistant/toolkit/run?method_name=list_events&toolkit_name="),
		get("/v2/agents/nobody/toolkit/run?toolkit_name=CalendarToolkit&method_name=list_events"),
		asB(get("/v2/agents/calendar-agent/toolkit/run?toolkit_name=CalendarToolkit&method_name=list_events")),
	}},
	{name: "upstream_down", events: []string{evUpstreamDown}, steps: []step{createSupport,
		post(chatPath, chatBody(false, "")),
		post(chatPath, chatBody(true, "")),
	}},
	{name: "midstream_error", events: []string{evMidstream}, steps: []step{createSupport,
		post(chatPath, chatBody(true, "")),
	}},
	// A paused run on an agent both tenants share: only the tenant that
	// paused it can see or commit it.
	{name: "commit_other_tenant", events: []string{evSendEmail, evAfterTools}, steps: []step{
		post("/v2/agents/assistant/chat", docChat),
		asB(post("/v2/agents/assistant/chat/commit", docCommit)),
		asB(post("/v2/agents/assistant/chat/commit", strings.Replace(docCancel, `"run_id"`, `"stream": false, "run_id"`, 1))),
		post("/v2/agents/assistant/chat/commit", docCommit),
	}},
}

// harness builds a case's runtime: the registry, the declared agents, a
// route to a model that cannot reason natively, and a clock the case can
// move.
type harness struct {
	*dialecttest.Harness
	hooks *webhooks
	mu    sync.Mutex
	now   time.Time
}

func newHarness(t *testing.T, scripts []string) *harness {
	t.Helper()
	script := &dialecttest.Script{}
	for _, s := range scripts {
		script.Events = append(script.Events, events(t, s))
	}
	if len(script.Events) == 0 {
		script.Events = [][]adapters.Event{events(t, evText)}
	}
	h := &harness{hooks: &webhooks{}, now: dialecttest.Clock}
	h.Harness = dialecttest.NewWith(t, Name, script, dialecttest.Options{
		Tools:        registry(t, h.hooks),
		Routes:       []models.Route{{Pattern: "nothink-*", Provider: "script", Lacks: models.Capabilities{Reasoning: true}}},
		PausedRunTTL: time.Hour,
		Now: func() time.Time {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.now
		},
	}, agents()...)
	return h
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

var runIDs = regexp.MustCompile(`"run_id":"(run-[a-z2-7]{26})"`)

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
			run := ""
			for i, s := range c.steps {
				if i > 0 {
					out.WriteString("\n")
				}
				if s.advance > 0 {
					h.advance(s.advance)
					fmt.Fprintf(&out, "--- %s later\n", s.advance)
				}
				s.body = strings.ReplaceAll(s.body, "{run}", run)
				rec := do(h, s)
				if m := runIDs.FindAllSubmatch(rec.Body.Bytes(), -1); len(m) > 0 {
					run = string(m[len(m)-1][1])
				}
				writeExchange(&out, s, rec)
			}
			dir := filepath.Join("testdata", c.name)
			dialecttest.Golden(t, filepath.Join(dir, "response.golden"), out.Bytes())
			reqs := h.Script.Requests()
			up := []byte("null")
			if len(reqs) > 0 {
				up, _ = json.MarshalIndent(reqs, "", "  ")
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

func do(h *harness, s step) *httptest.ResponseRecorder {
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
		if len(body) > 400 {
			body = body[:400] + fmt.Sprintf("… (%d bytes)", len(s.body))
		}
		out.WriteString(body + "\n")
	}
	fmt.Fprintf(out, "<<< %d\n", rec.Code)
	hdrs := []string{"Content-Type", "Retry-After", "Cache-Control"}
	sort.Strings(hdrs)
	for _, k := range hdrs {
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
		adapters.BadField("images[1]", "image data is not valid base64"),
		{Kind: adapters.KindInvalidRequest, Code: "unknown_tool", Param: "tools", Message: "unknown tool \"x\""},
		{Kind: adapters.KindInvalidRequest, Code: "missing_decision", Param: "updated_tools", Message: "tool call 'tc-1' (send_email) needs a decision"},
		adapters.NotActive(&adapters.Agent{ID: "a", Status: adapters.StatusDraft}, "agent"),
		{Kind: adapters.KindInvalidRequest, Code: "invalid_json", Message: "malformed JSON"},
		{Kind: adapters.KindUnauthenticated, Code: "missing_api_key", Message: "missing API key: send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"},
		{Kind: adapters.KindUnauthenticated, Code: "invalid_api_key", Message: "invalid API key"},
		{Kind: adapters.KindForbidden, Message: "agent 'a' is declared in the gateway's configuration and cannot be deleted"},
		notFound("customer-support"),
		{Kind: adapters.KindNotFound, Code: "run_expired", Param: "run_id", Message: "run 'run-x' expired at 2026-11-22T11:30:00Z"},
		{Kind: adapters.KindConflict, Code: "run_not_paused", Param: "run_id", Message: "run 'run-x' was committed already"},
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
		want := e.Status()
		if e.Kind == adapters.KindInvalidRequest && e.Code != "agent_not_active" {
			want = http.StatusUnprocessableEntity
		}
		if rec.Code != want || rec.Header().Get("Content-Type") != "application/json" || !json.Valid(rec.Body.Bytes()) {
			t.Errorf("%v: status %d, content type %q, body %s", e, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
		}
	}
	dialecttest.Golden(t, "testdata/errors/response.golden", out.Bytes())
}
