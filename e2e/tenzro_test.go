package e2e

// Acceptance tests of the Tenzro dialect (issue 10) through a real Caddy:
// every example of the document sent as written (testdata/tenzro), each
// orchestration pattern with a fake model whose answers show who saw
// what and in which order, an execution that reaches max_iterations, the
// streamed tool events of an operator-declared webhook tool, and project
// isolation with a key limited to one project. The webhook tools are
// declared with the Caddyfile syntax
//
//	toolkit <name> http { method <name> <url> { description; parameters } }
//	key <secret> { tenant <t>; projects <p...> }

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
	"github.com/caddyserver/caddy/v2"
	"github.com/tidwall/gjson"
)

// tzKeyA is a key of tenant-a limited to project proj_a.
const tzKeyA = "agk_test_tenzro_proj_a_key_00000"

// tzModel is a fake OpenAI-compatible model: answer decides each reply
// from the request, so a test's model behaves by who asks (the system
// prompt) and what is in the conversation, whatever the order of calls.
type tzModel struct {
	*httptest.Server
	URL    string
	answer func(req gjson.Result) tzReply

	mu        sync.Mutex
	reqs      []gjson.Result
	cancelled int
}

// tzReply is one model answer: optional reasoning, then content or tool
// calls. hold makes the model wait until the client goes away.
type tzReply struct {
	reasoning, content string
	calls              []tzCall
	hold               bool
}

type tzCall struct{ id, name, args string }

func startTzModel(t *testing.T, answer func(req gjson.Result) tzReply) *tzModel {
	m := &tzModel{answer: answer}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	m.URL = m.Server.URL + "/v1"
	t.Cleanup(m.Close)
	return m
}

func (m *tzModel) requests() []gjson.Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]gjson.Result(nil), m.reqs...)
}

// tzText is a message's text, whether content is a string or parts.
func tzText(msg gjson.Result) string {
	c := msg.Get("content")
	if c.IsArray() {
		var b strings.Builder
		for _, p := range c.Array() {
			b.WriteString(p.Get("text").String())
		}
		return b.String()
	}
	return c.String()
}

func tzSystem(req gjson.Result) string {
	for _, msg := range req.Get("messages").Array() {
		if msg.Get("role").String() == "system" {
			return tzText(msg)
		}
	}
	return ""
}

func tzLastUser(req gjson.Result) string {
	msgs := req.Get("messages").Array()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Get("role").String() == "user" {
			return tzText(msgs[i])
		}
	}
	return ""
}

// tzToolResult is the last message's text when it is a tool result.
func tzToolResult(req gjson.Result) (string, bool) {
	last := req.Get("messages.@reverse.0")
	return tzText(last), last.Get("role").String() == "tool"
}

func tzOffers(req gjson.Result, name string) bool {
	for _, t := range req.Get("tools").Array() {
		if t.Get("function.name").String() == name {
			return true
		}
	}
	return false
}

func (m *tzModel) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := gjson.ParseBytes(body)
	m.mu.Lock()
	m.reqs = append(m.reqs, req)
	m.mu.Unlock()
	rep := m.answer(req)
	if rep.hold {
		<-r.Context().Done()
		m.mu.Lock()
		m.cancelled++
		m.mu.Unlock()
		return
	}
	model := req.Get("model").String()
	finish := "stop"
	if len(rep.calls) > 0 {
		finish = "tool_calls"
	}
	usage := `{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}`
	if !req.Get("stream").Bool() {
		msg := map[string]any{"role": "assistant", "content": rep.content}
		if rep.reasoning != "" {
			msg["reasoning_content"] = rep.reasoning
		}
		if len(rep.calls) > 0 {
			var tcs []any
			for _, c := range rep.calls {
				tcs = append(tcs, map[string]any{"id": c.id, "type": "function", "function": map[string]any{"name": c.name, "arguments": c.args}})
			}
			msg["content"], msg["tool_calls"] = nil, tcs
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "chatcmpl-tz", "object": "chat.completion", "created": 1730000000, "model": model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}}, "usage": json.RawMessage(usage)})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	send := func(delta, finish string) {
		f := "null"
		if finish != "" {
			f = `"` + finish + `"`
		}
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-tz\",\"object\":\"chat.completion.chunk\",\"created\":1730000000,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":%s}]}\n\n", model, delta, f)
		_ = http.NewResponseController(w).Flush()
	}
	str := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	send(`{"role":"assistant","content":""}`, "")
	if rep.reasoning != "" {
		send(`{"reasoning_content":`+str(rep.reasoning)+`}`, "")
	}
	for _, word := range strings.SplitAfter(rep.content, " ") {
		if word != "" {
			send(`{"content":`+str(word)+`}`, "")
		}
	}
	for i, c := range rep.calls {
		send(fmt.Sprintf(`{"tool_calls":[{"index":%d,"id":%s,"type":"function","function":{"name":%s,"arguments":""}}]}`, i, str(c.id), str(c.name)), "")
		send(fmt.Sprintf(`{"tool_calls":[{"index":%d,"function":{"arguments":%s}}]}`, i, str(c.args)), "")
	}
	send(`{}`, finish)
	if req.Get("stream_options.include_usage").Bool() {
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-tz\",\"object\":\"chat.completion.chunk\",\"created\":1730000000,\"model\":%q,\"choices\":[],\"usage\":%s}\n\n", model, usage)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// tzHooks are the operator's webhooks: search_docs answers the document's
// result, create_ticket "success"; every call is recorded.
type tzHooks struct {
	*httptest.Server
	mu    sync.Mutex
	calls []string
}

