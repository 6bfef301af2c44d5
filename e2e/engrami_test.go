package e2e

// Acceptance tests of the Engrami dialect and long-term memory (issue 8)
// through a real Caddy with httptest upstreams (chat and embeddings from
// fakeupstream.OpenAI, tools as httptest webhooks):
//
//   - every curl example of the document, run with curl as written (host
//     and token adjusted; the one URL holding "&" is quoted, as any shell
//     needs), gives the documented status and shape;
//   - a fact stated in conversation A is recalled in conversation B of the
//     same agent and user, listed by GET memory?type=semantic, gone after
//     DELETE memory?type=semantic, and never visible to another tenant or
//     another end user;
//   - delete_memory=true removes the agent's memories; false keeps them in
//     the store, where an operator reads them.
//
// The document's example agents name tools the operator must declare
// (tenants can only attach declared tools): the Caddyfile declares
// web_search, document_reader, knowledge_base, ticket_creation and
// escalation as webhooks:
//
//	toolkit Research http { method web_search <url>; method document_reader <url> }
//	toolkit Support http { method knowledge_base <url>; method ticket_creation <url>; method escalation <url> }
//
// and the global option `embedding_model text-embedding-ada-002` makes
// memories embedded (the document shows that model on memory items).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/agentgate/agentgate/state/bbolt"
)

// The document's host and token, and the key of its tenant (tenant_xyz).
const (
	engDocHost  = "https://api.engrami.com"
	engDocToken = "YOUR_TOKEN"
	engKeyXYZ   = "agk_test_tenant_xyz_key_00000000"
	// engEmbeddingModel is the document's embedding model.
	engEmbeddingModel = "text-embedding-ada-002"
	engManagerPrompt  = memory.ManagerPrompt
)

// engBlock declares the upstream (chat and embeddings), the document's
// tools as webhooks, the embedding model and the document's tenant's key.
func engBlock(up *fakeupstream.OpenAI, hooks *httptest.Server) string {
	method := func(name string) string {
		return `method ` + name + ` ` + hooks.URL + `/` + name + ` {
				description "The ` + strings.ReplaceAll(name, "_", " ") + ` tool"
			}
			`
	}
	return `
		provider up openai {
			base_url ` + up.URL + `
			api_key sk-upstream
		}
		embedding_model ` + engEmbeddingModel + `
		toolkit Research http {
			` + method("web_search") + method("document_reader") + `
		}
		toolkit Support http {
			` + method("knowledge_base") + method("ticket_creation") + method("escalation") + `
		}
		key ` + engKeyXYZ + ` {
			tenant tenant_xyz
			tier pro
		}
`
}

// engUpstream is a fake upstream whose memory manager finds the facts the
// user states about colours and cities; answers are reply otherwise.
func engUpstream(reply string) *fakeupstream.OpenAI {
	up := &fakeupstream.OpenAI{Reply: reply}
	up.ReplyFunc = func(req gjson.Result) string {
		if !strings.HasPrefix(req.Get("messages.0.content").String(), engManagerPrompt) {
			return ""
		}
		exchange := req.Get("messages.@reverse.0.content").String()
		_, exchange, _ = strings.Cut(exchange, "Latest exchange:")
		var facts []string
		for _, m := range regexp.MustCompile(`[Mm]y favourite colour is (\w+)`).FindAllStringSubmatch(exchange, -1) {
			facts = append(facts, `"The user's favourite colour is `+m[1]+`."`)
		}
		for _, m := range regexp.MustCompile(`I live in (\w+)`).FindAllStringSubmatch(exchange, -1) {
			facts = append(facts, `"The user lives in `+m[1]+`."`)
		}
		return `{"facts":[` + strings.Join(facts, ",") + `],"instructions":[],"forget":[]}`
	}
	return up.Start()
}

func engHooks(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(s.Close)
	return s
}

// engDo sends a JSON request with key and returns status and parsed body.
func engDo(t *testing.T, g *testgate.Gateway, method, path, key string, body any) (int, gjson.Result) {
	t.Helper()
	status, out, hdr := g.Do(method, path, key, body)
	if ct := hdr.Get("Content-Type"); ct != "application/json" || !gjson.ValidBytes(out) {
		t.Fatalf("%s %s: %d %s %s", method, path, status, ct, out)
	}
	return status, gjson.ParseBytes(out)
}

