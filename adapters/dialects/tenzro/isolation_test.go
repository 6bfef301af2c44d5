package tenzro

import (
	"net/http"
	"testing"

	"github.com/tidwall/gjson"
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
