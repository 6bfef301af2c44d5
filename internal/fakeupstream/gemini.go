package fakeupstream

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"
)

// FakeSignature is the thoughtSignature (base64) the fake Gemini puts on
// its function calls and at the end of answers that thought.
var FakeSignature = base64.StdEncoding.EncodeToString([]byte("fake-thought-signature"))

// Gemini is a fake Gemini API (generativelanguage v1beta) speaking the real
// wire format: POST /v1beta/models/{model}:generateContent (JSON),
// :streamGenerateContent?alt=sse (strictly "data: <one-line JSON>\n\n"
// events, no comments, no terminator, as google.golang.org/genai's strict
// parser requires), :batchEmbedContents and :embedContent, and
// GET /v1beta/models. It takes the key from x-goog-api-key or ?key=, reads
// lowerCamel and snake_case fields alike, and reports usage
// deterministically: PromptTokens(n) prompt tokens for n messages (each
// systemInstruction part, content and function response counts as one, as
// the same conversation would in OpenAI form), one token per answer word
// and per thought word. Set its fields before Start.
type Gemini struct {
	// Reply is the answer text, streamed word by word.
	Reply string
	// TokenDelay is the pause before each streamed word.
	TokenDelay time.Duration
	// Reasoning is streamed as thought parts when the request asks for
	// thoughts (generationConfig.thinkingConfig.includeThoughts).
	Reasoning string
	// ToolName, when set and the request declares that function and its
	// last content is not a function response, makes the model call it with
	// ToolArgs (a JSON object) instead of answering. Like the real Gemini
	// API the call has no id, carries FakeSignature, and finishes with STOP.
	ToolName string
	ToolArgs string
	// Status, when non-zero, is answered instead of a completion, with a
	// Google error body (RESOURCE_EXHAUSTED carries a 1s RetryInfo).
	Status int
	// KeyStatus answers a status per API key, as Status does.
	KeyStatus map[string]int
	// APIKey, when set, is required: a request without it gets 403
	// PERMISSION_DENIED, one with another key 400 API_KEY_INVALID.
	APIKey string
	// RequireSignatures rejects, as Gemini 3 does, a history whose model
	// turns hold function calls without a thoughtSignature on the first.
	RequireSignatures bool
	// OmitUsage drops usageMetadata from responses.
	OmitUsage bool
	// CachedTokens is reported as cachedContentTokenCount, part of
	// promptTokenCount (at most all of it).
	CachedTokens int
	// HoldLast, when set, makes a stream wait before its last token until
	// HoldLast is closed (or the client goes away).
	HoldLast chan struct{}
	// Stall, when set, makes streamed answers go silent at that point
	// until the client goes away: the first StallCount streams (every one
	// when 0).
	Stall      Stall
	StallCount int
	stalls
	streams

	mu       sync.Mutex
	requests [][]byte
	urls     []string
	keys     []string

	// Server is the running HTTP server; URL is its base URL (the API
	// root, without /v1beta), what a Gemini client or provider is given.
	Server *httptest.Server
	URL    string
}

// Start starts the server on loopback.
func (g *Gemini) Start() *Gemini {
	mux := http.NewServeMux()
	for _, v := range []string{"v1beta", "v1"} {
		mux.HandleFunc("POST /"+v+"/models/{call}", g.call)
		mux.HandleFunc("GET /"+v+"/models", g.list)
	}
	g.Server = httptest.NewServer(mux)
	g.URL = g.Server.URL
	return g
}

// Close stops the server.
func (g *Gemini) Close() { g.Server.Close() }

// Requests returns the bodies received so far.
func (g *Gemini) Requests() [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]byte(nil), g.requests...)
}

// RequestURLs returns the path and query of each request received.
func (g *Gemini) RequestURLs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.urls...)
}

// Keys returns the API key each request carried ("" for none).
func (g *Gemini) Keys() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.keys...)
}

// LastRequest returns the last body received, parsed.
func (g *Gemini) LastRequest() gjson.Result {
	r := g.Requests()
	if len(r) == 0 {
		return gjson.Result{}
	}
	return gjson.ParseBytes(r[len(r)-1])
}

