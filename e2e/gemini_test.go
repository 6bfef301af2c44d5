package e2e

// Acceptance tests of issue 17's gemini dialect: the Google Gen AI Go SDK
// (google.golang.org/genai), with only its base URL and key changed,
// through a real Caddy against each of the three provider types, on an
// agent and on a routed model; usage to the token in the responses and
// the usage log; embeddings; every error class.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/tidwall/gjson"
	"google.golang.org/genai"
)

// gmClient is the Gen AI SDK pointed at g with key.
func gmClient(t *testing.T, g *testgate.Gateway, key string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: key, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: g.URL}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// gmAPIError returns err as the SDK's APIError.
func gmAPIError(err error) (genai.APIError, bool) {
	var e genai.APIError
	ok := errors.As(err, &e)
	return e, ok
}

// gmUsage checks usageMetadata to the token: candidates are the output
// without the thoughts.
func gmUsage(t *testing.T, what string, u *genai.GenerateContentResponseUsageMetadata, in, out, reasoning int) {
	t.Helper()
	if u == nil {
		t.Errorf("%s: no usageMetadata", what)
		return
	}
	if u.PromptTokenCount != int32(in) || u.CandidatesTokenCount != int32(out-reasoning) ||
		u.ThoughtsTokenCount != int32(reasoning) || u.TotalTokenCount != int32(in+out) {
		t.Errorf("%s: usage %d prompt, %d candidates, %d thoughts, %d total; want %d, %d, %d, %d",
			what, u.PromptTokenCount, u.CandidatesTokenCount, u.ThoughtsTokenCount, u.TotalTokenCount, in, out-reasoning, reasoning, in+out)
	}
}

// gmAnswer is a response (or a stream's chunks) taken apart.
type gmAnswer struct {
	text, thoughts string
	calls          []*genai.FunctionCall
	// content is the model turn as a client keeps it for the next request.
	content *genai.Content
	usage   *genai.GenerateContentResponseUsageMetadata
	finish  genai.FinishReason
	id      string
	model   string
	chunks  int
}

func gmTake(a *gmAnswer, resp *genai.GenerateContentResponse) {
	if a.content == nil {
		a.content = &genai.Content{Role: genai.RoleModel}
	}
	a.id, a.model = resp.ResponseID, resp.ModelVersion
	if resp.UsageMetadata != nil {
		a.usage = resp.UsageMetadata
	}
	if len(resp.Candidates) == 0 || resp.Candidates[0].Content == nil {
		return
	}
	c := resp.Candidates[0]
	if c.FinishReason != "" {
		a.finish = c.FinishReason
	}
	for _, p := range c.Content.Parts {
		switch {
		case p.FunctionCall != nil:
			a.calls = append(a.calls, p.FunctionCall)
		case p.Thought:
			a.thoughts += p.Text
		case p.Text != "":
			a.text += p.Text
			a.chunks++
		}
		a.content.Parts = append(a.content.Parts, p)
	}
}

// gmGenerate calls the model streamed or not and takes the answer apart.
func gmGenerate(ctx context.Context, c *genai.Client, model string, stream bool, contents []*genai.Content, config *genai.GenerateContentConfig) (*gmAnswer, error) {
	a := &gmAnswer{}
	if !stream {
		resp, err := c.Models.GenerateContent(ctx, model, contents, config)
		if err != nil {
			return nil, err
		}
		gmTake(a, resp)
		return a, nil
	}
	for resp, err := range c.Models.GenerateContentStream(ctx, model, contents, config) {
		if err != nil {
			return a, err
		}
		gmTake(a, resp)
	}
	return a, nil
}

// TestGeminiSDKSuite runs the Gen AI SDK against each provider type, on
// an agent (its system prompt applies) and on the provider's routed model
// called directly.
func TestGeminiSDKSuite(t *testing.T) {
	ups, block := pvProviders(t)
	g := testgate.Start(t, testgate.Config{Block: block})
	img := egzJPEG(t)
	for _, u := range ups {
		t.Run(u.name, func(t *testing.T) {
			t.Run("agent", func(t *testing.T) { gmSurface(t, g, u, img, u.agent, pvSystem) })
			t.Run("routed model", func(t *testing.T) { gmSurface(t, g, u, img, u.model, "") })
		})
	}
}

