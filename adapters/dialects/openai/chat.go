package openai

import (
	"net/http"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/exchange"
)

func (d *Dialect) chatCompletions(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, err := decodeChat(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	agent, err := d.resolve(ctx, p, req.model)
	if err != nil {
		return err
	}
	if route, ok := d.env.Engine.RawLane(agent); ok && req.laneSafe && !engine.RecordsContent(ctx) {
		return d.lane(w, ctx, x, req, agent, route, body)
	}
	call := &req.call
	call.Principal, call.Dialect, call.Agent = p, Name, agent
	id := "chatcmpl-" + adapters.NewID("")
	created := d.env.Engine.Now().Unix()

	if !call.Stream {
		res, err := d.env.Engine.Run(ctx, x, call, func(adapters.Event) error { return nil })
		if err != nil {
			return err
		}
		dialects.WriteRawJSON(w, http.StatusOK, appendCompletion(nil, id, req.model, created, res))
		return nil
	}
	enc := newChunkEncoder(dialects.NewSSE(w), id, req.model, created, req.includeUsage)
	_, err = d.env.Engine.Run(ctx, x, call, enc.emit)
	if err != nil && !enc.sse.Started() {
		return err
	}
	if err != nil {
		enc.fail(adapters.AsError(err))
	}
	return nil
}

// appendCompletion writes a non-streamed chat.completion object.
func appendCompletion(b []byte, id, model string, created int64, res *toolloop.Result) []byte {
	b = append(b, `{"id":`...)
	b = dialects.AppendString(b, id)
	b = append(b, `,"object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = dialects.AppendString(b, model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if res.Text == "" && len(res.ToolCalls) > 0 {
		b = append(b, "null"...)
	} else {
		b = dialects.AppendString(b, res.Text)
	}
	if res.Reasoning != "" {
		b = append(b, `,"reasoning_content":`...)
		b = dialects.AppendString(b, res.Reasoning)
	}
	b = append(b, `,"refusal":null`...)
	if len(res.ToolCalls) > 0 {
		b = append(b, `,"tool_calls":[`...)
		for i := range res.ToolCalls {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendToolCall(b, -1, &res.ToolCalls[i])
		}
		b = append(b, ']')
	}
	b = append(b, `},"logprobs":null,"finish_reason":`...)
	b = dialects.AppendString(b, finishReason(res.FinishReason))
	b = append(b, `}],"usage":`...)
	b = appendUsage(b, res.Usage)
	return append(b, '}')
}

// appendToolCall writes a tool call; index >= 0 adds the stream index.
func appendToolCall(b []byte, index int, tc *adapters.ToolCall) []byte {
	b = append(b, '{')
	if index >= 0 {
		b = append(b, `"index":`...)
		b = strconv.AppendInt(b, int64(index), 10)
		b = append(b, ',')
	}
	b = append(b, `"id":`...)
	b = dialects.AppendString(b, tc.ID)
	b = append(b, `,"type":"function","function":{"name":`...)
	b = dialects.AppendString(b, tc.Name)
	b = append(b, `,"arguments":`...)
	b = dialects.AppendString(b, tc.Arguments)
	return append(b, "}}"...)
}

func appendUsage(b []byte, u adapters.Usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.InputTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.OutputTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.Total()), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CachedTokens), 10)
	b = append(b, `},"completion_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, int64(u.ReasoningTokens), 10)
	return append(b, "}}"...)
}

func finishReason(r string) string {
	if r == "" {
		return "stop"
	}
	return r
}

// chunkEncoder turns canonical events into chat.completion.chunk events.
// Usage arrives before Done from the engine but OpenAI sends it last, in
// its own chunk with empty choices, so it is held until Done. Tool calls
// stream as OpenAI streams them: a call's first chunk carries its index,
// id, type and name, later ones only more of its arguments.
type chunkEncoder struct {
	sse          *dialects.SSE
	prefix       []byte // {"id":…,"choices":[{"index":0,"delta":
	includeUsage bool
	usage        adapters.Usage
	toolIndex    int
	// streamed holds the index of each tool call sent as deltas, by id:
	// its whole ToolCall event then adds nothing.
	streamed map[string]int
	buf      []byte
}

