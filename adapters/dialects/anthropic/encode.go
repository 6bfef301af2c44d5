package anthropic

import (
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/internal/validjson"
	"github.com/tidwall/gjson"
)

// Content block types of an answer.
const (
	blockText     = "text"
	blockThinking = "thinking"
	blockRedacted = "redacted_thinking"
	blockToolUse  = "tool_use"
)

// outBlock is one content block of the answer.
type outBlock struct {
	typ string
	// text is a text block's text or a thinking block's thinking; data a
	// redacted_thinking block's data. Kept only for a non-streamed answer.
	text, signature, data []byte
	id, name, input       string
}

// encoder folds canonical events into a Messages API answer: content
// blocks in order (thinking, redacted_thinking, text, tool_use), the stop
// reason and the usage. Streaming (send set), it writes every step at once
// as Anthropic's event: message_start, content_block_start, ping (after the
// first block starts), content_block_delta (text_delta, thinking_delta,
// signature_delta, input_json_delta), content_block_stop, message_delta
// with the stop reason and the cumulative usage, message_stop. Not
// streaming, appendMessage writes the same answer as one message object.
//
// Tool calls stream as their deltas arrive: a tool_use block starts with
// a call's first delta and its input_json_delta follow. Blocks do not
// interleave, so the deltas of a call that arrive while another's block is
// open wait for that block's end (OpenAI-compatible upstreams interleave
// parallel calls).
//
// Tool calls the engine executes itself (an agent's tools) are not the
// client's to run: they and their results are left out, and the text of
// every model call of the run is in the answer, a block per call.
type encoder struct {
	id, model string
	send      func(name string, data []byte) error

	started, pinged, done bool
	blocks                []outBlock
	// open: the last block has started and not stopped; signed: it is a
	// thinking block that has its signature, so more thinking is a new
	// block.
	open, signed bool
	usage        adapters.Usage
	stopReason   string
	stopSequence string
	// calls are the tool calls streaming as deltas, in the order they
	// came, until their whole call ends their block: the first's block is
	// open, the others' deltas wait in their input.
	calls []*outBlock
	buf   []byte
}

func newEncoder(id, model string, send func(name string, data []byte) error) *encoder {
	return &encoder{id: id, model: model, send: send}
}

func (e *encoder) streaming() bool { return e.send != nil }

// event sends one SSE event whose data is b (its type is name).
func (e *encoder) event(name string, b []byte) error {
	e.buf = b
	return e.send(name, b)
}

// emit implements adapters.Emit.
func (e *encoder) emit(ev adapters.Event) error {
	if e.done {
		return nil
	}
	if !e.started && ev.Type != adapters.EventError {
		if err := e.start(); err != nil {
			return err
		}
	}
	switch ev.Type {
	case adapters.EventThinking:
		if ev.Redacted != "" {
			if err := e.startBlock(outBlock{typ: blockRedacted, data: []byte(ev.Redacted)}); err != nil {
				return err
			}
			if err := e.stopBlock(); err != nil {
				return err
			}
		}
		if ev.Text != "" {
			if err := e.thinkingBlock(); err != nil {
				return err
			}
			if err := e.delta("thinking_delta", "thinking", ev.Text); err != nil {
				return err
			}
		}
		if ev.Signature != "" {
			if err := e.thinkingBlock(); err != nil {
				return err
			}
			if err := e.delta("signature_delta", "signature", ev.Signature); err != nil {
				return err
			}
			e.signed = true
		}
	case adapters.EventDelta:
		if ev.Text == "" {
			return nil
		}
		if !e.open || e.last().typ != blockText {
			if err := e.startBlock(outBlock{typ: blockText}); err != nil {
				return err
			}
		}
		return e.delta("text_delta", "text", ev.Text)
	case adapters.EventToolCallDelta:
		if ev.Executed || ev.ToolCall == nil || !e.streaming() {
			return nil // the agent's own tool, or the whole call will do
		}
		return e.callDelta(ev.ToolCall)
	case adapters.EventToolCall:
		if ev.Executed {
			// The agent's own tool: the text after it is a new block.
			return e.stopBlock()
		}
		if ev.ToolCall == nil {
			return nil
		}
		if e.streamedCall(ev.ToolCall.ID) {
			return e.endCall(ev.ToolCall.ID)
		}
		tc := ev.ToolCall
		input := tc.Arguments
		if !validjson.String(input) || !gjson.Parse(input).IsObject() {
			input = "{}" // a model's malformed arguments: the client could not parse them either
		}
		if err := e.startBlock(outBlock{typ: blockToolUse, id: tc.ID, name: tc.Name, input: input}); err != nil {
			return err
		}
		if err := e.delta("input_json_delta", "partial_json", input); err != nil {
			return err
		}
		return e.stopBlock()
	case adapters.EventUsage:
		e.usage = *ev.Usage
	case adapters.EventDone:
		return e.finish(ev)
	}
	return nil
}

