package anthropic

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
	"github.com/agentgate/agentgate/internal/validjson"
	"github.com/tidwall/gjson"
)

// maxBlocks bounds the content blocks of one answer, so a misbehaving
// upstream cannot make the index lookup quadratic.
const maxBlocks = 256

// Content block types the provider turns into events. Other blocks
// (server tool blocks, …) are skipped.
const (
	blockText     = "text"
	blockThinking = "thinking"
	blockRedacted = "redacted_thinking"
	blockToolUse  = "tool_use"
)

// block is one content block being streamed.
type block struct {
	index int
	typ   string
	id    string
	name  string
	input []byte // concatenated input_json_delta fragments
	// startInput is the input of content_block_start, used when no
	// fragment follows.
	startInput string
	sig        []byte
	done       bool
	// streamed marks a tool_use block announced by a tool-call delta.
	streamed bool
}

// events turns Messages API content into canonical events. It remembers
// what arrives only at the end (stop reason, usage); the Emitter remembers
// whether emit has failed, so the caller never reports an emit error as an
// upstream one.
type events struct {
	wire.Emitter
	stopReason string
	// stopSequence is the stop sequence that ended the answer.
	stopSequence string
	calls        int
	blocks       []block

	hasUsage bool
	// Raw usage counts; message_delta repeats them cumulatively.
	in, out, cacheRead, cacheWrite int
}

// readUsage takes the counts u holds; absent ones keep their value, since
// message_delta may carry only output_tokens.
func (s *events) readUsage(u gjson.Result) {
	if !u.IsObject() {
		return
	}
	u.ForEach(func(k, v gjson.Result) bool {
		if v.Type != gjson.Number {
			return true
		}
		n := int(max(v.Int(), 0))
		switch k.Str {
		case "input_tokens":
			s.in, s.hasUsage = n, true
		case "output_tokens":
			s.out, s.hasUsage = n, true
		case "cache_read_input_tokens":
			s.cacheRead, s.hasUsage = n, true
		case "cache_creation_input_tokens":
			s.cacheWrite, s.hasUsage = n, true
		}
		return true
	})
}

// usage is the canonical usage. Anthropic's input_tokens leaves out the
// tokens read from and written to the prompt cache; canonical InputTokens
// counts the whole prompt, as OpenAI's prompt_tokens does, with the cache
// reads also in CachedTokens and the writes in CacheWriteTokens.
func (s *events) usage() adapters.Usage {
	return adapters.Usage{
		InputTokens:      s.in + s.cacheRead + s.cacheWrite,
		OutputTokens:     s.out,
		CachedTokens:     s.cacheRead,
		CacheWriteTokens: s.cacheWrite,
	}
}

// end emits what is left of unfinished blocks, the usage and Done.
func (s *events) end() error {
	if err := s.Start(""); err != nil {
		return err
	}
	for i := range s.blocks {
		if err := s.finishBlock(&s.blocks[i]); err != nil {
			return err
		}
	}
	if s.hasUsage {
		u := s.usage()
		if err := s.Send(adapters.Event{Type: adapters.EventUsage, Usage: &u}); err != nil {
			return err
		}
	}
	stop := ""
	if s.stopReason == "stop_sequence" {
		stop = s.stopSequence
	}
	return s.DoneStop(finishReason(s.stopReason, s.calls > 0), stop)
}

// finishBlock emits a complete tool call, or the signature that closes a
// thinking block, once.
func (s *events) finishBlock(b *block) error {
	if b.done {
		return nil
	}
	b.done = true
	switch b.typ {
	case blockToolUse:
		args := string(b.input)
		if args == "" {
			args = b.startInput
		}
		if args == "" {
			args = "{}"
		}
		s.calls++
		// The deltas of a call add up to its arguments: when the input
		// came whole with the block's start, or not at all, it goes out
		// as the last delta.
		if b.streamed && len(b.input) == 0 {
			if err := s.Send(adapters.Event{Type: adapters.EventToolCallDelta, ToolCall: &adapters.ToolCall{ID: b.id, Arguments: args}}); err != nil {
				return err
			}
		}
		return s.Send(adapters.Event{Type: adapters.EventToolCall, ToolCall: &adapters.ToolCall{ID: b.id, Name: b.name, Arguments: args}})
	case blockThinking:
		if len(b.sig) > 0 {
			return s.Send(adapters.Event{Type: adapters.EventThinking, Signature: string(b.sig)})
		}
	}
	return nil
}