func gmSurface(t *testing.T, g *testgate.Gateway, u *pvUpstream, img, model, system string) {
	client := gmClient(t, g, testgate.KeyA)
	ctx := context.Background()
	words, thoughts := egzWords(pvReply), egzWords(pvReasoning)
	messages := 1 // the messages the upstream counts: the system prompt is one
	if system != "" {
		messages++
	}
	in := fakeupstream.PromptTokens(messages)
	counted := thoughts // reasoning tokens the upstream's usage breaks out
	if !u.countsReasoning {
		counted = 0
	}
	check := func(t *testing.T, what string, a *gmAnswer, text string, in, out, reasoning int) {
		t.Helper()
		if a.text != text {
			t.Errorf("%s: answer %q, want %q", what, a.text, text)
		}
		if a.finish != genai.FinishReasonStop || a.model != u.model || !strings.HasPrefix(a.id, "run-") {
			t.Errorf("%s: finish %q, modelVersion %q, responseId %q", what, a.finish, a.model, a.id)
		}
		gmUsage(t, what, a.usage, in, out, reasoning)
		pvCheckRecord(t, what, pvLog(t, g, a.id), "gemini", u, in, out, reasoning)
	}
	upstreamGot := func(t *testing.T, what, text string, stream bool) gjson.Result {
		t.Helper()
		sent := u.last()
		if got := u.system(sent); got != system {
			t.Errorf("%s: upstream system prompt %q, want %q", what, got, system)
		}
		if got := u.userText(sent); got != text {
			t.Errorf("%s: upstream user text %q, want %q", what, got, text)
		}
		if u.streamed() != stream {
			t.Errorf("%s: upstream streamed = %v, want %v", what, u.streamed(), stream)
		}
		return sent
	}
	user := func(text string, parts ...*genai.Part) *genai.Content {
		return genai.NewContentFromParts(append([]*genai.Part{genai.NewPartFromText(text)}, parts...), genai.RoleUser)
	}

	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("text/stream=%v", stream), func(t *testing.T) {
			a, err := gmGenerate(ctx, client, model, stream, []*genai.Content{user("Weather in Paris?")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "answer", a, pvReply, in, words, 0)
			if stream && a.chunks != words {
				t.Errorf("answer came in %d chunks, want one per upstream token (%d)", a.chunks, words)
			}
			if sent := upstreamGot(t, "request", "Weather in Paris?", stream); u.reasoned(sent) {
				t.Errorf("upstream asked to reason: %s", sent.Raw)
			}
		})

		t.Run(fmt.Sprintf("image/stream=%v", stream), func(t *testing.T) {
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(img, "data:image/jpeg;base64,"))
			if err != nil {
				t.Fatal(err)
			}
			a, err := gmGenerate(ctx, client, model, stream, []*genai.Content{user("What is in this picture?", genai.NewPartFromBytes(raw, "image/jpeg"))}, nil)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "answer", a, pvReply, in, words, 0)
			if got := u.image(upstreamGot(t, "request", "What is in this picture?", stream)); got != img {
				t.Errorf("upstream image %.60q…, want the client's %.60q…", got, img)
			}
		})

		t.Run(fmt.Sprintf("pdf/stream=%v", stream), func(t *testing.T) {
			pdf := []byte("%PDF-1.4\n% a tiny document\n")
			a, err := gmGenerate(ctx, client, model, stream, []*genai.Content{user("Summarise this.", genai.NewPartFromBytes(pdf, "application/pdf"))}, nil)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "answer", a, pvReply, in, words, 0)
			if sent := upstreamGot(t, "request", "Summarise this.", stream); !strings.Contains(sent.Raw, base64.StdEncoding.EncodeToString(pdf)) {
				t.Errorf("the PDF did not reach the upstream: %s", sent.Raw)
			}
		})

		t.Run(fmt.Sprintf("tool round trip/stream=%v", stream), func(t *testing.T) {
			gmToolRoundTrip(t, g, u, client, model, stream, nil, in, words)
		})

		t.Run(fmt.Sprintf("thinking/stream=%v", stream), func(t *testing.T) {
			config := &genai.GenerateContentConfig{ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: true, ThinkingBudget: genai.Ptr[int32](2048)}}
			a, err := gmGenerate(ctx, client, model, stream, []*genai.Content{user("Think, then answer")}, config)
			if err != nil {
				t.Fatal(err)
			}
			if a.thoughts != pvReasoning {
				t.Errorf("thoughts %q, want %q", a.thoughts, pvReasoning)
			}
			check(t, "answer", a, pvReply, in, words+thoughts, counted)
			if sent := upstreamGot(t, "request", "Think, then answer", stream); !u.reasoned(sent) {
				t.Errorf("upstream not asked to reason: %s", sent.Raw)
			}
		})

		// A tool loop with thinking on: the model turn goes back with its
		// thought signatures (Anthropic's signed thinking block, Gemini's
		// signed function call), shown or not.
		for _, show := range []bool{true, false} {
			t.Run(fmt.Sprintf("thinking tool loop/show=%v/stream=%v", show, stream), func(t *testing.T) {
				config := &genai.GenerateContentConfig{ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: show, ThinkingBudget: genai.Ptr[int32](2048)}}
				follow := gmToolRoundTrip(t, g, u, client, model, stream, config, in, words)
				switch u.name {
				case "anthropic":
					b := follow.Get("messages.@reverse.1.content.0")
					if b.Get("type").Str != "thinking" || b.Get("thinking").Str != pvReasoning ||
						b.Get("signature").Str != fakeupstream.AnthropicSignature(pvReasoning) {
						t.Errorf("the thinking block did not go back signed: %s", follow.Get("messages.@reverse.1").Raw)
					}
				case "gemini":
					call := follow.Get("contents.@reverse.1.parts.#(functionCall).thoughtSignature")
					if call.Str != fakeupstream.FakeSignature {
						t.Errorf("the function call went back without its signature: %s", follow.Get("contents.@reverse.1").Raw)
					}
				}
			})
		}
	}

	t.Run("json array stream with ?key=", func(t *testing.T) {
		resp, err := http.Post(g.URL+"/v1beta/models/"+model+":streamGenerateContent?key="+testgate.KeyA, "application/json",
			strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"Weather in Paris?"}]}]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		if tok, err := dec.Token(); resp.StatusCode != 200 || err != nil || tok != json.Delim('[') {
			t.Fatalf("%d: %v %v", resp.StatusCode, tok, err)
		}
		a := &gmAnswer{}
		for dec.More() {
			var chunk genai.GenerateContentResponse
			if err := dec.Decode(&chunk); err != nil {
				t.Fatal(err)
			}
			gmTake(a, &chunk)
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
			t.Fatalf("array not closed: %v %v", tok, err)
		}
		check(t, "answer", a, pvReply, in, words, 0)
	})

	t.Run("count tokens", func(t *testing.T) {
		calls := u.calls()
		const text = "How many tokens is this?"
		resp, err := client.Models.CountTokens(ctx, model, []*genai.Content{user(text)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := models.EstimateTokens(system) + models.EstimateTokens(text) + 4
		if resp.TotalTokens != int32(want) {
			t.Errorf("totalTokens %d, want the gateway's estimate %d", resp.TotalTokens, want)
		}
		if u.calls() != calls {
			t.Error("counting tokens called the upstream")
		}
	})
}

// gmToolRoundTrip offers pvTool, gets the model's call, sends the result
// back with the model turn as the SDK returned it, and checks the answer,
// the usage of both calls and what the upstream got; it returns the
// upstream's last request.
func gmToolRoundTrip(t *testing.T, g *testgate.Gateway, u *pvUpstream, client *genai.Client, model string, stream bool,
	config *genai.GenerateContentConfig, in, words int) gjson.Result {
	t.Helper()
	ctx := context.Background()
	cfg := &genai.GenerateContentConfig{}
	if config != nil {
		*cfg = *config
	}
	cfg.Tools = []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{
		Name: pvTool, Description: "Weather of a city",
		Parameters: &genai.Schema{Type: genai.TypeObject, Properties: map[string]*genai.Schema{"city": {Type: genai.TypeString}}, Required: []string{"city"}},
	}}}}
	thinking := config != nil
	contents := []*genai.Content{genai.NewContentFromText("Weather in Paris?", genai.RoleUser)}
	a, err := gmGenerate(ctx, client, model, stream, contents, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.calls) != 1 || a.calls[0].Name != pvTool || a.calls[0].ID == "" || !reflect.DeepEqual(a.calls[0].Args, map[string]any{"city": "Paris"}) {
		t.Fatalf("function calls %+v", a.calls)
	}
	if a.finish != genai.FinishReasonStop || a.text != "" {
		t.Errorf("finish %q, text %q", a.finish, a.text)
	}
	if sent := u.last(); u.tool(sent) != pvTool || u.reasoned(sent) != thinking {
		t.Errorf("upstream request (tool offered, reasoning %v): %s", thinking, sent.Raw)
	}
	out, reasoning := 5, 0
	if thinking {
		if show := config.ThinkingConfig.IncludeThoughts; (a.thoughts == pvReasoning) != show {
			t.Errorf("thoughts %q with includeThoughts %v", a.thoughts, show)
		}
		// The fakes count 5 output tokens for a call; Gemini's counts the
		// thoughts before it too, and reports them apart.
		if u.name == "gemini" {
			out, reasoning = 5+egzWords(pvReasoning), egzWords(pvReasoning)
		}
	}
	gmUsage(t, "call", a.usage, in, out, reasoning)
	pvCheckRecord(t, "call", pvLog(t, g, a.id), "gemini", u, in, out, reasoning)

	call := a.calls[0]
	contents = append(contents, a.content, genai.NewContentFromParts([]*genai.Part{{FunctionResponse: &genai.FunctionResponse{
		ID: call.ID, Name: call.Name, Response: map[string]any{"temp": 21}}}}, genai.RoleUser))
	b, err := gmGenerate(ctx, client, model, stream, contents, cfg)
	if err != nil {
		t.Fatalf("follow-up: %v", err)
	}
	if b.text != pvReply || b.finish != genai.FinishReasonStop {
		t.Errorf("answer after the result %q (%q), want %q", b.text, b.finish, pvReply)
	}
	// The system prompt (if any), the user, the call and its result.
	in2 := in + fakeupstream.PromptTokens(3) - fakeupstream.PromptTokens(1)
	out2, reasoning2 := egzWords(pvReply), 0
	if thinking {
		out2 += egzWords(pvReasoning)
		if u.countsReasoning {
			reasoning2 = egzWords(pvReasoning)
		}
	}
	gmUsage(t, "answer", b.usage, in2, out2, reasoning2)
	pvCheckRecord(t, "answer", pvLog(t, g, b.id), "gemini", u, in2, out2, reasoning2)
	last := u.last()
	if err := u.toolResult(last, call.ID); err != nil {
		t.Errorf("tool round trip not sent upstream intact: %v", err)
	}
	return last
}

