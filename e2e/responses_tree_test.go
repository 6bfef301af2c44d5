package e2e

// Responses as OpenAI keeps them (issue 18, item 2), through openai-go
// against a real Caddy: every response its own id, branches that never
// see each other, retrieve of an earlier response, input items, delete,
// store: false, the Conversations API and conversation on a response,
// and tenant isolation on every one of these routes.

import (
	"context"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/conversations"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/gjson"
)

// upstreamTexts is the role:content of each message the upstream got in
// its last call.
func upstreamTexts(up *fakeupstream.OpenAI) string {
	var out []string
	for _, m := range up.LastRequest().Get("messages").Array() {
		out = append(out, m.Get("role").Str+":"+m.Get("content").Str)
	}
	return strings.Join(out, "|")
}

func say(t *testing.T, c openai.Client, params responses.ResponseNewParams, text string) *responses.Response {
	t.Helper()
	params.Input = responses.ResponseNewParamsInputUnion{OfString: openai.String(text)}
	if params.Model == "" {
		params.Model = "support-bot"
	}
	r, err := c.Responses.New(context.Background(), params)
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	return r
}

func TestResponsesTree(t *testing.T) {
	up := (&fakeupstream.OpenAI{ReplyFunc: func(req gjson.Result) string {
		return "re: " + req.Get("messages.@reverse.0.content").Str
	}}).Start()
	defer up.Close()
	g := rspStart(t, up)
	ctx := context.Background()
	for _, base := range []string{"/v1", "/api/client/v1"} {
		t.Run(base, func(t *testing.T) {
			a, b := rspClient(g, base, testgate.KeyA), rspClient(g, base, testgate.KeyB)
			first := say(t, a, responses.ResponseNewParams{}, "My name is Ada.")
			cont := func(prev string) responses.ResponseNewParams {
				return responses.ResponseNewParams{PreviousResponseID: openai.String(prev)}
			}
			// Two branches from one response.
			apples := say(t, a, cont(first.ID), "I like apples.")
			bananas := say(t, a, cont(first.ID), "I like bananas.")
			if apples.ID == first.ID || bananas.ID == first.ID || apples.ID == bananas.ID {
				t.Fatalf("ids %s %s %s: every response has its own", first.ID, apples.ID, bananas.ID)
			}
			say(t, a, cont(apples.ID), "What do I like?")
			want := "system:You are the support bot.|user:My name is Ada.|assistant:re: My name is Ada.|user:I like apples.|assistant:re: I like apples.|user:What do I like?"
			if got := upstreamTexts(up); got != want {
				t.Errorf("branch A's upstream request:\n got %s\nwant %s", got, want)
			}
			bananas2 := say(t, a, cont(bananas.ID), "What do I like?")
			if got := upstreamTexts(up); strings.Contains(got, "apples") || !strings.Contains(got, "bananas") {
				t.Errorf("branch B's upstream request holds branch A: %s", got)
			}

			// An earlier response is retrieved as it was answered.
			got, err := a.Responses.Get(ctx, first.ID, responses.ResponseGetParams{})
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != first.ID || got.OutputText() != "re: My name is Ada." || got.PreviousResponseID != "" {
				t.Errorf("retrieved first: %s", got.RawJSON())
			}
			if got, _ := a.Responses.Get(ctx, apples.ID, responses.ResponseGetParams{}); got == nil || got.PreviousResponseID != first.ID {
				t.Errorf("retrieved apples: %v", got)
			}

			// Its input items: the conversation it was answered in, then
			// its input; newest first by default, paged with after.
			page, err := a.Responses.InputItems.List(ctx, bananas2.ID, responses.InputItemListParams{})
			if err != nil {
				t.Fatal(err)
			}
			var texts []string
			for _, it := range page.Data {
				texts = append(texts, it.Role+":"+gjson.Get(it.RawJSON(), "content.0.text").Str)
				if it.ID == "" || it.Type != "message" {
					t.Errorf("item %s", it.RawJSON())
				}
			}
			wantItems := "user:What do I like?|assistant:re: I like bananas.|user:I like bananas.|assistant:re: My name is Ada.|user:My name is Ada."
			if strings.Join(texts, "|") != wantItems || page.HasMore {
				t.Errorf("input items %v (more %v), want %s", texts, page.HasMore, wantItems)
			}
			asc, err := a.Responses.InputItems.List(ctx, bananas2.ID, responses.InputItemListParams{
				Order: responses.InputItemListParamsOrderAsc, Limit: openai.Int(2)})
			if err != nil || len(asc.Data) != 2 || !asc.HasMore || gjson.Get(asc.Data[0].RawJSON(), "content.0.text").Str != "My name is Ada." {
				t.Fatalf("first page asc: %v %v", asc, err)
			}
			next, err := a.Responses.InputItems.List(ctx, bananas2.ID, responses.InputItemListParams{
				Order: responses.InputItemListParamsOrderAsc, Limit: openai.Int(2), After: openai.String(asc.Data[1].ID)})
			if err != nil || len(next.Data) != 2 || gjson.Get(next.Data[0].RawJSON(), "content.0.text").Str != "I like bananas." {
				t.Errorf("second page asc: %v %v", next, err)
			}

			// Tenant B reaches none of it.
			_, err = b.Responses.Get(ctx, first.ID, responses.ResponseGetParams{})
			rspWantAPIError(t, err, 404, "response_not_found")
			_, err = b.Responses.InputItems.List(ctx, first.ID, responses.InputItemListParams{})
			rspWantAPIError(t, err, 404, "response_not_found")
			rspWantAPIError(t, b.Responses.Delete(ctx, first.ID), 404, "response_not_found")
			_, err = b.Responses.New(ctx, responses.ResponseNewParams{Model: "support-bot", PreviousResponseID: openai.String(first.ID),
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")}})
			rspWantAPIError(t, err, 404, "previous_response_not_found")

			// Deleting a response: gone, its continuations stay; what
			// continues them no longer sees it.
			if err := a.Responses.Delete(ctx, bananas.ID); err != nil {
				t.Fatal(err)
			}
			_, err = a.Responses.Get(ctx, bananas.ID, responses.ResponseGetParams{})
			rspWantAPIError(t, err, 404, "response_not_found")
			rspWantAPIError(t, a.Responses.Delete(ctx, bananas.ID), 404, "response_not_found")
			if _, err := a.Responses.Get(ctx, bananas2.ID, responses.ResponseGetParams{}); err != nil {
				t.Errorf("the continuation of a deleted response: %v", err)
			}
			say(t, a, cont(bananas2.ID), "Still there?")
			if got := upstreamTexts(up); strings.Contains(got, "I like bananas.") || !strings.Contains(got, "re: What do I like?") {
				t.Errorf("after deleting bananas: %s", got)
			}

			// store: false keeps nothing, but may continue a stored one.
			off := say(t, a, responses.ResponseNewParams{PreviousResponseID: openai.String(first.ID), Store: openai.Bool(false)}, "Off the record.")
			if !strings.Contains(upstreamTexts(up), "My name is Ada.") || gjson.Get(off.RawJSON(), "store").Bool() {
				t.Errorf("store false continuing first: %s (store %s)", upstreamTexts(up), gjson.Get(off.RawJSON(), "store").Raw)
			}
			_, err = a.Responses.Get(ctx, off.ID, responses.ResponseGetParams{})
			rspWantAPIError(t, err, 404, "response_not_found")
			_, err = a.Responses.New(ctx, responses.ResponseNewParams{Model: "support-bot", PreviousResponseID: openai.String(off.ID),
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")}})
			rspWantAPIError(t, err, 404, "previous_response_not_found")
		})
	}
}

func TestResponsesConversationsAPI(t *testing.T) {
	up := (&fakeupstream.OpenAI{ReplyFunc: func(req gjson.Result) string {
		return "re: " + req.Get("messages.@reverse.0.content").Str
	}}).Start()
	defer up.Close()
	g := rspStart(t, up)
	ctx := context.Background()
	a, b := rspClient(g, "/v1", testgate.KeyA), rspClient(g, "/v1", testgate.KeyB)

	conv, err := a.Conversations.New(ctx, conversations.ConversationNewParams{
		Items:    []responses.ResponseInputItemUnionParam{responses.ResponseInputItemParamOfMessage("My favourite colour is green.", responses.EasyInputMessageRoleUser)},
		Metadata: shared.Metadata{"topic": "colours"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(conv.ID, "conv_") || gjson.Get(conv.RawJSON(), "metadata.topic").Str != "colours" || conv.CreatedAt == 0 {
		t.Errorf("conversation %s", conv.RawJSON())
	}
	if got, err := a.Conversations.Get(ctx, conv.ID); err != nil || got.ID != conv.ID {
		t.Errorf("get: %v %v", got, err)
	}
	if got, err := a.Conversations.Update(ctx, conv.ID, conversations.ConversationUpdateParams{Metadata: shared.Metadata{"topic": "paint"}}); err != nil || gjson.Get(got.RawJSON(), "metadata.topic").Str != "paint" {
		t.Errorf("update: %v %v", got, err)
	}

	// A response in the conversation sees its items and adds its own.
	r := say(t, a, responses.ResponseNewParams{Conversation: responses.ResponseNewParamsConversationUnion{OfString: openai.String(conv.ID)}},
		"What is my favourite colour?")
	if got := upstreamTexts(up); !strings.Contains(got, "user:My favourite colour is green.|user:What is my favourite colour?") {
		t.Errorf("upstream request in the conversation: %s", got)
	}
	if gjson.Get(r.RawJSON(), "conversation.id").Str != conv.ID {
		t.Errorf("response's conversation: %s", gjson.Get(r.RawJSON(), "conversation").Raw)
	}
	items, err := a.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{Order: conversations.ItemListParamsOrderAsc})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, it := range items.Data {
		texts = append(texts, it.Role+":"+gjson.Get(it.RawJSON(), "content.0.text").Str)
	}
	if want := "user:My favourite colour is green.|user:What is my favourite colour?|assistant:re: What is my favourite colour?"; strings.Join(texts, "|") != want {
		t.Errorf("items %v, want %s", texts, want)
	}
	added, err := a.Conversations.Items.New(ctx, conv.ID, conversations.ItemNewParams{Items: []responses.ResponseInputItemUnionParam{
		responses.ResponseInputItemParamOfMessage("Actually, blue.", responses.EasyInputMessageRoleUser)}})
	if err != nil || len(added.Data) != 1 {
		t.Fatalf("add items: %v %v", added, err)
	}
	itemID := added.Data[0].ID
	if it, err := a.Conversations.Items.Get(ctx, conv.ID, itemID, conversations.ItemGetParams{}); err != nil || it.ID != itemID {
		t.Errorf("get item: %v %v", it, err)
	}
	say(t, a, responses.ResponseNewParams{Conversation: responses.ResponseNewParamsConversationUnion{OfConversationObject: &responses.ResponseConversationParam{ID: conv.ID}}},
		"And now?")
	if got := upstreamTexts(up); !strings.Contains(got, "user:Actually, blue.|user:And now?") {
		t.Errorf("upstream after adding an item: %s", got)
	}
	if _, err := a.Conversations.Items.Delete(ctx, conv.ID, itemID); err != nil {
		t.Fatal(err)
	}
	_, err = a.Conversations.Items.Get(ctx, conv.ID, itemID, conversations.ItemGetParams{})
	rspWantAPIError(t, err, 404, "item_not_found")

	// resp_{conversation} branches off the conversation without adding
	// to it.
	before, _ := a.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{Limit: openai.Int(100)})
	say(t, a, responses.ResponseNewParams{PreviousResponseID: openai.String("resp_" + conv.ID)}, "Branching off.")
	if got := upstreamTexts(up); !strings.Contains(got, "My favourite colour is green.") {
		t.Errorf("branch off the conversation: %s", got)
	}
	after, _ := a.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{Limit: openai.Int(100)})
	if len(after.Data) != len(before.Data) {
		t.Errorf("the branch added to the conversation: %d items, then %d", len(before.Data), len(after.Data))
	}

	// Tenant B reaches nothing of A's conversation.
	_, err = b.Conversations.Get(ctx, conv.ID)
	rspWantAPIError(t, err, 404, "conversation_not_found")
	_, err = b.Conversations.Update(ctx, conv.ID, conversations.ConversationUpdateParams{Metadata: shared.Metadata{"x": "y"}})
	rspWantAPIError(t, err, 404, "conversation_not_found")
	_, err = b.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{})
	rspWantAPIError(t, err, 404, "conversation_not_found")
	_, err = b.Conversations.Items.New(ctx, conv.ID, conversations.ItemNewParams{Items: []responses.ResponseInputItemUnionParam{
		responses.ResponseInputItemParamOfMessage("x", responses.EasyInputMessageRoleUser)}})
	rspWantAPIError(t, err, 404, "conversation_not_found")
	_, err = b.Conversations.Items.Get(ctx, conv.ID, items.Data[0].ID, conversations.ItemGetParams{})
	rspWantAPIError(t, err, 404, "conversation_not_found")
	_, err = b.Conversations.Items.Delete(ctx, conv.ID, items.Data[0].ID)
	rspWantAPIError(t, err, 404, "conversation_not_found")
	_, err = b.Responses.New(ctx, responses.ResponseNewParams{Model: "support-bot", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")},
		Conversation: responses.ResponseNewParamsConversationUnion{OfString: openai.String(conv.ID)}})
	rspWantAPIError(t, err, 404, "conversation_not_found")
	_, err = b.Responses.New(ctx, responses.ResponseNewParams{Model: "support-bot", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")},
		PreviousResponseID: openai.String("resp_" + conv.ID)})
	rspWantAPIError(t, err, 404, "previous_response_not_found")
	_, err = b.Conversations.Delete(ctx, conv.ID)
	rspWantAPIError(t, err, 404, "conversation_not_found")

	// Bad requests name their field.
	for body, param := range map[string]string{
		`{"model":"support-bot","input":"x","conversation":"` + conv.ID + `","previous_response_id":"` + r.ID + `"}`: "conversation",
		`{"model":"support-bot","input":"x","conversation":"` + conv.ID + `","store":false}`:                         "store",
		`{"model":"support-bot","input":"x","truncation":"sometimes"}`:                                               "truncation",
		`{"model":"support-bot","input":"x","include":["everything"]}`:                                               "include[0]",
		`{"model":"support-bot","input":"x","metadata":{"k":1}}`:                                                     "metadata",
		`{"model":"support-bot","input":"x","text":{"format":{"type":"yaml"}}}`:                                      "text.format.type",
		`{"model":"support-bot","input":"x","tool_choice":"sometimes"}`:                                              "tool_choice",
	} {
		status, resp, _ := g.Do("POST", "/v1/responses", testgate.KeyA, body)
		if status != 400 || gjson.GetBytes(resp, "error.param").Str != param {
			t.Errorf("%s: %d %s, want a 400 naming %s", body, status, resp, param)
		}
	}
	for path, param := range map[string]string{
		"/v1/conversations/" + conv.ID + "/items?limit=500": "limit",
		"/v1/conversations/" + conv.ID + "/items?order=up":  "order",
		"/v1/responses/" + r.ID + "/input_items?limit=0":    "limit",
	} {
		status, resp, _ := g.Do("GET", path, testgate.KeyA, nil)
		if status != 400 || gjson.GetBytes(resp, "error.param").Str != param {
			t.Errorf("GET %s: %d %s, want a 400 naming %s", path, status, resp, param)
		}
	}
	status, resp, _ := g.Do("POST", "/v1/conversations/"+conv.ID+"/items", testgate.KeyA, `{"items":[{"role":"robot","content":"x"}]}`)
	if status != 400 || gjson.GetBytes(resp, "error.param").Str != "items[0].role" {
		t.Errorf("bad item: %d %s", status, resp)
	}

	deleted, err := a.Conversations.Delete(ctx, conv.ID)
	if err != nil || !deleted.Deleted || deleted.ID != conv.ID {
		t.Fatalf("delete: %v %v", deleted, err)
	}
	_, err = a.Conversations.Get(ctx, conv.ID)
	rspWantAPIError(t, err, 404, "conversation_not_found")
	// A response answered in it stays, with the context it had.
	if got, err := a.Responses.Get(ctx, r.ID, responses.ResponseGetParams{}); err != nil || got.ID != r.ID {
		t.Errorf("a response of a deleted conversation: %v %v", got, err)
	}
}
