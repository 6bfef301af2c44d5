package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/internal/pgtest"
	"github.com/agentgate/agentgate/internal/procgate"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/agentgate/agentgate/state"
)

// copyBlock serves every dialect from one gateway: every model routed
// to the fake upstream (chat and embeddings), a toolkit whose tool needs
// confirmation. It declares no agent: a declared agent's creation time
// is when its configuration loaded, not part of the state.
func copyBlock(t *testing.T) (string, *v2Webhooks) {
	hooks := startV2Webhooks(t)
	up := v2Upstream(t)
	return `
		provider up openai {
			base_url ` + up.URL + `
			api_key sk-upstream
		}
		route * up
		embedding_model text-embedding-3-small
		toolkit EmailToolkit http {
			method send_email ` + hooks.URL + `/email/send {
				description "Sends an email"
				parameters ` + "`" + `{"type":"object","properties":{"to":{"type":"string"},"subject":{"type":"string"}},"required":["to","subject"]}` + "`" + `
				confirm
			}
		}
`, hooks
}

// read is one request whose answer must not change with the backend.
type read struct {
	name, method, path, key, project string
}

// TestStoreCopy: an embedded store filled through every dialect is
// copied into PostgreSQL by `caddy agentgate store copy` (the built
// binary), which refuses while a gateway holds the store and refuses a
// destination that is not empty; a gateway on PostgreSQL then answers
// the same reads the same way, and carries on with the state (a paused
// run is committed).
func TestStoreCopy(t *testing.T) {
	block, hooks := copyBlock(t)
	g := testgate.Start(t, testgate.Config{Block: block})
	a := testgate.KeyA

	// Fill the store through every dialect and the admin API.
	if s, body := adminDo(t, g, "POST", "/agentgate/keys", `{"tenant":"tenant-a","tier":"pro","email":"c@example.com"}`); s != 201 && s != 200 {
		t.Fatalf("key: %d %s", s, body)
	}
	if s, body := adminDo(t, g, "PUT", "/agentgate/tiers/gold", `{"monthly_tokens":5000,"rpm":60}`); s != 200 {
		t.Fatalf("tier: %d %s", s, body)
	}
	if s, body, _ := g.Do("POST", "/v1/chat/completions", a, `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}`); s != 200 {
		t.Fatalf("openai: %d %s", s, body)
	}
	eng := engMust(t, g, "POST", "/api/v1/agents", a, map[string]any{"name": "Concierge", "model": "gpt-4", "system_prompt": "You are a concierge.",
		"memory_config": map[string]bool{"semantic_enabled": true}}, 201).Get("id").String()
	first := engMust(t, g, "POST", "/api/v1/agents/"+eng+"/chat", a, map[string]any{"message": "Hi", "conversation_id": "conv_1",
		"context": map[string]string{"user_id": "ada"}}, 200)
	engMust(t, g, "POST", "/api/v1/agents/"+eng+"/chat", a, map[string]any{"message": "More", "conversation_id": "conv_1",
		"context": map[string]string{"user_id": "ada"}}, 200)
	engMust(t, g, "POST", "/api/v1/agents/"+eng+"/messages/"+first.Get("message_id").String()+"/feedback", a, `{"rating":"up"}`, 200)
	engMust(t, g, "POST", "/api/v1/agents/"+eng+"/memory", a, map[string]any{"content": "Refund policy: 30 days."}, 201)
	for _, m := range []string{"Hello", "And again"} {
		if s, body, _ := g.Do("POST", "/v1/chat", a, map[string]any{"agent_id": eng, "message": m, "session_id": "egz-1"}); s != 200 {
			t.Fatalf("egzora: %d %s", s, body)
		}
	}
	tz := tzCreate(t, g, a, "proj_x", `{"name":"router","ai_model":"gpt-4o"}`)
	tzJSON(t, g, "POST", "/agent/agents/"+tz+"/chat", a, "proj_x", `{"message":"Hello","conversation_id":"tz_conv"}`, 200)
	tzJSON(t, g, "POST", "/agent/agents/"+tz+"/execute", a, "proj_x", `{"task":"Say hello"}`, 200)
	v2JSON(t, g, "POST", "/v2/agents", a, `{"id":"mailer","name":"Mailer","template":"You send mail.","config":{"worker_config":{"tools":["EmailToolkit"]}}}`, 201)
	paused := v2JSON(t, g, "POST", "/v2/agents/mailer/chat", a, chatFor("v2-s", false, ""), 200)
	if paused.Get("status").String() != "paused" {
		t.Fatalf("not paused: %s", paused.Raw)
	}
	resp := gjson.ParseBytes(mustDo(t, g, "POST", "/v1/responses", a, `{"model":"`+eng+`","input":"Hi","store":true}`, 200)).Get("id").String()
	mustDo(t, g, "POST", "/api/client/v1/agents/"+eng+"/versions", a, "{}", 201)
	mustDo(t, g, "POST", "/api/client/v1/knowledge/handbook/documents", a, map[string]any{"id": "doc_1", "title": "Returns",
		"text": "# Returns\nThirty days from delivery.", "format": "markdown", "embedding_model": "text-embedding-3-small"}, 201)
	conv := gjson.ParseBytes(mustDo(t, g, "POST", "/v1/conversations", a, `{"items":[{"role":"user","content":"Hi"}],"metadata":{"k":"v"}}`, 200)).Get("id").String()
	mustDo(t, g, "POST", "/v1/responses", a, `{"model":"`+eng+`","input":"In the conversation","conversation":"`+conv+`"}`, 200)
	// An object made upstream through the passthrough (route * sends
	// every model to up, the only OpenAI-compatible provider).
	vs := gjson.ParseBytes(mustDo(t, g, "POST", "/v1/vector_stores", a, `{"name":"kb"}`, 200)).Get("id").String()

	reads := []read{
		{"egzora agents", "GET", "/v1/agents", a, ""},
		{"egzora logs", "GET", "/v1/logs?limit=100", a, ""},
		{"egzora profile", "GET", "/v1/auth/profile", a, ""},
		{"engrami agents", "GET", "/api/v1/agents", a, ""},
		{"engrami agent", "GET", "/api/v1/agents/" + eng, a, ""},
		{"engrami memory", "GET", "/api/v1/agents/" + eng + "/memory", a, ""},
		{"tenzro agents", "GET", "/agent/agents", a, "proj_x"},
		{"tenzro conversation", "GET", "/agent/agents/" + tz + "/conversations/tz_conv", a, "proj_x"},
		{"v2 agents", "GET", "/v2/agents", a, ""},
		{"v2 agent", "GET", "/v2/agents/mailer", a, ""},
		{"response", "GET", "/v1/responses/" + resp, a, ""},
		{"response input items", "GET", "/v1/responses/" + resp + "/input_items", a, ""},
		{"conversation", "GET", "/v1/conversations/" + conv, a, ""},
		{"conversation items", "GET", "/v1/conversations/" + conv + "/items", a, ""},
		{"vector store", "GET", "/v1/vector_stores/" + vs, a, ""},
		{"tenant B's vector store", "GET", "/v1/vector_stores/" + vs, testgate.KeyB, ""},
		{"versions", "GET", "/api/client/v1/agents/" + eng + "/versions", a, ""},
		{"knowledge sources", "GET", "/api/client/v1/knowledge", a, ""},
		{"knowledge documents", "GET", "/api/client/v1/knowledge/handbook/documents", a, ""},
		{"tenzro agent", "GET", "/agent/agents/" + tz, a, "proj_x"},
		{"tenant B's agents", "GET", "/api/v1/agents", testgate.KeyB, ""},
	}
	answers := func(g *testgate.Gateway) map[string]string {
		out := map[string]string{}
		for _, r := range reads {
			status, _, body := tzDo(t, g, r.method, r.path, r.key, r.project, "")
			out[r.name] = string(rune('0'+status/100)) + " " + string(body)
		}
		_, keys := adminDo(t, g, "GET", "/agentgate/keys", "")
		out["admin keys"] = keys
		_, tiers := adminDo(t, g, "GET", "/agentgate/tiers", "")
		out["admin tiers"] = tiers
		return out
	}
	before := answers(g)

	dsn := pgtest.Shared(t).CreateDB(t)
	copyCmd := func() (string, error) {
		return procgate.Run(t, t.TempDir(), "agentgate", "store", "copy", "--from", "bbolt:"+g.DataDir, "--to", "postgres:"+dsn)
	}
	if out, err := copyCmd(); err == nil || !strings.Contains(out, "held by a running gateway") {
		t.Fatalf("copy of a store a gateway holds: %v\n%s", err, out)
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	out, err := copyCmd()
	if err != nil {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	t.Logf("store copy said:\n%s", out)
	for _, kind := range state.RecordKinds {
		kind = strings.ReplaceAll(kind, "_", " ")
		if m := regexp.MustCompile(`(?m)^ *([0-9]+)  ` + kind + `$`).FindStringSubmatch(out); m == nil || m[1] == "0" {
			t.Errorf("the copy does not tell of a %s copied: %s", kind, out)
		}
	}
	if out, err := copyCmd(); err == nil || !strings.Contains(out, "already holds objects") {
		t.Fatalf("copy into a store that is not empty: %v\n%s", err, out)
	}

	g2 := testgate.Start(t, testgate.Config{Block: block, Storage: "storage postgres " + dsn})
	after := answers(g2)
	for name, want := range before {
		if after[name] != want {
			t.Errorf("%s differs on PostgreSQL:\n got %s\nwant %s", name, after[name], want)
		}
	}
	// The copied paused run is committed on PostgreSQL, once.
	calls := len(hooks.received())
	done := v2JSON(t, g2, "POST", "/v2/agents/mailer/chat/commit", a,
		commitFor(paused.Get("run_id").String(), "v2-s", false, `[{"tool_call_id":"tc-001","confirmed":true}]`), 200)
	if done.Get("status").String() != "completed" || len(hooks.received()) != calls+1 {
		t.Fatalf("commit of the copied run: %s", done.Raw)
	}
}

// mustDo sends a request that must answer status and returns its body.
func mustDo(t *testing.T, g *testgate.Gateway, method, path, key string, body any, status int) []byte {
	t.Helper()
	s, out, _ := g.Do(method, path, key, body)
	if s != status {
		t.Fatalf("%s %s: %d %s, want %d", method, path, s, out, status)
	}
	return out
}
