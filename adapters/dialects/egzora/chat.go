package egzora

import (
	"net/http"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/exchange"
)

// The thinking block. When reasoning is on for a request and the model
// thought before answering, the answer text begins with
//
//	"💭 Thinking Process\n" + <the reasoning> + "\n\n---\n\n" + <the answer>
//
// that is a heading line, the reasoning, then a Markdown horizontal rule
// on a line of its own, set off by blank lines, and the answer. Streamed,
// the heading is one chunk sent before the first reasoning chunk, and the
// separator one chunk sent before the first answer chunk (or at the end,
// when the model thought but gave no text), so the concatenated chunks of
// a stream are exactly the non-streamed "response". Thinking that arrives
// after the answer has begun is not shown: it cannot go into the block at
// the top. When reasoning is off, no block is shown, even if the model
// thought on its own.
const (
	ThinkingHeader    = "💭 Thinking Process\n"
	ThinkingSeparator = "\n\n---\n\n"
)

func (d *Dialect) chat(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, err := decodeChat(body, d.env.Limits)
	if err != nil {
		return err
	}
	ctx := r.Context()
	agent, err := d.env.Engine.Agents().Get(ctx, p, req.agentID)
	if err != nil {
		return egzoraError(err, req.agentID)
	}
	call := &req.call
	call.Principal, call.Dialect, call.Agent = p, Name, agent
	reasoning := agent.Reasoning
	if call.Reasoning != nil {
		reasoning = *call.Reasoning
	}

	if !call.Stream {
		var text []byte
		a := answer{showThinking: reasoning, out: func(s string) error { text = append(text, s...); return nil }}
		res, err := d.env.Engine.Run(ctx, x, call, a.event)
		if err != nil {
			return egzoraError(err, req.agentID)
		}
		// One allocation: the answer, a little for its escapes, and the
		// summary's keys and values.
		b := make([]byte, 0, len(text)+len(text)/16+256+len(res.SessionID)+len(agent.ID)+len(res.Model)+len(res.RunID))
		b = append(b, `{"response":`...)
		b = dialects.AppendString(b, string(text))
		b = appendSummary(b, agent.ID, res)
		dialects.WriteRawJSON(w, http.StatusOK, append(b, '}'))
		return nil
	}

	sse := dialects.NewSSE(w)
	var buf []byte
	a := answer{showThinking: reasoning, out: func(s string) error {
		buf = dialects.AppendString(append(buf[:0], `{"chunk":`...), s)
		return sse.Event("", append(buf, '}'))
	}}
	emit := func(ev adapters.Event) error {
		if ev.Type == adapters.EventStart {
			// The upstream has accepted the call: send the headers now, so
			// the client knows the stream is live before the first token.
			return sse.Start()
		}
		return a.event(ev)
	}
	res, err := d.env.Engine.Run(ctx, x, call, emit)
	if err != nil {
		err = egzoraError(err, req.agentID)
		if !sse.Started() {
			return err
		}
		// Once the stream has begun the status is sent: report the error
		// as a last data line in the documented shape.
		_ = sse.Event("", AppendError(nil, adapters.AsError(err)))
		return nil
	}
	b := append(buf[:0], `{"done":true`...)
	b = appendSummary(b, agent.ID, res)
	_ = sse.Event("", append(b, '}'))
	return nil
}

// appendSummary writes what a client needs after the answer: the session
// to continue, the agent and model, usage, latency and the run id. It
// starts with a comma: the caller has opened the object.
func appendSummary(b []byte, agentID string, res *toolloop.Result) []byte {
	b = append(b, `,"session_id":`...)
	if res.SessionID != "" {
		b = dialects.AppendString(b, res.SessionID)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"agent_id":`...)
	b = dialects.AppendString(b, agentID)
	b = append(b, `,"model_id":`...)
	b = dialects.AppendString(b, res.Model)
	b = append(b, `,"usage":{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(res.Usage.InputTokens), 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(res.Usage.OutputTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(res.Usage.Total()), 10)
	b = append(b, `,"reasoning_tokens":`...)
	b = strconv.AppendInt(b, int64(res.Usage.ReasoningTokens), 10)
	b = append(b, `},"finish_reason":`...)
	fr := res.FinishReason
	if fr == "" {
		fr = "stop"
	}
	b = dialects.AppendString(b, fr)
	b = append(b, `,"latency_ms":`...)
	b = strconv.AppendInt(b, res.Latency.Milliseconds(), 10)
	b = append(b, `,"run_id":`...)
	return dialects.AppendString(b, res.RunID)
}

// answer folds a run's events into the answer text, with the thinking
// block described at ThinkingHeader. Streaming and non-streaming both go
// through it, so they produce the same text by construction.
type answer struct {
	showThinking bool
	out          func(string) error
	state        uint8 // answerNone, answerThinking or answerText
}

const (
	answerNone uint8 = iota
	answerThinking
	answerText
)

func (a *answer) event(ev adapters.Event) error {
	switch ev.Type {
	case adapters.EventThinking:
		if !a.showThinking || ev.Text == "" || a.state == answerText {
			return nil
		}
		if a.state == answerNone {
			a.state = answerThinking
			if err := a.out(ThinkingHeader); err != nil {
				return err
			}
		}
		return a.out(ev.Text)
	case adapters.EventDelta:
		if ev.Text == "" {
			return nil
		}
		if err := a.closeThinking(); err != nil {
			return err
		}
		a.state = answerText
		return a.out(ev.Text)
	case adapters.EventDone:
		return a.closeThinking()
	}
	return nil
}

// closeThinking sends the separator after a thinking block, once.
func (a *answer) closeThinking() error {
	if a.state != answerThinking {
		return nil
	}
	a.state = answerText
	return a.out(ThinkingSeparator)
}
