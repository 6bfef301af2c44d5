package e2e

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
)

// geminiNodeSDK is the npm @google/genai release the test runs: the last
// that supports Node 20 (3.x needs Node 22).
const geminiNodeSDK = "@google/genai@2.32.0"

// TestGeminiNodeSDK runs e2e/testdata/gemini/sdk.mjs, the npm Gen AI SDK
// with only its base URL and key changed, against an agent on each
// provider type: text, image, thinking, a tool round trip with and without
// thinking, streamed and not; count tokens; embeddings; errors.
func TestGeminiNodeSDK(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sdk := installNodeSDK(ctx, t, geminiNodeSDK)
	ups, block := pvProviders(t)
	g := testgate.Start(t, testgate.Config{Block: block + `
		route text-embedding-* openai
`})
	jpeg := strings.TrimPrefix(egzJPEG(t), "data:image/jpeg;base64,")
	words, thoughts := egzWords(pvReply), egzWords(pvReasoning)
	in2 := fakeupstream.PromptTokens(2)
	for _, u := range ups {
		t.Run(u.name, func(t *testing.T) {
			res := gjson.ParseBytes(sdk.run(ctx, t, "gemini/sdk.mjs", g.URL, testgate.KeyA, u.agent, "text-embedding-3-small", jpeg))
			counted := thoughts
			if !u.countsReasoning {
				counted = 0
			}
			check := func(what string, a gjson.Result, text string, in, out, reasoning int) {
				t.Helper()
				us := a.Get("usage")
				if a.Get("text").Str != text || a.Get("finish").Str != "STOP" || a.Get("model").Str != u.model ||
					!strings.HasPrefix(a.Get("id").Str, "run-") {
					t.Errorf("%s: %s", what, a.Raw)
				}
				if us.Get("promptTokenCount").Int() != int64(in) || us.Get("candidatesTokenCount").Int() != int64(out-reasoning) ||
					us.Get("thoughtsTokenCount").Int() != int64(reasoning) || us.Get("totalTokenCount").Int() != int64(in+out) {
					t.Errorf("%s: usage %s, want %d prompt, %d candidates, %d thoughts", what, us.Raw, in, out-reasoning, reasoning)
				}
				pvCheckRecord(t, what, pvLog(t, g, a.Get("id").Str), "gemini", u, in, out, reasoning)
			}
			for _, s := range []string{"generate", "stream"} {
				check(s+" text", res.Get(s+"_text"), pvReply, in2, words, 0)
				check(s+" image", res.Get(s+"_image"), pvReply, in2, words, 0)
				th := res.Get(s + "_thinking")
				check(s+" thinking", th, pvReply, in2, words+thoughts, counted)
				if th.Get("thoughts").Str != pvReasoning {
					t.Errorf("%s thinking: thoughts %q", s, th.Get("thoughts").Str)
				}
				if s == "stream" && res.Get("stream_text.chunks").Int() != int64(words) {
					t.Errorf("stream: %d text chunks, want one per upstream token", res.Get("stream_text.chunks").Int())
				}
				for _, variant := range []string{"_tools", "_tools_thinking"} {
					r := res.Get(s + variant)
					call := r.Get("call.calls.0")
					if call.Get("name").Str != pvTool || call.Get("id").Str == "" || !pvJSONEqual(call.Get("args").Raw, pvToolArgs) {
						t.Errorf("%s%s: call %s", s, variant, r.Get("call").Raw)
					}
					if f := r.Get("follow"); f.Get("text").Str != pvReply || f.Get("finish").Str != "STOP" {
						t.Errorf("%s%s: answer after the tool result %s", s, variant, f.Raw)
					}
				}
			}
			want := models.EstimateTokens(pvSystem) + models.EstimateTokens("How many tokens is this?") + 4
			if res.Get("count.totalTokens").Int() != int64(want) {
				t.Errorf("countTokens %s, want %d", res.Get("count").Raw, want)
			}
			for i, s := range []string{"hello world", "abc"} {
				var got []float64
				for _, v := range res.Get(fmt.Sprintf("embed.%d", i)).Array() {
					got = append(got, v.Float())
				}
				if !reflect.DeepEqual(got, pvVector(s)) {
					t.Errorf("embedding of %q = %v, want %v", s, got, pvVector(s))
				}
			}
			for name, want := range map[string]string{
				"bad_key": "401 UNAUTHENTICATED", "unknown_model": "404 NOT_FOUND",
				"bad_request": "400 INVALID_ARGUMENT", "stream_unknown_model": "404 NOT_FOUND",
			} {
				e := res.Get("errors." + name)
				if got := fmt.Sprintf("%d %s", e.Get("code").Int(), e.Get("status").Str); got != want {
					t.Errorf("error %s: %s, want an ApiError %s", name, e.Raw, want)
				}
			}
		})
	}
}
