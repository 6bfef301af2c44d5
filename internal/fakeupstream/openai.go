// Package fakeupstream is an OpenAI-compatible upstream for tests and
// benchmarks: it speaks the real Chat Completions wire format (JSON and
// SSE with stream_options.include_usage), records what it was sent, and
// can stream slowly, reason, call tools, stall and fail on demand.
package fakeupstream

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	"github.com/agentgate/agentgate/engine/knowledge/memory"
)

// OpenAI is a fake OpenAI-compatible server. Set its fields before use.
type OpenAI struct {
	// Reply is the answer text, streamed word by word.
	Reply string
	// ReplyFunc, when set, chooses the answer text for each request (its
	// parsed body); "" falls back to Reply.
	ReplyFunc func(req gjson.Result) string
	// TokenDelay is the pause before each streamed word.
	TokenDelay time.Duration
	// Delay, when set, chooses the pause before each streamed word for
	// each request (its parsed body) instead of TokenDelay.
	Delay func(req gjson.Result) time.Duration
	// Idle, when set and true for a streamed request (its parsed body),
	// makes the stream send its first chunk and then nothing until the
	// client goes away: an idle stream, as a slow model's.
	Idle func(req gjson.Result) bool
	// Reasoning is streamed as reasoning_content when the request asks
	// for reasoning (reasoning_effort).
	Reasoning string
	// ToolName, when set and the request offers that tool and its last
	// message is not a tool result, makes the model call it with
	// ToolArgs instead of answering.
	ToolName string
	ToolArgs string
	// ToolCallID is the id of that call; empty means "call_fake_1".
	ToolCallID string
	// ToolCalls, when set, replace ToolName/ToolArgs/ToolCallID: the model
	// calls every one of them the request offers, in one response.
	ToolCalls []ToolCall
	// Status, when non-zero, is answered instead of a completion, with
	// an OpenAI error body.
	Status int
	// OmitUsage drops usage from responses.
	OmitUsage bool
	// CachedTokens is reported as prompt_tokens_details.cached_tokens,
	// part of prompt_tokens (at most all of them).
	CachedTokens int
	// Models are what GET /v1/models lists; nil means DefaultModels.
	Models []string
	// HoldLast, when set, makes a stream wait before its last token until
	// HoldLast is closed (or the client goes away), so a test can look at
	// a stream in flight without assuming anything about timing.
	HoldLast chan struct{}
	// HoldFinish, when set, makes a stream wait after its tool calls,
	// before its finish chunk, until HoldFinish is closed (or the client
	// goes away): a test can see the calls reach the client while the
	// upstream is still streaming.
	HoldFinish chan struct{}
	// Stall, when set, makes streamed answers go silent at that point
	// until the client goes away: the first StallCount streams (every one
	// when 0).
	Stall      Stall
	StallCount int
	stalls
	streams

	mu          sync.Mutex
	requests    [][]byte
	apiRequests []APIRequest
	store       apiStore

	// Server is the running HTTP server; URL is its base URL with /v1.
	Server *httptest.Server
	URL    string
}

// ToolCall is a call the fake model makes.
type ToolCall struct {
	ID, Name, Args string
}

// PromptTokens is what the fake reports as prompt tokens for a request
// with n messages: fixed per message so tests can predict usage.
func PromptTokens(n int) int { return 10 * n }

// Start starts the server on loopback.
func (o *OpenAI) Start() *OpenAI {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", o.chat)
	mux.HandleFunc("POST /v1/embeddings", o.embeddings)
	o.apiRoutes(mux)
	o.Server = httptest.NewServer(mux)
	o.URL = o.Server.URL + "/v1"
	return o
}

// Close stops the server.
func (o *OpenAI) Close() { o.Server.Close() }

// Requests returns the bodies received so far.
func (o *OpenAI) Requests() [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([][]byte(nil), o.requests...)
}

// LastRequest returns the last body received for a client's call,
// parsed. The memory manager's calls (system prompt beginning with
// memory.ManagerPrompt) are left out: they run in the background after
// an agent with memory has answered, and would race with a test looking
// at what the answer's call sent; Requests has them.
func (o *OpenAI) LastRequest() gjson.Result {
	r := o.Requests()
	for i := len(r) - 1; i >= 0; i-- {
		req := gjson.ParseBytes(r[i])
		if !strings.HasPrefix(req.Get("messages.0.content").String(), memory.ManagerPrompt) {
			return req
		}
	}
	return gjson.Result{}
}

