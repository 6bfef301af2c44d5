package e2e

// Acceptance tests of the Agents v2 dialect (issue 7) through a real
// Caddy: every curl example of the document run as written (host and key
// adjusted, the run id of a real paused run substituted), giving the
// documented status and shape; paused runs end to end with a fake
// upstream that asks for send_email and an httptest webhook (pause, edit,
// commit with a streamed answer, cancel, mixed decisions, double commit,
// another tenant's key, commit after the TTL); tenant isolation on every
// endpoint; soft delete seen by the other dialects; an MCP server started
// in the test, listed and called.
//
// The toolkits are declared with the Caddyfile syntax
//
//	toolkit <name> http { method <name> <url> { description; parameters; confirm; timeout } }
//	mcp <name> <endpoint> { confirm <tool...> }
//	paused_run_ttl <duration>

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
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tidwall/gjson"
)

// The document's values.
const (
	v2DocKey     = "agk_abc123def456"
	v2DocHost    = "http://localhost:8000"
	v2DocRunID   = "run-f47ac10b"
	v2DocReply   = "I can help you reset your password. Please go to Settings > Security > Reset Password..."
	v2DocArgs    = `{"to":"jane@acme.com","subject":"Password Reset"}`
	v2DocEdited  = `{"to":"jane@acme.com","subject":"Password Reset Instructions"}`
	v2DocEvents  = `{"events":[{"id":"evt-001","summary":"Team Standup","start":"2025-01-15T09:00:00Z"}]}`
	v2DeleteArgs = `{"event_id":"evt-001"}`
)

// v2Webhooks is the operator's webhooks: send_email, list_events (which
// answers the document's events) and delete_event, recording every call.
type v2Webhooks struct {
	*httptest.Server
	mu    sync.Mutex
	calls []string // "<path> <body>"
}

func startV2Webhooks(t *testing.T) *v2Webhooks {
	w := &v2Webhooks{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.calls = append(w.calls, r.URL.Path+" "+string(body))
		w.mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/email/send":
			io.WriteString(rw, `{"status":"sent","message_id":"msg-1"}`)
		case "/calendar/list":
			io.WriteString(rw, v2DocEvents)
		case "/calendar/delete":
			io.WriteString(rw, `{"deleted":true}`)
		default:
			http.NotFound(rw, r)
		}
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *v2Webhooks) received() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.calls...)
}

// v2Upstream is a fake model that answers the document's reply, and calls
// send_email (as in the document), delete_event and search_docs whenever
// a request offers them: which agent and request tools are in play decide
// what happens, so nothing is changed while the gateway runs.
func v2Upstream(t *testing.T) *fakeupstream.OpenAI {
	up := (&fakeupstream.OpenAI{Reply: v2DocReply, ToolCalls: []fakeupstream.ToolCall{
		{ID: "tc-001", Name: "send_email", Args: v2DocArgs},
		{ID: "tc-002", Name: "delete_event", Args: v2DeleteArgs},
		{ID: "tc-003", Name: "search_docs", Args: `{"query":"reset password"}`},
	}}).Start()
	t.Cleanup(up.Close)
	return up
}

// v2Block declares the upstream, the document's toolkits on the
// webhooks, and an agent every tenant shares that may use them.
func v2Block(up *fakeupstream.OpenAI, hooks *v2Webhooks, extra string) string {
	return `
		provider up openai {
			base_url ` + up.URL + `
			api_key sk-upstream
		}
		route gemini-* up
		toolkit EmailToolkit http {
			method send_email ` + hooks.URL + `/email/send {
				description "Sends an email on the user's behalf"
				parameters ` + "`" + `{"type":"object","properties":{"to":{"type":"string"},"subject":{"type":"string"},"body":{"type":"string"}},"required":["to","subject"]}` + "`" + `
				confirm
				timeout 10s
			}
		}
		toolkit CalendarToolkit http {
			method list_events ` + hooks.URL + `/calendar/list {
				description "Lists calendar events of an organizer"
				parameters ` + "`" + `{"type":"object","properties":{"organizer_email":{"type":"string"},"max_results":{"type":"integer"}},"required":["organizer_email"]}` + "`" + `
				timeout 10s
			}
			method delete_event ` + hooks.URL + `/calendar/delete {
				description "Deletes a calendar event"
				parameters ` + "`" + `{"type":"object","properties":{"event_id":{"type":"string"}},"required":["event_id"]}` + "`" + `
				confirm
			}
		}
		agent shared {
			name "Shared Helper"
			system_prompt "You help everyone."
			model gemini-2.5-pro
			provider up
			tools EmailToolkit CalendarToolkit.list_events
		}
` + extra
}