func (e *encoder) last() *outBlock { return &e.blocks[len(e.blocks)-1] }

// callDelta streams a piece of a tool call: its first starts its tool_use
// block, unless another call's block is open, when it waits.
func (e *encoder) callDelta(tc *adapters.ToolCall) error {
	var c *outBlock
	for _, x := range e.calls {
		if x.id == tc.ID {
			c = x
		}
	}
	if c == nil {
		c = &outBlock{typ: blockToolUse, id: tc.ID, name: tc.Name}
		e.calls = append(e.calls, c)
		if len(e.calls) == 1 {
			if err := e.startBlock(*c); err != nil {
				return err
			}
		}
	}
	if e.calls[0] != c {
		c.input += tc.Arguments // waits for its block
		return nil
	}
	if tc.Arguments == "" {
		return nil
	}
	return e.delta("input_json_delta", "partial_json", tc.Arguments)
}

func (e *encoder) streamedCall(id string) bool {
	for _, c := range e.calls {
		if c.id == id {
			return true
		}
	}
	return false
}

// endCall ends the block of streamed call id, which the calls before it
// end first; the next call's block starts with the input it has waited
// with.
func (e *encoder) endCall(id string) error {
	for len(e.calls) > 0 {
		c := e.calls[0]
		e.calls = e.calls[1:]
		if err := e.stopBlock(); err != nil {
			return err
		}
		if len(e.calls) > 0 {
			next := e.calls[0]
			if err := e.startBlock(outBlock{typ: blockToolUse, id: next.id, name: next.name}); err != nil {
				return err
			}
			if next.input != "" {
				if err := e.delta("input_json_delta", "partial_json", next.input); err != nil {
					return err
				}
			}
		}
		if c.id == id {
			return nil
		}
	}
	return nil
}

// thinkingBlock makes sure a thinking block without a signature is open.
func (e *encoder) thinkingBlock() error {
	if e.open && e.last().typ == blockThinking && !e.signed {
		return nil
	}
	return e.startBlock(outBlock{typ: blockThinking})
}