func engMust(t *testing.T, g *testgate.Gateway, method, path, key string, body any, want int) gjson.Result {
	t.Helper()
	status, out := engDo(t, g, method, path, key, body)
	if status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, status, out.Raw, want)
	}
	return out
}

// engChatRequest is the upstream request that answered message (not a
// memory manager's call).
func engChatRequest(t *testing.T, up *fakeupstream.OpenAI, message string) gjson.Result {
	t.Helper()
	for _, b := range slices.Backward(up.Requests()) {
		r := gjson.ParseBytes(b)
		if r.Get("messages.@reverse.0.content").String() == message && !strings.HasPrefix(r.Get("messages.0.content").String(), engManagerPrompt) {
			return r
		}
	}
	t.Fatalf("no upstream request answered %q", message)
	return gjson.Result{}
}

// engWaitMemory polls an agent's memory until match finds an item (the
// write-back runs in the background) and returns it.
func engWaitMemory(t *testing.T, g *testgate.Gateway, key, agent, query string, match func(gjson.Result) bool) gjson.Result {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := engMust(t, g, "GET", "/api/v1/agents/"+agent+"/memory"+query, key, nil, 200)
		for _, it := range out.Get("items").Array() {
			if match(it) {
				return it
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("memory of %s%s never held the item: %s", agent, query, out.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func engIDs(r gjson.Result) []string {
	var out []string
	for _, v := range r.Array() {
		out = append(out, v.String())
	}
	return out
}

// TestEngramiMemoryAcrossConversations: a fact stated in conversation A
// is recalled in conversation B of the same agent and user, listed by
// GET memory?type=semantic, gone after DELETE memory?type=semantic, and
// never visible to another tenant or another end user.
func TestEngramiMemoryAcrossConversations(t *testing.T) {
	up := engUpstream("Noted.")
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: engBlock(up, engHooks(t))})
	a, b := testgate.KeyA, testgate.KeyB

	agent := engMust(t, g, "POST", "/api/v1/agents", a, map[string]any{"name": "Concierge", "model": "gpt-4",
		"system_prompt": "You are a concierge.", "memory_config": map[string]bool{"semantic_enabled": true, "episodic_enabled": true}}, 201)
	id := agent.Get("id").String()
	if !strings.HasPrefix(id, "agent_") {
		t.Fatalf("agent id %q", id)
	}
	chat := func(key, conv, user, message string) gjson.Result {
		t.Helper()
		body := map[string]any{"message": message, "context": map[string]string{"user_id": user, "platform": "web"}}
		if conv != "" {
			body["conversation_id"] = conv
		}
		out := engMust(t, g, "POST", "/api/v1/agents/"+id+"/chat", key, body, 200)
		if !strings.HasPrefix(out.Get("message_id").String(), "msg_") || out.Get("tokens_used").Int() <= 0 {
			t.Fatalf("chat answer %s", out.Raw)
		}
		return out
	}

	// Conversation A: Ada states a fact.
	chat(a, "conv_a", "ada", "Hello! My favourite colour is teal.")
	fact := engWaitMemory(t, g, a, id, "?type=semantic", func(it gjson.Result) bool {
		return it.Get("content").String() == "The user's favourite colour is teal."
	})
	factID := fact.Get("id").String()
	if !strings.HasPrefix(factID, "mem_") || fact.Get("type").String() != "semantic" || fact.Get("user_id").String() != "ada" ||
		fact.Get("embedding_model").String() != engEmbeddingModel {
		t.Fatalf("fact %s", fact.Raw)
	}
	// Its episode is kept too.
	engWaitMemory(t, g, a, id, "?type=episodic", func(it gjson.Result) bool {
		return strings.Contains(it.Get("content").String(), "My favourite colour is teal.")
	})

	// Conversation B of the same user recalls it: reported, and in the
	// model's context.
	const question = "What is my favourite colour?"
	out := chat(a, "conv_b", "ada", question)
	if !slices.Contains(engIDs(out.Get("memory_accessed")), factID) {
		t.Fatalf("conversation B did not recall the fact %s: %s", factID, out.Raw)
	}
	if sys := engChatRequest(t, up, question).Get("messages.0.content").String(); !strings.Contains(sys, "You are a concierge.") ||
		!strings.Contains(sys, "- The user's favourite colour is teal.") {
		t.Fatalf("conversation B's context:\n%s", sys)
	}

	// Another end user of the same agent: nothing of Ada's.
	out = chat(a, "conv_c", "bob", question)
	if ids := engIDs(out.Get("memory_accessed")); slices.Contains(ids, factID) {
		t.Fatalf("bob recalled Ada's fact: %v", ids)
	}
	// (the last request answering the question is bob's)
	if sys := engChatRequest(t, up, question).Get("messages.0.content").String(); strings.Contains(sys, "teal") {
		t.Fatalf("bob's context holds Ada's memory:\n%s", sys)
	}
	if list := engMust(t, g, "GET", "/api/v1/agents/"+id+"/memory?user_id=bob&type=semantic", a, nil, 200); list.Get("total").Int() != 0 {
		t.Fatalf("bob's semantic memory: %s", list.Raw)
	}

	// Another tenant: the agent and its memory do not exist, whatever the
	// route or tenant_id says.
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/agents/" + id + "/memory?type=semantic"},
		{"DELETE", "/api/v1/agents/" + id + "/memory?type=semantic"},
		{"POST", "/api/v1/agents/" + id + "/chat"},
		// A JSON 404, not an event stream.
		{"POST", "/api/v1/agents/" + id + "/chat/stream"},
		{"GET", "/api/v1/agents/" + id},
	} {
		var body any
		if r.method == "POST" {
			body = map[string]any{"message": "tenant-b probe: " + question, "context": map[string]string{"user_id": "ada"}}
		}
		status, out := engDo(t, g, r.method, r.path, b, body)
		if status != 404 || out.Get("error.code").String() != "agent_not_found" {
			t.Fatalf("tenant B %s %s: %d %s", r.method, r.path, status, out.Raw)
		}
	}
	for _, req := range up.Requests() {
		if strings.Contains(string(req), "tenant-b probe") {
			t.Fatalf("tenant B's chat reached the upstream: %s", req)
		}
	}
	status, out := engDo(t, g, "GET", "/api/v1/agents/"+id+"/memory?tenant_id=tenant-b", a, nil)
	if status != 403 {
		t.Fatalf("tenant_id of another tenant: %d %s", status, out.Raw)
	}
	if list := engMust(t, g, "GET", "/api/v1/agents", b, nil, 200); strings.Contains(list.Raw, id) {
		t.Fatalf("tenant B lists tenant A's agent: %s", list.Raw)
	}

	// DELETE memory?type=semantic forgets the fact, and only facts.
	cleared := engMust(t, g, "DELETE", "/api/v1/agents/"+id+"/memory?type=semantic", a, nil, 200)
	if !cleared.Get("success").Bool() || cleared.Get("deleted_count").Int() < 1 || cleared.Get("message").String() != "Semantic memory cleared successfully" {
		t.Fatalf("clear: %s", cleared.Raw)
	}
	if list := engMust(t, g, "GET", "/api/v1/agents/"+id+"/memory?type=semantic", a, nil, 200); list.Get("total").Int() != 0 || len(list.Get("items").Array()) != 0 {
		t.Fatalf("semantic memory after clear: %s", list.Raw)
	}
	if list := engMust(t, g, "GET", "/api/v1/agents/"+id+"/memory?type=episodic", a, nil, 200); list.Get("total").Int() == 0 {
		t.Fatalf("episodes went with the facts: %s", list.Raw)
	}
	out = chat(a, "conv_d", "ada", "Remind me: what is my favourite colour?")
	if ids := engIDs(out.Get("memory_accessed")); slices.Contains(ids, factID) {
		t.Fatalf("a cleared fact was recalled: %v", ids)
	}
	if sys := engChatRequest(t, up, "Remind me: what is my favourite colour?").Get("messages.0.content").String(); strings.Contains(sys, "Known facts:") {
		t.Fatalf("facts in the context after the clear:\n%s", sys)
	}

	// Statistics count the conversations (A, B, C, D) and answers.
	stats := engMust(t, g, "GET", "/api/v1/agents/"+id, a, nil, 200).Get("statistics")
	if stats.Get("total_conversations").Int() != 4 || !regexp.MustCompile(`^\d+\.\ds$`).MatchString(stats.Get("avg_response_time").String()) ||
		stats.Get("satisfaction_rate").Type != gjson.Null {
		t.Fatalf("statistics %s", stats.Raw)
	}

	// The memory manager's and the embeddings' calls are metered and
	// logged like any (Egzora's /v1/logs lists the tenant's usage).
	status, logs, _ := g.Do("GET", "/v1/logs?limit=1000", a, nil)
	var manager, embeddings int
	for _, r := range gjson.ParseBytes(logs).Array() {
		if r.Get("dialect").String() != "memory" {
			continue
		}
		if strings.HasPrefix(r.Get("run_id").String(), "emb-") {
			embeddings++
		} else if r.Get("total_tokens").Int() > 0 {
			manager++
		}
	}
	if status != 200 || manager < 4 || embeddings == 0 {
		t.Errorf("usage of dialect memory: %d manager calls, %d embedding calls (%d)", manager, embeddings, status)
	}
}

// TestEngramiDeleteMemory: delete_memory=true removes the agent's
// memories; false keeps them in the store, where an operator reads them
// (here: the store file, opened once Caddy has stopped).
func TestEngramiDeleteMemory(t *testing.T) {
	up := engUpstream("Noted.")
	defer up.Close()
	cfg := testgate.Config{Block: engBlock(up, engHooks(t))}
	g := testgate.Start(t, cfg)
	a := testgate.KeyA
	ids := map[bool]string{}
	for _, del := range []bool{true, false} {
		id := engMust(t, g, "POST", "/api/v1/agents", a, map[string]any{"name": fmt.Sprint("Keeper ", del), "model": "gpt-4"}, 201).Get("id").String()
		ids[del] = id
		engMust(t, g, "POST", "/api/v1/agents/"+id+"/memory", a, map[string]any{"content": "Company refund policy: 30 days."}, 201)
		engMust(t, g, "POST", "/api/v1/agents/"+id+"/chat", a, map[string]any{"message": "I live in Lisbon", "context": map[string]string{"user_id": "ada"}}, 200)
		engWaitMemory(t, g, a, id, "?type=semantic", func(it gjson.Result) bool { return it.Get("content").String() == "The user lives in Lisbon." })
		out := engMust(t, g, "DELETE", "/api/v1/agents/"+id+"?delete_memory="+strconv.FormatBool(del), a, nil, 200)
		want := "Agent deleted successfully; its memory is retained"
		if del {
			want = "Agent and associated memory deleted successfully"
		}
		if !out.Get("success").Bool() || out.Get("message").String() != want {
			t.Fatalf("delete_memory=%v: %s", del, out.Raw)
		}
		// The agent is gone for every API.
		engMust(t, g, "GET", "/api/v1/agents/"+id+"/memory", a, nil, 404)
		engMust(t, g, "GET", "/api/v1/agents/"+id, a, nil, 404)
	}
	// An operator reads the kept memories through the admin API (the
	// extracted fact is written in a batch, so it may take a moment)…
	var status int
	var body string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		status, body = adminDo(t, g, "GET", "/agentgate/memories?tenant=tenant-a&agent="+ids[false]+"&type=semantic", "")
		if strings.Contains(body, "The user lives in Lisbon.") {
			break
		}
	}
	if status != 200 || !strings.Contains(body, "The user lives in Lisbon.") || !strings.Contains(body, "refund") {
		t.Errorf("admin memories of the kept agent: %d %s", status, body)
	}
	if status, body := adminDo(t, g, "GET", "/agentgate/memories?tenant=tenant-a&agent="+ids[true], ""); status != 200 || gjson.Get(body, "total").Int() != 0 {
		t.Errorf("admin memories of the purged agent: %d %s", status, body)
	}
	// …and, with Caddy stopped (its store closes, committing everything),
	// in the store itself.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	store, err := bbolt.Open(filepath.Join(g.DataDir, "agentgate.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	removed, _ := store.ListMemories(context.Background(), "tenant-a", ids[true])
	kept, _ := store.ListMemories(context.Background(), "tenant-a", ids[false])
	store.Close()
	if len(removed) != 0 {
		t.Errorf("delete_memory=true left %d memories", len(removed))
	}
	var contents []string
	for _, m := range kept {
		contents = append(contents, m.Content)
	}
	if !slices.Contains(contents, "Company refund policy: 30 days.") || !slices.Contains(contents, "The user lives in Lisbon.") {
		t.Errorf("delete_memory=false kept %q", contents)
	}
	g.Load(cfg) // for the test's cleanup
}

