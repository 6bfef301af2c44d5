package responses

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/internal/dialecttest"
	"github.com/tidwall/gjson"
)

// Scripted upstream answers, as JSON lines of canonical events.
const (
	evText = `{"type":"start","model":"gpt-4o-2026-01-01"}
{"type":"delta","text":"To reset your password, "}
{"type":"delta","text":"go to Settings > Security."}
{"type":"usage","usage":{"input_tokens":12,"output_tokens":45}}
{"type":"done","model":"gpt-4o-2026-01-01","finish_reason":"stop"}`
	evThinking = `{"type":"start","model":"o-test-0001"}
{"type":"thinking","text":"144 has root 12."}
{"type":"thinking","text":"","signature":"sig-1"}
{"type":"thinking","text":" 12 + 56 = 68."}
{"type":"delta","text":"The answer is 68."}
{"type":"usage","usage":{"input_tokens":20,"output_tokens":30,"reasoning_tokens":24,"cached_tokens":8}}
{"type":"done","model":"o-test-0001","finish_reason":"stop"}`
	evToolCall = `{"type":"start","model":"gpt-4o-2026-01-01"}
{"type":"delta","text":"Let me check."}
{"type":"tool_call","tool_call":{"id":"call_w1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}
{"type":"tool_call","tool_call":{"id":"call_t1","name":"get_time","arguments":"{}"}}
{"type":"usage","usage":{"input_tokens":30,"output_tokens":9}}
{"type":"done","model":"gpt-4o-2026-01-01","finish_reason":"tool_calls"}`
	// Tool calls as a provider that streams them sends them: deltas as
	// they arrive, then each call whole.
	evToolCallDeltas = `{"type":"start","model":"gpt-4o-2026-01-01"}
{"type":"delta","text":"Let me check."}
{"type":"tool_call_delta","tool_call":{"id":"call_w1","name":"get_weather","arguments":""}}
{"type":"tool_call_delta","tool_call":{"id":"call_w1","arguments":"{\"city\":"}}
{"type":"tool_call_delta","tool_call":{"id":"call_t1","name":"get_time","arguments":"{}"}}
{"type":"tool_call_delta","tool_call":{"id":"call_w1","arguments":"\"Paris\"}"}}
{"type":"tool_call","tool_call":{"id":"call_w1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}
{"type":"tool_call","tool_call":{"id":"call_t1","name":"get_time","arguments":"{}"}}
{"type":"usage","usage":{"input_tokens":30,"output_tokens":9}}
{"type":"done","model":"gpt-4o-2026-01-01","finish_reason":"tool_calls"}`
	evAfterTool = `{"type":"start","model":"gpt-4o-2026-01-01"}
{"type":"delta","text":"It is 21°C in Paris at noon."}
{"type":"usage","usage":{"input_tokens":52,"output_tokens":10}}
{"type":"done","model":"gpt-4o-2026-01-01","finish_reason":"stop"}`
	evLength = `{"type":"start","model":"gpt-4o-2026-01-01"}
{"type":"delta","text":"Once upon a"}
{"type":"usage","usage":{"input_tokens":5,"output_tokens":3}}
{"type":"done","model":"gpt-4o-2026-01-01","finish_reason":"length"}`
	evEmpty = `{"type":"start","model":"gpt-4o-2026-01-01"}
{"type":"usage","usage":{"input_tokens":5,"output_tokens":0}}
{"type":"done","model":"gpt-4o-2026-01-01","finish_reason":"stop"}`
	evTurn1 = `{"type":"start","model":"gpt-4o-2026-01-01"}
{"type":"delta","text":"Nice to meet you, Ada."}
{"type":"usage","usage":{"input_tokens":15,"output_tokens":6}}
{"type":"done","finish_reason":"stop"}`
	evTurn2 = `{"type":"start","model":"gpt-4o-2026-01-01"}
{"type":"delta","text":"Your name is Ada."}
{"type":"usage","usage":{"input_tokens":31,"output_tokens":5}}
{"type":"done","finish_reason":"stop"}`
	evUpstreamDown = `{"type":"error","error":{"kind":10,"message":"upstream unavailable: connection refused","code":"upstream_unavailable"}}`
	evRateLimited  = `{"type":"error","error":{"kind":7,"message":"upstream rate limit reached","code":"rate_limit_exceeded","retry_after":1500000000}}`
	evMidstream    = `{"type":"start","model":"gpt-4o-2026-01-01"}
{"type":"delta","text":"Hel"}
{"type":"error","error":{"kind":9,"message":"upstream connection lost","code":"upstream_error"}}`
)

