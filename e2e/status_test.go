package e2e

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
)

// statusBlock routes gpt-* to up and declares a draft agent visible to
// every tenant.
func statusBlock(up *fakeupstream.OpenAI) string {
	return `
		provider up openai {
			base_url ` + up.URL + `
		}
		route gpt-* up
		agent declared-draft {
			name "Declared Draft"
			model gpt-4o
			status draft
		}
`
}

// invocation is one way a dialect runs an agent; code finds the error
// code in the dialect's error shape ("" for v2, whose 400 is a detail
// message).
type invocation struct {
	name, method, path, project, body, code string
}

// invocations are every dialect's ways to run agent id.
func invocations(id string) []invocation {
	chat := `{"message":"Hi","user_id":"u","session_id":"s","timezone":"UTC","locale":"en"}`
	return []invocation{
		{"egzora chat", "POST", "/v1/chat", "", `{"agent_id":"` + id + `","message":"Hi"}`, "error.code"},
		{"egzora stream", "POST", "/v1/chat", "", `{"agent_id":"` + id + `","message":"Hi","stream":true}`, "error.code"},
		{"chat completions", "POST", "/v1/chat/completions", "", `{"model":"` + id + `","messages":[{"role":"user","content":"Hi"}]}`, "error.code"},
		{"chat completions stream", "POST", "/v1/chat/completions", "", `{"model":"` + id + `","stream":true,"messages":[{"role":"user","content":"Hi"}]}`, "error.code"},
		{"engrami chat", "POST", "/api/v1/agents/" + id + "/chat", "", `{"message":"Hi"}`, "error.code"},
		{"engrami stream", "POST", "/api/v1/agents/" + id + "/chat/stream", "", `{"message":"Hi"}`, "error.code"},
		{"v2 chat", "POST", "/v2/agents/" + id + "/chat", "", chat, ""},
		{"v2 chat json", "POST", "/v2/agents/" + id + "/chat", "", strings.Replace(chat, `{`, `{"stream":false,`, 1), ""},
		{"responses", "POST", "/api/client/v1/responses", "", `{"model":"` + id + `","input":"Hi"}`, "error.code"},
		{"responses (agents path)", "POST", "/api/client/v1/agents/responses", "", `{"model":"` + id + `","input":"Hi","stream":true}`, "error.code"},
		{"openai responses", "POST", "/v1/responses", "", `{"model":"` + id + `","input":"Hi"}`, "error.code"},
		{"tenzro chat", "POST", "/agent/agents/" + id + "/chat", "proj_xyz", `{"message":"Hi"}`, "error.code"},
		{"tenzro stream", "POST", "/agent/agents/" + id + "/chat", "proj_xyz", `{"message":"Hi","stream":true}`, "error.code"},
		{"tenzro execute", "POST", "/agent/agents/" + id + "/execute", "proj_xyz", `{"task":"Say hi"}`, "error.code"},
	}
}

// statusKeys lists the agent keys GET /api/client/v1/agents?<query>
// shows key.
func statusKeys(t *testing.T, g *testgate.Gateway, key, query string) []string {
	t.Helper()
	status, body, _ := g.Do("GET", "/api/client/v1/agents"+query, key, nil)
	if status != 200 {
		t.Fatalf("agents%s: %d %s", query, status, body)
	}
	var keys []string
	for _, a := range gjson.GetBytes(body, "agents").Array() {
		keys = append(keys, a.Get("key").Str)
	}
	return keys
}