// googleStatus names the Google status of an HTTP status.
func googleStatus(code int) string {
	switch code {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 500:
		return "INTERNAL"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	return "UNKNOWN"
}

func writeGoogleError(w http.ResponseWriter, code int, msg string, details ...any) {
	e := map[string]any{"code": code, "message": msg, "status": googleStatus(code)}
	if code == http.StatusTooManyRequests && len(details) == 0 {
		details = []any{map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}}
	}
	if len(details) > 0 {
		e["details"] = details
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

// field reads a proto3 JSON field by its lowerCamel or snake_case name.
func field(v gjson.Result, camel, snake string) gjson.Result {
	if r := v.Get(camel); r.Exists() {
		return r
	}
	return v.Get(snake)
}

// auth records the request and checks its key; it reports whether the
// request may go on.
func (g *Gemini) auth(w http.ResponseWriter, r *http.Request, body []byte) bool {
	key := r.Header.Get("x-goog-api-key")
	if key == "" {
		key = r.URL.Query().Get("key")
	}
	g.mu.Lock()
	g.requests = append(g.requests, body)
	g.urls = append(g.urls, r.URL.RequestURI())
	g.keys = append(g.keys, key)
	status := g.KeyStatus[key]
	g.mu.Unlock()
	switch {
	case g.APIKey != "" && key == "":
		writeGoogleError(w, http.StatusForbidden, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
		return false
	case g.APIKey != "" && key != g.APIKey:
		writeGoogleError(w, http.StatusBadRequest, "API key not valid. Please pass a valid API key.",
			map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"})
		return false
	case status != 0:
		writeGoogleError(w, status, fmt.Sprintf("fake upstream failure %d", status))
		return false
	case g.Status != 0:
		writeGoogleError(w, g.Status, fmt.Sprintf("fake upstream failure %d", g.Status))
		return false
	}
	return true
}

func (g *Gemini) list(w http.ResponseWriter, r *http.Request) {
	if !g.auth(w, r, nil) {
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = io.WriteString(w, `{"models":[{"name":"models/gemini-2.5-flash","displayName":"Gemini 2.5 Flash","inputTokenLimit":1048576,"outputTokenLimit":65536,"supportedGenerationMethods":["generateContent","countTokens"],"thinking":true},{"name":"models/gemini-embedding-001","displayName":"Gemini Embedding 001","supportedGenerationMethods":["embedContent"]}]}`+"\n")
}

func (g *Gemini) call(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !g.auth(w, r, body) {
		return
	}
	model, method, ok := strings.Cut(r.PathValue("call"), ":")
	if !ok || model == "" {
		writeGoogleError(w, http.StatusNotFound, "Method not found.")
		return
	}
	if !gjson.ValidBytes(body) {
		writeGoogleError(w, http.StatusBadRequest, "Invalid JSON payload received.")
		return
	}
	req := gjson.ParseBytes(body)
	switch method {
	case "generateContent":
		g.generate(w, r, req, model, false)
	case "streamGenerateContent":
		if r.URL.Query().Get("alt") != "sse" {
			writeGoogleError(w, http.StatusBadRequest, "the fake only streams with alt=sse")
			return
		}
		g.generate(w, r, req, model, true)
	case "batchEmbedContents":
		var out []any
		for _, rq := range req.Get("requests").Array() {
			out = append(out, map[string]any{"values": fakeVector(contentText(rq.Get("content")))})
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_ = json.NewEncoder(w).Encode(map[string]any{"embeddings": out})
	case "embedContent":
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_ = json.NewEncoder(w).Encode(map[string]any{"embedding": map[string]any{"values": fakeVector(contentText(req.Get("content")))}})
	default:
		writeGoogleError(w, http.StatusNotFound, "models/"+model+" is not found for API version v1beta, or is not supported for "+method+".")
	}
}

func contentText(c gjson.Result) string {
	var b strings.Builder
	for _, p := range c.Get("parts").Array() {
		b.WriteString(p.Get("text").String())
	}
	return b.String()
}

// fakeVector is the deterministic 8-dimensional embedding of s, the same
// as the fake OpenAI's.
func fakeVector(s string) []float32 {
	vec := make([]float32, 8)
	for j, c := range s {
		vec[(j+int(c))%8] += 1
	}
	return vec
}

// geminiMessages counts the messages of a request as its OpenAI form would:
// each systemInstruction part, each content, and each function response
// separately.
func geminiMessages(req gjson.Result) int {
	n := len(field(req, "systemInstruction", "system_instruction").Get("parts").Array())
	for _, c := range req.Get("contents").Array() {
		responses := 0
		for _, p := range c.Get("parts").Array() {
			if field(p, "functionResponse", "function_response").Exists() {
				responses++
			}
		}
		n += max(responses, 1)
	}
	return n
}

// missingSignature reports a model turn whose first function call has no
// thoughtSignature.
func missingSignature(req gjson.Result) bool {
	for _, c := range req.Get("contents").Array() {
		if c.Get("role").String() != "model" {
			continue
		}
		for _, p := range c.Get("parts").Array() {
			if field(p, "functionCall", "function_call").Exists() {
				if !field(p, "thoughtSignature", "thought_signature").Exists() {
					return true
				}
				break
			}
		}
	}
	return false
}

func (g *Gemini) generate(w http.ResponseWriter, r *http.Request, req gjson.Result, model string, stream bool) {
	contents := req.Get("contents").Array()
	if len(contents) == 0 {
		writeGoogleError(w, http.StatusBadRequest, "* GenerateContentRequest.contents: contents is not specified\n")
		return
	}
	if g.RequireSignatures && missingSignature(req) {
		writeGoogleError(w, http.StatusBadRequest, "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.")
		return
	}
	prompt := PromptTokens(geminiMessages(req))
	reply := g.Reply
	if reply == "" {
		reply = "Hello from the fake upstream."
	}
	words := strings.SplitAfter(reply, " ")
	gen := field(req, "generationConfig", "generation_config")
	thinking := field(gen, "thinkingConfig", "thinking_config")
	var thoughts []string
	if g.Reasoning != "" && field(thinking, "includeThoughts", "include_thoughts").Bool() {
		thoughts = strings.SplitAfter(g.Reasoning, " ")
	}
	lastParts := contents[len(contents)-1].Get("parts").Array()
	toolCall := g.ToolName != "" && declares(req, g.ToolName) &&
		(len(lastParts) == 0 || !field(lastParts[0], "functionResponse", "function_response").Exists())
	candidates := len(words)
	if toolCall {
		words, candidates = nil, 5
	}
	usage := map[string]any{"promptTokenCount": prompt, "candidatesTokenCount": candidates,
		"totalTokenCount": prompt + candidates + len(thoughts)}
	if len(thoughts) > 0 {
		usage["thoughtsTokenCount"] = len(thoughts)
	}
	if g.CachedTokens > 0 {
		usage["cachedContentTokenCount"] = min(g.CachedTokens, prompt)
	}
	var args map[string]any
	if toolCall {
		if err := json.Unmarshal([]byte(g.ToolArgs), &args); err != nil || args == nil {
			args = map[string]any{}
		}
	}
	// The part that ends the answer: the function call, or Gemini 3's
	// empty text part carrying the signature of the thoughts.
	var final map[string]any
	switch {
	case toolCall:
		final = map[string]any{"functionCall": map[string]any{"name": g.ToolName, "args": args}, "thoughtSignature": FakeSignature}
	case len(thoughts) > 0:
		final = map[string]any{"text": "", "thoughtSignature": FakeSignature}
	}
	chunk := func(parts []any, finish bool) []byte {
		cand := map[string]any{"index": 0}
		if len(parts) > 0 {
			cand["content"] = map[string]any{"role": "model", "parts": parts}
		}
		resp := map[string]any{"candidates": []any{cand}, "modelVersion": model, "responseId": "fake-response"}
		if finish {
			cand["finishReason"] = "STOP"
			if !g.OmitUsage {
				resp["usageMetadata"] = usage
			}
		} else if !g.OmitUsage {
			resp["usageMetadata"] = map[string]any{"promptTokenCount": prompt, "totalTokenCount": prompt}
		}
		b, _ := json.Marshal(resp)
		return b
	}

	if !stream {
		var parts []any
		if len(thoughts) > 0 {
			parts = append(parts, map[string]any{"text": strings.Join(thoughts, ""), "thought": true})
		}
		if len(words) > 0 {
			parts = append(parts, map[string]any{"text": strings.Join(words, "")})
		}
		if final != nil {
			parts = append(parts, final)
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write(append(chunk(parts, true), '\n'))
		return
	}

	stall := g.plan(g.Stall, g.StallCount)
	if stall == StallBeforeHeaders {
		g.hang(r)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	if stall == StallAfterHeaders {
		g.hangAfterHeaders(w, r)
		return
	}
	rc := http.NewResponseController(w)
	send := func(b []byte) bool {
		_, err := fmt.Fprintf(w, "data: %s\n\n", b)
		if err == nil {
			err = rc.Flush()
		}
		return err == nil
	}
	wait := g.pace(r, len(thoughts)+len(words), g.TokenDelay, g.HoldLast)
	sendToken := func(part map[string]any) bool {
		// Counted before the write, so Sent never lags what a client can
		// already have read.
		g.countSent()
		if !send(chunk([]any{part}, false)) {
			return false
		}
		if stall == StallAfterFirstToken {
			g.hang(r)
			return false
		}
		return true
	}
	for _, t := range thoughts {
		if !wait() || !sendToken(map[string]any{"text": t, "thought": true}) {
			return
		}
	}
	for _, t := range words {
		if !wait() || !sendToken(map[string]any{"text": t}) {
			return
		}
	}
	var parts []any
	if final != nil {
		parts = []any{final}
	}
	send(chunk(parts, true))
}

func declares(req gjson.Result, name string) bool {
	for _, t := range req.Get("tools").Array() {
		for _, d := range field(t, "functionDeclarations", "function_declarations").Array() {
			if d.Get("name").String() == name {
				return true
			}
		}
	}
	return false
}
