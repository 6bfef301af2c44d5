package fakeupstream

import (
	"crypto/sha256"
	"encoding/hex"
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

// Anthropic is a fake Anthropic Messages API server. It speaks the real
// wire format: POST /v1/messages answered with a message object, or with
// SSE in which every event has an event: line equal to its JSON type
// (message_start, content_block_start/delta/stop, ping, message_delta,
// message_stop, error). Set its fields before use.
//
// Like the real API it rejects, with a 400 invalid_request_error, requests
// without the anthropic-version header, model or max_tokens, with a role
// other than user and assistant, with empty content or empty text blocks,
// with thinking on and temperature, a forced tool or a budget_tokens under
// 1024 or not under max_tokens, with a thinking block whose signature is
// not the one the fake gave it (AnthropicSignature), with a tool_result
// that answers no tool_use of the previous message, and with thinking on
// in a tool-use loop whose assistant message does not start with its
// thinking block.
//
// Usage is deterministic: input_tokens is PromptTokens of the number of
// messages, plus one for a system prompt (so a system prompt and one user
// message count as OpenAI's fake counts them); output_tokens is the number
// of reply and thinking words, or 5 for a tool call.
type Anthropic struct {
	// Reply is the answer text, streamed word by word.
	Reply string
	// TokenDelay is the pause before each streamed word.
	TokenDelay time.Duration
	// Reasoning is sent as a signed thinking block when the request turns
	// thinking on ({"type":"enabled"} or {"type":"adaptive"}).
	Reasoning string
	// Blocks, when set, is an answer's content in place of Reasoning and
	// Reply, block by block in order (interleaved thinking): thinking
	// blocks, each signed on its own, are sent only when the request
	// turns thinking on, like redacted_thinking blocks (Data); an empty
	// text block is left out. A tool call still answers with Reasoning and
	// the call.
	Blocks []AnthropicBlock
	// ToolName, when set and the request offers that tool and its last
	// message holds no tool_result, makes the model call it with ToolArgs
	// (a JSON object) instead of answering.
	ToolName string
	ToolArgs string
	// Status, when non-zero, is answered instead of a message, with an
	// Anthropic error body (retry-after: 1 with 429 and 529).
	Status int
	// StreamError, when set to an Anthropic error type such as
	// "overloaded_error", makes streams fail with an event: error after
	// their first token.
	StreamError string
	// OmitUsage drops usage from responses.
	OmitUsage bool
	// CacheRead and CacheWrite are reported as cache_read_input_tokens
	// and cache_creation_input_tokens, on top of the uncached
	// input_tokens.
	CacheRead, CacheWrite int
	// APIKey, when set, must be the request's x-api-key (else 401).
	APIKey string
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
	headers  []http.Header

	// Server is the running HTTP server; URL is its base URL, without /v1
	// (as ANTHROPIC_BASE_URL and the SDKs expect).
	Server *httptest.Server
	URL    string
}

// AnthropicBlock is one content block of a scripted answer
// (Anthropic.Blocks): Type is "thinking", "redacted_thinking" or "text";
// Text is a thinking or text block's words, Data a redacted block's
// opaque data.
type AnthropicBlock struct {
	Type, Text, Data string
}

// AnthropicSignature is the signature the fake gives a thinking block, and
// requires when the block is sent back.
func AnthropicSignature(thinking string) string {
	sum := sha256.Sum256([]byte(thinking))
	return "fakesig_" + hex.EncodeToString(sum[:16])
}

// Start starts the server on loopback.
func (a *Anthropic) Start() *Anthropic {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", a.messages)
	mux.HandleFunc("GET /v1/models", a.models)
	a.Server = httptest.NewServer(mux)
	a.URL = a.Server.URL
	return a
}

// Close stops the server.
func (a *Anthropic) Close() { a.Server.Close() }

// Requests returns the bodies received so far.
func (a *Anthropic) Requests() [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([][]byte(nil), a.requests...)
}

// LastRequest returns the last body received, parsed.
func (a *Anthropic) LastRequest() gjson.Result {
	r := a.Requests()
	if len(r) == 0 {
		return gjson.Result{}
	}
	return gjson.ParseBytes(r[len(r)-1])
}

// LastHeader returns the headers of the last request received.
func (a *Anthropic) LastHeader() http.Header {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.headers) == 0 {
		return nil
	}
	return a.headers[len(a.headers)-1].Clone()
}

func anthropicError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake")
	if status == http.StatusTooManyRequests || status == 529 {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg}, "request_id": "req_fake"})
	_, _ = w.Write(b)
}