// v2Request sends a request with the key in X-API-Key (as the document
// does) and returns status, headers and body.
func v2Request(t *testing.T, g *testgate.Gateway, method, path, key, body string) (int, http.Header, []byte) {
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
		req.Header.Set("X-API-Key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// v2JSON sends a request that must answer status with a JSON body.
func v2JSON(t *testing.T, g *testgate.Gateway, method, path, key, body string, status int) gjson.Result {
	t.Helper()
	code, hdr, out := v2Request(t, g, method, path, key, body)
	if code != status || hdr.Get("Content-Type") != "application/json" || !gjson.ValidBytes(out) {
		t.Fatalf("%s %s: %d %s %s, want %d JSON", method, path, code, hdr.Get("Content-Type"), out, status)
	}
	return gjson.ParseBytes(out)
}

// v2Event is one Server-Sent Event of a v2 stream.
type v2Event struct {
	name string
	data gjson.Result
}

// v2Stream posts a request that must answer a v2 event stream, read to
// its end: every event is "event: <name>" and one "data:" line of JSON.
func v2Stream(t *testing.T, g *testgate.Gateway, path, key, body string) []v2Event {
	t.Helper()
	req, _ := http.NewRequest("POST", g.URL+path, strings.NewReader(body))
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var out []v2Event
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := strings.TrimPrefix(line, "data: ")
			if name == "" || !gjson.Valid(data) {
				t.Fatalf("bad event %q / %q", name, data)
			}
			out = append(out, v2Event{name: name, data: gjson.Parse(data)})
			name = ""
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
	if len(out) == 0 {
		t.Fatal("empty stream")
	}
	return out
}

// v2Final checks a stream's shape: "message" events of one run, deltas
// "running", then one final event; it returns the streamed text and the
// final event.
func v2Final(t *testing.T, evs []v2Event) (string, gjson.Result) {
	t.Helper()
	var text strings.Builder
	run := evs[0].data.Get("run_id").String()
	for i, ev := range evs {
		status := ev.data.Get("status").String()
		if ev.name != "message" || ev.data.Get("run_id").String() != run || !strings.HasPrefix(run, "run-") ||
			(status == "running") != (i < len(evs)-1) {
			t.Fatalf("event %d of %d: %s %s", i, len(evs), ev.name, ev.data.Raw)
		}
		text.WriteString(ev.data.Get("content").String())
	}
	return text.String(), evs[len(evs)-1].data
}

// v2Example is one example of the document: its curl command, the
// request body it shows without one, and the documented status and
// response.
type v2Example struct {
	curl, request, response string
	status                  int
}

// v2Examples reads testdata/agentsv2/examples.txt, the document's examples
// copied verbatim.
func v2Examples(t *testing.T) map[string]v2Example {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "agentsv2", "examples.txt"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]v2Example{}
	for _, block := range strings.Split(string(raw), "### ")[1:] {
		name, rest, _ := strings.Cut(block, "\n")
		var ex v2Example
		var section *string
		for _, line := range strings.Split(rest, "\n") {
			switch {
			case strings.HasPrefix(line, "status "):
				ex.status, _ = strconv.Atoi(strings.TrimPrefix(line, "status "))
			case strings.HasPrefix(line, "$ "):
				section = &ex.curl
				ex.curl = strings.TrimPrefix(line, "$ ")
			case line == "request:":
				section = &ex.request
			case line == "response:":
				section = &ex.response
			case section != nil:
				*section += "\n" + line
			}
		}
		ex.curl, ex.request, ex.response = strings.TrimSpace(ex.curl), strings.TrimSpace(ex.request), strings.TrimSpace(ex.response)
		out[name] = ex
	}
	return out
}

// shellWords splits a command line as a POSIX shell does for the quoting
// the document's examples use: single and double quotes and backslash
// line continuations.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == '\n':
			i++
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				t.Fatalf("unterminated quote in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
					cur.WriteByte(s[j])
					continue
				}
				cur.WriteByte(s[j])
			}
			i = j
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// runCurl runs a document example's curl command against g: the
// document's host and key replaced by g's and testgate.KeyA, and any
// replacements of the body (a real run id for the document's).
func runCurl(t *testing.T, g *testgate.Gateway, curl string, replace ...string) (int, http.Header, []byte) {
	t.Helper()
	words := shellWords(t, curl)
	if len(words) == 0 || words[0] != "curl" {
		t.Fatalf("not a curl command: %q", curl)
	}
	method, target, body := "", "", ""
	header := http.Header{}
	for i := 1; i < len(words); i++ {
		switch w := words[i]; w {
		case "-X":
			i++
			method = words[i]
		case "-H":
			i++
			k, v, _ := strings.Cut(words[i], ":")
			header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-d":
			i++
			body = words[i]
		default:
			target = w
		}
	}
	if method == "" {
		method = "GET"
		if body != "" {
			method = "POST"
		}
	}
	if !strings.HasPrefix(target, v2DocHost) || header.Get("X-API-Key") != v2DocKey {
		t.Fatalf("example does not target the document's host and key: %q", curl)
	}
	header.Set("X-API-Key", testgate.KeyA)
	for i := 0; i+1 < len(replace); i += 2 {
		body = strings.ReplaceAll(body, replace[i], replace[i+1])
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.URL+strings.TrimPrefix(target, v2DocHost), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// matchDoc checks got against a documented JSON value: every documented
// key is there with the same JSON type (a documented null allows any
// value), recursively; arrays are compared item by item when exact, else
// each item against the documented first. When exact, values are equal
// too, except under the keys in loose (generated ids, usage).
func matchDoc(t *testing.T, path string, doc, got any, exact bool, loose map[string]bool) {
	t.Helper()
	switch d := doc.(type) {
	case nil:
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
			matchDoc(t, path+"."+k, dv, gv, exact && !loose[k], loose)
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			t.Errorf("%s: got %T, documented an array", path, got)
			return
		}
		if exact && len(g) != len(d) {
			t.Errorf("%s: %d items, documented %d", path, len(g), len(d))
			return
		}
		for i, gv := range g {
			if exact {
				matchDoc(t, fmt.Sprintf("%s[%d]", path, i), d[i], gv, true, loose)
			} else if len(d) > 0 {
				matchDoc(t, fmt.Sprintf("%s[%d]", path, i), d[0], gv, false, loose)
			}
		}
	default:
		if reflect.TypeOf(doc) != reflect.TypeOf(got) {
			t.Errorf("%s: got %T %v, documented %T", path, got, got, doc)
		} else if exact && !reflect.DeepEqual(doc, got) {
			t.Errorf("%s: got %v, documented %v", path, got, doc)
		}
	}
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return v
}

// checkExample checks an answer against the documented one.
func checkExample(t *testing.T, name string, ex v2Example, status int, hdr http.Header, body []byte, exact bool, loose ...string) {
	t.Helper()
	if status != ex.status || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: %d %s %s, documented %d JSON", name, status, hdr.Get("Content-Type"), body, ex.status)
	}
	l := map[string]bool{}
	for _, k := range loose {
		l[k] = true
	}
	matchDoc(t, name, decodeAny(t, []byte(ex.response)), decodeAny(t, body), exact, l)
}