// start sends message_start: the message with no content yet. Usage is
// only known at the end; message_delta carries it whole.
func (e *encoder) start() error {
	e.started = true
	if !e.streaming() {
		return nil
	}
	b := append(e.buf[:0], `{"type":"message_start","message":`...)
	b = e.appendHead(b)
	b = append(b, `[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	b = appendUsage(b, adapters.Usage{})
	return e.event("message_start", append(b, "}}"...))
}

// appendHead writes a message's fields up to its content array.
func (e *encoder) appendHead(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = dialects.AppendString(b, e.id)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = dialects.AppendString(b, e.model)
	return append(b, `,"content":`...)
}

// startBlock closes the open block and starts ob.
func (e *encoder) startBlock(ob outBlock) error {
	if err := e.stopBlock(); err != nil {
		return err
	}
	e.blocks = append(e.blocks, ob)
	e.open, e.signed = true, false
	if !e.streaming() {
		return nil
	}
	b := append(e.buf[:0], `{"type":"content_block_start","index":`...)
	b = strconv.AppendInt(b, int64(len(e.blocks)-1), 10)
	b = append(b, `,"content_block":`...)
	b = appendBlock(b, &ob, true)
	if err := e.event("content_block_start", append(b, '}')); err != nil {
		return err
	}
	return e.ping()
}

// ping sends the ping Anthropic sends after the first block starts.
func (e *encoder) ping() error {
	if e.pinged {
		return nil
	}
	e.pinged = true
	return e.event("ping", append(e.buf[:0], `{"type":"ping"}`...))
}

// delta adds text to the open block: a content_block_delta of type typ
// whose field holds it.
func (e *encoder) delta(typ, field, text string) error {
	ob := e.last()
	if !e.streaming() {
		switch typ {
		case "text_delta", "thinking_delta":
			ob.text = append(ob.text, text...)
		case "signature_delta":
			ob.signature = append(ob.signature, text...)
		}
		return nil
	}
	b := append(e.buf[:0], `{"type":"content_block_delta","index":`...)
	b = strconv.AppendInt(b, int64(len(e.blocks)-1), 10)
	b = append(b, `,"delta":{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","`...)
	b = append(b, field...)
	b = append(b, `":`...)
	b = dialects.AppendString(b, text)
	return e.event("content_block_delta", append(b, "}}"...))
}

// stopBlock closes the open block, if any.
func (e *encoder) stopBlock() error {
	if !e.open {
		return nil
	}
	e.open = false
	if !e.streaming() {
		return nil
	}
	b := append(e.buf[:0], `{"type":"content_block_stop","index":`...)
	b = strconv.AppendInt(b, int64(len(e.blocks)-1), 10)
	return e.event("content_block_stop", append(b, '}'))
}

// finish closes the answer: the stop reason, then (streaming)
// message_delta and message_stop.
func (e *encoder) finish(ev adapters.Event) error {
	if err := e.stopBlock(); err != nil {
		return err
	}
	e.done = true
	e.stopReason, e.stopSequence = stopReason(ev, e.blocks), ev.StopSequence
	if !e.streaming() {
		return nil
	}
	if err := e.ping(); err != nil { // an answer without content
		return err
	}
	b := append(e.buf[:0], `{"type":"message_delta","delta":{`...)
	b = e.appendStop(b)
	b = append(b, `},"usage":`...)
	b = appendUsage(b, e.usage)
	if err := e.event("message_delta", append(b, '}')); err != nil {
		return err
	}
	return e.event("message_stop", append(e.buf[:0], `{"type":"message_stop"}`...))
}

// appendStop writes "stop_reason":…,"stop_sequence":….
func (e *encoder) appendStop(b []byte) []byte {
	b = append(b, `"stop_reason":`...)
	b = dialects.AppendString(b, e.stopReason)
	b = append(b, `,"stop_sequence":`...)
	if e.stopReason == "stop_sequence" {
		b = dialects.AppendString(b, e.stopSequence)
	} else {
		b = append(b, "null"...)
	}
	return b
}

// stopReason is Anthropic's stop_reason for how the run ended.
func stopReason(ev adapters.Event, blocks []outBlock) string {
	switch ev.FinishReason {
	case "length":
		return "max_tokens"
	case "content_filter":
		return "refusal"
	case "tool_calls":
		if len(blocks) > 0 && blocks[len(blocks)-1].typ == blockToolUse {
			return "tool_use"
		}
	}
	if ev.StopSequence != "" {
		return "stop_sequence"
	}
	return "end_turn"
}

// appendMessage writes the non-streamed answer: a message object.
func (e *encoder) appendMessage(b []byte) []byte {
	b = e.appendHead(b)
	b = append(b, '[')
	for i := range e.blocks {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendBlock(b, &e.blocks[i], false)
	}
	b = append(b, "],"...)
	b = e.appendStop(b)
	b = append(b, `,"usage":`...)
	b = appendUsage(b, e.usage)
	return append(b, '}')
}

// appendBlock writes a content block: complete, or empty as
// content_block_start announces it.
func appendBlock(b []byte, ob *outBlock, empty bool) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, ob.typ...)
	b = append(b, '"')
	switch ob.typ {
	case blockText:
		b = append(b, `,"text":`...)
		b = dialects.AppendString(b, string(ob.text))
	case blockThinking:
		b = append(b, `,"thinking":`...)
		b = dialects.AppendString(b, string(ob.text))
		b = append(b, `,"signature":`...)
		b = dialects.AppendString(b, string(ob.signature))
	case blockRedacted:
		b = append(b, `,"data":`...)
		b = dialects.AppendString(b, string(ob.data))
	case blockToolUse:
		b = append(b, `,"id":`...)
		b = dialects.AppendString(b, ob.id)
		b = append(b, `,"name":`...)
		b = dialects.AppendString(b, ob.name)
		b = append(b, `,"input":`...)
		if empty {
			b = append(b, "{}"...)
		} else {
			b = append(b, ob.input...)
		}
	}
	return append(b, '}')
}

// appendUsage writes Anthropic's usage: input_tokens leaves out the
// tokens read from and written to the prompt cache, which canonical
// InputTokens counts.
func appendUsage(b []byte, u adapters.Usage) []byte {
	in := max(u.InputTokens-u.CachedTokens-u.CacheWriteTokens, 0)
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(in), 10)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CacheWriteTokens), 10)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CachedTokens), 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(u.OutputTokens), 10)
	return append(b, '}')
}

// appendError writes err as Anthropic's error object.
func appendError(b []byte, err *adapters.Error) []byte {
	typ, _ := errorType(err)
	b = append(b, `{"type":"error","error":{"type":`...)
	b = dialects.AppendString(b, typ)
	b = append(b, `,"message":`...)
	b = dialects.AppendString(b, err.Message)
	return append(b, "}}"...)
}