func startTzHooks(t *testing.T) *tzHooks {
	h := &tzHooks{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.calls = append(h.calls, r.URL.Path+" "+string(body))
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/search":
			io.WriteString(w, `{"found": true, "status": "shipped"}`)
		case "/ticket":
			io.WriteString(w, `"success"`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *tzHooks) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

// tzBlock declares the model, the document's tools as webhooks, and a key
// of tenant-a limited to proj_a.
func tzBlock(m *tzModel, hooks *tzHooks) string {
	return `
		provider up openai {
			base_url ` + m.URL + `
			api_key sk-upstream
		}
		toolkit support http {
			method search_docs ` + hooks.URL + `/search {
				description "Searches the support documentation"
				parameters ` + "`" + `{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}` + "`" + `
				timeout 10s
			}
			method create_ticket ` + hooks.URL + `/ticket {
				description "Opens a support ticket"
				parameters ` + "`" + `{"type":"object","properties":{"order_id":{"type":"string"},"reason":{"type":"string"}}}` + "`" + `
			}
		}
		key ` + tzKeyA + ` {
			tenant tenant-a
			tier pro
			projects proj_a
		}
`
}

// tzDo sends a request with key and project ("" for no X-Project-ID).
func tzDo(t *testing.T, g *testgate.Gateway, method, path, key, project, body string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if project != "" {
		req.Header.Set("X-Project-ID", project)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// tzJSON sends a request that must answer want with a JSON body.
func tzJSON(t *testing.T, g *testgate.Gateway, method, path, key, project, body string, want int) gjson.Result {
	t.Helper()
	status, hdr, out := tzDo(t, g, method, path, key, project, body)
	if status != want || hdr.Get("Content-Type") != "application/json" || !gjson.ValidBytes(out) {
		t.Fatalf("%s %s: %d %s %s, want %d JSON", method, path, status, hdr.Get("Content-Type"), out, want)
	}
	return gjson.ParseBytes(out)
}

// tzCreate makes an agent in project and returns its id.
func tzCreate(t *testing.T, g *testgate.Gateway, key, project, body string) string {
	t.Helper()
	id := tzJSON(t, g, "POST", "/agent/agents", key, project, body, 200).Get("agent_id").String()
	if !strings.HasPrefix(id, "agent_") {
		t.Fatalf("agent id %q", id)
	}
	return id
}

// tzEvents reads a chat stream: its data lines, [DONE] included.
func tzEvents(t *testing.T, g *testgate.Gateway, path, key, project, body string) []string {
	t.Helper()
	req, _ := http.NewRequest("POST", g.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Project-ID", project)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || (data != "[DONE]" && !gjson.Valid(data)) {
			t.Fatalf("not a JSON data line: %q", line)
		}
		out = append(out, data)
	}
	return out
}

// tzTypes is each event's type ("[DONE]" as itself), with the tool name
// of tool events: "tool_call:search_docs".
func tzTypes(events []string) []string {
	var out []string
	for _, e := range events {
		if e == "[DONE]" {
			out = append(out, e)
			continue
		}
		ev := gjson.Parse(e)
		s := ev.Get("type").String()
		if ev.Get("error").Exists() {
			s = "error"
		}
		if n := ev.Get("name").String(); n != "" {
			s += ":" + n
		}
		if len(out) > 0 && s == "delta" && out[len(out)-1] == "delta" {
			continue // one entry per run of deltas
		}
		out = append(out, s)
	}
	return out
}

// tzDeltas concatenates a stream's deltas.
func tzDeltas(events []string) string {
	var b strings.Builder
	for _, e := range events {
		if ev := gjson.Parse(e); ev.Get("type").String() == "delta" {
			b.WriteString(ev.Get("content").String())
		}
	}
	return b.String()
}

// tzExample is one example of the document.
type tzExample struct {
	name, method, path, body string
	header                   http.Header
	response                 string
}

func loadTzExamples(t *testing.T) []tzExample {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "tenzro", "examples.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []tzExample
	for _, sec := range strings.Split(string(b), "\n### ")[1:] {
		lines := strings.Split(strings.TrimRight(sec, "\n"), "\n")
		ex := tzExample{name: lines[0], header: http.Header{}}
		ex.method, ex.path, _ = strings.Cut(lines[1], " ")
		i := 2
		for ; i < len(lines) && !strings.HasPrefix(lines[i], "{") && !strings.HasPrefix(lines[i], "# Response"); i++ {
			k, v, _ := strings.Cut(lines[i], ":")
			ex.header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		var body []string
		for ; i < len(lines) && !strings.HasPrefix(lines[i], "# Response"); i++ {
			body = append(body, lines[i])
		}
		ex.body = strings.Join(body, "\n")
		ex.response = strings.Join(lines[i+1:], "\n")
		out = append(out, ex)
	}
	return out
}

// tzMatchDoc checks got against a documented JSON value: every documented
// key is there with the same JSON type, recursively, each item of an
// array against the documented first one; exact values for the paths in
// exact.
func tzMatchDoc(t *testing.T, path string, doc, got any, exact map[string]bool) {
	t.Helper()
	if exact[path] && !reflect.DeepEqual(doc, got) {
		t.Errorf("%s: got %v, documented %v", path, got, doc)
		return
	}
	switch d := doc.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: got %T, documented an object", path, got)
			return
		}
		for k, dv := range d {
			gv, ok := g[k]
			if !ok {
				t.Errorf("%s.%s: missing", path, k)
				continue
			}
			tzMatchDoc(t, path+"."+k, dv, gv, exact)
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			t.Errorf("%s: got %T, documented an array", path, got)
			return
		}
		if len(d) > 0 && len(g) == 0 {
			t.Errorf("%s: empty, documented items", path)
		}
		for i, gv := range g {
			if len(d) > 0 {
				tzMatchDoc(t, fmt.Sprintf("%s[%d]", path, min(i, 0)), d[0], gv, exact)
			}
		}
	default:
		if reflect.TypeOf(doc) != reflect.TypeOf(got) {
			t.Errorf("%s: got %T %v, documented %T", path, got, got, doc)
		}
	}
}

// tzDocModel plays the document's model: the support agent searches the
// docs for an order, then answers as documented; an execution opens a
// ticket, then answers the documented result; a report request thinks
// first.
func tzDocModel(req gjson.Result) tzReply {
	result, afterTool := tzToolResult(req)
	user := tzLastUser(req)
	switch {
	case strings.Contains(tzSystem(req), "You are executing a task"):
		if !afterTool {
			return tzReply{calls: []tzCall{{"call_ticket", "create_ticket", `{"order_id":"12345","reason":"damaged"}`}}}
		}
		return tzReply{content: `{"refund_processed": true, "amount": 99.99}`}
	case strings.Contains(user, "report"):
		if !afterTool {
			return tzReply{reasoning: "Analyzing request...", calls: []tzCall{{"call_search_2", "search_docs", `{"query":"report"}`}}}
		}
		return tzReply{content: "Based on my analysis..."}
	case tzOffers(req, "search_docs") && !afterTool:
		return tzReply{calls: []tzCall{{"call_search_1", "search_docs", `{"query":"order #12345"}`}}}
	case afterTool:
		return tzReply{content: "I'd be happy to help with order #12345... (" + result + ")"}
	}
	return tzReply{content: "Hi! How can I help?"}
}

// TestTenzroDocumentExamples sends every example of the document as
// written, in its order, and checks the documented status and shape.
func TestTenzroDocumentExamples(t *testing.T) {
	m := startTzModel(t, tzDocModel)
	hooks := startTzHooks(t)
	g := testgate.Start(t, testgate.Config{Block: tzBlock(m, hooks)})
	examples := loadTzExamples(t)
	if len(examples) != 9 {
		t.Fatalf("%d examples", len(examples))
	}
	agentID := ""
	exact := map[string]bool{
		"create.name": true, "create.status": true, "list.agents[0].name": true, "list.agents[0].status": true,
		"chat.message.role": true, "chat.conversation_id": true, "chat.tool_calls[0].name": true,
		"chat.tool_calls[0].arguments": true, "chat.tool_calls[0].result": true,
		"execute.status": true, "execute.result": true, "history.conversation_id": true,
		"delete.success": true,
	}
	for _, ex := range examples {
		path := strings.ReplaceAll(ex.path, "{agent_id}", agentID)
		path = strings.ReplaceAll(path, "{conversation_id}", "conv_xyz")
		req, err := http.NewRequest(ex.method, g.URL+path, strings.NewReader(ex.body))
		if err != nil {
			t.Fatal(err)
		}
		// The headers as the document writes them: X-Project-ID only where
		// it shows one.
		req.Header = ex.header.Clone()
		req.Header.Set("Authorization", "Bearer "+testgate.KeyA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := 200
		switch ex.name {
		case "error":
			want = 404
		}
		if ex.name == "stream" {
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("stream: %d %s", resp.StatusCode, body)
			}
			var got []string
			for _, line := range strings.Split(string(body), "\n") {
				if data, ok := strings.CutPrefix(line, "data: "); ok {
					got = append(got, data)
				}
			}
			// The documented sequence, every event with the documented
			// fields (the "{...}" of the document is the tool's result).
			if types := tzTypes(got); !slices.Equal(types, []string{"thinking", "tool_call:search_docs", "tool_result:search_docs", "delta", "[DONE]"}) {
				t.Errorf("stream events %v", types)
			}
			for _, doc := range strings.Split(ex.response, "\n") {
				data, _ := strings.CutPrefix(doc, "data: ")
				data = strings.ReplaceAll(data, "{...}", `{"found": true, "status": "shipped"}`)
				if data == "[DONE]" {
					continue
				}
				d := gjson.Parse(data)
				for _, e := range got {
					if gjson.Get(e, "type").String() == d.Get("type").String() {
						tzMatchDoc(t, "stream."+d.Get("type").String(), decodeJSON(t, []byte(data)), decodeJSON(t, []byte(e)), nil)
						break
					}
				}
			}
			if d := tzDeltas(got); d != "Based on my analysis..." {
				t.Errorf("deltas %q", d)
			}
			continue
		}
		if resp.StatusCode != want || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s %s, want %d JSON", ex.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, want)
		}
		doc, got := decodeJSON(t, []byte(ex.response)), decodeJSON(t, body)
		if ex.name == "error" {
			if !reflect.DeepEqual(doc, got) {
				t.Errorf("error: got %s, documented %s", body, ex.response)
			}
			continue
		}
		tzMatchDoc(t, ex.name, doc, got, exact)
		if ex.name == "create" {
			agentID = gjson.GetBytes(body, "agent_id").String()
		}
		for _, k := range []string{"created_at", "updated_at", "deleted_at"} {
			if v := gjson.GetBytes(body, k); v.Exists() {
				if _, err := time.Parse(time.RFC3339, v.String()); err != nil || !strings.HasSuffix(v.String(), "Z") {
					t.Errorf("%s.%s = %q, not like the document's 2024-01-15T00:00:00Z", ex.name, k, v)
				}
			}
		}
	}
	// The examples' side effects: the webhooks ran with the model's
	// arguments, the execution was counted, the conversation holds the
	// chat and the streamed chat is a conversation of its own.
	if got := hooks.received(); !slices.Equal(got, []string{`/search {"query":"order #12345"}`,
		`/ticket {"order_id":"12345","reason":"damaged"}`, `/search {"query":"report"}`}) {
		t.Errorf("webhooks received %q", got)
	}
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return v
}

// TestTenzroExampleSideEffects checks what the examples leave behind:
// executions counted, conversation history, the update applied.
func TestTenzroExampleSideEffects(t *testing.T) {
	m := startTzModel(t, tzDocModel)
	hooks := startTzHooks(t)
	g := testgate.Start(t, testgate.Config{Block: tzBlock(m, hooks)})
	ex := loadTzExamples(t)
	id := tzCreate(t, g, testgate.KeyA, "proj_xyz", ex[0].body)
	chat := tzJSON(t, g, "POST", "/agent/agents/"+id+"/chat", testgate.KeyA, "proj_xyz", ex[2].body, 200)
	if !strings.Contains(chat.Get("message.content").String(), `"shipped"`) {
		t.Errorf("the answer did not see the tool's result: %s", chat.Raw)
	}
	for range 2 {
		tzJSON(t, g, "POST", "/agent/agents/"+id+"/execute", testgate.KeyA, "proj_xyz", ex[3].body, 200)
	}
	list := tzJSON(t, g, "GET", "/agent/agents", testgate.KeyA, "proj_xyz", "", 200)
	if n := list.Get(`agents.#(agent_id=="` + id + `").executions`).Int(); n != 2 {
		t.Errorf("executions %d, want 2: %s", n, list.Raw)
	}
	hist := tzJSON(t, g, "GET", "/agent/agents/"+id+"/conversations/conv_xyz", testgate.KeyA, "proj_xyz", "", 200)
	if msgs := hist.Get("messages").Array(); len(msgs) != 2 || msgs[0].Get("content").String() != "I need help with my order #12345" ||
		msgs[1].Get("role").String() != "assistant" {
		t.Errorf("history %s", hist.Raw)
	}
	// The chat's context reached the model.
	if s := tzSystem(m.requests()[0]); !strings.Contains(s, `"user_id":"user_123"`) {
		t.Errorf("system prompt %q", s)
	}
	tzJSON(t, g, "PATCH", "/agent/agents/"+id, testgate.KeyA, "proj_xyz", ex[6].body, 200)
	tzJSON(t, g, "POST", "/agent/agents/"+id+"/chat", testgate.KeyA, "proj_xyz", `{"message":"Hello"}`, 200)
	last := m.requests()[len(m.requests())-1]
	if tzSystem(last) != "Updated system prompt" || last.Get("temperature").Float() != 0.5 {
		t.Errorf("after the update the model got %q at %v", tzSystem(last), last.Get("temperature"))
	}
	tzJSON(t, g, "DELETE", "/agent/agents/"+id, testgate.KeyA, "proj_xyz", "", 200)
	tzJSON(t, g, "POST", "/agent/agents/"+id+"/chat", testgate.KeyA, "proj_xyz", `{"message":"Hello"}`, 404)
}

// TestTenzroStreamedToolEvents streams a chat whose agent thinks, calls
// an operator-declared webhook tool and answers: the events come in the
// order things happened, with the tool's arguments and result.
func TestTenzroStreamedToolEvents(t *testing.T) {
	m := startTzModel(t, func(req gjson.Result) tzReply {
		if result, ok := tzToolResult(req); ok {
			return tzReply{content: "Order 12345 has " + gjson.Get(result, "status").String() + "."}
		}
		return tzReply{reasoning: "The user asks about an order.", calls: []tzCall{{"call_1", "search_docs", `{"query":"order 12345"}`}}}
	})
	hooks := startTzHooks(t)
	g := testgate.Start(t, testgate.Config{Block: tzBlock(m, hooks)})
	id := tzCreate(t, g, testgate.KeyA, "proj_xyz", `{"name":"support","tools":["search_docs"],"thinking":true}`)
	events := tzEvents(t, g, "/agent/agents/"+id+"/chat", testgate.KeyA, "proj_xyz", `{"message":"Where is order 12345?","stream":true}`)
	want := []string{"thinking", "tool_call:search_docs", "tool_result:search_docs", "delta", "[DONE]"}
	if got := tzTypes(events); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v\n%s", got, want, strings.Join(events, "\n"))
	}
	call, res := gjson.Parse(events[1]), gjson.Parse(events[2])
	if call.Get("arguments.query").String() != "order 12345" || res.Get("result.status").String() != "shipped" ||
		call.Get("id").String() != res.Get("id").String() {
		t.Errorf("tool events %s %s", events[1], events[2])
	}
	if d := tzDeltas(events); d != "Order 12345 has shipped." {
		t.Errorf("answer %q", d)
	}
	if got := hooks.received(); len(got) != 1 || got[0] != `/search {"query":"order 12345"}` {
		t.Errorf("webhook received %q", got)
	}
	// The model was asked to think: the agent's "thinking".
	if !m.requests()[0].Get("reasoning_effort").Exists() {
		t.Error("the model was not asked to reason")
	}
}

