package e2e

// Acceptance tests of conversations per agent (issue 13) through a real
// Caddy with a fakeupstream.OpenAI: a conversation id is scoped to the
// tenant, the agent it talks to and (Tenzro) the project, in every dialect
// that takes one, and a store written before sessions were keyed so
// (schema version 1) opens with its conversations intact.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/engine/knowledge/memory"
	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
)

// convBlock declares the upstream and two agents every tenant may use.
func convBlock(up *fakeupstream.OpenAI) string {
	return `
		provider up openai {
			base_url ` + up.URL + `
			api_key sk-upstream
		}
		agent alpha {
			name "Alpha"
			system_prompt "You are alpha."
			model gpt-test
			provider up
		}
		agent beta {
			name "Beta"
			system_prompt "You are beta."
			model gpt-test
			provider up
		}
`
}

// convProject is the Tenzro project of the conversations.
const convProject = "proj-conv"

// convSend posts one turn to agent in conversation conv as key and
// returns the answer's JSON, which must be a 200 naming conv.
type convSend func(t *testing.T, g *testgate.Gateway, key, agent, conv, text string) gjson.Result

// convPost sends a JSON request with the given headers and returns the
// status and body.
func convPost(t *testing.T, g *testgate.Gateway, path string, header http.Header, body any) (int, []byte) {
	t.Helper()
	js, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", g.URL+path, strings.NewReader(string(js)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// convTurn wraps a dialect's request: the answer must be a 200 whose
// idField is conv.
func convTurn(path func(agent, tenant string) string, header func(key string) http.Header,
	body func(agent, conv, text string) map[string]any, idField string) convSend {
	return func(t *testing.T, g *testgate.Gateway, key, agent, conv, text string) gjson.Result {
		t.Helper()
		tenant := "tenant-a"
		if key == testgate.KeyB {
			tenant = "tenant-b"
		}
		status, out := convPost(t, g, path(agent, tenant), header(key), body(agent, conv, text))
		res := gjson.ParseBytes(out)
		if status != http.StatusOK || res.Get(idField).String() != conv {
			t.Fatalf("%s turn %q with %s in %s: %d %s", tenant, text, agent, conv, status, out)
		}
		return res
	}
}

func bearer(key string) http.Header { return http.Header{"Authorization": {"Bearer " + key}} }

// convDialects are the dialects whose requests carry a conversation id.
var convDialects = []struct {
	name string
	send convSend
}{
	{"egzora", convTurn(func(string, string) string { return "/v1/chat" }, bearer,
		func(agent, conv, text string) map[string]any {
			return map[string]any{"agent_id": agent, "message": text, "session_id": conv}
		}, "session_id")},
	{"engrami", convTurn(func(agent, tenant string) string { return "/api/v1/agents/" + agent + "/chat?tenant_id=" + tenant }, bearer,
		func(_, conv, text string) map[string]any {
			return map[string]any{"message": text, "conversation_id": conv, "context": map[string]any{"user_id": "u1"}}
		}, "conversation_id")},
	{"tenzro", convTurn(func(agent, _ string) string { return "/agent/agents/" + agent + "/chat" },
		func(key string) http.Header {
			h := bearer(key)
			h.Set("X-Project-ID", convProject)
			return h
		},
		func(_, conv, text string) map[string]any {
			return map[string]any{"message": text, "conversation_id": conv}
		},
		"conversation_id")},
	{"agentsv2", convTurn(func(agent, _ string) string { return "/v2/agents/" + agent + "/chat" },
		func(key string) http.Header { return http.Header{"X-Api-Key": {key}} },
		func(_, conv, text string) map[string]any {
			return map[string]any{"message": text, "stream": false, "user_id": "u1", "session_id": conv, "timezone": "UTC", "locale": "en"}
		}, "session_id")},
}

// convRequest is the upstream request that answered text (the memory
// manager's calls left out), as role:content of its messages after the
// system prompt.
func convRequest(t *testing.T, up *fakeupstream.OpenAI, text string) []string {
	t.Helper()
	for _, b := range slices.Backward(up.Requests()) {
		r := gjson.ParseBytes(b)
		if r.Get("messages.@reverse.0.content").String() != text || strings.HasPrefix(r.Get("messages.0.content").String(), memory.ManagerPrompt) {
			continue
		}
		var out []string
		for _, m := range r.Get("messages").Array() {
			if m.Get("role").String() != "system" {
				out = append(out, m.Get("role").String()+":"+m.Get("content").String())
			}
		}
		return out
	}
	t.Fatalf("no upstream request answered %q", text)
	return nil
}

// TestConversationsPerAgent: in every dialect, one conversation id used
// with two agents of a tenant makes two conversations (each agent's second
// turn carries only its own first turn), and the other tenant using the
// id sees nothing of either.
func TestConversationsPerAgent(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "Noted."}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: convBlock(up)})
	for _, d := range convDialects {
		t.Run(d.name, func(t *testing.T) {
			conv := "conv_xyz789_" + d.name
			say := func(tenant, agent, what string) string {
				return fmt.Sprintf("%s: %s to %s (%s)", tenant, what, agent, d.name)
			}
			check := func(text string, want ...string) {
				t.Helper()
				if got := convRequest(t, up, text); !slices.Equal(got, want) {
					t.Errorf("upstream request of %q:\n got %q\nwant %q", text, got, want)
				}
			}
			user := func(s string) string { return "user:" + s }
			const answer = "assistant:Noted."

			for _, agent := range []string{"alpha", "beta"} {
				d.send(t, g, testgate.KeyA, agent, conv, say("a", agent, "first"))
				check(say("a", agent, "first"), user(say("a", agent, "first")))
			}
			for _, agent := range []string{"alpha", "beta"} {
				d.send(t, g, testgate.KeyA, agent, conv, say("a", agent, "second"))
				check(say("a", agent, "second"), user(say("a", agent, "first")), answer, user(say("a", agent, "second")))
			}
			for _, agent := range []string{"alpha", "beta"} {
				d.send(t, g, testgate.KeyB, agent, conv, say("b", agent, "first"))
				check(say("b", agent, "first"), user(say("b", agent, "first")))
			}
			// Tenant a's conversations did not see tenant b's turns.
			d.send(t, g, testgate.KeyA, "alpha", conv, say("a", "alpha", "third"))
			check(say("a", "alpha", "third"), user(say("a", "alpha", "first")), answer,
				user(say("a", "alpha", "second")), answer, user(say("a", "alpha", "third")))
		})
	}

	// Responses continues an id's conversation with the agent its model
	// names: previous_response_id resp_{id} reads the conversation per
	// agent too. (Its stored response is then the id's, per tenant: a
	// Responses id names one conversation.)
	text := "a: via responses"
	body := map[string]any{"model": "beta", "input": text, "previous_response_id": "resp_conv_xyz789_egzora"}
	if status, out, _ := g.Do("POST", "/api/client/v1/responses", testgate.KeyA, body); status != 200 {
		t.Fatalf("responses: %d %s", status, out)
	}
	if got, want := convRequest(t, up, text), []string{"user:a: first to beta (egzora)", "assistant:Noted.",
		"user:a: second to beta (egzora)", "assistant:Noted.", "user:" + text}; !slices.Equal(got, want) {
		t.Errorf("responses sent upstream\n %q\nwant %q", got, want)
	}
	body = map[string]any{"model": "alpha", "input": "b: via responses", "previous_response_id": "resp_conv_xyz789_egzora"}
	if status, out, _ := g.Do("POST", "/api/client/v1/responses", testgate.KeyB, body); status != 200 {
		t.Fatalf("tenant b's responses: %d %s", status, out)
	}
	if got, want := convRequest(t, up, "b: via responses"), []string{"user:b: first to alpha (egzora)", "assistant:Noted.", "user:b: via responses"}; !slices.Equal(got, want) {
		t.Errorf("tenant b's responses sent upstream\n %q\nwant %q", got, want)
	}

	// Engrami's statistics count, for each agent and tenant, one
	// conversation per dialect (each used its own id).
	for _, tc := range []struct{ key, tenant string }{{testgate.KeyA, "tenant-a"}, {testgate.KeyB, "tenant-b"}} {
		for _, agent := range []string{"alpha", "beta"} {
			status, out := engDo(t, g, "GET", "/api/v1/agents/"+agent+"?tenant_id="+tc.tenant, tc.key, nil)
			if n := out.Get("statistics.total_conversations").Int(); status != 200 || n != int64(len(convDialects)) {
				t.Errorf("%s's statistics of %s: %d %s, want %d conversations", tc.tenant, agent, status, out.Get("statistics").Raw, len(convDialects))
			}
		}
	}

	// Tenzro's history of a conversation is the agent's own, in its
	// project, of the caller's tenant.
	conv := "conv_xyz789_tenzro"
	history := func(key, project, agent string) (int, []string) {
		t.Helper()
		status, _, out := tzDo(t, g, "GET", "/agent/agents/"+agent+"/conversations/"+conv, key, project, "")
		var msgs []string
		for _, m := range gjson.GetBytes(out, "messages").Array() {
			msgs = append(msgs, m.Get("role").String()+":"+m.Get("content").String())
		}
		if status != 200 {
			msgs = []string{gjson.GetBytes(out, "error.code").String()}
		}
		return status, msgs
	}
	for _, tc := range []struct {
		key, project, agent string
		status              int
		want                []string
	}{
		{testgate.KeyA, convProject, "beta", 200, []string{
			"user:a: first to beta (tenzro)", "assistant:Noted.", "user:a: second to beta (tenzro)", "assistant:Noted."}},
		{testgate.KeyB, convProject, "alpha", 200, []string{"user:b: first to alpha (tenzro)", "assistant:Noted."}},
		{testgate.KeyA, "proj-other", "alpha", 404, []string{"conversation_not_found"}},
	} {
		status, got := history(tc.key, tc.project, tc.agent)
		if status != tc.status || !slices.Equal(got, tc.want) {
			t.Errorf("history of %s in %s: %d %q, want %d %q", tc.agent, tc.project, status, got, tc.status, tc.want)
		}
	}
}