// gmCheckError checks that err is the SDK's APIError with code and
// Google status.
func gmCheckError(t *testing.T, what string, err error, code int, status string) genai.APIError {
	t.Helper()
	e, ok := gmAPIError(err)
	if !ok {
		t.Errorf("%s: error %T %v, want an APIError %d %s", what, err, err, code, status)
		return e
	}
	if e.Code != code || e.Status != status || e.Message == "" {
		t.Errorf("%s: APIError %d %s %q, want %d %s", what, e.Code, e.Status, e.Message, code, status)
	}
	return e
}

// gmCutStream is a Gemini upstream whose streams send one chunk and end
// without a finish reason: a stream cut off.
func gmCutStream(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	_, _ = io.WriteString(w, `data: {"candidates":[{"content":{"role":"model","parts":[{"text":"partial "}]}}],"modelVersion":"gemini-cut"}`+"\n\n")
}

// TestGeminiSDKErrors: every error class reaches the SDK as an APIError
// with Google's code and status, from the gateway and from each provider,
// before a stream and during one.
func TestGeminiSDKErrors(t *testing.T) {
	var blocks []string
	fakes := map[string]string{}
	for _, status := range []int{500, 503} {
		oa := (&fakeupstream.OpenAI{Status: status}).Start()
		gm := (&fakeupstream.Gemini{Status: status}).Start()
		an := (&fakeupstream.Anthropic{Status: status}).Start()
		t.Cleanup(oa.Close)
		t.Cleanup(gm.Close)
		t.Cleanup(an.Close)
		fakes[fmt.Sprintf("openai-%d", status)], fakes[fmt.Sprintf("gemini-%d", status)], fakes[fmt.Sprintf("anthropic-%d", status)] = oa.URL, gm.URL, an.URL
	}
	drop := &pvDropper{}
	drop.srv = httptest.NewServer(drop)
	t.Cleanup(drop.srv.Close)
	cut := httptest.NewServer(http.HandlerFunc(gmCutStream))
	t.Cleanup(cut.Close)
	an := (&fakeupstream.Anthropic{Reply: pvReply, StreamError: "overloaded_error"}).Start()
	t.Cleanup(an.Close)
	fakes["openai-cut"], fakes["gemini-cut"], fakes["anthropic-cut"] = drop.srv.URL, cut.URL, an.URL
	for name, url := range fakes {
		typ, _, _ := strings.Cut(name, "-")
		blocks = append(blocks, fmt.Sprintf(`
		provider %s %s {
			base_url %s
		}
		route %s-model %s`, name, typ, url, name, name))
	}
	ok := (&fakeupstream.OpenAI{Reply: pvReply}).Start()
	t.Cleanup(ok.Close)
	g := testgate.Start(t, testgate.Config{Block: strings.Join(blocks, "\n") + `
		provider ok openai {
			base_url ` + ok.URL + `
		}
		route gpt-* ok
		retries {
			backoff 1ms
			max_backoff 2ms
		}
		tier limited {
			rpm 2
			models gpt-allowed
		}
		key agk_test_limited_key_0000000000 {
			tenant tenant-a
			tier limited
		}
		max_body_bytes 4096
`})
	ctx := context.Background()
	client := gmClient(t, g, testgate.KeyA)
	hi := []*genai.Content{genai.NewContentFromText("hi", genai.RoleUser)}

	// The gateway's own refusals, streamed or not.
	for _, stream := range []bool{false, true} {
		what := fmt.Sprintf("stream=%v", stream)
		_, err := gmGenerate(ctx, client, "gpt-x", stream, hi, &genai.GenerateContentConfig{CandidateCount: 2})
		if e := gmCheckError(t, what+" candidateCount 2", err, 400, "INVALID_ARGUMENT"); len(e.Details) == 0 ||
			e.Details[0]["fieldViolations"] == nil {
			t.Errorf("%s: a bad field names no field: %+v", what, e.Details)
		}
		_, err = gmGenerate(ctx, gmClient(t, g, "agk_wrong_key_000000000000000000"), "gpt-x", stream, hi, nil)
		gmCheckError(t, what+" bad key", err, 401, "UNAUTHENTICATED")
		_, err = gmGenerate(ctx, client, "no-such-model", stream, hi, nil)
		gmCheckError(t, what+" unknown model", err, 404, "NOT_FOUND")
		_, err = gmGenerate(ctx, client, "gpt-x", stream, []*genai.Content{genai.NewContentFromText(strings.Repeat("x", 5000), genai.RoleUser)}, nil)
		gmCheckError(t, what+" body too large", err, 413, "INVALID_ARGUMENT")
	}
	limited := gmClient(t, g, "agk_test_limited_key_0000000000")
	_, err := gmGenerate(ctx, limited, "gpt-x", false, hi, nil)
	gmCheckError(t, "model outside the tier's allowlist", err, 403, "PERMISSION_DENIED")
	// The refusal came before admission (the model is resolved first): it
	// took nothing of the key's rpm 2, which two calls then take.
	for range 2 {
		if _, err = gmGenerate(ctx, limited, "gpt-allowed", false, hi, nil); err != nil {
			t.Fatalf("allowed model: %v", err)
		}
	}
	_, err = gmGenerate(ctx, limited, "gpt-allowed", false, hi, nil)
	if e := gmCheckError(t, "rate limited", err, 429, "RESOURCE_EXHAUSTED"); !strings.Contains(fmt.Sprint(e.Details), "RetryInfo") {
		t.Errorf("a rate limit says not when to retry: %+v", e.Details)
	}

	// Upstream failures, from each provider type.
	for _, typ := range []string{"openai", "gemini", "anthropic"} {
		for _, c := range []struct {
			upstream int
			code     int
			status   string
		}{{500, 502, "INTERNAL"}, {503, 503, "UNAVAILABLE"}} {
			for _, stream := range []bool{false, true} {
				what := fmt.Sprintf("%s upstream %d stream=%v", typ, c.upstream, stream)
				_, err := gmGenerate(ctx, client, fmt.Sprintf("%s-%d-model", typ, c.upstream), stream, hi, nil)
				gmCheckError(t, what, err, c.code, c.status)
			}
		}
		// A stream that fails after its first token: the text so far,
		// then the SDK raises the error the stream ends with.
		a, err := gmGenerate(ctx, client, typ+"-cut-model", true, hi, nil)
		if e, ok := gmAPIError(err); !ok || e.Code < 500 || (e.Status != "INTERNAL" && e.Status != "UNAVAILABLE") {
			t.Errorf("%s: stream cut after its first token: %v", typ, err)
		}
		if a == nil || a.text == "" {
			t.Errorf("%s: the text before the failure did not reach the client", typ)
		}
	}
}

