package fakeupstream_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"google.golang.org/genai"
)

func sdkClient(t *testing.T, g *fakeupstream.Gemini, key string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: key, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: g.URL}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The real SDK reads the fake's answers, streamed or not.
func TestGeminiWithSDK(t *testing.T) {
	g := (&fakeupstream.Gemini{Reply: "Hello there friend.", Reasoning: "Let me think."}).Start()
	defer g.Close()
	c := sdkClient(t, g, "k")
	ctx := context.Background()
	contents := []*genai.Content{genai.NewContentFromText("hi", genai.RoleUser)}
	config := &genai.GenerateContentConfig{SystemInstruction: genai.NewContentFromText("be nice", genai.RoleUser)}

	resp, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", contents, config)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != "Hello there friend." || resp.ModelVersion != "gemini-2.5-flash" ||
		resp.UsageMetadata.PromptTokenCount != int32(fakeupstream.PromptTokens(2)) || resp.UsageMetadata.CandidatesTokenCount != 3 ||
		resp.Candidates[0].FinishReason != genai.FinishReasonStop {
		t.Fatalf("response %+v", resp)
	}

	var text, thoughts strings.Builder
	var sig []byte
	var last *genai.GenerateContentResponse
	config.ThinkingConfig = &genai.ThinkingConfig{IncludeThoughts: true}
	for chunk, err := range c.Models.GenerateContentStream(ctx, "gemini-2.5-flash", contents, config) {
		if err != nil {
			t.Fatal(err)
		}
		var parts []*genai.Part
		if c := chunk.Candidates[0].Content; c != nil {
			parts = c.Parts
		}
		for _, p := range parts {
			if p.Thought {
				thoughts.WriteString(p.Text)
			} else {
				text.WriteString(p.Text)
			}
			if len(p.ThoughtSignature) > 0 {
				sig = p.ThoughtSignature
			}
		}
		last = chunk
	}
	u := last.UsageMetadata
	if text.String() != "Hello there friend." || thoughts.String() != "Let me think." || string(sig) != "fake-thought-signature" ||
		u.CandidatesTokenCount != 3 || u.ThoughtsTokenCount != 3 || u.TotalTokenCount != int32(fakeupstream.PromptTokens(2)+6) {
		t.Fatalf("streamed %q %q %q usage %+v", text.String(), thoughts.String(), sig, u)
	}
	urls := g.RequestURLs()
	if urls[0] != "/v1beta/models/gemini-2.5-flash:generateContent" || urls[1] != "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" {
		t.Errorf("urls %v", urls)
	}
	if keys := g.Keys(); keys[0] != "k" {
		t.Errorf("keys %v", keys)
	}
	if !g.LastRequest().Get("generationConfig.thinkingConfig.includeThoughts").Bool() {
		t.Errorf("last request %s", g.LastRequest().Raw)
	}
}