// supportAgent creates the document's customer-support agent, as the
// list and get examples show it.
const supportAgent = `{"id":"customer-support","name":"Customer Support Agent",
	"description":"Handles customer inquiries and troubleshooting",
	"template":"You are a customer support agent for Acme Corp...",
	"tags":["support","customer-facing"],
	"config":{"enable_memory":true,"enable_history":true,"num_history_runs":3,"enable_reasoning":false,"reasoning_min_steps":1,"reasoning_max_steps":10}}`

// TestAgentsV2DocumentExamples runs every curl example of the document as
// written, with the agents it uses created first, in the document's order.
func TestAgentsV2DocumentExamples(t *testing.T) {
	hooks := startV2Webhooks(t)
	up := v2Upstream(t)
	g := testgate.Start(t, testgate.Config{Block: v2Block(up, hooks, "")})
	ex := v2Examples(t)
	for _, name := range []string{"list", "get", "batch", "create", "delete", "chat", "paused", "commit", "cancel", "toolkit", "stream"} {
		if _, ok := ex[name]; !ok {
			t.Fatalf("example %q missing from testdata", name)
		}
	}
	v2JSON(t, g, "POST", "/v2/agents", testgate.KeyA, supportAgent, 201)
	// The operator's shared agent is listed too; the document's list is
	// the tenant's own agents.
	status, hdr, body := runCurl(t, g, ex["list"].curl)
	list := gjson.ParseBytes(body).Array()
	if len(list) != 2 || list[0].Get("id").String() != "shared" {
		t.Fatalf("list: %s", body)
	}
	checkExample(t, "list", ex["list"], status, hdr, []byte("["+list[1].Raw+"]"), true)

	status, hdr, body = runCurl(t, g, ex["get"].curl)
	checkExample(t, "get", ex["get"], status, hdr, body, true)

	// sales-assistant does not exist: left out. The document's batch
	// answer abbreviates the agent, so only its shape is compared.
	status, hdr, body = runCurl(t, g, ex["batch"].curl)
	checkExample(t, "batch", ex["batch"], status, hdr, body, false)
	if n := len(gjson.ParseBytes(body).Array()); n != 1 {
		t.Errorf("batch: %d agents", n)
	}

	status, hdr, body = runCurl(t, g, ex["create"].curl)
	checkExample(t, "create", ex["create"], status, hdr, body, true)
	got := v2JSON(t, g, "GET", "/v2/agents/code-reviewer", testgate.KeyA, "", 200)
	if got.Get("config.num_history_runs").Int() != 5 || !got.Get("config.enable_reasoning").Bool() ||
		got.Get("config.reasoning_min_steps").Int() != 2 || got.Get("config.reasoning_max_steps").Int() != 8 {
		t.Errorf("created agent reads back as %s", got.Raw)
	}
	status, _, body = runCurl(t, g, ex["create"].curl)
	if status != http.StatusConflict || !strings.Contains(gjson.GetBytes(body, "detail").String(), "already exists") {
		t.Errorf("duplicate create: %d %s", status, body)
	}

	status, hdr, body = runCurl(t, g, ex["delete"].curl)
	checkExample(t, "delete", ex["delete"], status, hdr, body, true)
	v2JSON(t, g, "GET", "/v2/agents/code-reviewer", testgate.KeyA, "", 404)

	// The chat answers the fake model's reply, which is the document's.
	status, hdr, body = runCurl(t, g, ex["chat"].curl)
	checkExample(t, "chat", ex["chat"], status, hdr, body, true, "run_id", "token_usage")
	if !strings.HasPrefix(gjson.GetBytes(body, "run_id").String(), "run-") || gjson.GetBytes(body, "token_usage.total_tokens").Int() == 0 {
		t.Errorf("chat: %s", body)
	}
	// The upstream saw the template and the request's model.
	if last := up.LastRequest(); last.Get("model").String() != "gemini-2.5-pro" ||
		last.Get("messages.0.content").String() != "You are a customer support agent for Acme Corp..." {
		t.Errorf("upstream request: %s", last.Raw)
	}

	// The same chat with send_email among its tools pauses, as the
	// document's paused response shows.
	paused := strings.Replace(v2ChatBody(ex), `"stream": false,`, `"stream": false, "tools": ["EmailToolkit"],`, 1)
	body = []byte(v2JSON(t, g, "POST", "/v2/agents/customer-support/chat", testgate.KeyA, paused, 200).Raw)
	checkExample(t, "paused", ex["paused"], 200, http.Header{"Content-Type": {"application/json"}}, body, true, "run_id")
	run := gjson.GetBytes(body, "run_id").String()
	if len(hooks.received()) != 0 {
		t.Fatalf("a tool ran before confirmation: %v", hooks.received())
	}

	// The commit example, with the real run id: the edited arguments
	// reach the webhook and the run completes.
	status, _, body = runCurl(t, g, ex["commit"].curl, v2DocRunID, run)
	if status != 200 || gjson.GetBytes(body, "status").String() != "completed" || gjson.GetBytes(body, "content").String() != v2DocReply ||
		gjson.GetBytes(body, "tools.0.tool_args.subject").String() != "Password Reset Instructions" ||
		gjson.GetBytes(body, "tools.0.result.status").String() != "sent" {
		t.Fatalf("commit: %d %s", status, body)
	}
	if got := hooks.received(); len(got) != 1 || got[0] != "/email/send "+v2DocEdited {
		t.Fatalf("webhook received %v", got)
	}

	// The cancel request, as written: it names no stream, and answers the
	// documented JSON; once more with "stream": true, it streams.
	for _, stream := range []bool{false, true} {
		body = []byte(v2JSON(t, g, "POST", "/v2/agents/customer-support/chat", testgate.KeyA, paused, 200).Raw)
		cancel := strings.ReplaceAll(ex["cancel"].request, v2DocRunID, gjson.GetBytes(body, "run_id").String())
		if !stream {
			status, hdr, body = v2Request(t, g, "POST", "/v2/agents/customer-support/chat/commit", testgate.KeyA, cancel)
			checkExample(t, "cancel", ex["cancel"], status, hdr, body, true)
			continue
		}
		cancel = strings.Replace(cancel, `"run_id"`, `"stream": true, "run_id"`, 1)
		text, final := v2Final(t, v2Stream(t, g, "/v2/agents/customer-support/chat/commit", testgate.KeyA, cancel))
		if text != "Tool execution cancelled by user." {
			t.Errorf("cancel stream text %q", text)
		}
		checkExample(t, "cancel (stream)", ex["cancel"], 200, http.Header{"Content-Type": {"application/json"}}, []byte(final.Raw), true)
	}
	if n := len(hooks.received()); n != 1 {
		t.Errorf("cancelled runs called the webhook: %v", hooks.received())
	}

	// Streaming: the chat example with "stream": true.
	evs := v2Stream(t, g, "/v2/agents/customer-support/chat", testgate.KeyA, strings.Replace(v2ChatBody(ex), `"stream": false`, `"stream": true`, 1))
	text, final := v2Final(t, evs)
	docEvents := strings.Split(ex["stream"].response, "\n\n")
	for _, ev := range evs {
		// Each event is as documented: event: message, content, status, run_id.
		doc := strings.SplitN(docEvents[0], "\n", 2)
		matchDoc(t, "stream", decodeAny(t, []byte(strings.TrimPrefix(doc[1], "data: "))), decodeAny(t, []byte(ev.data.Raw)), false, nil)
	}
	if len(evs) < 3 || text != v2DocReply || final.Get("status").String() != "completed" {
		t.Errorf("stream: %q, %d events, final %s", text, len(evs), final.Raw)
	}

	// Direct toolkit execution, with the agent it names.
	v2JSON(t, g, "POST", "/v2/agents", testgate.KeyA,
		`{"id":"calendar-agent","name":"Calendar Agent","template":"You manage calendars.","config":{"worker_config":{"tools":["CalendarToolkit"]}}}`, 201)
	status, hdr, body = runCurl(t, g, ex["toolkit"].curl)
	checkExample(t, "toolkit", ex["toolkit"], status, hdr, body, true)
	// user_id and session_id are context; max_results became an integer.
	if got := hooks.received(); got[len(got)-1] != `/calendar/list {"max_results":5,"organizer_email":"jane@acme.com"}` {
		t.Errorf("webhook received %v", got)
	}
}