// TestGeminiEmbeddings: embedContent and batchEmbedContents reach the
// provider the model is routed to, come back in Gemini's shape and are
// logged; what the gateway cannot do is a 400 naming the field.
func TestGeminiEmbeddings(t *testing.T) {
	oa := (&fakeupstream.OpenAI{}).Start()
	defer oa.Close()
	gm := (&fakeupstream.Gemini{APIKey: "gm-key"}).Start()
	defer gm.Close()
	an := (&fakeupstream.Anthropic{}).Start()
	defer an.Close()
	g := testgate.Start(t, testgate.Config{Block: `
		provider openai openai {
			base_url ` + oa.URL + `
		}
		provider gemini gemini {
			base_url ` + gm.URL + `
			api_key gm-key
		}
		provider anthropic anthropic {
			base_url ` + an.URL + `
		}
		route text-embedding-* openai
		route gemini-embedding-* gemini
		route claude-* anthropic
`})
	ctx := context.Background()
	client := gmClient(t, g, testgate.KeyA)
	inputs := []string{"hello world", "the quick brown fox"}
	words := 0
	for _, s := range inputs {
		words += len(strings.Fields(s))
	}
	for _, c := range []struct{ model, provider string }{{"gemini-embedding-001", "gemini"}, {"text-embedding-3-small", "openai"}} {
		t.Run(c.provider, func(t *testing.T) {
			var contents []*genai.Content
			for _, s := range inputs {
				contents = append(contents, genai.NewContentFromText(s, genai.RoleUser))
			}
			// The SDK sends batchEmbedContents.
			resp, err := client.Models.EmbedContent(ctx, c.model, contents, &genai.EmbedContentConfig{TaskType: "RETRIEVAL_DOCUMENT"})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Embeddings) != len(inputs) {
				t.Fatalf("%d embeddings for %d inputs", len(resp.Embeddings), len(inputs))
			}
			for i, e := range resp.Embeddings {
				got := make([]float64, len(e.Values))
				for j, v := range e.Values {
					got[j] = float64(v)
				}
				if !reflect.DeepEqual(got, pvVector(inputs[i])) {
					t.Errorf("embedding %d = %v, want %v", i, got, pvVector(inputs[i]))
				}
			}
			logs := pvLogs(t, g, 1)
			if len(logs) != 1 || logs[0].Get("provider").Str != c.provider || logs[0].Get("model_id").Str != c.model ||
				logs[0].Get("dialect").Str != "gemini" || logs[0].Get("status").Str != "ok" || logs[0].Get("input_tokens").Int() != int64(words) {
				t.Errorf("usage record %v, want provider %s, model %s, dialect gemini, %d input tokens", logs, c.provider, c.model, words)
			}
			// embedContent, one content, as older clients call it.
			status, body, _ := gmDo(t, g, "POST", "/v1beta/models/"+c.model+":embedContent",
				`{"model":"models/`+c.model+`","content":{"parts":[{"text":"hello "},{"text":"world"}]}}`)
			vec := gjson.GetBytes(body, "embedding.values")
			var got []float64
			for _, v := range vec.Array() {
				got = append(got, v.Float())
			}
			if status != 200 || !reflect.DeepEqual(got, pvVector("hello world")) {
				t.Errorf("embedContent: %d %s", status, body)
			}
		})
	}
	for _, c := range []struct {
		what, path, body string
		code             int
		status, field    string
	}{
		{"outputDimensionality", "/v1beta/models/text-embedding-3-small:embedContent",
			`{"content":{"parts":[{"text":"x"}]},"outputDimensionality":8}`, 400, "INVALID_ARGUMENT", "outputDimensionality"},
		{"another model in the batch", "/v1beta/models/text-embedding-3-small:batchEmbedContents",
			`{"requests":[{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"x"}]}}]}`, 400, "INVALID_ARGUMENT", "requests[0].model"},
		{"an image", "/v1beta/models/text-embedding-3-small:embedContent",
			`{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]}}`, 400, "INVALID_ARGUMENT", "content.parts[0]"},
		{"a provider without embeddings", "/v1beta/models/claude-x:embedContent",
			`{"content":{"parts":[{"text":"x"}]}}`, 400, "INVALID_ARGUMENT", "model"},
		{"an unrouted model", "/v1beta/models/nope:batchEmbedContents",
			`{"requests":[{"content":{"parts":[{"text":"x"}]}}]}`, 404, "NOT_FOUND", ""},
	} {
		status, body, _ := gmDo(t, g, "POST", c.path, c.body)
		e := gjson.GetBytes(body, "error")
		if status != c.code || e.Get("code").Int() != int64(c.code) || e.Get("status").Str != c.status ||
			e.Get("details.#(fieldViolations).fieldViolations.0.field").Str != c.field {
			t.Errorf("%s: %d %s, want %d %s naming %q", c.what, status, body, c.code, c.status, c.field)
		}
	}
}

