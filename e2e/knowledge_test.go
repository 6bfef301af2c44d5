package e2e

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
)

// Knowledge through a real Caddy: an agent declared in the Caddyfile
// with guardrails and a knowledge source, documents added through the
// Responses dialect's documents API, and answers citing them as
// file_citation annotations.

const (
	kbDocID   = "doc_returns"
	kbChunkID = kbDocID + "#1" // chunk numbers start at 1
	kbDoc     = "# Returns\n\nReturns are accepted within 14 days of delivery.\n"
	kbReply   = "You have 14 days [" + kbChunkID + "]."
)

func knowledgeConfig(upURL string) testgate.Config {
	return testgate.Config{Block: `
		provider up openai {
			base_url ` + upURL + `
			api_key sk-upstream
		}
		route gpt-* up
		route text-embedding-* up
		agent support {
			model gpt-test
			system_prompt "You are Acme's support agent."
			guardrails {
				deny secret (?i)password input
				redact_pii email
			}
			knowledge handbook {
				embedding_model text-embedding-3-small
			}
		}
`}
}

func TestKnowledgeThroughCaddy(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: kbReply}).Start()
	defer up.Close()
	g := testgate.Start(t, knowledgeConfig(up.URL))
	const kb = "/api/client/v1/knowledge"

	// Add a markdown document to tenant A's handbook.
	status, body, _ := g.Do("POST", kb+"/handbook/documents", testgate.KeyA, map[string]any{
		"id": kbDocID, "title": "Returns policy", "text": kbDoc, "format": "markdown",
		"embedding_model": "text-embedding-3-small", "metadata": map[string]string{"team": "support"}})
	doc := gjson.ParseBytes(body)
	if status != 201 || doc.Get("id").String() != kbDocID || doc.Get("source").String() != "handbook" ||
		doc.Get("title").String() != "Returns policy" || doc.Get("chunks").Int() != 1 || doc.Get("created_at").Int() == 0 ||
		doc.Get("metadata.team").String() != "support" {
		t.Fatalf("add document: %d %s", status, body)
	}

	t.Run("list and get", func(t *testing.T) {
		status, body, _ := g.Do("GET", kb+"/handbook/documents", testgate.KeyA, nil)
		if ids := gjson.GetBytes(body, "documents.#.id").String(); status != 200 || ids != `["`+kbDocID+`"]` {
			t.Errorf("list: %d %s", status, body)
		}
		status, body, _ = g.Do("GET", kb+"/documents/"+kbDocID, testgate.KeyA, nil)
		if status != 200 || gjson.GetBytes(body, "id").String() != kbDocID {
			t.Errorf("get: %d %s", status, body)
		}
		status, body, _ = g.Do("GET", kb, testgate.KeyA, nil)
		if status != 200 || gjson.GetBytes(body, "sources.0.name").String() != "handbook" || gjson.GetBytes(body, "sources.0.documents").Int() != 1 {
			t.Errorf("sources: %d %s", status, body)
		}
		status, body, _ = g.Do("POST", kb+"/handbook/documents", testgate.KeyA, map[string]any{"text": "x", "format": "pdf"})
		if status != 400 || gjson.GetBytes(body, "error.param").String() == "" || gjson.GetBytes(body, "error.message").String() == "" {
			t.Errorf("bad format: %d %s", status, body)
		}
	})

	t.Run("tenant isolation", func(t *testing.T) {
		status, body, _ := g.Do("GET", kb+"/handbook/documents", testgate.KeyB, nil)
		if status != 200 || gjson.GetBytes(body, "documents.#").Int() != 0 {
			t.Errorf("tenant B lists: %d %s", status, body)
		}
		status, body, _ = g.Do("GET", kb, testgate.KeyB, nil)
		if status != 200 || gjson.GetBytes(body, "sources.#").Int() != 0 {
			t.Errorf("tenant B sources: %d %s", status, body)
		}
		for _, method := range []string{"GET", "DELETE"} {
			status, body, _ = g.Do(method, kb+"/documents/"+kbDocID, testgate.KeyB, nil)
			if status != 404 || gjson.GetBytes(body, "error.code").String() != "document_not_found" {
				t.Errorf("tenant B %s: %d %s", method, status, body)
			}
		}
		if status, _, _ := g.Do("GET", kb+"/documents/"+kbDocID, testgate.KeyA, nil); status != 200 {
			t.Errorf("tenant A lost its document: %d", status)
		}
	})

	t.Run("tenant isolation of adding", func(t *testing.T) {
		// Tenant B adds a document to a source of the same name, under
		// tenant A's document id: it is B's own, and A's list, document
		// and agent's retrieval stay as they were.
		_, listA, _ := g.Do("GET", kb+"/handbook/documents", testgate.KeyA, nil)
		_, docA, _ := g.Do("GET", kb+"/documents/"+kbDocID, testgate.KeyA, nil)
		const textB = "# Returns\n\nTenant B never accepts returns: zebra-quokka.\n"
		for _, body := range []map[string]any{
			{"id": kbDocID, "title": "B's policy", "text": textB, "format": "markdown", "embedding_model": "text-embedding-3-small"},
			{"title": "B's other policy", "text": textB, "format": "markdown", "embedding_model": "text-embedding-3-small"},
		} {
			status, out, _ := g.Do("POST", kb+"/handbook/documents", testgate.KeyB, body)
			if status != 201 || gjson.GetBytes(out, "source").String() != "handbook" {
				t.Fatalf("tenant B adds: %d %s", status, out)
			}
		}
		if _, got, _ := g.Do("GET", kb+"/handbook/documents", testgate.KeyA, nil); string(got) != string(listA) {
			t.Errorf("tenant A's list changed:\n%s\nnow\n%s", listA, got)
		}
		if _, got, _ := g.Do("GET", kb+"/documents/"+kbDocID, testgate.KeyA, nil); string(got) != string(docA) {
			t.Errorf("tenant A's document changed:\n%s\nnow\n%s", docA, got)
		}
		if _, got, _ := g.Do("GET", kb+"/documents/"+kbDocID, testgate.KeyB, nil); gjson.GetBytes(got, "title").String() != "B's policy" {
			t.Errorf("tenant B's document: %s", got)
		}
		// Each tenant's agent retrieves from its own documents only.
		for _, c := range []struct{ key, want, not string }{
			{testgate.KeyA, "within 14 days", "zebra-quokka"},
			{testgate.KeyB, "zebra-quokka", "within 14 days"},
		} {
			status, out, _ := g.Do("POST", "/v1/responses", c.key, map[string]any{"model": "support", "input": "What is the returns policy?"})
			if status != 200 {
				t.Fatalf("responses: %d %s", status, out)
			}
			var system string
			for _, raw := range up.Requests() {
				if r := gjson.ParseBytes(raw); r.Get("messages").Exists() {
					system = r.Get("messages.0.content").String()
				}
			}
			if !strings.Contains(system, c.want) || strings.Contains(system, c.not) {
				t.Errorf("retrieval wants %q and not %q:\n%s", c.want, c.not, system)
			}
		}
	})

	t.Run("answer citing the chunk", func(t *testing.T) {
		status, body, _ := g.Do("POST", "/v1/responses", testgate.KeyA, map[string]any{"model": "support", "input": "How long do I have to return an order?"})
		if status != 200 {
			t.Fatalf("responses: %d %s", status, body)
		}
		var system string
		for _, raw := range up.Requests() {
			if r := gjson.ParseBytes(raw); r.Get("messages").Exists() {
				system = r.Get("messages.0.content").String()
			}
		}
		if !strings.HasPrefix(system, "You are Acme's support agent.") || !strings.Contains(system, "["+kbChunkID+"]") ||
			!strings.Contains(system, "Returns are accepted within 14 days") {
			t.Errorf("upstream system prompt:\n%s", system)
		}
		part := gjson.GetBytes(body, "output.0.content.0")
		if part.Get("text").String() != kbReply {
			t.Errorf("answer %s", part.Raw)
		}
		ann := part.Get("annotations.0")
		if part.Get("annotations.#").Int() != 1 || ann.Get("type").String() != "file_citation" || ann.Get("file_id").String() != kbDocID ||
			ann.Get("filename").String() != "Returns policy" || ann.Get("index").Int() != int64(strings.Index(kbReply, "[")) {
			t.Errorf("annotations %s", part.Get("annotations").Raw)
		}
	})

	t.Run("streamed answer citing the chunk", func(t *testing.T) {
		status, body, _ := g.Do("POST", "/v1/responses", testgate.KeyA, map[string]any{"model": "support", "stream": true, "input": "Returns?"})
		if status != 200 {
			t.Fatalf("responses: %d %s", status, body)
		}
		seen := map[string]bool{}
		for _, line := range strings.Split(string(body), "\n") {
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				continue
			}
			ev := gjson.Parse(data)
			var anns gjson.Result
			switch typ := ev.Get("type").String(); typ {
			case "response.output_text.done":
				anns = ev.Get("annotations")
			case "response.content_part.done":
				anns = ev.Get("part.annotations")
			case "response.completed":
				anns = ev.Get("response.output.0.content.0.annotations")
			default:
				continue
			}
			if anns.Get("0.file_id").String() != kbDocID {
				t.Errorf("%s annotations %s", ev.Get("type").String(), anns.Raw)
			}
			seen[ev.Get("type").String()] = true
		}
		if len(seen) != 3 {
			t.Errorf("events seen %v", seen)
		}
	})

	t.Run("guardrail block", func(t *testing.T) {
		before := len(up.Requests())
		status, body, _ := g.Do("POST", "/v1/responses", testgate.KeyA, map[string]any{"model": "support", "input": "What is the admin password?"})
		if status != 400 || gjson.GetBytes(body, "error.code").String() != "guardrail_blocked" {
			t.Errorf("blocked: %d %s", status, body)
		}
		if len(up.Requests()) != before {
			t.Error("a blocked request reached the upstream")
		}
	})

	t.Run("delete", func(t *testing.T) {
		status, body, _ := g.Do("DELETE", kb+"/documents/"+kbDocID, testgate.KeyA, nil)
		if status != 200 || gjson.GetBytes(body, "deleted").Bool() != true || gjson.GetBytes(body, "id").String() != kbDocID {
			t.Errorf("delete: %d %s", status, body)
		}
		if status, _, _ := g.Do("GET", kb+"/documents/"+kbDocID, testgate.KeyA, nil); status != 404 {
			t.Errorf("get after delete: %d", status)
		}
	})

	t.Run("invalid guardrail regexp fails provisioning", func(t *testing.T) {
		cfg := knowledgeConfig(up.URL)
		cfg.Block = strings.Replace(cfg.Block, "(?i)password", "(unclosed", 1)
		err := g.TryLoad(cfg)
		if err == nil || !strings.Contains(err.Error(), `agent "support"`) || !strings.Contains(err.Error(), "deny_patterns[0]") {
			t.Errorf("error = %v", err)
		}
		g.Load(knowledgeConfig(up.URL)) // the gateway still runs its last good config
	})
}