// v2ChatBody is the chat example's body.
func v2ChatBody(ex map[string]v2Example) string {
	c := ex["chat"].curl
	return c[strings.Index(c, "-d '")+4 : strings.LastIndex(c, "'")]
}

// chatFor is a minimal chat request.
func chatFor(session string, stream bool, extra string) string {
	return fmt.Sprintf(`{"message":"Mail Jane the reset link","stream":%v,"user_id":"user-42","session_id":%q,"timezone":"Europe/Paris","locale":"fr-FR"%s}`,
		stream, session, extra)
}

func commitFor(run, session string, stream bool, decisions string) string {
	return fmt.Sprintf(`{"run_id":%q,"stream":%v,"user_id":"user-42","session_id":%q,"updated_tools":%s}`, run, stream, session, decisions)
}

// TestAgentsV2PausedRuns drives paused runs end to end.
func TestAgentsV2PausedRuns(t *testing.T) {
	hooks := startV2Webhooks(t)
	up := v2Upstream(t)
	g := testgate.Start(t, testgate.Config{Block: v2Block(up, hooks, "")})
	v2JSON(t, g, "POST", "/v2/agents", testgate.KeyA, `{"id":"mailer","name":"Mailer","template":"You send mail for {{user_profile.full_name}}.",`+
		`"config":{"worker_config":{"tools":["EmailToolkit"]}}}`, 201)
	v2JSON(t, g, "POST", "/v2/agents", testgate.KeyA, `{"id":"planner","name":"Planner","template":"You mail and plan.",`+
		`"tools":["send_email","CalendarToolkit.delete_event"]}`, 201)
	const chat, commit = "/v2/agents/mailer/chat", "/v2/agents/mailer/chat/commit"
	pause := func(t *testing.T, path, session string) string {
		t.Helper()
		_, final := v2Final(t, v2Stream(t, g, path, testgate.KeyA, chatFor(session, true, "")))
		if final.Get("status").String() != "paused" || final.Get("content").Type != gjson.Null || final.Get("tools.0.result").Type != gjson.Null {
			t.Fatalf("not paused: %s", final.Raw)
		}
		return final.Get("run_id").String()
	}
	webhookCalls := func() int { return len(hooks.received()) }

	t.Run("edit and commit, streamed", func(t *testing.T) {
		before := webhookCalls()
		run := pause(t, chat, "s-edit")
		if webhookCalls() != before {
			t.Fatal("send_email ran before confirmation")
		}
		edited := `{"to":"jane@acme.com","subject":"Your reset link","body":"Click here."}`
		text, final := v2Final(t, v2Stream(t, g, commit, testgate.KeyA,
			commitFor(run, "s-edit", true, `[{"tool_call_id":"tc-001","confirmed":true,"tool_args":`+edited+`}]`)))
		if text != v2DocReply || final.Get("status").String() != "completed" || final.Get("run_id").String() != run ||
			final.Get("tools.0.tool_args.subject").String() != "Your reset link" {
			t.Fatalf("commit stream: %q %s", text, final.Raw)
		}
		got := hooks.received()
		if len(got) != before+1 || got[before] != "/email/send "+edited {
			t.Fatalf("webhook received %v", got[before:])
		}
		// The model was told what actually ran: the edited call and its result.
		last := up.LastRequest()
		if last.Get("messages.#(role==\"assistant\").tool_calls.0.function.arguments").String() != edited ||
			last.Get("messages.@reverse.0.role").String() != "tool" {
			t.Errorf("resumed request: %s", last.Raw)
		}
		// Double commit.
		body := v2JSON(t, g, "POST", commit, testgate.KeyA, commitFor(run, "s-edit", false, `[{"tool_call_id":"tc-001","confirmed":true}]`), 409)
		if !strings.Contains(body.Get("detail").String(), "committed once") {
			t.Errorf("double commit: %s", body.Raw)
		}
		// The session keeps the whole run: the next turn replays it.
		v2JSON(t, g, "POST", chat, testgate.KeyA, strings.Replace(chatFor("s-edit", false, ""), `"message":"Mail Jane the reset link"`, `"message":"Thanks"`, 1), 200)
	})

	t.Run("cancel", func(t *testing.T) {
		before := webhookCalls()
		run := pause(t, chat, "s-cancel")
		body := v2JSON(t, g, "POST", commit, testgate.KeyA, commitFor(run, "s-cancel", false, `[{"tool_call_id":"tc-001","confirmed":false}]`), 200)
		if body.Get("status").String() != "cancelled" || body.Get("content").String() != "Tool execution cancelled by user." ||
			body.Get("agent_id").String() != "mailer" || body.Get("session_id").String() != "s-cancel" || webhookCalls() != before {
			t.Fatalf("cancel: %s", body.Raw)
		}
		v2JSON(t, g, "POST", commit, testgate.KeyA, commitFor(run, "s-cancel", false, `[{"tool_call_id":"tc-001","confirmed":true}]`), 409)
	})

	t.Run("mixed decisions", func(t *testing.T) {
		before := webhookCalls()
		_, final := v2Final(t, v2Stream(t, g, "/v2/agents/planner/chat", testgate.KeyA, chatFor("s-mixed", true, "")))
		if final.Get("status").String() != "paused" || final.Get("tools.#").Int() != 2 {
			t.Fatalf("not paused on two calls: %s", final.Raw)
		}
		run := final.Get("run_id").String()
		// A missing decision is named; nothing runs.
		v2JSON(t, g, "POST", "/v2/agents/planner/chat/commit", testgate.KeyA, commitFor(run, "s-mixed", false, `[{"tool_call_id":"tc-001","confirmed":true}]`), 422)
		body := v2JSON(t, g, "POST", "/v2/agents/planner/chat/commit", testgate.KeyA,
			commitFor(run, "s-mixed", false, `[{"tool_call_id":"tc-001","confirmed":true},{"tool_call_id":"tc-002","confirmed":false}]`), 200)
		if body.Get("status").String() != "completed" || body.Get("tools.#").Int() != 2 ||
			body.Get("tools.#(tool_call_id==\"tc-002\").result.error").String() == "" {
			t.Fatalf("mixed: %s", body.Raw)
		}
		got := hooks.received()[before:]
		if len(got) != 1 || got[0] != "/email/send "+v2DocArgs {
			t.Fatalf("webhook received %v", got)
		}
	})

	t.Run("another tenant's key", func(t *testing.T) {
		// On the agent both tenants share, tenant B cannot commit, cancel
		// or even see tenant A's run.
		before := webhookCalls()
		run := pause(t, "/v2/agents/shared/chat", "s-shared")
		for _, confirmed := range []string{"true", "false"} {
			body := v2JSON(t, g, "POST", "/v2/agents/shared/chat/commit", testgate.KeyB,
				commitFor(run, "s-shared", false, `[{"tool_call_id":"tc-001","confirmed":`+confirmed+`}]`), 404)
			if !strings.Contains(body.Get("detail").String(), "not found") {
				t.Errorf("tenant B: %s", body.Raw)
			}
		}
		if webhookCalls() != before {
			t.Fatal("tenant B's commit ran the tool")
		}
		body := v2JSON(t, g, "POST", "/v2/agents/shared/chat/commit", testgate.KeyA,
			commitFor(run, "s-shared", false, `[{"tool_call_id":"tc-001","confirmed":true}]`), 200)
		if body.Get("status").String() != "completed" {
			t.Errorf("tenant A: %s", body.Raw)
		}
	})

	t.Run("bad commits", func(t *testing.T) {
		run := pause(t, chat, "s-bad")
		for _, c := range []struct {
			body   string
			status int
		}{
			{`{}`, 422},
			{commitFor("run-unknown", "s-bad", false, `[{"tool_call_id":"tc-001","confirmed":true}]`), 404},
			{commitFor(run, "s-other", false, `[{"tool_call_id":"tc-001","confirmed":true}]`), 422},
			{commitFor(run, "s-bad", false, `[{"tool_call_id":"tc-999","confirmed":true}]`), 422},
			{commitFor(run, "s-bad", false, `[{"tool_call_id":"tc-001","confirmed":true,"tool_args":"to jane"}]`), 422},
		} {
			v2JSON(t, g, "POST", commit, testgate.KeyA, c.body, c.status)
		}
		// Still paused after all that: it commits.
		v2JSON(t, g, "POST", commit, testgate.KeyA, commitFor(run, "s-bad", false, `[{"tool_call_id":"tc-001","confirmed":true}]`), 200)
	})
}