// TestTenzroExecuteMaxIterations runs an execution whose model never
// stops calling tools: it ends with max_iterations_reached and the steps
// it made, without hanging.
func TestTenzroExecuteMaxIterations(t *testing.T) {
	m := startTzModel(t, func(req gjson.Result) tzReply {
		return tzReply{calls: []tzCall{{"call_again", "search_docs", `{"query":"again"}`}}}
	})
	hooks := startTzHooks(t)
	g := testgate.Start(t, testgate.Config{Block: tzBlock(m, hooks)})
	id := tzCreate(t, g, testgate.KeyA, "proj_xyz", `{"name":"looper","tools":["search_docs"]}`)
	start := time.Now()
	res := tzJSON(t, g, "POST", "/agent/agents/"+id+"/execute", testgate.KeyA, "proj_xyz",
		`{"task":"Find everything","inputs":{"scope":"all"},"max_iterations":3}`, 200)
	if time.Since(start) > 20*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if res.Get("status").String() != "max_iterations_reached" || res.Get("result").Type != gjson.Null ||
		len(res.Get("steps").Array()) != 2 || res.Get("steps.0.action").String() != "search_docs" ||
		res.Get("steps.0.result.found").Bool() != true || res.Get("error.code").String() != "max_iterations_reached" ||
		!strings.HasPrefix(res.Get("execution_id").String(), "exec_") {
		t.Errorf("execution %s", res.Raw)
	}
	if n := len(m.requests()); n != 3 {
		t.Errorf("%d model calls, want 3", n)
	}
	if n := len(hooks.received()); n != 2 {
		t.Errorf("%d webhook calls, want 2", n)
	}
	if u := tzLastUser(m.requests()[0]); u != `Task: Find everything`+"\n\n"+`Inputs (JSON): {"scope":"all"}` {
		t.Errorf("task message %q", u)
	}
}