// engExample is one example of the document: its curl command and the
// documented status and response.
type engExample struct {
	curl, response string
	status         int
}

func engExamples(t *testing.T) map[string]engExample {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "engrami", "examples.txt"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]engExample{}
	for _, block := range strings.Split(string(raw), "### ")[1:] {
		name, rest, _ := strings.Cut(block, "\n")
		var ex engExample
		statusLine, rest, _ := strings.Cut(rest, "\n")
		ex.status, _ = strconv.Atoi(strings.TrimPrefix(statusLine, "status "))
		cmd, resp, ok := strings.Cut(rest, "\nresponse:\n")
		if !ok || !strings.HasPrefix(cmd, "$ ") {
			t.Fatalf("example %s is malformed", name)
		}
		ex.curl, ex.response = strings.TrimPrefix(cmd, "$ "), strings.TrimSpace(resp)
		out[name] = ex
	}
	return out
}

// engURLWithAmp is an unquoted URL holding "&", which a shell would take
// for "run in the background": it is quoted, as a user running the
// example would.
var engURLWithAmp = regexp.MustCompile(`(^|\s)(https?://\S*&\S*)`)

// engRunCurl runs an example's curl command with bash and curl against g,
// the document's host and token replaced; without curl it sends the same
// request from Go. It returns the status, the Content-Type and the body.
func engRunCurl(t *testing.T, g *testgate.Gateway, cmd string) (int, string, []byte) {
	t.Helper()
	return engRunCurlAs(t, g, engKeyXYZ, cmd)
}