// TestAgentsV2PausedRunExpires commits a run after its TTL.
func TestAgentsV2PausedRunExpires(t *testing.T) {
	hooks := startV2Webhooks(t)
	up := v2Upstream(t)
	g := testgate.Start(t, testgate.Config{Block: v2Block(up, hooks, "paused_run_ttl 300ms\n")})
	body := v2JSON(t, g, "POST", "/v2/agents/shared/chat", testgate.KeyA, chatFor("s-ttl", false, ""), 200)
	if body.Get("status").String() != "paused" {
		t.Fatalf("not paused: %s", body.Raw)
	}
	time.Sleep(500 * time.Millisecond)
	body = v2JSON(t, g, "POST", "/v2/agents/shared/chat/commit", testgate.KeyA,
		commitFor(body.Get("run_id").String(), "s-ttl", false, `[{"tool_call_id":"tc-001","confirmed":true}]`), 404)
	if !strings.Contains(body.Get("detail").String(), "expired") || len(hooks.received()) != 0 {
		t.Fatalf("expired commit: %s, webhook %v", body.Raw, hooks.received())
	}
}

// TestAgentsV2TenantIsolation checks every endpoint with the other
// tenant's key, and bad keys.
func TestAgentsV2TenantIsolation(t *testing.T) {
	hooks := startV2Webhooks(t)
	up := v2Upstream(t)
	g := testgate.Start(t, testgate.Config{Block: v2Block(up, hooks, "")})
	v2JSON(t, g, "POST", "/v2/agents", testgate.KeyA, `{"id":"private","name":"Private","template":"Mine.","config":{"worker_config":{"tools":["CalendarToolkit"]}}}`, 201)
	run := v2JSON(t, g, "POST", "/v2/agents/private/chat", testgate.KeyA,
		chatFor("s-private", false, `,"tools":["EmailToolkit"]`), 200).Get("run_id").String()

	ids := func(r gjson.Result) []string {
		var out []string
		for _, a := range r.Array() {
			out = append(out, a.Get("id").String())
		}
		sort.Strings(out)
		return out
	}
	if got := ids(v2JSON(t, g, "GET", "/v2/agents", testgate.KeyB, "", 200)); !reflect.DeepEqual(got, []string{"shared"}) {
		t.Errorf("tenant B lists %v", got)
	}
	if got := ids(v2JSON(t, g, "POST", "/v2/agents/batch", testgate.KeyB, `{"agent_ids":["private","shared"]}`, 200)); !reflect.DeepEqual(got, []string{"shared"}) {
		t.Errorf("tenant B batch %v", got)
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/v2/agents/private", ""},
		{"DELETE", "/v2/agents/private", ""},
		{"POST", "/v2/agents/private/chat", chatFor("s-private", false, "")},
		{"POST", "/v2/agents/private/chat/commit", commitFor(run, "s-private", false, `[{"tool_call_id":"tc-001","confirmed":true}]`)},
		{"GET", "/v2/agents/private/toolkit/run?toolkit_name=CalendarToolkit&method_name=list_events&organizer_email=x@y.z", ""},
	} {
		body := v2JSON(t, g, r.method, r.path, testgate.KeyB, r.body, 404)
		if body.Get("detail").String() != "Agent private not found" {
			t.Errorf("%s %s: %s", r.method, r.path, body.Raw)
		}
	}
	// Tenant B's agent of the same id is its own; tenant A's is untouched.
	v2JSON(t, g, "POST", "/v2/agents", testgate.KeyB, `{"id":"private","name":"B's","template":"Theirs."}`, 201)
	if name := v2JSON(t, g, "GET", "/v2/agents/private", testgate.KeyA, "", 200).Get("name").String(); name != "Private" {
		t.Errorf("tenant A's agent is now %q", name)
	}
	// Tenant B's session of the same id does not see tenant A's turns.
	v2JSON(t, g, "POST", "/v2/agents/shared/chat", testgate.KeyA, chatFor("s-same", false, `,"tools":[]`), 200)
	v2JSON(t, g, "POST", "/v2/agents/shared/chat", testgate.KeyB, strings.Replace(chatFor("s-same", false, ""), "Mail Jane", "Hello", 1), 200)
	if n := len(up.LastRequest().Get("messages").Array()); n != 2 { // system + B's message
		t.Errorf("tenant B's chat carried %d messages: %s", n, up.LastRequest().Raw)
	}
	if len(hooks.received()) != 0 {
		t.Errorf("webhooks called: %v", hooks.received())
	}

	// Keys: missing and wrong keys are 401 with a detail; Bearer works too.
	for _, key := range []string{"", "agk_wrong"} {
		for _, path := range []string{"/v2/agents", "/v2/agents/private"} {
			if body := v2JSON(t, g, "GET", path, key, "", 401); body.Get("detail").String() == "" {
				t.Errorf("%q: %s", key, body.Raw)
			}
		}
	}
	status, out, _ := g.Do("GET", "/v2/agents/private", testgate.KeyA, nil)
	if status != 200 || gjson.GetBytes(out, "id").String() != "private" {
		t.Errorf("Bearer: %d %s", status, out)
	}
}

