package agentsv2

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/dialecttest"
	"github.com/agentgate/agentgate/state"
)

// sseEvent is one event of a v2 stream.
type sseEvent struct {
	name string
	data map[string]json.RawMessage
}

// parseSSE reads a v2 stream: every event is "event: <name>" then one
// "data:" line of JSON, separated by blank lines.
func parseSSE(t *testing.T, body string) []sseEvent {
	t.Helper()
	var out []sseEvent
	for _, block := range strings.Split(strings.TrimSpace(body), "\n\n") {
		lines := strings.Split(block, "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "event: ") || !strings.HasPrefix(lines[1], "data: ") {
			t.Fatalf("malformed event %q", block)
		}
		ev := sseEvent{name: strings.TrimPrefix(lines[0], "event: ")}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[1], "data: ")), &ev.data); err != nil {
			t.Fatalf("data is not a JSON object: %q", lines[1])
		}
		out = append(out, ev)
	}
	return out
}

func str(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// TestStreamMatchesResponse checks that the deltas of a stream
// concatenate to the non-streamed content, every event carries the run
// id, and the stream ends with one final event as the JSON answer.
func TestStreamMatchesResponse(t *testing.T) {
	for _, scripts := range [][]string{{evText}, {evThinking}, {evListEvents, evAfterTools}} {
		// Each in a harness of its own, so both see the whole script.
		h := newHarness(t, scripts)
		do(h, createSupport)
		plain := do(h, post(chatPath, chatBody(false, "")))
		var res map[string]json.RawMessage
		if err := json.Unmarshal(plain.Body.Bytes(), &res); err != nil || plain.Code != http.StatusOK {
			t.Fatalf("%d %s", plain.Code, plain.Body)
		}
		h = newHarness(t, scripts)
		do(h, createSupport)
		streamed := do(h, post(chatPath, chatBody(true, "")))
		evs := parseSSE(t, streamed.Body.String())
		var text strings.Builder
		run := str(evs[0].data["run_id"])
		for i, ev := range evs {
			if ev.name != "message" || str(ev.data["run_id"]) != run || !strings.HasPrefix(run, "run-") {
				t.Fatalf("event %d: %+v", i, ev)
			}
			status := str(ev.data["status"])
			if (status == "running") != (i < len(evs)-1) {
				t.Fatalf("event %d of %d has status %q", i, len(evs), status)
			}
			text.WriteString(str(ev.data["content"]))
		}
		last := evs[len(evs)-1].data
		if text.String() != str(res["content"]) || str(last["status"]) != "completed" ||
			string(last["tools"]) != string(res["tools"]) || string(last["token_usage"]) != string(res["token_usage"]) {
			t.Errorf("stream %q (final %v) != response %s", text.String(), last, plain.Body)
		}
	}
}

// TestSoftDelete checks that a deleted agent is gone from every view of
// the runtime (so from every dialect) while its sessions stay, that its
// prompt is removed from storage, and that the id can be taken again.
func TestSoftDelete(t *testing.T) {
	h := newHarness(t, []string{evText})
	if rec := do(h, post("/v2/agents", docCreate)); rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	chat := strings.Replace(chatBody(false, ""), "sess-abc123", "sess-review", 1)
	if rec := do(h, post("/v2/agents/code-reviewer/chat", chat)); rec.Code != http.StatusOK {
		t.Fatalf("chat: %d %s", rec.Code, rec.Body)
	}
	if rec := do(h, step{method: "DELETE", path: "/v2/agents/code-reviewer"}); rec.Code != http.StatusOK {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	ctx := t.Context()
	if _, err := h.Engine.Agents().Get(ctx, dialecttest.TenantA, "code-reviewer"); err == nil {
		t.Error("the runtime still finds the deleted agent by id")
	}
	if _, err := h.Engine.Agents().Get(ctx, dialecttest.TenantA, "Code Reviewer Agent"); err == nil {
		t.Error("the runtime still finds the deleted agent by name")
	}
	all, _ := h.Engine.Agents().List(ctx, dialecttest.TenantA)
	for _, a := range all {
		if a.ID == "code-reviewer" {
			t.Error("the runtime still lists the deleted agent")
		}
	}
	stored, err := h.Store.GetAgent(ctx, "tenant-a", "code-reviewer")
	if err != nil || !stored.Deleted() || stored.SystemPrompt != "" || stored.Name != "Code Reviewer Agent" {
		t.Errorf("stored tombstone = %+v, %v", stored, err)
	}
	key := state.SessionKey{Tenant: "tenant-a", AgentID: "code-reviewer", ID: "sess-review"}
	sess, err := h.Store.GetSession(ctx, key)
	if err != nil || sess.AgentID != "code-reviewer" || sess.Turns != 1 {
		t.Errorf("session after delete = %+v, %v", sess, err)
	}
	msgs, _ := h.Store.RecentTurns(ctx, key, 5)
	if len(msgs) != 2 {
		t.Errorf("history after delete = %d messages", len(msgs))
	}
	// Taken again, the id continues the kept session.
	if rec := do(h, post("/v2/agents", docCreate)); rec.Code != http.StatusCreated {
		t.Fatalf("re-create: %d %s", rec.Code, rec.Body)
	}
	do(h, post("/v2/agents/code-reviewer/chat", chat))
	reqs := h.Script.Requests()
	if n := len(reqs[len(reqs)-1].Messages); n != 3 {
		t.Errorf("the re-created agent replays %d messages, want 3", n)
	}
}

// TestCreatedAgentIsCanonical checks what a v2 create stores: the tools
// of top-level tools, worker_config.tools and its MCP servers, and the
// settings every dialect acts on.
func TestCreatedAgentIsCanonical(t *testing.T) {
	h := newHarness(t, nil)
	rec := do(h, post("/v2/agents", `{"id":"worker","name":"Worker","template":"t","tools":["builtin","send_email"],`+
		`"config":{"enable_history":false,"num_history_runs":7,"enable_reasoning":true,"reasoning_min_steps":2,"reasoning_max_steps":20,`+
		`"worker_config":{"tools":["CalendarToolkit","send_email"],"mcp_servers":["docs"]}}}`))
	if rec.Code != http.StatusCreated {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	a, err := h.Store.GetAgent(t.Context(), "tenant-a", "worker")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Tools, []string{"builtin", "send_email", "CalendarToolkit", "docs"}) || a.Tenant != "tenant-a" ||
		!a.NoHistory || a.HistoryTurns != 7 || !a.Reasoning || a.ReasoningEffort != "high" || a.ReasoningMinSteps != 2 ||
		a.ReasoningMaxSteps != 20 || a.Model != DefaultModel || a.Version != Version || !a.Memory.Semantic ||
		a.CreatedAt != dialecttest.Clock {
		t.Errorf("stored agent = %+v", a)
	}
	if _, err := h.Store.GetAgent(t.Context(), "tenant-b", "worker"); err != state.ErrNotFound {
		t.Errorf("tenant-b sees tenant-a's agent: %v", err)
	}
}