// A tiny PNG for image inputs.
const pngURL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAAEElEQVR4nGI6IScHCAAA//8CvgEHAOBnOAAAAABJRU5ErkJggg=="

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

func ptr[T any](v T) *T { return &v }

// agents are the declared agents of every case: the document's
// support-bot, a reasoning agent, and one private to tenant-a.
func agents() []*adapters.Agent {
	created := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	return []*adapters.Agent{
		{ID: "support-bot", Name: "Support Bot", Description: "Customer support agent", SystemPrompt: "You are the support bot.",
			Model: "gpt-4o", Status: adapters.StatusActive, CreatedAt: created,
			Sampling: adapters.Sampling{Temperature: ptr(0.7), TopP: ptr(1.0), MaxTokens: ptr(4096)}},
		{ID: "thinker", Name: "Thinker", SystemPrompt: "Think first.", Model: "o-test", Reasoning: true, ReasoningEffort: "high", CreatedAt: created},
		{ID: "secret-a", Name: "Secret A", Tenant: "tenant-a", Model: "gpt-4o", CreatedAt: created},
	}
}

// step is one request of a case; tenant "b" uses tenant B's key. $ID in
// path or body is the id of the last response the case received.
type step struct {
	method, path, tenant, body string
}

func post(body string) step { return step{method: "POST", path: Prefix + "/responses", body: body} }
func get(path string) step  { return step{method: "GET", path: path} }
func asB(s step) step       { s.tenant = "b"; return s }

type goldenCase struct {
	name   string
	events []string // one script per upstream call; the last repeats
	setup  func(*testing.T, *dialecttest.Harness)
	steps  []step
}