// gmDo sends a Gemini API request with tenant A's key in x-goog-api-key.
func gmDo(t *testing.T, g *testgate.Gateway, method, path, body string) (int, []byte, http.Header) {
	t.Helper()
	return gmDoKey(t, g, method, path, body, testgate.KeyA)
}

func gmDoKey(t *testing.T, g *testgate.Gateway, method, path, body, key string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-goog-api-key", key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out, resp.Header
}

// gmLimitsBlock declares an OpenAI-compatible upstream, a shared agent and
// one of tenant A's, an embedding route, and keys on a tier with a token
// rate limit and on one with a monthly quota.
func gmLimitsBlock(up *fakeupstream.OpenAI) string {
	return openaiBlock(up) + `
		route text-embedding-* up
		tier tight {
			tpm 600
		}
		tier poor {
			monthly_tokens 1
		}
		key agk_test_tight_key_000000000000 {
			tenant tenant-a
			tier tight
		}
		key agk_test_poor_key_0000000000000 {
			tenant tenant-a
			tier poor
		}
`
}

// TestGeminiLimitsMetricsAndIsolation: the gemini dialect's requests are
// counted in the metrics with dialect="gemini" and their tokens; the
// token rate limit reads generationConfig.maxOutputTokens; quotas refuse
// with RESOURCE_EXHAUSTED; and no route lets tenant B see or use tenant
// A's agent or usage.
func TestGeminiLimitsMetricsAndIsolation(t *testing.T) {
	hold := make(chan struct{})
	up := (&fakeupstream.OpenAI{Reply: "Hello there friend.", HoldLast: hold}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: gmLimitsBlock(up)})
	ctx := context.Background()
	hi := []*genai.Content{genai.NewContentFromText("hi", genai.RoleUser)}

	t.Run("metrics", func(t *testing.T) {
		before := g.Scrape(t)
		// A streamed JSON array in flight is an active stream, as SSE is.
		active := before.Get("agentgate_active_streams", "dialect", "gemini")
		resp, err := http.Post(g.URL+"/v1beta/models/assistant:streamGenerateContent?key="+testgate.KeyA, "application/json",
			strings.NewReader(`{"contents":[{"parts":[{"text":"hi"}]}]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var once sync.Once
		release := func() { once.Do(func() { close(hold) }) }
		defer release() // the stream and later ones must not wait, whatever happens here
		dec := json.NewDecoder(resp.Body)
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			t.Fatalf("%v %v", tok, err)
		}
		g.WaitMetric(t, active+1, "agentgate_active_streams", "dialect", "gemini")
		release()
		_, _ = io.Copy(io.Discard, resp.Body)
		g.WaitMetric(t, active, "agentgate_active_streams", "dialect", "gemini")
		before = g.WaitMetric(t, before.Get("agentgate_requests_total", "dialect", "gemini", "agent", "assistant", "outcome", "ok")+1,
			"agentgate_requests_total", "dialect", "gemini", "agent", "assistant", "outcome", "ok")
		ok := before.Get("agentgate_requests_total", "dialect", "gemini", "agent", "assistant", "outcome", "ok")
		in := before.Get("agentgate_tokens_total", "agent", "assistant", "type", "input")
		out := before.Get("agentgate_tokens_total", "agent", "assistant", "type", "output")
		client := gmClient(t, g, testgate.KeyA)
		for _, stream := range []bool{false, true} {
			if _, err := gmGenerate(ctx, client, "assistant", stream, hi, nil); err != nil {
				t.Fatal(err)
			}
		}
		after := g.WaitMetric(t, ok+2, "agentgate_requests_total", "dialect", "gemini", "agent", "assistant", "outcome", "ok")
		// Each: the agent's system prompt and "hi"; three words out.
		if got := after.Get("agentgate_tokens_total", "agent", "assistant", "type", "input") - in; got != float64(2*fakeupstream.PromptTokens(2)) {
			t.Errorf("input tokens counted %v, want %d", got, 2*fakeupstream.PromptTokens(2))
		}
		if got := after.Get("agentgate_tokens_total", "agent", "assistant", "type", "output") - out; got != 6 {
			t.Errorf("output tokens counted %v, want 6", got)
		}
		if after.Get("agentgate_request_duration_seconds", "dialect", "gemini") == 0 {
			t.Error("no request durations with dialect=\"gemini\"")
		}
	})

	t.Run("token rate limit reads maxOutputTokens", func(t *testing.T) {
		tight := gmClient(t, g, "agk_test_tight_key_000000000000")
		// Reserving 5000 output tokens cannot fit a 600-token minute.
		_, err := gmGenerate(ctx, tight, "assistant", false, hi, &genai.GenerateContentConfig{MaxOutputTokens: 5000})
		if e := gmCheckError(t, "over tpm", err, 429, "RESOURCE_EXHAUSTED"); !strings.Contains(e.Message, "needs about") {
			t.Errorf("message %q", e.Message)
		}
		// 50 does (the default reserve of 1024 would not).
		if _, err := gmGenerate(ctx, tight, "assistant", false, hi, &genai.GenerateContentConfig{MaxOutputTokens: 50}); err != nil {
			t.Fatalf("within tpm: %v", err)
		}
	})

	t.Run("quota", func(t *testing.T) {
		calls := len(up.Requests())
		_, err := gmGenerate(ctx, gmClient(t, g, "agk_test_poor_key_0000000000000"), "assistant", true, hi, nil)
		e := gmCheckError(t, "quota", err, 429, "RESOURCE_EXHAUSTED")
		if !strings.Contains(fmt.Sprint(e.Details), "INSUFFICIENT_QUOTA") {
			t.Errorf("details %+v", e.Details)
		}
		if len(up.Requests()) != calls {
			t.Error("a refused request reached the upstream")
		}
	})

	t.Run("tenant isolation", func(t *testing.T) {
		body := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
		for _, path := range []string{
			"/v1beta/models/secret-a:generateContent",
			"/v1beta/models/secret-a:streamGenerateContent?alt=sse",
			"/v1beta/models/secret-a:streamGenerateContent",
			"/v1beta/models/secret-a:countTokens",
			"/v1/models/secret-a:generateContent",
			"/v1/models/secret-a:streamGenerateContent?alt=sse",
			"/v1/models/secret-a:countTokens",
		} {
			if status, out, _ := gmDoKey(t, g, "POST", path, body, testgate.KeyA); status != 200 {
				t.Errorf("tenant A %s: %d %s", path, status, out)
			}
			status, out, _ := gmDoKey(t, g, "POST", path, body, testgate.KeyB)
			if status != 404 || gjson.GetBytes(out, "error.status").Str != "NOT_FOUND" {
				t.Errorf("tenant B %s: %d %s, want 404 NOT_FOUND", path, status, out)
			}
		}
		if status, out, _ := gmDoKey(t, g, "GET", "/v1beta/models/secret-a", "", testgate.KeyB); status != 404 {
			t.Errorf("tenant B GET secret-a: %d %s", status, out)
		}
		for key, want := range map[string]int{testgate.KeyA: 2, testgate.KeyB: 1} {
			n := 0
			for m, err := range gmClient(t, g, key).Models.All(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				if m.Name == "models/secret-a" && key == testgate.KeyB {
					t.Error("tenant B lists tenant A's agent")
				}
				n++
			}
			if n != want {
				t.Errorf("key %s… lists %d models, want %d", key[:12], n, want)
			}
		}
		// Embeddings hold no tenant's objects, but their usage is the
		// caller's: tenant B's log shows none of tenant A's.
		for _, key := range []string{testgate.KeyA, testgate.KeyB} {
			if status, out, _ := gmDoKey(t, g, "POST", "/v1beta/models/text-embedding-3-small:batchEmbedContents",
				`{"requests":[{"content":{"parts":[{"text":"tenant"}]}}]}`, key); status != 200 {
				t.Fatalf("embed: %d %s", status, out)
			}
			if status, out, _ := gmDoKey(t, g, "POST", "/v1/models/text-embedding-3-small:embedContent",
				`{"content":{"parts":[{"text":"tenant"}]}}`, key); status != 200 {
				t.Fatalf("embed: %d %s", status, out)
			}
		}
		status, out, _ := g.Do("GET", "/v1/logs?limit=100", testgate.KeyB, nil)
		if status != 200 {
			t.Fatalf("logs: %d %s", status, out)
		}
		embeds := 0
		for _, rec := range gjson.ParseBytes(out).Array() {
			if rec.Get("agent_id").Str == "secret-a" {
				t.Errorf("tenant B's log holds tenant A's run %s", rec.Raw)
			}
			if rec.Get("model_id").Str == "text-embedding-3-small" {
				embeds++
			}
		}
		if embeds != 2 {
			t.Errorf("tenant B's log holds %d embeddings, want its own 2", embeds)
		}
	})
}

// TestGeminiKeyNotLogged: with the access log filter the README shows, a
// key sent as ?key= or x-goog-api-key never reaches Caddy's access log,
// and the request still authenticates.
func TestGeminiKeyNotLogged(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "ok"}).Start()
	defer up.Close()
	logFile := t.TempDir() + "/access.log"
	g := testgate.Start(t, testgate.Config{Block: openaiBlock(up), Site: `
	log {
		output file ` + logFile + `
		format filter {
			request>uri query {
				replace key REDACTED
			}
			request>headers>X-Goog-Api-Key replace REDACTED
			request>headers>X-Api-Key replace REDACTED
		}
	}`})
	body := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	if status, out, _ := gmDoKey(t, g, "POST", "/v1beta/models/assistant:generateContent?key="+testgate.KeyA, body, ""); status != 200 {
		t.Fatalf("?key=: %d %s", status, out)
	}
	if status, out, _ := gmDoKey(t, g, "GET", "/v1beta/models?pageSize=5&key="+testgate.KeyB, "", ""); status != 200 {
		t.Fatalf("?key=: %d %s", status, out)
	}
	if status, out, _ := gmDoKey(t, g, "GET", "/v1beta/models", "", testgate.KeyA); status != 200 {
		t.Fatalf("x-goog-api-key: %d %s", status, out)
	}
	if status, _, _ := gmDoKey(t, g, "GET", "/v1beta/models?key=agk_wrong_key_0000000000", "", ""); status != 401 {
		t.Fatalf("a wrong ?key= authenticated: %d", status)
	}
	var log []byte
	// The access log is written when each request ends.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		log, _ = os.ReadFile(logFile)
		if bytes.Count(log, []byte("\n")) >= 4 {
			break
		}
	}
	if n := bytes.Count(log, []byte("\n")); n < 4 {
		t.Fatalf("%d access log lines, want 4:\n%s", n, log)
	}
	for _, secret := range []string{testgate.KeyA, testgate.KeyB, "agk_wrong_key_0000000000"} {
		if bytes.Contains(log, []byte(secret)) {
			t.Errorf("a key reached the access log:\n%s", log)
		}
	}
	if !bytes.Contains(log, []byte("key=REDACTED")) || !bytes.Contains(log, []byte("pageSize=5")) {
		t.Errorf("the filter did not run as documented:\n%s", log)
	}
}

// TestGeminiV1Models: GET /v1/models answers a Google client (the SDK on
// API version v1) in Gemini's shape, and everyone else as before.
func TestGeminiV1Models(t *testing.T) {
	up := (&fakeupstream.OpenAI{Reply: "ok"}).Start()
	defer up.Close()
	g := testgate.Start(t, testgate.Config{Block: openaiBlock(up)})
	ctx := context.Background()
	v1 := func(key string) *genai.Client {
		c, err := genai.NewClient(ctx, &genai.ClientConfig{APIKey: key, Backend: genai.BackendGeminiAPI,
			HTTPOptions: genai.HTTPOptions{BaseURL: g.URL, APIVersion: "v1"}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for key, want := range map[string][]string{testgate.KeyA: {"models/assistant", "models/secret-a"}, testgate.KeyB: {"models/assistant"}} {
		var got []string
		for m, err := range v1(key).Models.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m.Name)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("key %s…: v1 models %v, want %v", key[:12], got, want)
		}
	}
	m, err := v1(testgate.KeyA).Models.Get(ctx, "secret-a", nil)
	if err != nil || m.DisplayName != "Secret A" {
		t.Errorf("v1 get: %+v %v", m, err)
	}
	_, err = v1(testgate.KeyB).Models.Get(ctx, "secret-a", nil)
	gmCheckError(t, "tenant B's v1 get", err, 404, "NOT_FOUND")
	if status, body, _ := g.Do("GET", "/v1/models", testgate.KeyA, nil); status != 200 || gjson.GetBytes(body, "object").Str != "list" {
		t.Errorf("OpenAI's /v1/models: %d %s", status, body)
	}
	if status, body, _ := gmDoKey(t, g, "GET", "/v1/models?key="+testgate.KeyA, "", ""); status != 200 || !gjson.GetBytes(body, "models").IsArray() {
		t.Errorf("/v1/models?key=: %d %s", status, body)
	}
}