// anthropicErrorType is Anthropic's error type for an HTTP status.
func anthropicErrorType(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	}
	return "api_error"
}

func (a *Anthropic) messages(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.requests = append(a.requests, body)
	a.headers = append(a.headers, r.Header.Clone())
	a.mu.Unlock()
	if a.APIKey != "" && r.Header.Get("X-Api-Key") != a.APIKey {
		anthropicError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
		return
	}
	if a.Status != 0 {
		anthropicError(w, a.Status, anthropicErrorType(a.Status), fmt.Sprintf("fake upstream failure %d", a.Status))
		return
	}
	if r.Header.Get("Anthropic-Version") == "" {
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	if !gjson.ValidBytes(body) {
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", "There was an issue with your request body: invalid JSON")
		return
	}
	req := gjson.ParseBytes(body)
	if msg := validateAnthropic(req); msg != "" {
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", msg)
		return
	}
	model := req.Get("model").String()
	msgs := req.Get("messages").Array()
	nmsg := len(msgs)
	if s := req.Get("system"); s.Exists() && s.String() != "" {
		nmsg++
	}
	reply := a.Reply
	if reply == "" {
		reply = "Hello from the fake upstream."
	}
	words := strings.SplitAfter(reply, " ")
	var reasoning []string
	if t := req.Get("thinking.type").String(); a.Reasoning != "" && (t == "enabled" || t == "adaptive") {
		reasoning = strings.SplitAfter(a.Reasoning, " ")
	}
	toolCall := a.ToolName != "" && offersAnthropicTool(req, a.ToolName) && !anthropicHasToolResult(msgs[len(msgs)-1])
	// blocks are the answer's content blocks but a tool call, in order.
	var blocks []answerBlock
	if len(a.Blocks) > 0 && !toolCall {
		for _, b := range a.Blocks {
			if b.Type != "text" && len(reasoning) == 0 {
				continue // thinking is off
			}
			if b.Type == "text" && b.Text == "" {
				continue // Anthropic sends no empty text block; an empty thinking block is signed
			}
			blocks = append(blocks, answerBlock{typ: b.Type, words: strings.SplitAfter(b.Text, " "), data: b.Data})
		}
	} else {
		if len(reasoning) > 0 {
			blocks = append(blocks, answerBlock{typ: "thinking", words: reasoning})
		}
		if !toolCall {
			blocks = append(blocks, answerBlock{typ: "text", words: words})
		}
	}
	outTokens := 0
	for _, b := range blocks {
		outTokens += len(b.tokens())
	}
	stop := "end_turn"
	if toolCall {
		outTokens = 5
		stop = "tool_use"
	}
	inTokens := PromptTokens(nmsg)
	startUsage := fmt.Sprintf(`{"input_tokens":%d,"cache_creation_input_tokens":%d,"cache_read_input_tokens":%d,"output_tokens":1}`, inTokens, a.CacheWrite, a.CacheRead)
	args := a.ToolArgs
	if !gjson.Valid(args) || !gjson.Parse(args).IsObject() {
		args = "{}"
	}

	if !req.Get("stream").Bool() {
		var content []any
		for _, b := range blocks {
			content = append(content, b.whole())
		}
		if toolCall {
			content = append(content, map[string]any{"type": "tool_use", "id": "toolu_fake_1", "name": a.ToolName, "input": json.RawMessage(args)})
		}
		resp := map[string]any{"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
			"content": content, "stop_reason": stop, "stop_sequence": nil}
		if !a.OmitUsage {
			resp["usage"] = json.RawMessage(fmt.Sprintf(`{"input_tokens":%d,"cache_creation_input_tokens":%d,"cache_read_input_tokens":%d,"output_tokens":%d}`,
				inTokens, a.CacheWrite, a.CacheRead, outTokens))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_fake")
		_ = json.NewEncoder(w).Encode(resp)
		return
	}

	stall := a.plan(a.Stall, a.StallCount)
	if stall == StallBeforeHeaders {
		a.hang(r)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Request-Id", "req_fake")
	if stall == StallAfterHeaders {
		a.hangAfterHeaders(w, r)
		return
	}
	rc := http.NewResponseController(w)
	send := func(event string, data any) bool {
		b, _ := json.Marshal(data)
		_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		if err == nil {
			err = rc.Flush()
		}
		return err == nil
	}
	type obj = map[string]any
	ntokens := 0
	for _, b := range blocks {
		if b.typ != "redacted_thinking" {
			ntokens += len(b.tokens())
		}
	}
	wait := a.pace(r, ntokens, a.TokenDelay, a.HoldLast)
	tokens := 0
	sendToken := func(index int, delta obj) bool {
		if !wait() || !send("content_block_delta", obj{"type": "content_block_delta", "index": index, "delta": delta}) {
			return false
		}
		a.countSent()
		tokens++
		if stall == StallAfterFirstToken {
			a.hang(r)
			return false
		}
		if tokens == 1 && a.StreamError != "" {
			send("error", obj{"type": "error", "error": obj{"type": a.StreamError, "message": "fake mid-stream failure"}})
			return false
		}
		return true
	}

	message := obj{"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil}
	if !a.OmitUsage {
		message["usage"] = json.RawMessage(startUsage)
	}
	if !send("message_start", obj{"type": "message_start", "message": message}) || !send("ping", obj{"type": "ping"}) {
		return
	}
	index := 0
	for _, b := range blocks {
		tokens := b.tokens()
		if !send("content_block_start", obj{"type": "content_block_start", "index": index, "content_block": b.start()}) {
			return
		}
		for i, t := range tokens {
			if !sendToken(index, b.delta(t)) {
				return
			}
			if b.typ == "text" && i == 0 && !send("ping", obj{"type": "ping"}) {
				return
			}
		}
		if b.typ == "thinking" && !send("content_block_delta", obj{"type": "content_block_delta", "index": index,
			"delta": obj{"type": "signature_delta", "signature": AnthropicSignature(strings.Join(tokens, ""))}}) {
			return
		}
		if !send("content_block_stop", obj{"type": "content_block_stop", "index": index}) {
			return
		}
		index++
	}
	if toolCall {
		half := len(args) / 2
		if !send("content_block_start", obj{"type": "content_block_start", "index": index,
			"content_block": obj{"type": "tool_use", "id": "toolu_fake_1", "name": a.ToolName, "input": obj{}}}) ||
			!send("content_block_delta", obj{"type": "content_block_delta", "index": index, "delta": obj{"type": "input_json_delta", "partial_json": args[:half]}}) ||
			!send("content_block_delta", obj{"type": "content_block_delta", "index": index, "delta": obj{"type": "input_json_delta", "partial_json": args[half:]}}) ||
			!send("content_block_stop", obj{"type": "content_block_stop", "index": index}) {
			return
		}
	}
	md := obj{"type": "message_delta", "delta": obj{"stop_reason": stop, "stop_sequence": nil}}
	if !a.OmitUsage {
		md["usage"] = obj{"output_tokens": outTokens}
	}
	if send("message_delta", md) {
		send("message_stop", obj{"type": "message_stop"})
	}
}

// answerBlock is one content block of an answer: its words, streamed one
// delta each, or a redacted block's data, sent whole.
type answerBlock struct {
	typ   string
	words []string
	data  string
}

// tokens are the block's deltas; a redacted block has none and counts
// none.
func (b answerBlock) tokens() []string {
	if b.typ == "redacted_thinking" || strings.Join(b.words, "") == "" {
		return nil
	}
	return b.words
}

// whole is the block in a message object.
func (b answerBlock) whole() map[string]any {
	t := strings.Join(b.words, "")
	switch b.typ {
	case "thinking":
		return map[string]any{"type": "thinking", "thinking": t, "signature": AnthropicSignature(t)}
	case "redacted_thinking":
		return map[string]any{"type": "redacted_thinking", "data": b.data}
	}
	return map[string]any{"type": "text", "text": t}
}

// start is the block's content_block_start.
func (b answerBlock) start() map[string]any {
	switch b.typ {
	case "thinking":
		return map[string]any{"type": "thinking", "thinking": "", "signature": ""}
	case "redacted_thinking":
		return b.whole()
	}
	return map[string]any{"type": "text", "text": ""}
}

// delta is a content_block_delta's delta carrying one token.
func (b answerBlock) delta(token string) map[string]any {
	if b.typ == "thinking" {
		return map[string]any{"type": "thinking_delta", "thinking": token}
	}
	return map[string]any{"type": "text_delta", "text": token}
}

func offersAnthropicTool(req gjson.Result, name string) bool {
	for _, t := range req.Get("tools").Array() {
		if t.Get("name").String() == name {
			return true
		}
	}
	return false
}

func anthropicHasToolResult(msg gjson.Result) bool {
	for _, b := range msg.Get("content").Array() {
		if b.Get("type").String() == "tool_result" {
			return true
		}
	}
	return false
}

// validateAnthropic applies the checks of the real API that a translation
// can get wrong, returning the error message or "".
func validateAnthropic(req gjson.Result) string {
	if req.Get("model").String() == "" {
		return "model: Field required"
	}
	mt := req.Get("max_tokens")
	if mt.Type != gjson.Number || mt.Int() < 1 || float64(mt.Int()) != mt.Float() {
		return "max_tokens: Field required (a positive integer)"
	}
	thinking := req.Get("thinking.type").String()
	switch thinking {
	case "", "disabled", "adaptive":
	case "enabled":
		budget := req.Get("thinking.budget_tokens").Int()
		if budget < 1024 {
			return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
		}
		if budget >= mt.Int() {
			return "`max_tokens` must be greater than `thinking.budget_tokens`"
		}
		if ct := req.Get("tool_choice.type").String(); ct == "any" || ct == "tool" {
			return "Thinking may not be enabled when `tool_choice` forces tool use."
		}
	default:
		return "thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'"
	}
	on := thinking == "enabled" || thinking == "adaptive"
	if on && req.Get("temperature").Exists() && req.Get("temperature").Float() != 1 {
		return "`temperature` may only be set to 1 when thinking is enabled."
	}
	msgs := req.Get("messages").Array()
	if len(msgs) == 0 {
		return "messages: at least one message is required"
	}
	for i, m := range msgs {
		role := m.Get("role").String()
		if role != "user" && role != "assistant" {
			return fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		c := m.Get("content")
		if c.Type == gjson.String {
			if c.Str == "" {
				return fmt.Sprintf("messages.%d: all messages must have non-empty content", i)
			}
			continue
		}
		blocks := c.Array()
		if !c.IsArray() || len(blocks) == 0 {
			return fmt.Sprintf("messages.%d: all messages must have non-empty content", i)
		}
		var prevUses map[string]bool
		if i > 0 {
			prevUses = map[string]bool{}
			for _, b := range msgs[i-1].Get("content").Array() {
				if b.Get("type").String() == "tool_use" {
					prevUses[b.Get("id").String()] = true
				}
			}
		}
		for j, b := range blocks {
			switch b.Get("type").String() {
			case "text":
				if b.Get("text").String() == "" {
					return fmt.Sprintf("messages.%d.content.%d: text content blocks must be non-empty", i, j)
				}
			case "thinking":
				if role != "assistant" {
					return fmt.Sprintf("messages.%d.content.%d: thinking blocks are only allowed in assistant messages", i, j)
				}
				if b.Get("signature").String() != AnthropicSignature(b.Get("thinking").String()) {
					return fmt.Sprintf("messages.%d.content.%d: Invalid `signature` in `thinking` block", i, j)
				}
			case "tool_use":
				if role != "assistant" {
					return fmt.Sprintf("messages.%d.content.%d: tool_use blocks are only allowed in assistant messages", i, j)
				}
				if !b.Get("input").IsObject() {
					return fmt.Sprintf("messages.%d.content.%d.input: Input should be a valid dictionary", i, j)
				}
			case "tool_result":
				if role != "user" {
					return fmt.Sprintf("messages.%d.content.%d: tool_result blocks are only allowed in user messages", i, j)
				}
				if id := b.Get("tool_use_id").String(); !prevUses[id] {
					return fmt.Sprintf("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, j, id)
				}
			case "image":
				switch b.Get("source.type").String() {
				case "base64":
					if b.Get("source.media_type").String() == "" || b.Get("source.data").String() == "" {
						return fmt.Sprintf("messages.%d.content.%d.image.source.base64: media_type and data are required", i, j)
					}
				case "url":
					if b.Get("source.url").String() == "" {
						return fmt.Sprintf("messages.%d.content.%d.image.source.url.url: Field required", i, j)
					}
				default:
					return fmt.Sprintf("messages.%d.content.%d.image.source: Input tag does not match any of the expected tags: 'base64', 'url'", i, j)
				}
			}
		}
	}
	// A tool-use loop with thinking on must replay the thinking block that
	// preceded the tool calls.
	if on && len(msgs) >= 2 && anthropicHasToolResult(msgs[len(msgs)-1]) {
		i := len(msgs) - 2
		if first := msgs[i].Get("content.0.type").String(); first != "thinking" && first != "redacted_thinking" {
			return fmt.Sprintf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found `%s`. When `thinking` is enabled, a final `assistant` message must start with a thinking block.", i, first)
		}
	}
	return ""
}