// TestAgentsV2SoftDeleteAcrossDialects deletes an agent made through v2
// and checks the other dialects no longer list or invoke it.
func TestAgentsV2SoftDeleteAcrossDialects(t *testing.T) {
	hooks := startV2Webhooks(t)
	up := v2Upstream(t)
	g := testgate.Start(t, testgate.Config{Block: v2Block(up, hooks, "")})
	v2JSON(t, g, "POST", "/v2/agents", testgate.KeyA, `{"id":"doomed","name":"Doomed","template":"Bye."}`, 201)
	models := func() string { _, out, _ := g.Do("GET", "/v1/models", testgate.KeyA, nil); return string(out) }
	agents := func() string { _, out, _ := g.Do("GET", "/v1/agents", testgate.KeyA, nil); return string(out) }
	if !strings.Contains(models(), `"doomed"`) || !strings.Contains(agents(), `"doomed"`) {
		t.Fatalf("the v2 agent is not in the other dialects: %s %s", models(), agents())
	}
	// A session with it, through the OpenAI surface.
	if status, out, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA,
		`{"model":"doomed","messages":[{"role":"user","content":"hi"}]}`); status != 200 {
		t.Fatalf("chat completions: %d %s", status, out)
	}
	v2JSON(t, g, "DELETE", "/v2/agents/doomed", testgate.KeyA, "", 200)
	if strings.Contains(models(), `"doomed"`) || strings.Contains(agents(), `"doomed"`) {
		t.Errorf("deleted agent still listed: %s %s", models(), agents())
	}
	if status, out, _ := g.Do("POST", "/v1/chat/completions", testgate.KeyA,
		`{"model":"doomed","messages":[{"role":"user","content":"hi"}]}`); status != 404 {
		t.Errorf("chat completions with a deleted agent: %d %s", status, out)
	}
	if status, out, _ := g.Do("POST", "/v1/chat", testgate.KeyA, `{"agent_id":"doomed","message":"hi"}`); status != 404 {
		t.Errorf("egzora chat with a deleted agent: %d %s", status, out)
	}
	// Declared agents cannot be deleted.
	if body := v2JSON(t, g, "DELETE", "/v2/agents/shared", testgate.KeyA, "", 403); !strings.Contains(body.Get("detail").String(), "cannot be deleted") {
		t.Errorf("delete declared: %s", body.Raw)
	}
}