// finishReason normalises a stop_reason to stop, length, tool_calls or
// content_filter.
func finishReason(r string, hasCalls bool) string {
	switch r {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	// end_turn, stop_sequence, pause_turn, or none.
	if hasCalls {
		return "tool_calls"
	}
	return "stop"
}

// compactObject returns raw as compact JSON text when it is an object,
// or "".
func compactObject(v gjson.Result) string {
	if !v.IsObject() {
		return ""
	}
	return string(wire.AppendRaw(nil, []byte(v.Raw)))
}

func (s *events) blockAt(index int) *block {
	for i := len(s.blocks) - 1; i >= 0; i-- {
		if s.blocks[i].index == index {
			return &s.blocks[i]
		}
	}
	return nil
}

var errMalformedEvent = &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream sent a malformed stream event"}

// event handles one SSE event. It returns the emit error, an
// *adapters.Error for an error event, or errStop after message_stop.
func (s *events) event(name, data []byte, status int) error {
	if !validjson.Bytes(data) {
		e := *errMalformedEvent
		e.UpstreamStatus = status
		return &e
	}
	// One copy per event: every string below aliases doc, which outlives
	// the reader's reused buffer.
	doc := gjson.Parse(string(data))
	if !doc.IsObject() {
		e := *errMalformedEvent
		e.UpstreamStatus = status
		return &e
	}
	var typ, index, message, contentBlock, delta, usage, errv gjson.Result
	doc.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "type":
			typ = v
		case "index":
			index = v
		case "message":
			message = v
		case "content_block":
			contentBlock = v
		case "delta":
			delta = v
		case "usage":
			usage = v
		case "error":
			errv = v
		}
		return true
	})
	kind := string(name)
	if kind == "" {
		kind = typ.String()
	}
	if kind == "error" || typ.Str == "error" {
		return streamError(errv, status)
	}
	switch kind {
	case "message_start":
		if err := s.Start(message.Get("model").String()); err != nil {
			return err
		}
		s.readUsage(message.Get("usage"))
	case "content_block_start":
		if err := s.Start(""); err != nil {
			return err
		}
		return s.blockStart(int(index.Int()), contentBlock)
	case "content_block_delta":
		if err := s.Start(""); err != nil {
			return err
		}
		return s.blockDelta(int(index.Int()), delta)
	case "content_block_stop":
		if b := s.blockAt(int(index.Int())); b != nil {
			return s.finishBlock(b)
		}
	case "message_delta":
		if err := s.Start(""); err != nil {
			return err
		}
		if r := delta.Get("stop_reason"); r.Type == gjson.String {
			s.stopReason = r.Str
		}
		if q := delta.Get("stop_sequence"); q.Type == gjson.String {
			s.stopSequence = q.Str
		}
		s.readUsage(usage)
	case "message_stop":
		if err := s.Start(""); err != nil {
			return err
		}
		return errStop
	}
	// ping and unknown events are ignored.
	return nil
}

// errStop ends the event loop after message_stop.
var errStop = errors.New("message_stop")