var goldenCases = []goldenCase{
	// The document's examples, as written.
	{name: "doc_examples", events: []string{evText}, setup: publish("support-bot", 1), steps: []step{
		get(Prefix + "/agents"),
		get(Prefix + "/agents/support-bot"),
		post(`{"model":"support-bot","input":"How do I reset my password?","previous_response_id":null,"version":1}`),
		post(`{"model":"support-bot","input":"Hello, I need help"}`),
		post(`{"model":"support-bot","input":[{"role":"user","content":"Hello, I need help"}]}`),
		post(`{"model":"support-bot","input":[{"role":"user","content":[{"type":"input_text","text":"Hello, I need help"}]}]}`),
		post(`{"model":"support-bot","input":"Can you elaborate on the security settings?","previous_response_id":"$ID"}`),
		{method: "POST", path: Prefix + "/agents/responses", body: `{"model":"support-bot","input":"Hello, I need help"}`},
	}},
	{name: "text_stream", events: []string{evText}, steps: []step{
		post(`{"model":"support-bot","input":"How do I reset my password?","stream":true}`),
	}},
	{name: "v1_responses", events: []string{evText}, steps: []step{
		{method: "POST", path: "/v1/responses", body: `{"model":"support-bot","input":"Hi","store":false}`},
		{method: "GET", path: "/v1/responses/$ID"},
	}},
	{name: "agents", setup: seedAgents, steps: []step{
		get(Prefix + "/agents"),
		get(Prefix + "/agents?status=active"),
		get(Prefix + "/agents?status=draft"),
		get(Prefix + "/agents?status=inactive"),
		get(Prefix + "/agents?status=archived"),
		get(Prefix + "/agents/drafty"),
		get(Prefix + "/agents/Support%20Bot"),
		get(Prefix + "/agents/nobody"),
		asB(get(Prefix + "/agents")),
		asB(get(Prefix + "/agents/secret-a")),
		asB(get(Prefix + "/agents/drafty")),
		get(Prefix + "/models"),
		get(Prefix + "/models/thinker"),
		asB(get(Prefix + "/models/secret-a")),
	}},
	{name: "reasoning", events: []string{evThinking}, steps: []step{
		post(`{"model":"thinker","input":"Compute the square root of 144 plus 56"}`),
		post(`{"model":"thinker","input":"Compute the square root of 144 plus 56","stream":true}`),
	}},
	{name: "reasoning_summary", events: []string{evThinking}, steps: []step{
		post(`{"model":"support-bot","input":"Compute","reasoning":{"effort":"low","summary":"auto"}}`),
		post(`{"model":"support-bot","input":"Compute","reasoning":{"effort":"low","summary":"auto"},"stream":true}`),
		post(`{"model":"thinker","input":"Compute","reasoning":{"effort":"none"}}`),
	}},
	{name: "function_calls", events: []string{evToolCall, evAfterTool, evToolCall, evAfterTool}, steps: []step{
		post(`{"model":"support-bot","input":"Weather and time in Paris?","tools":[` + weatherTool + `,` + timeTool + `],"tool_choice":"auto","parallel_tool_calls":true}`),
		post(`{"model":"support-bot","previous_response_id":"$ID","tools":[` + weatherTool + `,` + timeTool + `],"input":[` +
			`{"type":"function_call_output","call_id":"call_w1","output":"{\"temp\":21}"},` +
			`{"type":"function_call_output","call_id":"call_t1","output":[{"type":"input_text","text":"12:00"}]}]}`),
		post(`{"model":"support-bot","input":"Weather and time in Paris?","tools":[` + weatherTool + `,` + timeTool + `],"stream":true}`),
		post(`{"model":"support-bot","previous_response_id":"$ID","input":[{"type":"function_call_output","call_id":"call_w1","output":"{\"temp\":21}"},{"type":"function_call_output","call_id":"call_t1","output":"12:00"}],"stream":true}`),
	}},
	{name: "function_call_deltas", events: []string{evToolCallDeltas, evToolCallDeltas}, steps: []step{
		post(`{"model":"support-bot","input":"Weather and time in Paris?","tools":[` + weatherTool + `,` + timeTool + `],"stream":true}`),
		post(`{"model":"support-bot","input":"Weather and time in Paris?","tools":[` + weatherTool + `,` + timeTool + `]}`),
	}},
	{name: "function_call_errors", events: []string{evToolCall}, steps: []step{
		post(`{"model":"support-bot","input":"Weather?","tools":[` + weatherTool + `]}`),
		post(`{"model":"support-bot","previous_response_id":"$ID","input":"Never mind."}`),
		post(`{"model":"support-bot","previous_response_id":"$ID","input":[{"type":"function_call_output","call_id":"call_w1","output":"x"}]}`),
		post(`{"model":"support-bot","previous_response_id":"$ID","input":[{"type":"function_call_output","call_id":"call_zz","output":"x"}]}`),
		post(`{"model":"support-bot","input":[{"type":"function_call_output","call_id":"call_w1","output":"x"}]}`),
	}},
	{name: "replayed_items", events: []string{evAfterTool}, steps: []step{
		// A stateless client replays the whole conversation.
		post(`{"model":"support-bot","input":[` +
			`{"role":"developer","content":"Answer briefly."},` +
			`{"type":"message","role":"user","content":[{"type":"input_text","text":"Weather in Paris?"}]},` +
			`{"type":"reasoning","id":"rs_1","summary":[]},` +
			`{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Let me check.","annotations":[]}]},` +
			`{"type":"function_call","id":"fc_1","call_id":"call_w1","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"},` +
			`{"type":"function_call_output","call_id":"call_w1","output":"{\"temp\":21}"}]}`),
	}},
	{name: "request_settings", events: []string{evText}, steps: []step{
		post(`{"model":"support-bot","input":"Give JSON","instructions":"Answer in JSON.","temperature":0.2,"top_p":0.9,"max_output_tokens":256,` +
			`"text":{"format":{"type":"json_schema","name":"answer","schema":{"type":"object","properties":{"a":{"type":"string"}}},"strict":true}},` +
			`"tool_choice":{"type":"function","name":"get_weather"},"tools":[` + weatherTool + `],"user":"u-1","metadata":{"ticket":"42"},"include":["reasoning.encrypted_content"],"truncation":"auto"}`),
		post(`{"model":"support-bot","input":"Give JSON","text":{"format":{"type":"json_object"}}}`),
		// instructions are not carried over to the next turn.
		post(`{"model":"support-bot","input":"And again","previous_response_id":"$ID"}`),
	}},
	{name: "images", events: []string{evText}, steps: []step{
		post(`{"model":"support-bot","input":[{"role":"user","content":[{"type":"input_text","text":"What is in these?"},` +
			`{"type":"input_image","image_url":"` + pngURL + `"},{"type":"input_image","image_url":"https://example.com/cat.png","detail":"low"}]}]}`),
		post(`{"model":"support-bot","input":[{"role":"user","content":[{"type":"input_image","image_url":"http://example.com/cat.png"}]}]}`),
		post(`{"model":"support-bot","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,aGVsbG8="}]}]}`),
		post(`{"model":"support-bot","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1"}]}]}`),
		post(`{"model":"support-bot","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/bmp;base64,Qk0="}]}]}`),
		post(`{"model":"support-bot","input":[{"role":"assistant","content":[{"type":"input_image","image_url":"` + pngURL + `"}]}]}`),
	}},
	{name: "incomplete", events: []string{evLength, evEmpty}, steps: []step{
		post(`{"model":"support-bot","input":"Tell a story","max_output_tokens":3}`),
		post(`{"model":"support-bot","input":"Tell a story","max_output_tokens":3,"stream":true}`),
	}},
	{name: "empty_answer", events: []string{evEmpty}, steps: []step{
		post(`{"model":"support-bot","input":"Say nothing"}`),
		post(`{"model":"support-bot","input":"Say nothing","stream":true}`),
	}},
	{name: "conversation", events: []string{evTurn1, evTurn2, evTurn2}, steps: []step{
		post(`{"model":"support-bot","input":"My name is Ada."}`),
		post(`{"model":"support-bot","input":"What is my name?","previous_response_id":"$ID","stream":true}`),
		get(Prefix + "/responses/$ID"),
		asB(get(Prefix + "/responses/$ID")),
		asB(post(`{"model":"support-bot","input":"What is my name?","previous_response_id":"$ID"}`)),
		post(`{"model":"thinker","input":"What is my name?","previous_response_id":"$ID"}`),
		post(`{"model":"support-bot","input":"Hi","previous_response_id":"resp_nothing"}`),
		post(`{"model":"support-bot","input":"Hi","previous_response_id":"conv_nothing"}`),
		get(Prefix + "/responses/resp_nothing"),
		get(Prefix + "/responses/nothing"),
	}},
	// Every response a node: branches from one response never see each
	// other; an earlier response is retrieved as answered; input items
	// are its context and its input; deleting one.
	{name: "tree", events: []string{evTurn1, evTurn2}, steps: []step{
		post(`{"model":"support-bot","input":"My name is Ada."}`),
		post(`{"model":"support-bot","input":"I like apples.","previous_response_id":"$FIRST"}`),
		post(`{"model":"support-bot","input":"What do I like?","previous_response_id":"$ID"}`),
		post(`{"model":"support-bot","input":"I like bananas.","previous_response_id":"$FIRST"}`),
		post(`{"model":"support-bot","input":"What do I like?","previous_response_id":"$ID"}`),
		get(Prefix + "/responses/$FIRST"),
		get(Prefix + "/responses/$ID/input_items"),
		get(Prefix + "/responses/$ID/input_items?order=asc&limit=2"),
		get("/v1/responses/$ID/input_items?order=asc&limit=2&after=$ITEM"),
		get(Prefix + "/responses/$ID/input_items?order=sideways"),
		get(Prefix + "/responses/$ID/input_items?limit=101"),
		asB(get(Prefix + "/responses/$ID/input_items")),
		asB(step{method: "DELETE", path: "/v1/responses/$FIRST"}),
		{method: "DELETE", path: "/v1/responses/$FIRST"},
		get(Prefix + "/responses/$FIRST"),
		{method: "DELETE", path: "/v1/responses/$FIRST"},
		post(`{"model":"support-bot","input":"Gone?","previous_response_id":"$ID","store":false}`),
		get(Prefix + "/responses/$ID"),
	}},
	// The Conversations API and responses answered in a conversation.
	{name: "conversations_api", events: []string{evTurn2}, steps: []step{
		{method: "POST", path: "/v1/conversations", body: `{"items":[{"role":"user","content":"My name is Ada."},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Noted."}]}],"metadata":{"topic":"names"}}`},
		get("/v1/conversations/$CONV"),
		{method: "POST", path: "/v1/conversations/$CONV", body: `{"metadata":{"topic":"people"}}`},
		post(`{"model":"support-bot","input":"What is my name?","conversation":"$CONV"}`),
		post(`{"model":"support-bot","input":"And again?","conversation":{"id":"$CONV"},"stream":true}`),
		get("/v1/conversations/$CONV/items?order=asc"),
		{method: "POST", path: "/v1/conversations/$CONV/items", body: `{"items":[{"type":"function_call_output","call_id":"c1","output":"x"}]}`},
		get("/v1/conversations/$CONV/items/$ITEM"),
		{method: "DELETE", path: "/v1/conversations/$CONV/items/$ITEM"},
		get("/v1/conversations/$CONV/items/$ITEM"),
		post(`{"model":"support-bot","input":"Branch","previous_response_id":"resp_$CONV"}`),
		get("/v1/conversations/$CONV/items?limit=2"),
		asB(get("/v1/conversations/$CONV")),
		asB(get("/v1/conversations/$CONV/items")),
		asB(post(`{"model":"support-bot","input":"x","conversation":"$CONV"}`)),
		{method: "POST", path: "/v1/conversations/$CONV/items", body: `{"items":[]}`},
		{method: "POST", path: "/v1/conversations/$CONV/items", body: `{"items":[{"role":"robot","content":"x"}]}`},
		{method: "POST", path: "/v1/conversations", body: `{"metadata":{"a":1}}`},
		{method: "POST", path: "/v1/conversations/$CONV", body: `{}`},
		post(`{"model":"support-bot","input":"x","conversation":"conv_nothing"}`),
		post(`{"model":"support-bot","input":"x","conversation":"$CONV","previous_response_id":"$ID"}`),
		{method: "DELETE", path: "/v1/conversations/$CONV"},
		get("/v1/conversations/$CONV"),
		{method: "DELETE", path: "/v1/conversations/$CONV"},
	}},
	{name: "versions", events: []string{evText}, setup: seedAgents, steps: []step{
		get(Prefix + "/agents/support-bot/versions"),
		post(`{"model":"support-bot","input":"Hi","version":1}`),
		{method: "POST", path: Prefix + "/agents/support-bot/versions", body: "{}"},
		{method: "POST", path: Prefix + "/agents/support-bot/versions", body: "{}"},
		{method: "POST", path: Prefix + "/agents/support-bot/versions"},
		get(Prefix + "/agents/support-bot/versions"),
		get(Prefix + "/agents/support-bot/versions/2"),
		get(Prefix + "/agents/support-bot/versions/7"),
		get(Prefix + "/agents/support-bot/versions/0"),
		get(Prefix + "/agents/support-bot/versions/x"),
		post(`{"model":"support-bot","input":"Hi","version":1}`),
		post(`{"model":"support-bot","input":"Hi"}`),
		post(`{"model":"support-bot","input":"Hi","version":7}`),
		post(`{"model":"support-bot","input":"Hi","version":0}`),
		post(`{"model":"support-bot","input":"Hi","version":-1}`),
		post(`{"model":"support-bot","input":"Hi","version":1.5}`),
		post(`{"model":"support-bot","input":"Hi","version":"1"}`),
		post(`{"model":"gpt-4o","input":"Hi","version":1}`),
		asB(get(Prefix + "/agents/support-bot/versions")),
		asB(post(`{"model":"support-bot","input":"Hi","version":1}`)),
		asB(step{method: "POST", path: Prefix + "/agents/secret-a/versions", body: "{}"}),
		{method: "POST", path: Prefix + "/agents/drafty/versions", body: "{}"},
	}},
	// The working copy changes between publishes: requests get the latest
	// published version unless they pin one, and a conversation keeps its
	// version unless a request names another.
	{name: "version_pinning", events: []string{evText}, setup: editions, steps: []step{
		post(`{"model":"editable","input":"Which version?"}`),
		post(`{"model":"editable","input":"Which version?","version":1}`),
		post(`{"model":"editable","input":"And now?","previous_response_id":"$ID"}`),
		post(`{"model":"editable","input":"And now?","previous_response_id":"$ID","version":2}`),
		post(`{"model":"editable","input":"And now?","previous_response_id":"$ID"}`),
		get(Prefix + "/agents/editable"),
		get(Prefix + "/agents/editable/versions"),
	}},
	{name: "passthrough", events: []string{evText}, steps: []step{
		post(`{"model":"gpt-4o-mini","input":"Hi","instructions":"Be brief."}`),
		post(`{"model":"gpt-4o-mini","input":"Again","previous_response_id":"$ID"}`),
		post(`{"model":"claude-x","input":"Hi"}`),
	}},
	{name: "not_active", events: []string{evText}, setup: seedAgents, steps: []step{
		post(`{"model":"drafty","input":"Hi"}`),
		post(`{"model":"sleepy","input":"Hi","stream":true}`),
		post(`{"model":"nobody","input":"Hi"}`),
		asB(post(`{"model":"secret-a","input":"Hi"}`)),
		asB(post(`{"model":"drafty","input":"Hi"}`)),
	}},
	{name: "upstream_down", events: []string{evUpstreamDown}, steps: []step{
		post(`{"model":"support-bot","input":"Hi"}`),
		post(`{"model":"support-bot","input":"Hi","stream":true}`),
	}},
	{name: "upstream_rate_limited", events: []string{evRateLimited}, steps: []step{
		post(`{"model":"support-bot","input":"Hi","stream":true}`),
	}},
	{name: "midstream_error", events: []string{evMidstream, evText}, steps: []step{
		post(`{"model":"support-bot","input":"Hi","stream":true}`),
		// A failed response is kept as failed; what continues it sees its
		// input, not the answer cut short.
		get(Prefix + "/responses/$ID"),
		post(`{"model":"support-bot","input":"Hi","previous_response_id":"$ID"}`),
	}},
	{name: "bad_requests", events: []string{evText}, setup: func(_ *testing.T, h *dialecttest.Harness) { h.Env.Limits.MaxBodyBytes = 2048 }, steps: []step{
		post(`{"model":"support-bot",`),
		post(`[1,2]`),
		post(``),
		post(`{"input":"Hi"}`),
		post(`{"model":"","input":"Hi"}`),
		post(`{"model":7,"input":"Hi"}`),
		post(`{"model":"support-bot"}`),
		post(`{"model":"support-bot","input":null}`),
		post(`{"model":"support-bot","input":""}`),
		post(`{"model":"support-bot","input":[]}`),
		post(`{"model":"support-bot","input":42}`),
		post(`{"model":"support-bot","input":[{"content":"Hi"}]}`),
		post(`{"model":"support-bot","input":[{"role":"wizard","content":"Hi"}]}`),
		post(`{"model":"support-bot","input":[{"role":"user"}]}`),
		post(`{"model":"support-bot","input":[{"role":"user","content":[{"type":"video"}]}]}`),
		post(`{"model":"support-bot","input":[{"role":"user","content":[{"type":"input_text"}]}]}`),
		post(`{"model":"support-bot","input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]}`),
		post(`{"model":"support-bot","input":[{"type":"item_reference","id":"x"}]}`),
		post(`{"model":"support-bot","input":[{"type":"function_call","name":"f"}]}`),
		post(`{"model":"support-bot","input":"Hi","temperature":3}`),
		post(`{"model":"support-bot","input":"Hi","top_p":-1}`),
		post(`{"model":"support-bot","input":"Hi","max_output_tokens":0}`),
		post(`{"model":"support-bot","input":"Hi","stream":"yes"}`),
		post(`{"model":"support-bot","input":"Hi","tools":[{"type":"web_search"}]}`),
		post(`{"model":"support-bot","input":"Hi","tools":[{"type":"function"}]}`),
		post(`{"model":"support-bot","input":"Hi","tool_choice":"sometimes"}`),
		post(`{"model":"support-bot","input":"Hi","text":{"format":{"type":"json_schema"}}}`),
		post(`{"model":"support-bot","input":"Hi","text":{"format":{"type":"yaml"}}}`),
		post(`{"model":"support-bot","input":"Hi","reasoning":{"effort":"extreme"}}`),
		post(`{"model":"support-bot","input":"Hi","background":true}`),
		post(`{"model":"support-bot","input":"Hi","conversation":"conv_1"}`),
		post(`{"model":"support-bot","input":"Hi","store":false,"previous_response_id":"resp_x"}`),
		post(`{"model":"support-bot","input":"Hi","metadata":[1]}`),
		post(`{"model":"support-bot","input":"` + strings.Repeat("x", 2048) + `"}`),
	}},
}