// searchIn and searchOut are the MCP test tool's arguments and result.
type searchIn struct {
	Query string `json:"query"`
}
type searchOut struct {
	Hits []string `json:"hits"`
}

// TestAgentsV2MCP declares an MCP server started in the test: its tools
// are listed into a toolkit, a v2 agent names it in worker_config, and its
// tool is called directly and by the model.
func TestAgentsV2MCP(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	srv := mcp.NewServer(&mcp.Implementation{Name: "docs", Version: "v1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "search_docs", Description: "Searches the help center."},
		func(_ context.Context, _ *mcp.CallToolRequest, in searchIn) (*mcp.CallToolResult, searchOut, error) {
			mu.Lock()
			queries = append(queries, in.Query)
			mu.Unlock()
			return nil, searchOut{Hits: []string{"How to reset your password"}}, nil
		})
	mcpSrv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(mcpSrv.Close)
	hooks := startV2Webhooks(t)
	up := v2Upstream(t)
	g := testgate.Start(t, testgate.Config{Block: v2Block(up, hooks, "mcp docs "+mcpSrv.URL+"\n")})

	// The server connects in the background: wait for its toolkit.
	create := `{"id":"helpdesk","name":"Helpdesk","template":"Search first.","config":{"worker_config":{"mcp_servers":["docs"]}}}`
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, out := v2Request(t, g, "POST", "/v2/agents", testgate.KeyA, create)
		if status == 201 {
			break
		}
		if status != 422 || time.Now().After(deadline) {
			t.Fatalf("create with an MCP server: %d %s", status, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Only declared MCP servers may be named.
	v2JSON(t, g, "POST", "/v2/agents", testgate.KeyA,
		`{"id":"rogue","name":"Rogue","template":"t","config":{"worker_config":{"mcp_servers":[{"name":"evil","url":"https://evil.example/mcp"}]}}}`, 422)

	body := v2JSON(t, g, "GET", "/v2/agents/helpdesk/toolkit/run?toolkit_name=docs&method_name=search_docs&query=reset&user_id=u", testgate.KeyA, "", 200)
	if body.Get("status").String() != "success" || body.Get("result.hits.0").String() != "How to reset your password" {
		t.Fatalf("toolkit run: %s", body.Raw)
	}
	body = v2JSON(t, g, "POST", "/v2/agents/helpdesk/chat", testgate.KeyA, chatFor("s-mcp", false, ""), 200)
	if body.Get("status").String() != "completed" || body.Get("tools.0.tool_name").String() != "search_docs" ||
		body.Get("tools.0.result.hits.0").String() != "How to reset your password" {
		t.Fatalf("chat: %s", body.Raw)
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(queries, []string{"reset", "reset password"}) {
		t.Errorf("MCP tool received %v", queries)
	}
}