// engRunCurlAs is engRunCurl with key for the document's token.
func engRunCurlAs(t *testing.T, g *testgate.Gateway, key, cmd string) (int, string, []byte) {
	t.Helper()
	cmd = strings.ReplaceAll(cmd, engDocHost, g.URL)
	cmd = strings.ReplaceAll(cmd, engDocToken, key)
	cmd = engURLWithAmp.ReplaceAllString(cmd, "$1'$2'")
	dir := t.TempDir()
	bodyFile, hdrFile := filepath.Join(dir, "body"), filepath.Join(dir, "headers")
	if _, err := exec.LookPath("curl"); err != nil {
		t.Logf("curl not found (%v): sending the example's request from Go", err)
		return engSendLikeCurl(t, cmd)
	}
	full := cmd + " -sS -o " + bodyFile + " -D " + hdrFile + " -w '%{http_code}'"
	out, err := exec.Command("bash", "-c", full).Output()
	if err != nil {
		t.Fatalf("%s: %v", full, err)
	}
	status, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	body, _ := os.ReadFile(bodyFile)
	hdr, _ := os.ReadFile(hdrFile)
	ct := ""
	for _, line := range strings.Split(string(hdr), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Type") {
			ct = strings.TrimSpace(v)
		}
	}
	return status, ct, body
}

