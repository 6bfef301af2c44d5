package openai

import (
	"context"
	"io"
	"strconv"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
	"github.com/agentgate/agentgate/internal/validjson"
	"github.com/tidwall/gjson"
)

// maxToolCalls bounds the parallel tool calls of one answer, so a
// misbehaving upstream cannot make the index lookup quadratic.
const maxToolCalls = 256

// toolAcc accumulates the fragments of one streamed tool call.
type toolAcc struct {
	index int
	id    string
	name  string
	args  []byte
	// sent is how much of args went out as deltas; announced tells that
	// the call's first delta (naming it) did.
	sent      int
	announced bool
}

// events turns upstream chunks into canonical events. Tool-call fragments
// go out as deltas as they arrive; what must wait for the end of the
// stream (the whole tool calls, usage, finish reason) is remembered. The
// Emitter remembers whether emit has failed, so the caller never reports
// an emit error as an upstream one.
type events struct {
	wire.Emitter
	finish   string
	usage    adapters.Usage
	hasUsage bool
	calls    []toolAcc
}

// end emits the whole tool calls, usage and Done.
func (s *events) end() error {
	if err := s.Start(""); err != nil {
		return err
	}
	for i := range s.calls {
		c := &s.calls[i]
		tc := c.toolCall()
		// The deltas of a call add up to its arguments: what the stream
		// left out ("{}" for a call without any) goes out as a last one.
		if c.announced && len(tc.Arguments) > c.sent {
			rest := &adapters.ToolCall{ID: tc.ID, Arguments: tc.Arguments[c.sent:]}
			if err := s.Send(adapters.Event{Type: adapters.EventToolCallDelta, ToolCall: rest}); err != nil {
				return err
			}
		}
		if err := s.Send(adapters.Event{Type: adapters.EventToolCall, ToolCall: tc}); err != nil {
			return err
		}
	}
	if s.hasUsage {
		u := s.usage
		if err := s.Send(adapters.Event{Type: adapters.EventUsage, Usage: &u}); err != nil {
			return err
		}
	}
	return s.Done(finishReason(s.finish, len(s.calls) > 0))
}

func (c *toolAcc) toolCall() *adapters.ToolCall {
	id := c.id
	if id == "" {
		// Some OpenAI-compatible servers omit ids; the runtime needs one to
		// link the result to the call.
		id = "call_" + strconv.Itoa(c.index)
	}
	args := string(c.args)
	if args == "" {
		args = "{}"
	}
	return &adapters.ToolCall{ID: id, Name: c.name, Arguments: args}
}

// finishReason normalises an upstream finish_reason to stop, length,
// tool_calls or content_filter.
func finishReason(r string, hasCalls bool) string {
	switch r {
	case "length", "max_tokens":
		return "length"
	case "content_filter":
		return "content_filter"
	case "tool_calls", "function_call", "tool_use":
		return "tool_calls"
	}
	// Some servers (older Ollama, some llama.cpp builds) say "stop" after
	// tool calls.
	if hasCalls {
		return "tool_calls"
	}
	return "stop"
}

func readUsage(u gjson.Result) adapters.Usage {
	return adapters.Usage{
		InputTokens:     int(u.Get("prompt_tokens").Int()),
		OutputTokens:    int(u.Get("completion_tokens").Int()),
		ReasoningTokens: int(u.Get("completion_tokens_details.reasoning_tokens").Int()),
		CachedTokens:    int(u.Get("prompt_tokens_details.cached_tokens").Int()),
	}
}

// upstreamError is the error for an {"error":…} object in a 200 response.
func upstreamError(ev gjson.Result, status int) *adapters.Error {
	msg := ev.Str
	if ev.IsObject() {
		msg = ev.Get("message").String()
	}
	return adapters.UpstreamReported(msg, status)
}

var errMalformedChunk = &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream sent a malformed stream chunk"}

// chunk handles one chat.completion.chunk. It returns the emit error or an
// *adapters.Error for an error chunk.
func (s *events) chunk(data []byte, status int) error {
	if !validjson.Bytes(data) {
		e := *errMalformedChunk
		e.UpstreamStatus = status
		return &e
	}
	// One copy per chunk: every string below aliases doc, which outlives
	// the reader's reused buffer.
	doc := gjson.Parse(string(data))
	if !doc.IsObject() {
		e := *errMalformedChunk
		e.UpstreamStatus = status
		return &e
	}
	var model, choices, usage, groq, errv gjson.Result
	doc.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			model = v
		case "choices":
			choices = v
		case "usage":
			usage = v
		case "x_groq":
			groq = v
		case "error":
			errv = v
		}
		return true
	})
	if errv.Exists() && errv.Type != gjson.Null {
		return upstreamError(errv, status)
	}
	if err := s.Start(model.String()); err != nil {
		return err
	}
	if usage.IsObject() {
		s.usage, s.hasUsage = readUsage(usage), true
	} else if gu := groq.Get("usage"); gu.IsObject() {
		s.usage, s.hasUsage = readUsage(gu), true
	}
	if !choices.IsArray() {
		return nil
	}
	var err error
	choices.ForEach(func(_, c gjson.Result) bool {
		err = s.choice(c)
		return err == nil
	})
	return err
}

