package e2e

import (
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/testgate"
)

// TestTenzroAgentRoutesWithoutProject: the document's chat, history, PATCH
// and DELETE examples send no X-Project-ID; those requests work in the
// agent's own project, within the key's projects and tenant, while
// creating and listing still need the header.
func TestTenzroAgentRoutesWithoutProject(t *testing.T) {
	m := startTzModel(t, tzEchoModel)
	g := testgate.Start(t, testgate.Config{Block: tzBlock(m, startTzHooks(t))})
	inB := tzCreate(t, g, testgate.KeyA, "proj_b", `{"name":"agent-b","system_prompt":"B"}`)
	inA := tzCreate(t, g, tzKeyA, "proj_a", `{"name":"agent-a","system_prompt":"A"}`)

	// The document's chat example, as written: no project.
	res := tzJSON(t, g, "POST", "/agent/agents/"+inB+"/chat", testgate.KeyA, "",
		`{"message":"I need help with my order #12345","conversation_id":"conv_xyz","context":{"user_id":"user_123"}}`, 200)
	if res.Get("conversation_id").String() != "conv_xyz" || res.Get("message.content").String() == "" {
		t.Fatalf("chat without a project: %s", res.Raw)
	}
	// The conversation is proj_b's: the same with the header or without.
	for _, project := range []string{"", "proj_b"} {
		hist := tzJSON(t, g, "GET", "/agent/agents/"+inB+"/conversations/conv_xyz", testgate.KeyA, project, "", 200)
		if !strings.Contains(hist.Raw, "order #12345") {
			t.Errorf("history with project %q: %s", project, hist.Raw)
		}
	}
	tzJSON(t, g, "GET", "/agent/agents/"+inB, testgate.KeyA, "", "", 200)
	if got := tzJSON(t, g, "PATCH", "/agent/agents/"+inB, testgate.KeyA, "", `{"description":"changed"}`, 200); !strings.Contains(got.Raw, inB) {
		t.Errorf("PATCH without a project: %s", got.Raw)
	}
	if got := tzJSON(t, g, "GET", "/agent/agents/"+inB, testgate.KeyA, "proj_b", "", 200).Get("description").String(); got != "changed" {
		t.Errorf("description after PATCH without a project: %q", got)
	}
	calls := len(m.requests())

	// A key limited to proj_a: its own project's agent works without the
	// header; proj_b's is not found, as from proj_a.
	tzJSON(t, g, "POST", "/agent/agents/"+inA+"/chat", tzKeyA, "", `{"message":"hi"}`, 200)
	calls++
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/agent/agents/" + inB, ""},
		{"POST", "/agent/agents/" + inB + "/chat", `{"message":"hi"}`},
		{"POST", "/agent/agents/" + inB + "/execute", `{"task":"x"}`},
		{"PATCH", "/agent/agents/" + inB, `{"name":"x"}`},
		{"DELETE", "/agent/agents/" + inB, ""},
		{"GET", "/agent/agents/" + inB + "/conversations/conv_xyz", ""},
	} {
		if res := tzJSON(t, g, r.method, r.path, tzKeyA, "", r.body, 404); res.Get("error.code").String() != "agent_not_found" {
			t.Errorf("limited key, %s %s without a project: %s", r.method, r.path, res.Raw)
		}
		// Another tenant finds no such agent.
		if res := tzJSON(t, g, r.method, r.path, testgate.KeyB, "", r.body, 404); res.Get("error.code").String() != "agent_not_found" {
			t.Errorf("tenant-b, %s %s without a project: %s", r.method, r.path, res.Raw)
		}
	}
	if n := len(m.requests()); n != calls {
		t.Errorf("%d model calls, want %d: refused requests reached the model", n, calls)
	}

	// An agent of no project (made through another dialect) has no
	// project to work in: any key must name one (in none, its
	// conversations would be other dialects' project-less ones).
	noProject := tzJSON(t, g, "POST", "/api/v1/agents", testgate.KeyA, "", `{"name":"shared","model":"gemini-2.5-flash","system_prompt":"S"}`, 201).Get("id").String()
	for _, key := range []string{testgate.KeyA, tzKeyA} {
		if res := tzJSON(t, g, "POST", "/agent/agents/"+noProject+"/chat", key, "", `{"message":"hi"}`, 400); !strings.Contains(res.Get("error.message").String(), "X-Project-ID") {
			t.Errorf("agent of no project, no header: %s", res.Raw)
		}
	}
	tzJSON(t, g, "POST", "/agent/agents/"+noProject+"/chat", testgate.KeyA, "proj_b", `{"message":"hi"}`, 200)
	tzJSON(t, g, "POST", "/agent/agents/"+noProject+"/chat", tzKeyA, "proj_a", `{"message":"hi"}`, 200)

	// Creating and listing name their project.
	for _, r := range []struct{ method, path, body string }{{"GET", "/agent/agents", ""}, {"POST", "/agent/agents", `{"name":"x"}`}} {
		if res := tzJSON(t, g, r.method, r.path, testgate.KeyA, "", r.body, 400); !strings.Contains(res.Get("error.message").String(), "X-Project-ID") {
			t.Errorf("%s %s without a project: %s", r.method, r.path, res.Raw)
		}
	}
	tzJSON(t, g, "DELETE", "/agent/agents/"+inB, testgate.KeyA, "", "", 200)
	tzJSON(t, g, "GET", "/agent/agents/"+inB, testgate.KeyA, "proj_b", "", 404)
}