func (o *OpenAI) chat(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	o.mu.Lock()
	o.requests = append(o.requests, body)
	o.mu.Unlock()
	if o.Status != 0 {
		w.Header().Set("Content-Type", "application/json")
		if o.Status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(o.Status)
		fmt.Fprintf(w, `{"error":{"message":"fake upstream failure %d","type":"server_error","param":null,"code":null}}`, o.Status)
		return
	}
	req := gjson.ParseBytes(body)
	model := req.Get("model").String()
	nmsg := len(req.Get("messages").Array())
	reply := o.Reply
	if o.ReplyFunc != nil {
		if r := o.ReplyFunc(req); r != "" {
			reply = r
		}
	}
	if reply == "" {
		reply = "Hello from the fake upstream."
	}
	words := strings.SplitAfter(reply, " ")
	var reasoning []string
	if o.Reasoning != "" && req.Get("reasoning_effort").Exists() {
		reasoning = strings.SplitAfter(o.Reasoning, " ")
	}
	calls := o.ToolCalls
	if len(calls) == 0 && o.ToolName != "" {
		id := o.ToolCallID
		if id == "" {
			id = "call_fake_1"
		}
		calls = []ToolCall{{ID: id, Name: o.ToolName, Args: o.ToolArgs}}
	}
	var offered []ToolCall
	if req.Get("messages.@reverse.0.role").String() != "tool" {
		for _, c := range calls {
			if offersTool(req, c.Name) {
				offered = append(offered, c)
			}
		}
	}
	toolCall := len(offered) > 0
	usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":%d},"completion_tokens_details":{"reasoning_tokens":%d}}`,
		PromptTokens(nmsg), len(words)+len(reasoning), PromptTokens(nmsg)+len(words)+len(reasoning), min(o.CachedTokens, PromptTokens(nmsg)), len(reasoning))
	if toolCall {
		words = nil
		usage = fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":5,"total_tokens":%d}`, PromptTokens(nmsg), PromptTokens(nmsg)+5)
	}
	if o.OmitUsage {
		usage = "null"
	}
	finish := "stop"
	if toolCall {
		finish = "tool_calls"
	}
	if !req.Get("stream").Bool() {
		msg := map[string]any{"role": "assistant", "content": strings.Join(words, "")}
		if len(reasoning) > 0 {
			msg["reasoning_content"] = strings.Join(reasoning, "")
		}
		if toolCall {
			msg["content"] = nil
			var tcs []any
			for _, c := range offered {
				tcs = append(tcs, map[string]any{"id": c.ID, "type": "function",
					"function": map[string]any{"name": c.Name, "arguments": c.Args}})
			}
			msg["tool_calls"] = tcs
		}
		resp := map[string]any{"id": "chatcmpl-fake", "object": "chat.completion", "created": 1730000000, "model": model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
			"usage":   json.RawMessage(usage)}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
		return
	}
	stall := o.plan(o.Stall, o.StallCount)
	if stall == StallBeforeHeaders {
		o.hang(r)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	if stall == StallAfterHeaders {
		o.hangAfterHeaders(w, r)
		return
	}
	rc := http.NewResponseController(w)
	send := func(delta string, finish string) bool {
		f := "null"
		if finish != "" {
			f = strconv.Quote(finish)
		}
		_, err := fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":1730000000,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":%s}],\"usage\":null}\n\n", model, delta, f)
		if err == nil {
			err = rc.Flush()
		}
		return err == nil
	}
	delay := o.TokenDelay
	if o.Delay != nil {
		delay = o.Delay(req)
	}
	wait := o.pace(r, len(reasoning)+len(words), delay, o.HoldLast)
	sendToken := func(delta string) bool {
		// Counted before it is written, so Sent never lags what a client
		// can have received.
		o.countSent()
		if !send(delta, "") {
			return false
		}
		if stall == StallAfterFirstToken {
			o.hang(r)
			return false
		}
		return true
	}
	if !send(`{"role":"assistant","content":""}`, "") {
		return
	}
	if o.Idle != nil && o.Idle(req) {
		<-r.Context().Done()
		o.clientGone()
		return
	}
	for _, t := range reasoning {
		if !wait() || !sendToken(`{"reasoning_content":`+strconv.Quote(t)+`}`) {
			return
		}
	}
	for _, t := range words {
		b, _ := json.Marshal(t)
		if !wait() || !sendToken(`{"content":`+string(b)+`}`) {
			return
		}
	}
	for i, c := range offered {
		args, _ := json.Marshal(c.Args)
		id, _ := json.Marshal(c.ID)
		name, _ := json.Marshal(c.Name)
		idx := strconv.Itoa(i)
		send(`{"tool_calls":[{"index":`+idx+`,"id":`+string(id)+`,"type":"function","function":{"name":`+string(name)+`,"arguments":""}}]}`, "")
		send(`{"tool_calls":[{"index":`+idx+`,"function":{"arguments":`+string(args)+`}}]}`, "")
	}
	if o.HoldFinish != nil {
		select {
		case <-o.HoldFinish:
		case <-r.Context().Done():
			o.clientGone()
			return
		}
	}
	send(`{}`, finish)
	if req.Get("stream_options.include_usage").Bool() && usage != "null" {
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":1730000000,\"model\":%q,\"choices\":[],\"usage\":%s}\n\n", model, usage)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

func offersTool(req gjson.Result, name string) bool {
	for _, t := range req.Get("tools").Array() {
		if t.Get("function.name").String() == name {
			return true
		}
	}
	return false
}

// embeddings answers with a deterministic 8-dimensional vector per input.
func (o *OpenAI) embeddings(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := gjson.ParseBytes(body)
	var inputs []string
	if in := req.Get("input"); in.IsArray() {
		for _, v := range in.Array() {
			inputs = append(inputs, v.String())
		}
	} else {
		inputs = []string{in.String()}
	}
	data := make([]any, len(inputs))
	tokens := 0
	for i, s := range inputs {
		vec := make([]float32, 8)
		for j, c := range s {
			vec[(j+int(c))%8] += 1
		}
		tokens += len(strings.Fields(s))
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": vec}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Get("model").String(),
		"usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens}})
}