const (
	weatherTool = `{"type":"function","name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"strict":true}`
	timeTool    = `{"type":"function","name":"get_time","parameters":{"type":"object","properties":{}}}`
)

// publish publishes n versions of agent for tenant-a before the case.
func publish(agent string, n int) func(*testing.T, *dialecttest.Harness) {
	return func(t *testing.T, h *dialecttest.Harness) {
		for range n {
			if _, err := h.Engine.Agents().PublishVersion(t.Context(), dialecttest.TenantA.Tenant, agent); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// editions stores tenant-a's agent "editable", publishes it twice with
// different settings, then edits its working copy again.
func editions(t *testing.T, h *dialecttest.Harness) {
	a := &adapters.Agent{ID: "editable", Tenant: "tenant-a", Name: "Editable", Model: "gpt-4o", Provider: "script",
		SystemPrompt: "Prompt of version 1.", Sampling: adapters.Sampling{Temperature: ptr(0.1)},
		CreatedAt: dialecttest.Clock.Add(-time.Hour), UpdatedAt: dialecttest.Clock.Add(-time.Hour)}
	ctx := t.Context()
	if err := h.Store.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	for _, edit := range []func(){
		func() { a.SystemPrompt, a.Sampling.Temperature = "Prompt of version 2.", ptr(0.2) },
		func() {
			a.SystemPrompt, a.Sampling.Temperature, a.Model = "Unpublished prompt.", ptr(0.9), "gpt-4o-mini"
		},
	} {
		if _, err := h.Engine.Agents().PublishVersion(ctx, "tenant-a", "editable"); err != nil {
			t.Fatal(err)
		}
		edit()
		if err := h.Store.UpdateAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
		// Written past the registry, as another instance would: the
		// store's change feed would tell it.
		h.Engine.Agents().Invalidate("tenant-a")
	}
}

// seedAgents stores tenant-a's draft and inactive agents.
func seedAgents(t *testing.T, h *dialecttest.Harness) {
	for _, a := range []*adapters.Agent{
		{ID: "drafty", Tenant: "tenant-a", Name: "Draft Helper", Description: "Not published yet", Model: "gpt-4o",
			Provider: "script", Status: adapters.StatusDraft},
		{ID: "sleepy", Tenant: "tenant-a", Name: "Sleepy", Model: "gpt-4o", Provider: "script", Status: adapters.StatusInactive},
	} {
		a.CreatedAt, a.UpdatedAt = dialecttest.Clock.Add(-time.Hour), dialecttest.Clock.Add(-time.Hour)
		if err := h.Store.CreateAgent(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
}

func newHarness(t *testing.T, scripts []string) *dialecttest.Harness {
	t.Helper()
	script := &dialecttest.Script{}
	for _, s := range scripts {
		script.Events = append(script.Events, events(t, s))
	}
	if len(script.Events) == 0 {
		script.Events = [][]adapters.Event{events(t, evText)}
	}
	return dialecttest.NewWith(t, Name, script, dialecttest.Options{
		Routes: []models.Route{{Pattern: "gpt-*", Provider: "script"}, {Pattern: "o-*", Provider: "script"}},
	}, agents()...)
}

// generated matches the ids the dialect makes (dialecttest.Normalize
// knows the others).
var generated = regexp.MustCompile(`\b(resp_conv_|conv_|msg_|rs_|fc_|fco_)[a-z2-7]{26}\b`)

// normalize numbers the generated ids by first appearance (resp_conv_ID1,
// msg_ID2, …), so a golden file shows which are the same.
func normalize(b []byte) []byte {
	seen := map[string]string{}
	return generated.ReplaceAllFunc(b, func(id []byte) []byte {
		if n, ok := seen[string(id)]; ok {
			return []byte(n)
		}
		prefix := generated.FindSubmatch(id)[1]
		n := string(prefix) + "ID" + strconv.Itoa(len(seen)+1)
		seen[string(id)] = n
		return []byte(n)
	})
}

// TestGolden runs each case's requests in order and compares what the
// client got (testdata/<case>/response.golden) and what the scripted
// provider was sent (upstream.golden.json) with the golden files. Run
// with -update to rewrite them.
func TestGolden(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range goldenCases {
		if seen[c.name] {
			t.Fatalf("duplicate case %s", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.events)
			if c.setup != nil {
				c.setup(t, h)
			}
			var out bytes.Buffer
			// $ID is the last response made, $FIRST the first, $CONV the last
			// conversation's id, $ITEM the first item of the last list.
			vars := map[string]string{}
			for i, s := range c.steps {
				if i > 0 {
					out.WriteString("\n")
				}
				for _, v := range []string{"$FIRST", "$ID", "$CONV", "$ITEM"} {
					s.path = strings.ReplaceAll(s.path, v, vars[v])
					s.body = strings.ReplaceAll(s.body, v, vars[v])
				}
				rec := do(h, s)
				writeExchange(&out, s, rec)
				body := rec.Body.Bytes()
				if id := responseID(body); id != "" && s.method == "POST" {
					vars["$ID"] = id
					if vars["$FIRST"] == "" {
						vars["$FIRST"] = id
					}
				}
				if gjson.GetBytes(body, "object").Str == "conversation" {
					vars["$CONV"] = gjson.GetBytes(body, "id").Str
				}
				if id := gjson.GetBytes(body, "data.0.id").Str; gjson.GetBytes(body, "object").Str == "list" && id != "" {
					vars["$ITEM"] = id
				}
			}
			dir := filepath.Join("testdata", c.name)
			dialecttest.Golden(t, filepath.Join(dir, "response.golden"), normalize(out.Bytes()))
			reqs := h.Script.Requests()
			up := []byte("null")
			if len(reqs) > 0 {
				up, _ = json.MarshalIndent(reqs, "", "  ")
			}
			dialecttest.Golden(t, filepath.Join(dir, "upstream.golden.json"), normalize(append(up, '\n')))
		})
	}
	dirs, _ := filepath.Glob("testdata/*/response.golden")
	for _, d := range dirs {
		if name := filepath.Base(filepath.Dir(d)); !seen[name] && name != "errors" {
			t.Errorf("testdata/%s belongs to no case", name)
		}
	}
}

// responseID is the id of a response object, or of the one a stream
// created.
func responseID(body []byte) string {
	if id := gjson.GetBytes(body, "id").Str; strings.HasPrefix(id, idPrefix) {
		return id
	}
	for _, line := range strings.Split(string(body), "\n") {
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			if id := gjson.Get(data, "response.id").Str; id != "" {
				return id
			}
		}
	}
	return ""
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
		if len(body) > 300 {
			body = body[:300] + fmt.Sprintf("… (%d bytes)", len(s.body))
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
// including those only the Caddy handler raises (401, 429 from limits).
func TestGoldenErrors(t *testing.T) {
	d := &Dialect{}
	errs := []*adapters.Error{
		adapters.BadField("input", "is required"),
		{Kind: adapters.KindUnauthenticated, Code: "missing_api_key", Message: "missing API key"},
		{Kind: adapters.KindUnauthenticated, Code: "invalid_api_key", Message: "invalid API key"},
		{Kind: adapters.KindForbidden, Code: "model_not_allowed", Param: "model", Message: "tier 'free' may not call model 'gpt-4o' directly"},
		{Kind: adapters.KindNotFound, Code: "previous_response_not_found", Param: "previous_response_id", Message: "Previous response with id 'resp_x' not found."},
		{Kind: adapters.KindTooLarge, Code: "request_too_large", Message: "request body is larger than the limit of 1024 bytes"},
		{Kind: adapters.KindRateLimited, Reason: "requests", Message: "rate limit of 20 requests per minute reached", RetryAfter: 1500 * time.Millisecond},
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
		if rec.Header().Get("Content-Type") != "application/json" || !json.Valid(rec.Body.Bytes()) {
			t.Errorf("%v: content type %q, body %s", e, rec.Header().Get("Content-Type"), rec.Body.Bytes())
		}
		if s := rec.Code; s != 400 && s != 401 && s != 403 && s != 404 && s != 413 && s != 429 && s != 500 {
			t.Errorf("%v: status %d is not in the document's table (or a limit's)", e, s)
		}
	}
	dialecttest.Golden(t, "testdata/errors/response.golden", out.Bytes())
}