// TestDraftAgentRefusedByEveryDialect: a draft agent made through Engrami
// (and one declared in the Caddyfile) is listed by the Responses status
// filter and refused with 400 in every dialect's shape, without an
// upstream call; made active it answers. Another tenant can neither see
// nor change it.
func TestDraftAgentRefusedByEveryDialect(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "Hello."}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: statusBlock(up)})

	status, body, _ := g.Do("POST", "/api/v1/agents?tenant_id=tenant-a", testgate.KeyA,
		`{"id":"agent_draft","name":"Drafted","model":"gpt-4","status":"draft"}`)
	if status != 201 || gjson.GetBytes(body, "status").Str != "draft" {
		t.Fatalf("engrami create: %d %s", status, body)
	}
	if got := strings.Join(statusKeys(t, g, testgate.KeyA, "?status=draft"), ","); got != "declared-draft,agent_draft" {
		t.Errorf("?status=draft lists %s", got)
	}
	for _, q := range []string{"?status=active", "?status=inactive"} {
		if got := statusKeys(t, g, testgate.KeyA, q); len(got) != 0 {
			t.Errorf("%s lists %v", q, got)
		}
	}

	refused := func(t *testing.T, id, key string, want int) {
		t.Helper()
		for _, inv := range invocations(id) {
			status, hdr, body := tzDo(t, g, inv.method, inv.path, key, inv.project, inv.body)
			if status != want || hdr.Get("Content-Type") != "application/json" {
				t.Errorf("%s of %s: %d %s %s, want %d JSON", inv.name, id, status, hdr.Get("Content-Type"), body, want)
				continue
			}
			if want != 400 {
				continue
			}
			msg := gjson.GetBytes(body, "error.message").Str
			if inv.code == "" {
				msg = gjson.GetBytes(body, "detail").Str
			} else if code := gjson.GetBytes(body, inv.code).Str; code != "agent_not_active" {
				t.Errorf("%s of %s: code %q in %s", inv.name, id, code, body)
			}
			if !strings.Contains(msg, "is not active") {
				t.Errorf("%s of %s: message %q", inv.name, id, msg)
			}
		}
	}
	refused(t, "agent_draft", testgate.KeyA, 400)
	refused(t, "declared-draft", testgate.KeyB, 400)
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("agents that are not active reached the upstream %d times", n)
	}

	// Tenant isolation: tenant B sees the declared draft only, cannot
	// run, activate or read tenant A's agent.
	if got := strings.Join(statusKeys(t, g, testgate.KeyB, "?status=draft"), ","); got != "declared-draft" {
		t.Errorf("tenant B: ?status=draft lists %s", got)
	}
	refused(t, "agent_draft", testgate.KeyB, 404)
	if status, body, _ := g.Do("PUT", "/api/v1/agents/agent_draft", testgate.KeyB, `{"status":"active"}`); status != 404 {
		t.Errorf("tenant B activates A's agent through Engrami: %d %s", status, body)
	}
	if status, _, body := tzDo(t, g, "PATCH", "/agent/agents/agent_draft", testgate.KeyB, "proj_xyz", `{"status":"active"}`); status != 404 {
		t.Errorf("tenant B activates A's agent through Tenzro: %d %s", status, body)
	}
	if status, body, _ := g.Do("GET", "/api/v1/agents/agent_draft", testgate.KeyA, nil); status != 200 || gjson.GetBytes(body, "status").Str != "draft" {
		t.Errorf("after tenant B's attempts: %d %s", status, body)
	}

	// A status no document names is a 400 naming status, in each shape.
	if status, body, _ := g.Do("PUT", "/api/v1/agents/agent_draft", testgate.KeyA, `{"status":"archived"}`); status != 400 ||
		gjson.GetBytes(body, "error.field").Str != "status" {
		t.Errorf("engrami status archived: %d %s", status, body)
	}
	if status, _, body := tzDo(t, g, "PATCH", "/agent/agents/agent_draft", testgate.KeyA, "proj_xyz", `{"status":"archived"}`); status != 400 ||
		!strings.Contains(gjson.GetBytes(body, "error.message").Str, "status") {
		t.Errorf("tenzro status archived: %d %s", status, body)
	}
	if status, body, _ := g.Do("POST", "/v2/agents", testgate.KeyA, `{"id":"v2-bad","name":"x","template":"t","status":"archived"}`); status != 422 ||
		gjson.GetBytes(body, "detail.0.loc.1").Str != "status" {
		t.Errorf("v2 status archived: %d %s", status, body)
	}
	if status, body, _ := g.Do("GET", "/api/client/v1/agents?status=archived", testgate.KeyA, nil); status != 400 ||
		gjson.GetBytes(body, "error.param").Str != "status" {
		t.Errorf("?status=archived: %d %s", status, body)
	}

	// Activated, it answers in every dialect; made inactive through
	// Tenzro, it is refused again and listed as inactive.
	if status, body, _ := g.Do("PUT", "/api/v1/agents/agent_draft", testgate.KeyA, `{"status":"active"}`); status != 200 ||
		gjson.GetBytes(body, "status").Str != "active" {
		t.Fatalf("engrami activate: %d %s", status, body)
	}
	for _, inv := range invocations("agent_draft") {
		status, _, body := tzDo(t, g, inv.method, inv.path, testgate.KeyA, inv.project, inv.body)
		if status != 200 {
			t.Errorf("%s of the active agent: %d %s", inv.name, status, body)
		}
	}
	if status, _, body := tzDo(t, g, "PATCH", "/agent/agents/agent_draft", testgate.KeyA, "proj_xyz", `{"status":"inactive"}`); status != 200 {
		t.Fatalf("tenzro deactivate: %d %s", status, body)
	}
	if got := strings.Join(statusKeys(t, g, testgate.KeyA, "?status=inactive"), ","); got != "agent_draft" {
		t.Errorf("?status=inactive lists %s", got)
	}
	calls := len(up.Requests())
	refused(t, "agent_draft", testgate.KeyA, 400)
	if n := len(up.Requests()); n != calls {
		t.Errorf("the inactive agent reached the upstream %d times", n-calls)
	}

	// Drafts made through v2 and Tenzro are listed too.
	if status, body, _ := g.Do("POST", "/v2/agents", testgate.KeyA, `{"id":"v2-draft","name":"V2 Draft","template":"t","model":"gpt-4o","status":"draft"}`); status != 201 {
		t.Fatalf("v2 create: %d %s", status, body)
	}
	tz := tzJSON(t, g, "POST", "/agent/agents", testgate.KeyA, "proj_xyz", `{"name":"tz-draft","ai_model":"gpt-4o","status":"draft"}`, 200)
	// The Responses API has no projects: the Tenzro agent of project
	// proj_xyz is listed with the tenant's others.
	if got, want := strings.Join(statusKeys(t, g, testgate.KeyA, "?status=draft"), ","), "declared-draft,v2-draft,"+tz.Get("agent_id").Str; got != want {
		t.Errorf("?status=draft lists %s, want %s", got, want)
	}
	if got := strings.Join(statusKeys(t, g, testgate.KeyB, "?status=draft"), ","); got != "declared-draft" {
		t.Errorf("tenant B: ?status=draft lists %s", got)
	}
}