// TestStoreOfSchemaV1Continues starts Caddy on a data directory holding a
// store written before conversations were per agent
// (state/bbolt/testdata/v1-sessions.db): its conversations continue with the
// agents they were held with, per tenant, and their ids are new to other
// agents.
func TestStoreOfSchemaV1Continues(t *testing.T) {
	data, err := os.ReadFile("../state/bbolt/testdata/v1-sessions.db")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "agentgate.db"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	up := (&fakeupstream.OpenAI{Reply: "Noted."}).Start()
	defer up.Close()
	g := testgate.StartIn(t, dir, testgate.Config{Block: egzBlock(up)})
	egz := convDialects[0]
	if egz.name != "egzora" {
		t.Fatalf("convDialects[0] is %s", egz.name)
	}
	for _, tc := range []struct {
		key, agent, conv, text string
		want                   []string
	}{
		{testgate.KeyA, "assistant", "conv-v1", "What is my name?", []string{
			"user:My name is Ada.", "assistant:Noted.", "user:I live in Paris.", "assistant:Noted, Paris.", "user:What is my name?"}},
		{testgate.KeyB, "assistant", "conv-v1", "And mine?", []string{"user:My name is Bob.", "assistant:Noted, Bob.", "user:And mine?"}},
		{testgate.KeyA, "thinker", "conv-v1-thinker", "Which number?", []string{
			"user:Think of a number.", "assistant:Seven.", "user:Which number?"}},
		{testgate.KeyA, "thinker", "conv-v1", "New to me?", []string{"user:New to me?"}},
	} {
		egz.send(t, g, tc.key, tc.agent, tc.conv, tc.text)
		if got := convRequest(t, up, tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("%s with %s in %s sent upstream\n %q\nwant %q", tc.text, tc.agent, tc.conv, got, tc.want)
		}
	}
	// The continued conversation keeps its new turn across a restart.
	g.Restart(testgate.Config{Block: egzBlock(up)})
	egz.send(t, g, testgate.KeyA, "assistant", "conv-v1", "Still there?")
	want := []string{"user:My name is Ada.", "assistant:Noted.", "user:I live in Paris.", "assistant:Noted, Paris.",
		"user:What is my name?", "assistant:Noted.", "user:Still there?"}
	if got := convRequest(t, up, "Still there?"); !slices.Equal(got, want) {
		t.Errorf("after restart sent upstream\n %q\nwant %q", got, want)
	}
}