func newChunkEncoder(sse *dialects.SSE, id, model string, created int64, includeUsage bool) *chunkEncoder {
	p := append([]byte(nil), `{"id":`...)
	p = dialects.AppendString(p, id)
	p = append(p, `,"object":"chat.completion.chunk","created":`...)
	p = strconv.AppendInt(p, created, 10)
	p = append(p, `,"model":`...)
	p = dialects.AppendString(p, model)
	p = append(p, `,"system_fingerprint":null,"choices":[{"index":0,"delta":`...)
	return &chunkEncoder{sse: sse, prefix: p, includeUsage: includeUsage}
}

func (e *chunkEncoder) chunk(delta []byte, finish string) error {
	b := append(e.buf[:0], e.prefix...)
	b = append(b, delta...)
	b = append(b, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		b = append(b, "null"...)
	} else {
		b = dialects.AppendString(b, finish)
	}
	b = append(b, `}],"usage":null}`...)
	e.buf = b
	return e.sse.Event("", b)
}

func (e *chunkEncoder) emit(ev adapters.Event) error {
	var d []byte
	switch ev.Type {
	case adapters.EventStart:
		return e.chunk([]byte(`{"role":"assistant","content":""}`), "")
	case adapters.EventThinking:
		if ev.Text == "" {
			return nil // a signature alone: nothing for the client
		}
		d = dialects.AppendString(append(d, `{"reasoning_content":`...), ev.Text)
	case adapters.EventDelta:
		d = dialects.AppendString(append(d, `{"content":`...), ev.Text)
	case adapters.EventToolCallDelta:
		if ev.Executed {
			return nil // agentgate runs it; the client must not
		}
		d = append(d, `{"tool_calls":[`...)
		if i, ok := e.streamed[ev.ToolCall.ID]; ok {
			d = append(d, `{"index":`...)
			d = strconv.AppendInt(d, int64(i), 10)
			d = append(d, `,"function":{"arguments":`...)
			d = dialects.AppendString(d, ev.ToolCall.Arguments)
			d = append(d, "}}"...)
		} else {
			if e.streamed == nil {
				e.streamed = map[string]int{}
			}
			e.streamed[ev.ToolCall.ID] = e.toolIndex
			d = appendToolCall(d, e.toolIndex, ev.ToolCall)
			e.toolIndex++
		}
		d = append(d, "]"...)
	case adapters.EventToolCall:
		if _, sent := e.streamed[ev.ToolCall.ID]; ev.Executed || sent {
			return nil // agentgate runs it, or its deltas carried it
		}
		d = append(d, `{"tool_calls":[`...)
		d = appendToolCall(d, e.toolIndex, ev.ToolCall)
		d = append(d, "]"...)
		e.toolIndex++
	case adapters.EventUsage:
		e.usage = *ev.Usage
		return nil
	case adapters.EventDone:
		if err := e.chunk([]byte("{}"), finishReason(ev.FinishReason)); err != nil {
			return err
		}
		if e.includeUsage {
			b := append(e.buf[:0], e.prefix[:len(e.prefix)-len(`{"index":0,"delta":`)]...)
			b = append(b, `],"usage":`...)
			b = appendUsage(b, e.usage)
			b = append(b, '}')
			e.buf = b
			if err := e.sse.Event("", b); err != nil {
				return err
			}
		}
		return e.sse.Event("", []byte("[DONE]"))
	default:
		return nil
	}
	return e.chunk(append(d, '}'), "")
}

// fail reports a failure after the stream began, as OpenAI does: a data
// event whose JSON has a top-level error, which the SDKs raise.
func (e *chunkEncoder) fail(err *adapters.Error) {
	_ = e.sse.Event("", AppendError(nil, err))
}
