package e2e

// The repository's example Caddyfile, started as `./xcaddy.sh run` starts
// it (its addresses, data directory, upstreams and webhooks from the
// environment), serves every example of the five API documents as
// written: the curl commands, JSON bodies and Python samples of
// testdata/*/, each after the setup a user would do first (the agents an
// example names, created through the APIs; a key of the Engrami
// document's tenant, made through the admin API).

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
)

// exampleGate is the example Caddyfile running against fake upstreams
// and webhooks, with testgate.KeyA as its bootstrap key (tenant default).
type exampleGate struct {
	*testgate.Gateway
	openai *fakeupstream.OpenAI
	gemini *fakeupstream.Gemini
	hooks  *httptest.Server
}

// exampleReplyJSON is what the fake Gemini answers: a JSON object, so the
// Tenzro execute example (which asks for one) completes.
const exampleReplyJSON = `{"refund_processed": true, "amount": 99.99}`

// exampleHooks answers every webhook of the example Caddyfile, by path.
func exampleHooks(t *testing.T) *httptest.Server {
	answers := map[string]string{
		"/search_docs": `{"found": true, "status": "shipped"}`,
		"/list_events": `{"events":[{"id":"evt-001","summary":"Team Standup","start":"2025-01-15T09:00:00Z"}]}`,
		"/send_email":  `{"status":"sent"}`,
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if a, ok := answers[r.URL.Path]; ok {
			fmt.Fprint(w, a)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(s.Close)
	return s
}

// startExample starts ../Caddyfile with the environment pointing at fake
// upstreams and webhooks on loopback.
func startExample(t *testing.T) *exampleGate {
	t.Helper()
	e := &exampleGate{hooks: exampleHooks(t)}
	e.openai = (&fakeupstream.OpenAI{Reply: "To reset your password, go to Settings > Security...",
		Reasoning: "The user asks about a password.",
		ToolCalls: []fakeupstream.ToolCall{{ID: "tc-001", Name: "send_email", Args: `{"to":"jane@acme.com","subject":"Password Reset"}`}}}).Start()
	t.Cleanup(e.openai.Close)
	e.gemini = (&fakeupstream.Gemini{Reply: exampleReplyJSON, ToolName: "search_docs", ToolArgs: `{"query":"order #12345"}`}).Start()
	t.Cleanup(e.gemini.Close)
	anthropic := (&fakeupstream.Anthropic{}).Start()
	t.Cleanup(anthropic.Close)

	port, admin, data := testgate.FreePort(t), testgate.FreePort(t), t.TempDir()
	env := map[string]string{
		"AGENTGATE_LISTEN": "127.0.0.1:" + strconv.Itoa(port), "AGENTGATE_BIND": "127.0.0.1", "AGENTGATE_ADMIN": "127.0.0.1:" + strconv.Itoa(admin),
		"AGENTGATE_DATA": data, "AGENTGATE_API_KEY": testgate.KeyA,
		"OPENAI_BASE_URL": e.openai.URL, "OPENAI_API_KEY": "sk-test", "OPENAI_MODEL": "gpt-4o-mini",
		"GEMINI_BASE_URL": e.gemini.URL, "GEMINI_API_KEY": "gm-test",
		"ANTHROPIC_BASE_URL": anthropic.Server.URL, "ANTHROPIC_API_KEY": "sk-ant-test",
	}
	for _, m := range []string{"EMAIL", "CALENDAR", "WEB_SEARCH", "DOCUMENT_READER", "KNOWLEDGE_BASE", "TICKET", "ESCALATION", "SEARCH_DOCS", "CREATE_TICKET"} {
		env["AGENTGATE_"+m+"_WEBHOOK"] = e.hooks.URL + "/" + exampleHookPath[m]
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	src, err := os.ReadFile("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	e.Gateway = testgate.StartCaddyfile(t, src, "http://127.0.0.1:"+strconv.Itoa(port), env["AGENTGATE_ADMIN"], data)
	return e
}

// exampleHookPath is the webhook path of each method, by the suffix of
// its environment variable.
var exampleHookPath = map[string]string{
	"EMAIL": "send_email", "CALENDAR": "list_events", "WEB_SEARCH": "web_search", "DOCUMENT_READER": "document_reader",
	"KNOWLEDGE_BASE": "knowledge_base", "TICKET": "ticket_creation", "ESCALATION": "escalation",
	"SEARCH_DOCS": "search_docs", "CREATE_TICKET": "create_ticket",
}

// shapeMatch checks got against a documented JSON value: every documented
// key is there, recursively, with the documented JSON type unless either
// is null (a setting left to the model's default, an abbreviated
// documented value); each item of an array is held to the documented
// first one. Values are the example configuration's, not the document's;
// the values at the paths in free (array indexes left out:
// "execute.steps.result") are anyone's, such as a tool's own answer.
func shapeMatch(t *testing.T, path string, doc, got gjson.Result, free map[string]bool) {
	t.Helper()
	if !got.Exists() {
		t.Errorf("%s: missing", path)
		return
	}
	if doc.Type == gjson.Null || got.Type == gjson.Null {
		return
	}
	isBool := func(r gjson.Result) bool { return r.Type == gjson.True || r.Type == gjson.False }
	if doc.IsObject() != got.IsObject() || doc.IsArray() != got.IsArray() || (doc.Type != got.Type && !(isBool(doc) && isBool(got))) {
		t.Errorf("%s: got %s, documented %s", path, got.Raw, doc.Raw)
		return
	}
	switch {
	case doc.IsObject():
		doc.ForEach(func(k, v gjson.Result) bool {
			if gv := got.Get(gjson.Escape(k.Str)); free[arrayIndex.ReplaceAllString(path, "")+"."+k.Str] && gv.Exists() {
				return true
			}
			shapeMatch(t, path+"."+k.Str, v, got.Get(gjson.Escape(k.Str)), free)
			return true
		})
	case doc.IsArray():
		if d := doc.Array(); len(d) > 0 {
			for i, it := range got.Array() {
				shapeMatch(t, path+"["+strconv.Itoa(i)+"]", d[0], it, free)
			}
		}
	}
}

// arrayIndex matches the array indexes of a shapeMatch path.
var arrayIndex = regexp.MustCompile(`\[\d+\]`)

// exampleCheck checks one answer: status, JSON, the documented shape
// (free as for shapeMatch).
func exampleCheck(t *testing.T, name string, status int, ct string, body []byte, want int, doc string, free ...string) gjson.Result {
	t.Helper()
	if status != want || ct != "application/json" || !gjson.ValidBytes(body) {
		t.Errorf("%s: %d %s %s, documented %d JSON", name, status, ct, body, want)
		return gjson.Result{}
	}
	got := gjson.ParseBytes(body)
	if doc != "" {
		f := map[string]bool{}
		for _, k := range free {
			f[k] = true
		}
		shapeMatch(t, name, gjson.Parse(doc), got, f)
	}
	return got
}

// sseData returns the data lines of a Server-Sent Events body.
func sseData(body []byte) []string {
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestExampleCaddyfileServesEveryDocumentExample(t *testing.T) {
	e := startExample(t)
	g := e.Gateway
	key := testgate.KeyA

	t.Run("egzora", func(t *testing.T) {
		// The chat sample as written sends "data:image/jpeg;base64,...",
		// the document's stand-in for the user's image: a 400 naming
		// images[0]. With a real image in its place it answers.
		if _, stderr, err := egzPython(t, g, "chat.py", key, "assistant"); err == nil || !strings.Contains(stderr, "HTTP Error 400") {
			t.Errorf("chat.py with the placeholder image: %v %s", err, stderr)
		}
		for _, s := range []struct {
			file, agent, prefix string
			extra               []string
		}{
			{"chat.py", "assistant", "Agent Response: " + egzThinking(e.openai.Reasoning, e.openai.Reply), []string{"data:image/jpeg;base64,...", egzJPEG(t)}},
			{"stream.py", "assistant", "To reset your password", nil},
			{"agents.py", "", "Agent Name: Demo Agent | ID: demo\nAgent Name: Assistant | ID: assistant\n", nil},
			{"profile.py", "", "Email: admin@example.com\nSubscription Tier: pro\nRemaining Tokens: ", nil},
			{"logs.py", "", "Time: ", nil},
		} {
			stdout, stderr, err := egzPython(t, g, s.file, key, s.agent, s.extra...)
			if err != nil || !strings.HasPrefix(stdout, s.prefix) {
				t.Errorf("%s: %v\nstdout %q\nstderr %s", s.file, err, stdout, stderr)
			}
		}
		// The OpenAI-compatible samples, as the openai package sends them
		// (it cannot be installed here; e2e/openai_test.go runs the Go SDK).
		status, body, hdr := g.Do("POST", "/v1/chat/completions", key, `{"model":"Assistant","messages":[{"role":"system","content":"You are a helpful AI assistant."},{"role":"user","content":"Explain quantum computing in 3 sentences."}],"temperature":0.7}`)
		if got := exampleCheck(t, "chat completions", status, hdr.Get("Content-Type"), body, 200, ""); got.Get("choices.0.message.content").Str == "" {
			t.Errorf("chat completions: %s", body)
		}
		status, body, hdr = g.Do("POST", "/v1/chat/completions", key, `{"model":"assistant","messages":[{"role":"user","content":"Write a short poem about AI."}],"stream":true}`)
		if d := sseData(body); status != 200 || hdr.Get("Content-Type") != "text/event-stream" || len(d) < 2 || d[len(d)-1] != "[DONE]" {
			t.Errorf("chat completions stream: %d %s", status, body)
		}
		status, body, hdr = g.Do("GET", "/v1/models", key, nil)
		models := exampleCheck(t, "models", status, hdr.Get("Content-Type"), body, 200, "")
		for _, m := range models.Get("data").Array() {
			if m.Get("id").Str == "" || m.Get("name").Str == "" {
				t.Errorf("models: item %s has no id and name for the sample's print", m.Raw)
			}
		}
	})

	t.Run("engrami", func(t *testing.T) {
		// The document's tenant gets a key, as an operator makes one.
		status, out := adminDo(t, g, "POST", "/agentgate/keys", `{"tenant":"tenant_xyz","tier":"pro"}`)
		k := gjson.Get(out, "key").Str
		if status != 201 || k == "" {
			t.Fatalf("admin key for tenant_xyz: %d %s", status, out)
		}
		engMust(t, g, "POST", "/api/v1/agents?tenant_id=tenant_xyz", k, `{"id":"agent_abc123","name":"Customer Support Agent",
			"description":"Handles customer inquiries","model":"gpt-4","system_prompt":"You are a helpful customer support agent...",
			"memory_config":{"semantic_enabled":true,"episodic_enabled":true,"procedural_enabled":true},"tools":["knowledge_base","ticket_creation"]}`, 201)
		engMust(t, g, "POST", "/api/v1/agents/agent_abc123/memory", k, `{"items":[
			{"id":"kb_article_456","content":"Company refund policy: 30 days from delivery; to reset your password use Forgot Password."}]}`, 201)
		first := engMust(t, g, "POST", "/api/v1/agents/agent_abc123/chat", k, `{"message":"Hello"}`, 200)
		engMust(t, g, "POST", "/api/v1/agents/agent_abc123/messages/"+first.Get("message_id").Str+"/feedback", k, `{"rating":"up"}`, 200)
		ex := engExamples(t)
		for _, name := range []string{"list", "create", "get", "update", "chat", "stream", "memory", "clear", "delete"} {
			status, ct, body := engRunCurlAs(t, g, k, ex[name].curl)
			if name == "stream" {
				d := sseData(body)
				if status != 200 || ct != "text/event-stream" || len(d) < 3 || gjson.Get(d[len(d)-1], "type").Str != "end" {
					t.Errorf("stream: %d %s %s", status, ct, body)
				}
				continue
			}
			exampleCheck(t, name, status, ct, body, ex[name].status, ex[name].response)
		}
	})

	t.Run("agentsv2", func(t *testing.T) {
		ex := v2Examples(t)
		v2JSON(t, g, "POST", "/v2/agents", key, supportAgent, 201)
		check := func(name string, status int, hdr http.Header, body []byte) gjson.Result {
			return exampleCheck(t, name, status, hdr.Get("Content-Type"), body, ex[name].status, ex[name].response)
		}
		for _, name := range []string{"list", "get", "batch", "create", "delete", "chat"} {
			status, hdr, body := runCurl(t, g, ex[name].curl)
			check(name, status, hdr, body)
		}
		// A run pauses when the model asks for send_email (the fake
		// OpenAI model does; the example's Gemini model answers at once).
		paused := strings.Replace(strings.Replace(v2ChatBody(ex), `"stream": false,`, `"stream": false, "tools": ["EmailToolkit"],`, 1),
			`"gemini-2.5-pro"`, `"gpt-4o"`, 1)
		for _, name := range []string{"commit", "cancel"} {
			status, hdr, body := v2Request(t, g, "POST", "/v2/agents/customer-support/chat", key, paused)
			run := check("paused", status, hdr, body).Get("run_id").Str
			if name == "commit" {
				status, hdr, body = runCurl(t, g, ex[name].curl, v2DocRunID, run)
			} else {
				status, hdr, body = v2Request(t, g, "POST", "/v2/agents/customer-support/chat/commit", key,
					strings.ReplaceAll(ex[name].request, v2DocRunID, run))
			}
			if got := check(name, status, hdr, body); name == "cancel" && got.Get("status").Str != "cancelled" {
				t.Errorf("cancel: %s", body)
			}
		}
		v2JSON(t, g, "POST", "/v2/agents", key,
			`{"id":"calendar-agent","name":"Calendar Agent","template":"You manage calendars.","config":{"worker_config":{"tools":["CalendarToolkit"]}}}`, 201)
		status, hdr, body := runCurl(t, g, ex["toolkit"].curl)
		check("toolkit", status, hdr, body)
		evs := v2Stream(t, g, "/v2/agents/customer-support/chat", key, strings.Replace(v2ChatBody(ex), `"stream": false`, `"stream": true`, 1))
		if _, final := v2Final(t, evs); final.Get("status").Str != "completed" {
			t.Errorf("stream: %s", final.Raw)
		}
	})

	t.Run("responses", func(t *testing.T) {
		// The document's agent, made through another dialect, and its
		// version 1 published.
		engMust(t, g, "POST", "/api/v1/agents", key, `{"id":"support-bot","name":"Support Bot","description":"Customer support agent",
			"model":"gpt-4o","temperature":0.7,"max_tokens":4096}`, 201)
		if status, body, _ := g.Do("POST", "/api/client/v1/agents/support-bot/versions", key, "{}"); status != 201 {
			t.Fatalf("publishing version 1: %d %s", status, body)
		}
		first := ""
		for _, ex := range rspExamples(t) {
			body := ex.body
			if first != "" {
				body = strings.ReplaceAll(body, "resp_64a1b2c3d4e5f6", first)
			}
			var send any
			if strings.TrimSpace(body) != "" {
				send = body
			}
			status, out, hdr := g.Do(ex.method, strings.ReplaceAll(ex.path, ":agentKey", "support-bot"), key, send)
			doc := ex.response
			if ex.name == "list" {
				// Only support-bot is held to the documented agent: the
				// example's declared agents are listed too.
				out = []byte(`{"agents":[` + gjson.GetBytes(out, `agents.#(key=="support-bot")`).Raw + `]}`)
			}
			got := exampleCheck(t, ex.name, status, hdr.Get("Content-Type"), out, 200, doc)
			if ex.name == "invoke" {
				first = got.Get("id").Str
			}
		}
	})

	t.Run("tenzro", func(t *testing.T) {
		agentID := ""
		for _, ex := range loadTzExamples(t) {
			path := strings.ReplaceAll(strings.ReplaceAll(ex.path, "{agent_id}", agentID), "{conversation_id}", "conv_xyz")
			project := ex.header.Get("X-Project-ID")
			if project == "" {
				project = "proj_xyz"
			}
			status, hdr, body := tzDo(t, g, ex.method, path, key, project, ex.body)
			want := 200
			switch ex.name {
			case "error":
				want = 404
			}
			if ex.name == "stream" {
				d := sseData(body)
				if status != 200 || hdr.Get("Content-Type") != "text/event-stream" || len(d) < 2 || d[len(d)-1] != "[DONE]" {
					t.Errorf("stream: %d %s", status, body)
				}
				continue
			}
			var free []string
			if ex.name == "execute" {
				free = []string{"execute.steps.result"} // a step's result is its tool's own answer
			}
			got := exampleCheck(t, ex.name, status, hdr.Get("Content-Type"), body, want, ex.response, free...)
			switch ex.name {
			case "create":
				agentID = got.Get("agent_id").Str
			case "chat":
				if got.Get("tool_calls.0.name").Str != "search_docs" || got.Get("tool_calls.0.result.status").Str != "shipped" {
					t.Errorf("chat ran no search_docs webhook: %s", body)
				}
			case "execute":
				if got.Get("status").Str != "completed" || !gjson.Valid(got.Get("result").Raw) {
					t.Errorf("execute: %s", body)
				}
			}
		}
	})
	t.Run("openai passthrough and unknown paths", func(t *testing.T) {
		status, body, hdr := g.Do("POST", "/v1/moderations", key, `{"model":"omni-moderation-latest","input":"I hate this"}`)
		if got := exampleCheck(t, "moderations", status, hdr.Get("Content-Type"), body, 200, ""); !got.Get("results.0.flagged").Bool() {
			t.Errorf("moderations: %s", body)
		}
		if got := e.openai.LastAPIRequest().Header.Get("Authorization"); got != "Bearer sk-test" {
			t.Errorf("upstream key %q", got)
		}
		status, body, hdr = g.Do("GET", "/v1/no/such/endpoint", key, nil)
		if got := exampleCheck(t, "unknown /v1/ path", status, hdr.Get("Content-Type"), body, 404, ""); got.Get("error.message").Str != "Invalid URL (GET /v1/no/such/endpoint)" {
			t.Errorf("unknown /v1/ path: %s", body)
		}
		status, body, _ = g.Do("GET", "/no/such/page", key, nil)
		if status != 404 || string(body) != "agentgate: no such endpoint" {
			t.Errorf("unknown path outside /v1/: %d %s", status, body)
		}
	})
}