// tzEchoModel names its answers after the agent asking (the first word of
// the system prompt) and echoes what it was asked, so every answer shows
// who saw what.
func tzEchoModel(req gjson.Result) tzReply {
	name, _, _ := strings.Cut(tzSystem(req), " ")
	return tzReply{content: name + " on [" + tzLastUser(req) + "]"}
}

// TestTenzroOrchestrationPatterns runs each pattern end to end.
func TestTenzroOrchestrationPatterns(t *testing.T) {
	var (
		barrier     sync.WaitGroup
		parallelMax = 2
	)
	barrier.Add(parallelMax)
	supervisorTool := ""
	m := startTzModel(t, func(req gjson.Result) tzReply {
		sys := tzSystem(req)
		switch {
		case strings.HasPrefix(sys, "Analyst") || strings.HasPrefix(sys, "Critic"):
			if strings.Contains(tzLastUser(req), "in parallel") {
				// Both sub-agents must be asked before either answers.
				barrier.Done()
				done := make(chan struct{})
				go func() { barrier.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					return tzReply{content: "NOT CONCURRENT"}
				}
			}
		case strings.HasPrefix(sys, "Supervisor"):
			if result, ok := tzToolResult(req); ok {
				return tzReply{content: "Supervisor reports: " + gjson.Get(result, "output").String()}
			}
			return tzReply{calls: []tzCall{{"call_delegate", supervisorTool, `{"task":"analyse the order"}`}}}
		}
		return tzEchoModel(req)
	})
	hooks := startTzHooks(t)
	g := testgate.Start(t, testgate.Config{Block: tzBlock(m, hooks)})
	analyst := tzCreate(t, g, testgate.KeyA, "proj_xyz", `{"name":"analyst","system_prompt":"Analyst of orders."}`)
	critic := tzCreate(t, g, testgate.KeyA, "proj_xyz", `{"name":"critic","system_prompt":"Critic of analyses."}`)
	supervisorTool = analyst

	t.Run("sequential", func(t *testing.T) {
		before := len(m.requests())
		id := tzCreate(t, g, testgate.KeyA, "proj_xyz", `{"name":"chain","system_prompt":"Editor of the chain.","orchestration_pattern":"SEQUENTIAL","sub_agents":["`+analyst+`","`+critic+`"]}`)
		events := tzEvents(t, g, "/agent/agents/"+id+"/chat", testgate.KeyA, "proj_xyz", `{"message":"order 1","stream":true}`)
		want := []string{"tool_call:" + analyst, "tool_result:" + analyst, "tool_call:" + critic, "tool_result:" + critic, "delta", "[DONE]"}
		if got := tzTypes(events); !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		reqs := m.requests()[before:]
		var order []string
		for _, r := range reqs {
			name, _, _ := strings.Cut(tzSystem(r), " ")
			order = append(order, name)
		}
		if !slices.Equal(order, []string{"Analyst", "Critic", "Editor"}) {
			t.Fatalf("model calls in order %v", order)
		}
		if u := tzLastUser(reqs[1]); u != "order 1\n\nOutput of the previous agent (analyst):\nAnalyst on [order 1]" {
			t.Errorf("the critic saw %q", u)
		}
		if s := tzSystem(reqs[2]); !strings.Contains(s, "Critic on [order 1\n\nOutput of the previous agent (analyst):\nAnalyst on [order 1]]") {
			t.Errorf("the editor saw %q", s)
		}
		if d := tzDeltas(events); d != "Editor on [order 1]" {
			t.Errorf("answer %q", d)
		}
		if gjson.Get(events[1], "result.output").String() != "Analyst on [order 1]" {
			t.Errorf("analyst result %s", events[1])
		}
	})

	t.Run("parallel", func(t *testing.T) {
		before := len(m.requests())
		id := tzCreate(t, g, testgate.KeyA, "proj_xyz", `{"name":"panel","system_prompt":"Chair of the panel.","orchestration_pattern":"PARALLEL","sub_agents":["`+analyst+`","`+critic+`"]}`)
		res := tzJSON(t, g, "POST", "/agent/agents/"+id+"/chat", testgate.KeyA, "proj_xyz", `{"message":"judge in parallel"}`, 200)
		calls := res.Get("tool_calls").Array()
		if len(calls) != 2 || calls[0].Get("name").String() != analyst || calls[1].Get("result.output").String() != "Critic on [judge in parallel]" {
			t.Fatalf("tool calls %s", res.Get("tool_calls").Raw)
		}
		reqs := m.requests()[before:]
		if len(reqs) != 3 || !strings.HasPrefix(tzSystem(reqs[2]), "Chair") {
			t.Fatalf("%d calls; the chair's must come last", len(reqs))
		}
		synth := tzSystem(reqs[2])
		for _, want := range []string{"Analyst on [judge in parallel]", "Critic on [judge in parallel]"} {
			if !strings.Contains(synth, want) {
				t.Errorf("the chair did not see %q: %q", want, synth)
			}
		}
		if res.Get("message.content").String() != "Chair on [judge in parallel]" {
			t.Errorf("answer %s", res.Raw)
		}
	})

	t.Run("hierarchical", func(t *testing.T) {
		before := len(m.requests())
		id := tzCreate(t, g, testgate.KeyA, "proj_xyz", `{"name":"boss","system_prompt":"Supervisor of analysts.","orchestration_pattern":"HIERARCHICAL","sub_agents":["`+analyst+`","`+critic+`"]}`)
		events := tzEvents(t, g, "/agent/agents/"+id+"/chat", testgate.KeyA, "proj_xyz", `{"message":"look into order 2","stream":true}`)
		want := []string{"tool_call:" + analyst, "tool_result:" + analyst, "delta", "[DONE]"}
		if got := tzTypes(events); !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		reqs := m.requests()[before:]
		if len(reqs) != 3 || !tzOffers(reqs[0], analyst) || !tzOffers(reqs[0], critic) ||
			!strings.HasPrefix(tzSystem(reqs[1]), "Analyst") || tzLastUser(reqs[1]) != "analyse the order" {
			t.Fatalf("model calls: %d", len(reqs))
		}
		if d := tzDeltas(events); d != "Supervisor reports: Analyst on [analyse the order]" {
			t.Errorf("answer %q", d)
		}
		// Bounded by max_iterations: a supervisor that always delegates.
		ex := tzJSON(t, g, "POST", "/agent/agents/"+id+"/execute", testgate.KeyA, "proj_xyz", `{"task":"x","max_iterations":1}`, 200)
		if ex.Get("status").String() != "max_iterations_reached" || len(ex.Get("steps").Array()) != 0 {
			t.Errorf("execution %s", ex.Raw)
		}
	})

	t.Run("execute", func(t *testing.T) {
		id := tzCreate(t, g, testgate.KeyA, "proj_xyz", `{"name":"boss2","system_prompt":"Supervisor of analysts.","orchestration_pattern":"HIERARCHICAL","sub_agents":["`+analyst+`"]}`)
		// The supervisor's answer is no JSON: the repair asks again, and
		// the echo model's answer is still none: the execution fails,
		// with the delegation among its steps.
		ex := tzJSON(t, g, "POST", "/agent/agents/"+id+"/execute", testgate.KeyA, "proj_xyz", `{"task":"x"}`, 200)
		if ex.Get("status").String() != "failed" || ex.Get("steps.0.action").String() != analyst ||
			ex.Get("steps.0.result.output").String() != "Analyst on [analyse the order]" || ex.Get("error.code").String() != "invalid_result" {
			t.Errorf("execution %s", ex.Raw)
		}
	})

	// Every sub-agent run was metered under its parent's run: the store,
	// read after Caddy stopped, holds their usage records.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	store, err := bbolt.Open(filepath.Join(g.DataDir, "agentgate.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	recs, err := store.ListUsage(context.Background(), "tenant-a", 1000)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]state.UsageRecord{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	subs := 0
	for _, r := range recs {
		if r.AgentID != analyst && r.AgentID != critic {
			continue
		}
		subs++
		parent, ok := byID[r.ParentID]
		if !ok || parent.AgentID == analyst || parent.AgentID == critic || r.Dialect != "tenzro" {
			t.Errorf("sub-agent record %+v has no parent run (%+v)", r, parent)
		}
	}
	// sequential 2, parallel 2, hierarchical 1, execute 1.
	if subs != 6 {
		t.Errorf("%d sub-agent usage records, want 6", subs)
	}
}

