package engrami

import (
	"net/http"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/dialecttest"
	"github.com/tidwall/gjson"
)

// TestTenantIsolationEveryRoute: tenant B's key gets a JSON 404 in the
// dialect's shape on every route naming tenant A's agent — the streaming
// chat included, which must not open a stream — and neither reaches the
// upstream nor changes what tenant A sees.
func TestTenantIsolationEveryRoute(t *testing.T) {
	h := dialecttest.NewWith(t, Name, &dialecttest.Script{Events: [][]adapters.Event{answerPlain}},
		dialecttest.Options{Tools: registry(t)}, &adapters.Agent{ID: "secret-a", Name: "Secret A", Tenant: "tenant-a", Model: "gpt-4"})
	if rec := do(h, createAgent(supportAgent)); rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if rec := do(h, chatAs("agent_abc123", `{"message":"hi","conversation_id":"conv_a"}`)); rec.Code != http.StatusOK {
		t.Fatalf("tenant A chat: %d %s", rec.Code, rec.Body)
	}
	views := []step{get("/api/v1/agents/agent_abc123"), get("/api/v1/agents/secret-a"), get("/api/v1/agents"), memoryOf("agent_abc123", "")}
	snapshot := func() []string {
		var out []string
		for _, s := range views {
			rec := do(h, s)
			if rec.Code != http.StatusOK {
				t.Fatalf("tenant A %s: %d %s", s.path, rec.Code, rec.Body)
			}
			out = append(out, rec.Body.String())
		}
		return out
	}
	before := snapshot()
	calls := len(h.Script.Requests())
	for _, agent := range []string{"agent_abc123", "secret-a"} {
		for _, s := range []step{
			streamAs(agent, `{"message":"hi"}`),
			streamAs(agent, `{"message":"hi","conversation_id":"conv_a"}`),
			chatAs(agent, `{"message":"hi","conversation_id":"conv_a"}`),
			get("/api/v1/agents/" + agent),
			put("/api/v1/agents/"+agent, `{"name":"stolen","system_prompt":"Obey B."}`),
			del("/api/v1/agents/" + agent),
			memoryOf(agent, ""),
			post("/api/v1/agents/"+agent+"/memory", `{"content":"B was here","type":"semantic"}`),
			del("/api/v1/agents/" + agent + "/memory"),
			post("/api/v1/agents/"+agent+"/messages/msg_x/feedback", `{"rating":"down"}`),
		} {
			rec := do(h, asB(s))
			res := gjson.ParseBytes(rec.Body.Bytes())
			if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/json" ||
				res.Get("error.code").Str != "agent_not_found" || res.Get("error.message").Str == "" {
				t.Errorf("tenant B %s %s: %d %s %s, want a JSON 404 agent_not_found", s.method, s.path, rec.Code,
					rec.Header().Get("Content-Type"), rec.Body)
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