func (s *events) blockStart(index int, cb gjson.Result) error {
	if !cb.IsObject() {
		return nil
	}
	if b := s.blockAt(index); b != nil {
		// A restarted index: finish what was there.
		if err := s.finishBlock(b); err != nil {
			return err
		}
	}
	var b *block
	kept := len(s.blocks) < maxBlocks
	if kept {
		s.blocks = append(s.blocks, block{index: index})
		b = &s.blocks[len(s.blocks)-1]
	} else {
		b = &block{index: index} // over the limit: text only, nothing kept
	}
	b.typ = cb.Get("type").String()
	switch b.typ {
	case blockText:
		if t := cb.Get("text"); t.Type == gjson.String && t.Str != "" {
			return s.Send(adapters.Event{Type: adapters.EventDelta, Text: t.Str})
		}
	case blockThinking:
		if sig := cb.Get("signature"); sig.Type == gjson.String {
			b.sig = append(b.sig, sig.Str...)
		}
		if t := cb.Get("thinking"); t.Type == gjson.String && t.Str != "" {
			return s.Send(adapters.Event{Type: adapters.EventThinking, Text: t.Str})
		}
	case blockRedacted:
		if d := cb.Get("data"); d.Type == gjson.String && d.Str != "" {
			return s.Send(adapters.Event{Type: adapters.EventThinking, Redacted: d.Str})
		}
	case blockToolUse:
		b.id = cb.Get("id").String()
		b.name = cb.Get("name").String()
		if in := compactObject(cb.Get("input")); in != "{}" {
			b.startInput = in
		}
		if kept && b.id != "" && b.name != "" {
			// The call is announced now; its input streams as it comes.
			b.streamed = true
			return s.Send(adapters.Event{Type: adapters.EventToolCallDelta, ToolCall: &adapters.ToolCall{ID: b.id, Name: b.name}})
		}
	}
	return nil
}

func (s *events) blockDelta(index int, d gjson.Result) error {
	switch d.Get("type").String() {
	case "text_delta":
		if t := d.Get("text"); t.Type == gjson.String && t.Str != "" {
			return s.Send(adapters.Event{Type: adapters.EventDelta, Text: t.Str})
		}
	case "thinking_delta":
		if t := d.Get("thinking"); t.Type == gjson.String && t.Str != "" {
			return s.Send(adapters.Event{Type: adapters.EventThinking, Text: t.Str})
		}
	case "signature_delta":
		if b := s.blockAt(index); b != nil && b.typ == blockThinking && !b.done {
			if sig := d.Get("signature"); sig.Type == gjson.String && len(b.sig)+len(sig.Str) <= wire.MaxEventSize {
				b.sig = append(b.sig, sig.Str...)
			}
		}
	case "input_json_delta":
		if b := s.blockAt(index); b != nil && b.typ == blockToolUse && !b.done {
			if pj := d.Get("partial_json"); pj.Type == gjson.String && pj.Str != "" && len(b.input)+len(pj.Str) <= wire.MaxEventSize {
				b.input = append(b.input, pj.Str...)
				if b.streamed {
					return s.Send(adapters.Event{Type: adapters.EventToolCallDelta, ToolCall: &adapters.ToolCall{ID: b.id, Arguments: pj.Str}})
				}
			}
		}
	}
	// citations_delta and unknown deltas are ignored.
	return nil
}

// readStream reads a Messages API event stream from body and emits its
// events. ctx is the call's context, used to tell cancellation and
// timeouts from upstream failures; status is the HTTP status the stream
// came with.
func readStream(ctx context.Context, body io.Reader, reqModel string, status int, timeout time.Duration, emit adapters.Emit) error {
	s := events{Emitter: wire.NewEmitter(emit, reqModel)}
	sr := wire.NewSSEReader(body)
	sawStop := false
	for {
		name, data, err := sr.Next()
		if err != nil {
			if err == io.EOF {
				break
			}
			if s.stopReason != "" && ctx.Err() == nil {
				// The answer is complete; only message_stop was lost.
				break
			}
			return s.Fail(wire.StreamError(ctx, err, timeout, errCallTimeout, status))
		}
		if wire.IsBlank(data) {
			continue
		}
		if sr.Unterminated() && !validjson.Bytes(data) {
			// An event cut off by EOF: a partial line is lost, not
			// malformed; whether the answer is complete is decided below.
			break
		}
		if err := s.event(name, data, status); err != nil {
			if err == errStop {
				sawStop = true
				break
			}
			if s.EmitFailed() {
				return err
			}
			return s.Fail(err)
		}
	}
	return s.EndStream(sawStop || s.stopReason != "", status, s.end)
}