// Stream framing is exactly "data: <one-line JSON>\n\n", nothing else.
func TestGeminiStreamFraming(t *testing.T) {
	g := (&fakeupstream.Gemini{Reply: "one two three", Reasoning: "a b", ToolName: "f", ToolArgs: `{"x":1}`}).Start()
	defer g.Close()
	for _, body := range []string{
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"includeThoughts":true}}}`,
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"function_declarations":[{"name":"f"}]}]}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1beta/models/m:streamGenerateContent?alt=sse&key=whatever", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("content type %q", resp.Header.Get("Content-Type"))
		}
		if !regexp.MustCompile(`^(data: \{[^\n]*\}\n\n)+$`).Match(raw) {
			t.Errorf("bad framing:\n%q", raw)
		}
	}
	if keys := g.Keys(); keys[0] != "whatever" {
		t.Errorf("?key= not read: %v", keys)
	}
	// snake_case tools were understood: the second stream is a call.
	if r := g.Requests(); len(r) != 2 {
		t.Fatalf("%d requests", len(r))
	}
}

// A function call round trip through the SDK, with signatures checked.
func TestGeminiToolCall(t *testing.T) {
	g := (&fakeupstream.Gemini{Reply: "It is sunny.", ToolName: "get_weather", ToolArgs: `{"city":"Paris"}`, RequireSignatures: true}).Start()
	defer g.Close()
	c := sdkClient(t, g, "k")
	ctx := context.Background()
	config := &genai.GenerateContentConfig{Tools: []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{Name: "get_weather"}}}}}
	contents := []*genai.Content{genai.NewContentFromText("weather?", genai.RoleUser)}
	resp, err := c.Models.GenerateContent(ctx, "gemini-3-pro-preview", contents, config)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.FunctionCalls()
	if len(calls) != 1 || calls[0].Name != "get_weather" || calls[0].Args["city"] != "Paris" || calls[0].ID != "" ||
		resp.UsageMetadata.CandidatesTokenCount != 5 {
		t.Fatalf("calls %+v usage %+v", calls, resp.UsageMetadata)
	}
	callPart := resp.Candidates[0].Content.Parts[0]
	answer := genai.NewContentFromFunctionResponse("get_weather", map[string]any{"temp": 20}, genai.RoleUser)

	// Without the signature Gemini 3 refuses the history.
	unsigned := &genai.Content{Role: genai.RoleModel, Parts: []*genai.Part{{FunctionCall: callPart.FunctionCall}}}
	_, err = c.Models.GenerateContent(ctx, "gemini-3-pro-preview", append(contents, unsigned, answer), config)
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 400 || !strings.Contains(apiErr.Message, "thought_signature") {
		t.Fatalf("unsigned history: %v", err)
	}
	resp, err = c.Models.GenerateContent(ctx, "gemini-3-pro-preview", append(contents, resp.Candidates[0].Content, answer), config)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != "It is sunny." || resp.UsageMetadata.PromptTokenCount != int32(fakeupstream.PromptTokens(3)) {
		t.Fatalf("answer %q usage %+v", resp.Text(), resp.UsageMetadata)
	}
}

func TestGeminiErrors(t *testing.T) {
	g := (&fakeupstream.Gemini{APIKey: "good", KeyStatus: map[string]int{"busy": 429}}).Start()
	defer g.Close()
	g.APIKey = ""
	ctx := context.Background()
	contents := genai.Text("hi")
	_, err := sdkClient(t, g, "busy").Models.GenerateContent(ctx, "m", contents, nil)
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 429 || apiErr.Status != "RESOURCE_EXHAUSTED" || apiErr.Details[0]["retryDelay"] != "1s" {
		t.Fatalf("busy key: %#v", err)
	}
	g.APIKey = "good"
	if _, err := sdkClient(t, g, "bad").Models.GenerateContent(ctx, "m", contents, nil); !errors.As(err, &apiErr) || apiErr.Code != 400 || apiErr.Details[0]["reason"] != "API_KEY_INVALID" {
		t.Fatalf("bad key: %#v", err)
	}
	resp, err := http.Post(g.URL+"/v1beta/models/m:generateContent", "application/json", strings.NewReader(`{"contents":[{"parts":[{"text":"x"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("no key: %d", resp.StatusCode)
	}
	g.Status = 503
	for chunk, err := range sdkClient(t, g, "good").Models.GenerateContentStream(ctx, "m", contents, nil) {
		if !errors.As(err, &apiErr) || apiErr.Code != 503 || apiErr.Status != "UNAVAILABLE" || chunk != nil {
			t.Fatalf("503 stream: %v %v", chunk, err)
		}
	}
}

func TestGeminiEmbed(t *testing.T) {
	g := (&fakeupstream.Gemini{}).Start()
	defer g.Close()
	resp, err := sdkClient(t, g, "k").Models.EmbedContent(context.Background(), "gemini-embedding-001",
		[]*genai.Content{genai.NewContentFromText("ab", genai.RoleUser), genai.NewContentFromText("ba", genai.RoleUser)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Embeddings) != 2 || len(resp.Embeddings[0].Values) != 8 || resp.Embeddings[0].Values[int('a')%8] != 1 {
		t.Fatalf("embeddings %+v", resp.Embeddings)
	}
	if u := g.RequestURLs(); u[0] != "/v1beta/models/gemini-embedding-001:batchEmbedContents" {
		t.Errorf("url %v", u)
	}
}

// A client that goes away mid-stream is counted, and HoldLast holds the
// last token.
func TestGeminiCancel(t *testing.T) {
	hold := make(chan struct{})
	g := (&fakeupstream.Gemini{Reply: "a b c", HoldLast: hold}).Start()
	defer g.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.URL+"/v1beta/models/m:streamGenerateContent?alt=sse",
		strings.NewReader(`{"contents":[{"parts":[{"text":"x"}]}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	events := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			events++
		}
		if events == 2 {
			break
		}
	}
	if g.Sent() != 2 {
		t.Errorf("sent %d", g.Sent())
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for g.Canceled() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("cancellation not seen")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(hold)
}