func (s *events) choice(c gjson.Result) error {
	var index, delta, finish gjson.Result
	c.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "index":
			index = v
		case "delta":
			delta = v
		case "finish_reason":
			finish = v
		}
		return true
	})
	// Only the first choice is relayed (n > 1 is not supported).
	if index.Int() != 0 {
		return nil
	}
	if finish.Type == gjson.String && finish.Str != "" {
		s.finish = finish.Str
	}
	if !delta.IsObject() {
		return nil
	}
	var content, reasoningContent, reasoning, refusal, calls gjson.Result
	delta.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "content":
			content = v
		case "reasoning_content":
			reasoningContent = v
		case "reasoning":
			reasoning = v
		case "refusal":
			refusal = v
		case "tool_calls":
			calls = v
		}
		return true
	})
	// Servers that send both carry the same text in each.
	if t := reasoningContent.String(); reasoningContent.Type == gjson.String && t != "" {
		if err := s.Send(adapters.Event{Type: adapters.EventThinking, Text: t}); err != nil {
			return err
		}
	} else if t := reasoning.String(); reasoning.Type == gjson.String && t != "" {
		if err := s.Send(adapters.Event{Type: adapters.EventThinking, Text: t}); err != nil {
			return err
		}
	}
	if content.Type == gjson.String && content.Str != "" {
		if err := s.Send(adapters.Event{Type: adapters.EventDelta, Text: content.Str}); err != nil {
			return err
		}
	}
	if refusal.Type == gjson.String && refusal.Str != "" {
		if err := s.Send(adapters.Event{Type: adapters.EventDelta, Text: refusal.Str}); err != nil {
			return err
		}
	}
	var err error
	if calls.IsArray() {
		calls.ForEach(func(_, tc gjson.Result) bool {
			err = s.toolFragment(tc)
			return err == nil
		})
	}
	return err
}

// toolFragment stitches one tool_calls[] fragment into its call, keyed by
// index, and sends what it adds as a delta. Servers that omit index are
// matched by id, else continue the last call.
func (s *events) toolFragment(tc gjson.Result) error {
	if !tc.IsObject() {
		return nil
	}
	var index, id, fn gjson.Result
	tc.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "index":
			index = v
		case "id":
			id = v
		case "function":
			fn = v
		}
		return true
	})
	var acc *toolAcc
	switch {
	case index.Type == gjson.Number:
		n := int(index.Int())
		for i := range s.calls {
			if s.calls[i].index == n {
				acc = &s.calls[i]
				break
			}
		}
		if acc == nil {
			if len(s.calls) >= maxToolCalls {
				return nil
			}
			s.calls = append(s.calls, toolAcc{index: n})
			acc = &s.calls[len(s.calls)-1]
		}
	case id.Str != "":
		for i := range s.calls {
			if s.calls[i].id == id.Str {
				acc = &s.calls[i]
				break
			}
		}
		if acc == nil {
			if len(s.calls) >= maxToolCalls {
				return nil
			}
			s.calls = append(s.calls, toolAcc{index: len(s.calls)})
			acc = &s.calls[len(s.calls)-1]
		}
	case len(s.calls) > 0:
		acc = &s.calls[len(s.calls)-1]
	default:
		s.calls = append(s.calls, toolAcc{})
		acc = &s.calls[0]
	}
	if acc.id == "" && id.Type == gjson.String {
		acc.id = id.Str
	}
	name, args := fn.Get("name"), fn.Get("arguments")
	if acc.name == "" && name.Type == gjson.String {
		acc.name = name.Str
	}
	if args.Type == gjson.String {
		acc.args = append(acc.args, args.Str...)
	} else if args.IsObject() {
		// A few servers send arguments as an object instead of a string.
		acc.args = append(acc.args, args.Raw...)
	}
	return s.sendFragment(acc)
}

// sendFragment sends what acc gained since its last delta. Its first
// delta waits for its name (which servers send with the first fragment),
// and fixes its id: one the upstream omitted is made up now, so the deltas
// and the whole call agree.
func (s *events) sendFragment(acc *toolAcc) error {
	if acc.name == "" || (acc.announced && acc.sent == len(acc.args)) {
		return nil
	}
	d := &adapters.ToolCall{Arguments: string(acc.args[acc.sent:])}
	if !acc.announced {
		if acc.id == "" {
			acc.id = acc.toolCall().ID
		}
		d.Name, acc.announced = acc.name, true
	}
	d.ID, acc.sent = acc.id, len(acc.args)
	return s.Send(adapters.Event{Type: adapters.EventToolCallDelta, ToolCall: d})
}

// readStream reads an SSE chat completion stream from body and emits its
// events. ctx is the call's context, used to tell cancellation and
// timeouts from upstream failures; status is the HTTP status the stream
// came with.
func readStream(ctx context.Context, body io.Reader, reqModel string, status int, timeout time.Duration, emit adapters.Emit) error {
	s := events{Emitter: wire.NewEmitter(emit, reqModel)}
	sr := wire.NewSSEReader(body)
	sawDone := false
	for {
		_, data, err := sr.Next()
		if err != nil {
			if err == io.EOF {
				break
			}
			if s.finish != "" && ctx.Err() == nil {
				// The answer is complete; only the trailer (usage, [DONE])
				// was lost.
				break
			}
			return s.Fail(wire.StreamError(ctx, err, timeout, errCallTimeout, status))
		}
		if isDone(data) {
			sawDone = true
			break
		}
		if wire.IsBlank(data) {
			continue
		}
		if sr.Unterminated() && !validjson.Bytes(data) {
			// An event cut off by EOF: a partial line is lost, not
			// malformed; whether the answer is complete is decided below.
			break
		}
		if err := s.chunk(data, status); err != nil {
			if s.EmitFailed() {
				return err
			}
			return s.Fail(err)
		}
	}
	return s.EndStream(sawDone || s.finish != "", status, s.end)
}

func isDone(data []byte) bool {
	i, j := 0, len(data)
	for i < j && wire.IsSpace(data[i]) {
		i++
	}
	for j > i && wire.IsSpace(data[j-1]) {
		j--
	}
	return string(data[i:j]) == "[DONE]"
}
