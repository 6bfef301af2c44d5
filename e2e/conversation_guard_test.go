package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/conversations"
	"github.com/openai/openai-go/v3/responses"
)

// TestConversationKeepsInputGuardrails: the input guardrails hold for a
// response in a Conversations API conversation too: "the model and the
// stored session see the redacted text only", and a denied input is
// never sent. Found in review: responses.Dialect.keep appended the
// client's raw input items to the conversation (on success: unredacted;
// on failure, a 400 from a deny rule, which the request was never
// admitted for: the denied text itself), and the next response in the
// conversation replayed them to the model as history, which guardInput
// did not look at. Items a client adds to a conversation itself are
// input the model is sent as well: redacted, or the same 400.
func TestConversationKeepsInputGuardrails(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "Noted."}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: `
		provider up openai {
			base_url ` + up.URL + `
		}
		agent guarded {
			model gpt-4o
			provider up
			guardrails {
				redact_pii email
				deny secret "launch code" input
			}
		}
`})
	ctx := context.Background()
	a := rspClient(g, "/v1", testgate.KeyA)
	conv, err := a.Conversations.New(ctx, conversations.ConversationNewParams{})
	if err != nil {
		t.Fatal(err)
	}
	in := responses.ResponseNewParamsConversationUnion{OfString: openai.String(conv.ID)}
	say(t, a, responses.ResponseNewParams{Model: "guarded", Conversation: in}, "My email is bob@example.com.")
	if _, err := a.Responses.New(ctx, responses.ResponseNewParams{Model: "guarded", Conversation: in,
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("The launch code is 0000.")}}); err == nil {
		t.Fatal("the deny rule did not block the input")
	}
	say(t, a, responses.ResponseNewParams{Model: "guarded", Conversation: in}, "What do you know about me?")
	items, err := a.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if s := items.RawJSON(); strings.Contains(s, "bob@example.com") || strings.Contains(s, "launch code") || !strings.Contains(s, "My email is") {
		t.Errorf("the conversation keeps input the guardrails redact or deny: %s", s)
	}

	// Items the client writes into a conversation itself: at creation,
	// and added later.
	created, err := a.Conversations.New(ctx, conversations.ConversationNewParams{Items: []responses.ResponseInputItemUnionParam{
		responses.ResponseInputItemParamOfMessage("Write to alice@example.com.", responses.EasyInputMessageRoleUser)}})
	if err != nil {
		t.Fatal(err)
	}
	say(t, a, responses.ResponseNewParams{Model: "guarded",
		Conversation: responses.ResponseNewParamsConversationUnion{OfString: openai.String(created.ID)}}, "Done?")
	before := len(up.Requests())
	if _, err := a.Conversations.Items.New(ctx, created.ID, conversations.ItemNewParams{Items: []responses.ResponseInputItemUnionParam{
		responses.ResponseInputItemParamOfMessage("The launch code is 1234.", responses.EasyInputMessageRoleUser)}}); err != nil {
		t.Fatal(err)
	}
	_, err = a.Responses.New(ctx, responses.ResponseNewParams{Model: "guarded",
		Conversation: responses.ResponseNewParamsConversationUnion{OfString: openai.String(created.ID)},
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("Go on.")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "guardrail_blocked" || apiErr.Param != "input" {
		t.Errorf("a denied item added to the conversation: error %v, want 400 guardrail_blocked naming input", err)
	}
	if len(up.Requests()) != before {
		t.Error("a response whose history a deny rule blocks reached the upstream")
	}
	for i, req := range up.Requests() {
		if s := string(req); strings.Contains(s, "@example.com") || strings.Contains(s, "launch code") {
			t.Errorf("upstream request %d carries input the guardrails redact or deny: %s", i, s)
		}
	}
	if !strings.Contains(string(up.Requests()[before-1]), "Write to") {
		t.Errorf("the conversation's own item is not in its response's history: %s", up.Requests()[before-1])
	}
}
