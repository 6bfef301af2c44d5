package e2e

import (
	"context"
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
// never sent. Found in review: responses.Dialect.keep appends the
// client's raw input items to the conversation (on success: unredacted;
// on failure, a 400 from a deny rule, which the request was never
// admitted for: the denied text itself), and the next response in the
// conversation replays them to the model as history, which guardInput
// does not look at.
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
	for i, req := range up.Requests() {
		if s := string(req); strings.Contains(s, "bob@example.com") || strings.Contains(s, "launch code") {
			t.Errorf("upstream request %d carries input the guardrails redact or deny: %s", i, s)
		}
	}
}
