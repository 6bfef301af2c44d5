package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"
)

// TestResponsesOfAnOlderStore starts Caddy on a store written before
// responses were nodes of conversation trees
// (state/bbolt/testdata/v2-responses.db: one stored response per session, its
// id resp_{session id}): the response is retrieved as stored, its input
// items are its conversation's, and continuing it (twice: two branches)
// sees the whole conversation, while the branches see only their own.
func TestResponsesOfAnOlderStore(t *testing.T) {
	data, err := os.ReadFile("../state/bbolt/testdata/v2-responses.db")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "agentgate.db"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	up := (&fakeupstream.OpenAI{ReplyFunc: func(req gjson.Result) string {
		return "re: " + req.Get("messages.@reverse.0.content").Str
	}}).Start()
	defer up.Close()
	g := testgate.StartIn(t, dir, testgate.Config{Block: rspBlock(up, "You are the support bot.")})
	ctx := context.Background()
	a := rspClient(g, "/v1", testgate.KeyA)
	const legacy = "resp_conv_legacy1"

	got, err := a.Responses.Get(ctx, legacy, responses.ResponseGetParams{})
	if err != nil || got.ID != legacy || got.OutputText() != "Paris is lovely." {
		t.Fatalf("retrieve the stored response: %v %v", got, err)
	}
	page, err := a.Responses.InputItems.List(ctx, legacy, responses.InputItemListParams{Order: responses.InputItemListParamsOrderAsc})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, it := range page.Data {
		texts = append(texts, it.Role+":"+gjson.Get(it.RawJSON(), "content.0.text").Str)
	}
	if want := "user:My name is Ada.|assistant:Nice to meet you, Ada.|user:I live in Paris."; strings.Join(texts, "|") != want {
		t.Errorf("input items %v, want %s", texts, want)
	}

	history := "user:My name is Ada.|assistant:Nice to meet you, Ada.|user:I live in Paris.|assistant:Paris is lovely."
	one := say(t, a, responses.ResponseNewParams{PreviousResponseID: openai.String(legacy)}, "Where do I live?")
	if got := upstreamTexts(up); got != "system:You are the support bot.|"+history+"|user:Where do I live?" {
		t.Errorf("continuing the stored conversation sent upstream %s", got)
	}
	two := say(t, a, responses.ResponseNewParams{PreviousResponseID: openai.String(legacy)}, "What is my name?")
	if one.ID == two.ID || one.ID == legacy {
		t.Errorf("ids %s %s: each continuation its own", one.ID, two.ID)
	}
	say(t, a, responses.ResponseNewParams{PreviousResponseID: openai.String(two.ID)}, "Anything else?")
	if got := upstreamTexts(up); strings.Contains(got, "Where do I live?") || !strings.HasPrefix(got, "system:You are the support bot.|"+history) {
		t.Errorf("a branch saw its sibling: %s", got)
	}
	// Tenant B, whose key is new to the store, sees none of it.
	b := rspClient(g, "/v1", testgate.KeyB)
	_, err = b.Responses.Get(ctx, legacy, responses.ResponseGetParams{})
	rspWantAPIError(t, err, 404, "response_not_found")
}