// TestTenzroClientGoneCancelsSubAgents disconnects during a parallel
// orchestration: the sub-agents' upstream calls are cancelled.
func TestTenzroClientGoneCancelsSubAgents(t *testing.T) {
	var asked sync.WaitGroup
	asked.Add(2)
	m := startTzModel(t, func(req gjson.Result) tzReply {
		asked.Done()
		return tzReply{hold: true}
	})
	g := testgate.Start(t, testgate.Config{Block: tzBlock(m, startTzHooks(t))})
	a := tzCreate(t, g, testgate.KeyA, "proj_xyz", `{"name":"a","system_prompt":"A"}`)
	b := tzCreate(t, g, testgate.KeyA, "proj_xyz", `{"name":"b","system_prompt":"B"}`)
	id := tzCreate(t, g, testgate.KeyA, "proj_xyz", `{"name":"p","orchestration_pattern":"PARALLEL","sub_agents":["`+a+`","`+b+`"]}`)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", g.URL+"/agent/agents/"+id+"/chat", strings.NewReader(`{"message":"go","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+testgate.KeyA)
	req.Header.Set("X-Project-ID", "proj_xyz")
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	asked.Wait()
	cancel()
	<-done
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		n := m.cancelled
		m.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 sub-agent calls cancelled", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTenzroProjectIsolation: a key limited to proj_a cannot list, read,
