package tenzro

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/dialecttest"
	"github.com/agentgate/agentgate/state"
)

// TestTenantIsolationEveryRoute: another tenant's key, in the same
// project, gets a 404 in the dialect's shape on every route that names
// tenant A's agent or conversation — never a stream — and neither reaches
// the upstream nor changes what tenant A sees.
func TestTenantIsolationEveryRoute(t *testing.T) {
	h := newHarness(t, []string{evAnswer})
	rec := h.do(post("/agent/agents", `{"name":"private-a","system_prompt":"Help A."}`))
	id := gjson.GetBytes(rec.Body.Bytes(), "agent_id").Str
	if rec.Code != http.StatusOK || id == "" {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	for _, s := range []step{
		post("/agent/agents/"+id+"/chat", `{"message":"hi","conversation_id":"conv_a"}`),
		post("/agent/agents/researcher/chat", `{"message":"hi","conversation_id":"conv_shared"}`),
	} {
		if rec := h.do(s); rec.Code != http.StatusOK {
			t.Fatalf("tenant A %s %s: %d %s", s.method, s.path, rec.Code, rec.Body)
		}
	}
	views := []step{get("/agent/agents/" + id), get("/agent/agents/" + id + "/conversations/conv_a"),
		get("/agent/agents/researcher/conversations/conv_shared"), get("/agent/agents")}
	snapshot := func() []string {
		var out []string
		for _, s := range views {
			rec := h.do(s)
			if rec.Code != http.StatusOK {
				t.Fatalf("tenant A %s: %d %s", s.path, rec.Code, rec.Body)
			}
			out = append(out, rec.Body.String())
		}
		return out
	}
	before := snapshot()
	calls := len(h.Script.Requests())

	for _, c := range []struct {
		step step
		code string
	}{
		{patch("/agent/agents/"+id, `{"name":"stolen","system_prompt":"Obey B."}`), "agent_not_found"},
		{del("/agent/agents/" + id), "agent_not_found"},
		{post("/agent/agents/"+id+"/chat", `{"message":"hi"}`), "agent_not_found"},
		{post("/agent/agents/"+id+"/chat", `{"message":"hi","conversation_id":"conv_a"}`), "agent_not_found"},
		{post("/agent/agents/"+id+"/chat", `{"message":"hi","stream":true}`), "agent_not_found"},
		{post("/agent/agents/"+id+"/chat", `{"message":"hi","conversation_id":"conv_a","stream":true}`), "agent_not_found"},
		{post("/agent/agents/"+id+"/execute", `{"task":"x"}`), "agent_not_found"},
		{get("/agent/agents/" + id + "/conversations/conv_a"), "agent_not_found"},
		// A declared agent is everyone's; tenant A's conversation with it
		// is not.
		{get("/agent/agents/researcher/conversations/conv_shared"), "conversation_not_found"},
	} {
		for _, project := range []string{"", "proj_a"} {
			s := as("b", in(project, c.step))
			rec := h.do(s)
			res := gjson.ParseBytes(rec.Body.Bytes())
			if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/json" ||
				res.Get("error.code").Str != c.code || res.Get("error.status").Int() != 404 || res.Get("error.message").Str == "" {
				t.Errorf("tenant B %s %s (project %q): %d %s %s, want a 404 %s", s.method, s.path, project, rec.Code,
					rec.Header().Get("Content-Type"), rec.Body, c.code)
			}
		}
	}
	if n := len(h.Script.Requests()); n != calls {
		t.Errorf("tenant B's requests reached the upstream: %d calls, want %d", n, calls)
	}
	after := snapshot()
	for i := range views {
		if after[i] != before[i] {
			t.Errorf("tenant A's %s changed:\n%s\nnow\n%s", views[i].path, before[i], after[i])
		}
	}
}

// TestAgentOfNoProjectNeedsProject: a request without X-Project-ID works
// in the named agent's project; an agent of no project has none, and
// working in none would reach the project-less conversations other
// dialects keep (here one the OpenAI dialect would have stored). Every
// route naming such an agent is a 400 naming the header, for any key,
// before the model is called; with the header, the conversation is the
// project's, so the project-less one is not found.
func TestAgentOfNoProjectNeedsProject(t *testing.T) {
	h := newHarness(t, []string{evAnswer})
	other := &state.Session{ID: "shared-1", Tenant: tenantA.Tenant, AgentID: "researcher", Updated: dialecttest.Clock}
	secret := []adapters.Message{{Role: adapters.RoleUser, Parts: []adapters.Part{{Type: adapters.PartText, Text: "other dialect's secret"}}}}
	if err := h.Store.AppendTurn(context.Background(), other, secret); err != nil {
		t.Fatal(err)
	}
	for _, s := range []step{
		get("/agent/agents/researcher"),
		get("/agent/agents/researcher/conversations/shared-1"),
		post("/agent/agents/researcher/chat", `{"message":"hi","conversation_id":"shared-1"}`),
		post("/agent/agents/researcher/chat", `{"message":"hi","conversation_id":"shared-1","stream":true}`),
		post("/agent/agents/researcher/execute", `{"task":"x"}`),
		patch("/agent/agents/researcher", `{"name":"x"}`),
		del("/agent/agents/researcher"),
	} {
		for _, key := range []string{"", "pa"} {
			rec := h.do(as(key, in("-", s)))
			res := gjson.ParseBytes(rec.Body.Bytes())
			if rec.Code != http.StatusBadRequest || res.Get("error.code").Str != "validation_error" ||
				!strings.Contains(res.Get("error.message").Str, ProjectHeader) || strings.Contains(rec.Body.String(), "secret") {
				t.Errorf("key %q, %s %s without a project: %d %s, want a 400 naming %s", key, s.method, s.path, rec.Code, rec.Body, ProjectHeader)
			}
		}
	}
	if n := len(h.Script.Requests()); n != 0 {
		t.Errorf("%d model calls, want none", n)
	}
	if rec := h.do(get("/agent/agents/researcher/conversations/shared-1")); rec.Code != http.StatusNotFound {
		t.Errorf("the project-less conversation, from proj_xyz: %d %s", rec.Code, rec.Body)
	}
	if got, err := h.Store.GetSession(context.Background(), other.Key()); err != nil || got.Turns != 1 {
		t.Errorf("the other dialect's session: %+v, %v; want its 1 turn", got, err)
	}

	// An agent of a project needs no header.
	rec := h.do(post("/agent/agents", `{"name":"in-xyz"}`))
	id := gjson.GetBytes(rec.Body.Bytes(), "agent_id").Str
	for _, s := range []step{get("/agent/agents/" + id), post("/agent/agents/"+id+"/chat", `{"message":"hi"}`)} {
		if rec := h.do(in("-", s)); rec.Code != http.StatusOK {
			t.Errorf("%s %s of proj_xyz's agent without a project: %d %s", s.method, s.path, rec.Code, rec.Body)
		}
	}
}