// engSendLikeCurl sends what the curl command would: -X, -H and -d, the
// URL. Quoting is that of the examples: single and double quotes and
// backslash line continuations.
func engSendLikeCurl(t *testing.T, cmd string) (int, string, []byte) {
	t.Helper()
	var words []string
	var cur strings.Builder
	in := false
	for i := 0; i < len(cmd); i++ {
		switch c := cmd[i]; {
		case c == '\\' && i+1 < len(cmd) && cmd[i+1] == '\n':
			i++
		case c == ' ' || c == '\n' || c == '\t':
			if in {
				words, in = append(words, cur.String()), false
				cur.Reset()
			}
		case c == '\'' || c == '"':
			j := strings.IndexByte(cmd[i+1:], c)
			cur.WriteString(cmd[i+1 : i+1+j])
			i, in = i+1+j, true
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	method, target, body := "", "", ""
	hdr := http.Header{}
	for i := 1; i < len(words); i++ {
		switch words[i] {
		case "-X":
			i++
			method = words[i]
		case "-H":
			i++
			k, v, _ := strings.Cut(words[i], ":")
			hdr.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-d":
			i++
			body = words[i]
		default:
			target = words[i]
		}
	}
	if method == "" {
		method = "GET"
		if body != "" {
			method = "POST"
		}
	}
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), out
}

// engMatch checks got against a documented JSON value: every documented
// key is there with the same JSON type, recursively (arrays: item by item,
// a single documented item standing for any number); values are equal too
// unless their key is loose (generated ids, times, counts, texts the model
// wrote).
func engMatch(t *testing.T, path string, doc, got gjson.Result, loose map[string]bool) {
	t.Helper()
	if doc.Type != got.Type && !(doc.IsObject() && got.IsObject()) && !(doc.IsArray() && got.IsArray()) {
		if doc.Type == gjson.True || doc.Type == gjson.False {
			if got.Type == gjson.True || got.Type == gjson.False {
				goto compare
			}
		}
		t.Errorf("%s: got %s, documented %s", path, got.Raw, doc.Raw)
		return
	}
compare:
	switch {
	case doc.IsObject():
		if !got.IsObject() {
			t.Errorf("%s: got %s, documented an object", path, got.Raw)
			return
		}
		doc.ForEach(func(k, v gjson.Result) bool {
			gv := got.Get(gjson.Escape(k.String()))
			if !gv.Exists() {
				t.Errorf("%s.%s: missing", path, k)
				return true
			}
			sub := loose
			if loose[k.String()] {
				sub = map[string]bool{"*": true}
				for kk := range loose {
					sub[kk] = true
				}
			}
			engMatch(t, path+"."+k.String(), v, gv, sub)
			return true
		})
	case doc.IsArray():
		if !got.IsArray() {
			t.Errorf("%s: got %s, documented an array", path, got.Raw)
			return
		}
		d := doc.Array()
		if len(d) == 0 {
			return
		}
		for i, gv := range got.Array() {
			engMatch(t, fmt.Sprintf("%s[%d]", path, i), d[min(i, len(d)-1)], gv, loose)
		}
		// A documented list of several values (tools) is compared whole;
		// one documented item stands for any number.
		if !loose["*"] && len(d) > 1 && len(got.Array()) != len(d) {
			t.Errorf("%s: %d items, documented %d", path, len(got.Array()), len(d))
		}
	default:
		if !loose["*"] && !reflect.DeepEqual(doc.Value(), got.Value()) {
			t.Errorf("%s: got %s, documented %s", path, got.Raw, doc.Raw)
		}
	}
}

// engCheck runs one example and checks its JSON answer.
func engCheck(t *testing.T, g *testgate.Gateway, ex engExample, name string, loose ...string) gjson.Result {
	t.Helper()
	status, ct, body := engRunCurl(t, g, ex.curl)
	if status != ex.status || ct != "application/json" || !gjson.ValidBytes(body) {
		t.Fatalf("%s: %d %s %s, documented %d JSON", name, status, ct, body, ex.status)
	}
	l := map[string]bool{}
	for _, k := range loose {
		l[k] = true
	}
	got := gjson.ParseBytes(body)
	engMatch(t, name, gjson.Parse(ex.response), got, l)
	return got
}

// TestEngramiDocumentExamples runs every curl example of the document
// with curl, as written (host and token adjusted), against a gateway
// whose tenant_xyz has the document's support agent (created through the
// API with the document's id, some knowledge, and one rated answer, so
// its statistics are all numbers), in the document's order, except that
// DELETE /agents/agent_abc123 comes last, since every later example uses
// the agent.
func TestEngramiDocumentExamples(t *testing.T) {
	up := engUpstream("To reset your password, please follow these steps:\n\n1. Click on 'Forgot Password' on the login page...")
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: engBlock(up, engHooks(t))})
	ex := engExamples(t)
	if len(ex) != 9 {
		t.Fatalf("%d examples, the document has 9", len(ex))
	}
	k := engKeyXYZ
	engMust(t, g, "POST", "/api/v1/agents?tenant_id=tenant_xyz", k, `{"id":"agent_abc123","name":"Customer Support Agent",
		"description":"Handles customer inquiries","model":"gpt-4","system_prompt":"You are a helpful customer support agent...",
		"memory_config":{"semantic_enabled":true,"episodic_enabled":true,"procedural_enabled":true},"tools":["knowledge_base","ticket_creation"]}`, 201)
	engMust(t, g, "POST", "/api/v1/agents/agent_abc123/memory", k, `{"items":[
		{"id":"kb_article_456","content":"Company refund policy: 30 days from delivery; to reset your password use Forgot Password."},
		{"id":"kb_article_789","content":"Password reset links expire after 24 hours."}]}`, 201)
	first := engMust(t, g, "POST", "/api/v1/agents/agent_abc123/chat", k, `{"message":"Hello","context":{"user_id":"user_123"}}`, 200)
	engMust(t, g, "POST", "/api/v1/agents/agent_abc123/messages/"+first.Get("message_id").String()+"/feedback", k, `{"rating":"up"}`, 200)

	engCheck(t, g, ex["list"], "list", "created_at")
	created := engCheck(t, g, ex["create"], "create", "id", "created_at")
	if id := created.Get("id").String(); !regexp.MustCompile(`^agent_[a-z2-7]{26}$`).MatchString(id) {
		t.Errorf("created id %q", id)
	}
	engCheck(t, g, ex["get"], "get", "statistics", "created_at", "updated_at")
	engCheck(t, g, ex["update"], "update", "updated_at")
	chat := engCheck(t, g, ex["chat"], "chat", "response", "message_id", "tokens_used", "memory_accessed", "latency_ms")
	if acc := engIDs(chat.Get("memory_accessed")); !slices.Contains(acc, "kb_article_456") || !slices.Contains(acc, "kb_article_789") {
		t.Errorf("chat recalled %v, want the knowledge articles", acc)
	}

	// The stream: start, tokens, end, as data-only events.
	status, ct, body := engRunCurl(t, g, ex["stream"].curl)
	if status != 200 || ct != "text/event-stream" {
		t.Fatalf("stream: %d %s %s", status, ct, body)
	}
	var events []gjson.Result
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || !gjson.Valid(data) {
				t.Fatalf("stream line %q", line)
			}
			events = append(events, gjson.Parse(data))
		}
	}
	var text strings.Builder
	for i, ev := range events {
		typ := ev.Get("type").String()
		switch {
		case i == 0:
			if typ != "start" || !strings.HasPrefix(ev.Get("message_id").String(), "msg_") {
				t.Fatalf("first event %s", ev.Raw)
			}
		case i == len(events)-1:
			if typ != "end" || ev.Get("tokens_used").Type != gjson.Number || ev.Get("tokens_used").Int() <= 0 {
				t.Fatalf("last event %s", ev.Raw)
			}
		default:
			if typ != "token" || ev.Get("content").Type != gjson.String {
				t.Fatalf("event %d: %s", i, ev.Raw)
			}
			text.WriteString(ev.Get("content").String())
		}
	}
	if len(events) < 3 || text.String() != up.Reply {
		t.Fatalf("streamed %q in %d events", text.String(), len(events))
	}

	mem := engCheck(t, g, ex["memory"], "memory", "id", "content", "created_at", "total")
	if n := len(mem.Get("items").Array()); n == 0 || n > 10 || mem.Get("total").Int() < int64(n) {
		t.Errorf("memory: %s", mem.Raw)
	}
	engCheck(t, g, ex["clear"], "clear", "deleted_count")
	engCheck(t, g, ex["delete"], "delete")
	engMust(t, g, "GET", "/api/v1/agents/agent_abc123", k, nil, 404)
}