// chat with, execute, change or read the conversations of proj_b's
// agents, nor use proj_b at all; an unlimited key sees each project's own.
func TestTenzroProjectIsolation(t *testing.T) {
	m := startTzModel(t, tzEchoModel)
	g := testgate.Start(t, testgate.Config{Block: tzBlock(m, startTzHooks(t))})
	inA := tzCreate(t, g, tzKeyA, "proj_a", `{"name":"agent-a","system_prompt":"A"}`)
	inB := tzCreate(t, g, testgate.KeyA, "proj_b", `{"name":"agent-b","system_prompt":"B"}`)
	tzJSON(t, g, "POST", "/agent/agents/"+inB+"/chat", testgate.KeyA, "proj_b", `{"message":"secret","conversation_id":"conv_b"}`, 200)

	forbidden := func(method, path, body string) {
		t.Helper()
		res := tzJSON(t, g, method, path, tzKeyA, "proj_b", body, 403)
		if res.Get("error.code").String() != "project_forbidden" || res.Get("error.status").Int() != 403 {
			t.Errorf("%s %s in proj_b: %s", method, path, res.Raw)
		}
	}
	forbidden("GET", "/agent/agents", "")
	forbidden("POST", "/agent/agents", `{"name":"x"}`)
	forbidden("GET", "/agent/agents/"+inB, "")
	forbidden("POST", "/agent/agents/"+inB+"/chat", `{"message":"hi"}`)
	forbidden("POST", "/agent/agents/"+inB+"/execute", `{"task":"x"}`)
	forbidden("PATCH", "/agent/agents/"+inB, `{"name":"x"}`)
	forbidden("DELETE", "/agent/agents/"+inB, "")
	forbidden("GET", "/agent/agents/"+inB+"/conversations/conv_b", "")

	// From its own project the key does not find proj_b's agent either.
	notFound := func(method, path, body string) {
		t.Helper()
		res := tzJSON(t, g, method, path, tzKeyA, "proj_a", body, 404)
		if res.Get("error.code").String() != "agent_not_found" {
			t.Errorf("%s %s: %s", method, path, res.Raw)
		}
	}
	notFound("GET", "/agent/agents/"+inB, "")
	notFound("POST", "/agent/agents/"+inB+"/chat", `{"message":"hi"}`)
	notFound("POST", "/agent/agents/"+inB+"/execute", `{"task":"x"}`)
	notFound("PATCH", "/agent/agents/"+inB, `{"name":"x"}`)
	notFound("DELETE", "/agent/agents/"+inB, "")
	notFound("GET", "/agent/agents/"+inB+"/conversations/conv_b", "")
	list := tzJSON(t, g, "GET", "/agent/agents", tzKeyA, "proj_a", "", 200)
	if ids := list.Get("agents.#.agent_id").String(); ids != `["`+inA+`"]` {
		t.Errorf("proj_a lists %s", ids)
	}
	// Nor through another dialect that has no projects.
	if status, _, body := tzDo(t, g, "GET", "/v1/agents", tzKeyA, "", ""); status != 200 || strings.Contains(string(body), inB) {
		t.Errorf("/v1/agents with the limited key: %d %s", status, body)
	}
	// The unlimited key sees each project's own; the other tenant nothing.
	if ids := tzJSON(t, g, "GET", "/agent/agents", testgate.KeyA, "proj_b", "", 200).Get("agents.#.agent_id").String(); ids != `["`+inB+`"]` {
		t.Errorf("proj_b lists %s", ids)
	}
	tzJSON(t, g, "GET", "/agent/agents/"+inA, testgate.KeyA, "proj_b", "", 404)
	tzJSON(t, g, "GET", "/agent/agents/"+inB+"/conversations/conv_b", testgate.KeyA, "proj_a", "", 404)
	if ids := tzJSON(t, g, "GET", "/agent/agents", testgate.KeyB, "proj_b", "", 200).Get("agents.#.agent_id").String(); ids != `[]` {
		t.Errorf("tenant-b lists %s", ids)
	}
	tzJSON(t, g, "GET", "/agent/agents/"+inB, testgate.KeyB, "proj_b", "", 404)
	// Nor can it change, run or read it: a JSON 404 (not a stream), in the
	// same project as the agent.
	viewB := tzJSON(t, g, "GET", "/agent/agents/"+inB, testgate.KeyA, "proj_b", "", 200).Raw
	convB := tzJSON(t, g, "GET", "/agent/agents/"+inB+"/conversations/conv_b", testgate.KeyA, "proj_b", "", 200).Raw
	for _, c := range []struct{ method, path, body string }{
		{"PATCH", "/agent/agents/" + inB, `{"name":"stolen","system_prompt":"Obey tenant-b."}`},
		{"DELETE", "/agent/agents/" + inB, ""},
		{"POST", "/agent/agents/" + inB + "/chat", `{"message":"secret?"}`},
		{"POST", "/agent/agents/" + inB + "/chat", `{"message":"secret?","conversation_id":"conv_b"}`},
		{"POST", "/agent/agents/" + inB + "/chat", `{"message":"secret?","stream":true}`},
		{"POST", "/agent/agents/" + inB + "/execute", `{"task":"secret?"}`},
		{"GET", "/agent/agents/" + inB + "/conversations/conv_b", ""},
	} {
		res := tzJSON(t, g, c.method, c.path, testgate.KeyB, "proj_b", c.body, 404)
		if res.Get("error.code").String() != "agent_not_found" || res.Get("error.status").Int() != 404 {
			t.Errorf("tenant-b %s %s: %s", c.method, c.path, res.Raw)
		}
	}
	if got := tzJSON(t, g, "GET", "/agent/agents/"+inB, testgate.KeyA, "proj_b", "", 200).Raw; got != viewB {
		t.Errorf("tenant-b changed proj_b's agent: %s, was %s", got, viewB)
	}
	if got := tzJSON(t, g, "GET", "/agent/agents/"+inB+"/conversations/conv_b", testgate.KeyA, "proj_b", "", 200).Raw; got != convB {
		t.Errorf("tenant-b changed proj_b's conversation: %s, was %s", got, convB)
	}
	// Nothing of proj_b reached the model on the limited key's behalf.
	for _, r := range m.requests() {
		if tzSystem(r) != "B" && strings.Contains(tzLastUser(r), "secret") {
			t.Errorf("request %s", r.Raw)
		}
	}
	if n := len(m.requests()); n != 1 {
		t.Errorf("%d model calls, want proj_b's own 1", n)
	}
	// A missing project is a 400 in the document's shape.
	res := tzJSON(t, g, "GET", "/agent/agents", testgate.KeyA, "", "", 400)
	if res.Get("error.code").String() != "validation_error" || !strings.Contains(res.Get("error.message").String(), "X-Project-ID") {
		t.Errorf("no project: %s", res.Raw)
	}
	// So is a missing key a 401.
	status, _, body := tzDo(t, g, "GET", "/agent/agents", "", "proj_a", "")
	if status != 401 || gjson.GetBytes(body, "error.code").String() != "unauthorized" {
		t.Errorf("no key: %d %s", status, body)
	}
}
