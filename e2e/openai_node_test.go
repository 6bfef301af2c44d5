package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
)

// nodeOpenAI is the npm openai SDK the OpenAI surface test runs: the
// newest release that runs on Node 20 (7.x requires Node 22).
const nodeOpenAI = "openai@6.49.0"

// TestOpenAISurfaceNodeSDK runs the official npm openai SDK, only its
// base URL changed, through the whole OpenAI surface (issue 18): models
// (agents and routed models, each retrieved), Responses (two branches
// from one response, retrieve, input items, delete), a conversation with
// items, and the endpoints passed through (moderations, completions,
// images, a multipart transcription, binary speech, files seen only by
// their tenant, batches).
func TestOpenAISurfaceNodeSDK(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sdk := installNodeSDK(ctx, t, nodeOpenAI)

	up := (&fakeupstream.OpenAI{ReplyFunc: func(req gjson.Result) string {
		return "re: " + req.Get("messages.@reverse.0.content").Str
	}}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: rspBlock(up, "You are the support bot.") + `
		route omni-* up
		route dall-e-* up
		route whisper-* up
		route tts-* up
		route openai/* up
		route voice up tts-1
		passthrough up
`})
	out := gjson.ParseBytes(sdk.run(ctx, t, "openai/surface.mjs", g.URL+"/v1", testgate.KeyA, testgate.KeyB, "support-bot"))
	check := func(path, want string) {
		t.Helper()
		if got := out.Get(path).String(); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}

	owners := map[string]string{}
	for _, m := range out.Get("models").Array() {
		owners[m.Get("id").Str] = m.Get("owned_by").Str
	}
	for id, owner := range map[string]string{"support-bot": "agentgate", "secret-a": "agentgate", "gpt-4o-mini": "up",
		"openai/gpt-4o": "up", "voice": "up", "omni-moderation-latest": "up"} {
		if owners[id] != owner {
			t.Errorf("models.list: %s owned by %q, want %q (all: %v)", id, owners[id], owner, owners)
		}
	}
	for id, owner := range map[string]string{"support-bot": "agentgate", "gpt-4o-mini": "up", "openai/gpt-4o": "up", "voice": "up"} {
		r := out.Get("retrieved." + gjson.Escape(id))
		if r.Get("id").Str != id || r.Get("owned_by").Str != owner || r.Get("object").Str != "model" {
			t.Errorf("models.retrieve(%s) = %s", id, r.Raw)
		}
	}

	ids := out.Get("ids")
	seen := map[string]bool{}
	for _, id := range ids.Map() {
		if !strings.HasPrefix(id.Str, "resp_") || seen[id.Str] {
			t.Errorf("response ids %s: each its own resp_…", ids.Raw)
		}
		seen[id.Str] = true
	}
	check("previous.apples", ids.Get("first").Str)
	check("previous.bananas", ids.Get("first").Str)
	check("previous.askA", ids.Get("apples").Str)
	// Each branch's upstream request holds its own history only.
	for _, req := range up.Requests() {
		r := gjson.ParseBytes(req)
		last := r.Get("messages.@reverse.0.content").Str
		body := r.Get("messages").Raw
		switch {
		case strings.HasPrefix(last, "Question A"):
			if !strings.Contains(body, "apples") || strings.Contains(body, "bananas") || !strings.Contains(body, "My name is Ada.") {
				t.Errorf("branch A's request: %s", body)
			}
		case strings.HasPrefix(last, "Question B"):
			if !strings.Contains(body, "bananas") || strings.Contains(body, "apples") || !strings.Contains(body, "My name is Ada.") {
				t.Errorf("branch B's request: %s", body)
			}
		}
	}
	check("retrieveFirst.id", ids.Get("first").Str)
	check("retrieveFirst.text", "re: My name is Ada.")
	var texts []string
	for _, it := range out.Get("inputItems").Array() {
		texts = append(texts, it.Get("role").Str+":"+it.Get("text").Str)
		if it.Get("id").Str == "" || it.Get("type").Str != "message" {
			t.Errorf("input item %s", it.Raw)
		}
	}
	want := "user:My name is Ada.|assistant:re: My name is Ada.|user:Branch A: I like apples.|assistant:re: Branch A: I like apples.|user:Question A: what do I like?"
	if strings.Join(texts, "|") != want {
		t.Errorf("inputItems.list (paged by 2) = %v, want %s", texts, want)
	}
	check("afterDelete.cls", "NotFoundError")
	check("otherTenant.cls", "NotFoundError")

	check("conversation.object", "conversation")
	check("conversation.metadata.topic", "colours")
	check("conversation.responseConversation", out.Get("conversation.id").Str)
	var convTexts []string
	for _, it := range out.Get("conversation.items").Array() {
		convTexts = append(convTexts, it.Get("role").Str+":"+it.Get("text").Str)
	}
	if want := "user:My favourite colour is green.|user:What is my favourite colour?|assistant:re: What is my favourite colour?|user:Actually, blue."; strings.Join(convTexts, "|") != want {
		t.Errorf("conversation items (paged by 2) = %v, want %s", convTexts, want)
	}
	check("conversation.firstItem", "My favourite colour is green.")
	check("conversation.otherTenant.cls", "NotFoundError")
	check("conversation.deleted.object", "conversation.deleted")
	check("conversation.deleted.deleted", "true")

	check("moderation.flagged", "true")
	check("completion.text", "Completed: Say this")
	check("completion.total", "7")
	check("image.b64", fakeupstream.FakePNG)
	check("image.total", "30")
	check("transcription.text", "transcribed 300000 bytes with whisper-1")
	check("speech.type", "audio/mpeg")
	check("speech.length", "4108")
	check("speech.head", "ID3fake-mp3:")
	fileID := out.Get("files.id").Str
	if !strings.Contains(out.Get("files.listedA").Raw, fileID) || strings.Contains(out.Get("files.listedB").Raw, fileID) {
		t.Errorf("files.list: A %s, B %s (file %s)", out.Get("files.listedA").Raw, out.Get("files.listedB").Raw, fileID)
	}
	check("files.getB.cls", "NotFoundError")
	check("batch.object", "batch")
	check("batch.input", fileID)
	check("batch.otherTenant.cls", "NotFoundError")
	for _, rec := range up.APIRequests() {
		if got := rec.Header.Get("Authorization"); got != "Bearer sk-upstream" {
			t.Errorf("%s %s reached the upstream with Authorization %q", rec.Method, rec.Path, got)
		}
	}
}
