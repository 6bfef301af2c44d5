package gemini

import (
	"strconv"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/internal/validjson"
	"github.com/tidwall/gjson"
)

type partKind uint8

const (
	partText partKind = iota + 1
	partThought
	partCall
)

// part is one Part of the answer's content.
type part struct {
	kind partKind
	text []byte
	call *adapters.ToolCall
	// sig is the part's thoughtSignature as sent (see signature.go).
	sig string
}

// answer folds a run's canonical events into the parts of one candidate,
// for a whole response or chunk by chunk. Both ways give the same parts:
// a streamed answer's chunks add up to the non-streamed one.
//
// Reasoning is shown as thought parts when the client asked for thoughts;
// otherwise its text is kept only to pack it into its signature. A
// signature that arrives on its own (Anthropic signs a thinking block at
// its end) rides on the next part that carries data — the Gen AI SDKs
// leave a part without data out of a chat's history — or, failing one, on
// an empty text part at the end.
type answer struct {
	showThoughts bool
	// merge joins consecutive text (or thought) deltas into one part: the
	// whole response is one content, a stream chunk holds one event.
	merge  bool
	parts  []part
	hidden strings.Builder
	// pending are thinking blocks ended (signed, or encrypted thoughts)
	// and waiting, in order, for a part to ride on; a signed block's Text
	// is its hidden reasoning.
	pending []adapters.ReasoningBlock
	usage   adapters.Usage
	model   string
	finish  string
}

// add folds one event in; it reports whether the event added to the
// content or ended the answer (a stream writes a chunk for it).
func (a *answer) add(ev adapters.Event) bool {
	switch ev.Type {
	case adapters.EventStart:
		if ev.Model != "" {
			a.model = ev.Model
		}
	case adapters.EventThinking:
		return a.thinking(ev)
	case adapters.EventDelta:
		if ev.Text == "" {
			return false
		}
		a.text(partText, ev.Text)
		return true
	case adapters.EventToolCall:
		if ev.Executed {
			return false // the gateway runs it; the client must not
		}
		tc := *ev.ToolCall
		p := part{kind: partCall, call: &tc}
		if tc.Signature != "" {
			p.sig = wireSignature(packed{Signature: tc.Signature})
		}
		if a.waiting() {
			if p.sig == "" {
				p.sig = a.takePending(true, false)
			} else {
				a.parts = append(a.parts, part{kind: partText, sig: a.takePending(false, false)})
			}
		}
		a.parts = append(a.parts, p)
		return true
	case adapters.EventUsage:
		a.usage = *ev.Usage
	case adapters.EventDone:
		if ev.Model != "" {
			a.model = ev.Model
		}
		a.finish = ev.FinishReason
		if a.waiting() {
			a.parts = append(a.parts, part{kind: partText, sig: a.takePending(false, false)})
		}
		return true
	}
	return false
}

// waiting reports whether a reasoning signature waits for a part.
func (a *answer) waiting() bool { return len(a.pending) > 0 }

// takePending returns the waiting blocks' signature as sent, and clears
// them: on a function call part, marked as the message's reasoning; on
// a thought part, marked as signing the thoughts before it.
func (a *answer) takePending(reasoning, before bool) string {
	p := packBlocks(a.pending)
	p.Reasoning, p.Before = reasoning, before
	a.pending = nil
	return wireSignature(p)
}

// thinking folds reasoning text, its signature and encrypted thoughts in.
func (a *answer) thinking(ev adapters.Event) bool {
	added := false
	if ev.Text != "" {
		if a.showThoughts {
			a.text(partThought, ev.Text)
			added = true
		} else {
			a.hidden.WriteString(ev.Text)
		}
	}
	if ev.Redacted != "" {
		a.pending = append(a.pending, adapters.ReasoningBlock{Redacted: ev.Redacted})
	}
	if ev.Signature == "" {
		return added
	}
	if added && a.parts[len(a.parts)-1].sig == "" && !a.waiting() {
		// Text and signature in one event: the thought part carries it.
		a.parts[len(a.parts)-1].sig = wireSignature(packed{Signature: ev.Signature})
		return true
	}
	a.pending = append(a.pending, adapters.ReasoningBlock{Text: a.hidden.String(), Signature: ev.Signature})
	a.hidden.Reset()
	return added
}

// text adds a text or thought delta, with a waiting signature.
func (a *answer) text(kind partKind, s string) {
	if a.merge && !a.waiting() && len(a.parts) > 0 {
		if last := &a.parts[len(a.parts)-1]; last.kind == kind && last.sig == "" {
			last.text = append(last.text, s...)
			return
		}
	}
	p := part{kind: kind, text: []byte(s)}
	if a.waiting() {
		p.sig = a.takePending(false, kind == partThought)
	}
	a.parts = append(a.parts, p)
}

// appendResponse writes a GenerateContentResponse holding parts; finish
// and usage only when the answer ended (the last chunk of a stream).
func (a *answer) appendResponse(b []byte, parts []part, ended bool, responseID string) []byte {
	b = append(b, `{"candidates":[{"content":{"parts":[`...)
	for i := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPart(b, &parts[i])
	}
	if len(parts) == 0 {
		// The SDKs leave a content of data-less parts out of a chat's
		// history; one of no parts would spoil the whole turn.
		b = append(b, `{"text":""}`...)
	}
	b = append(b, `],"role":"model"}`...)
	if ended {
		b = append(b, `,"finishReason":`...)
		b = dialects.AppendString(b, finishReason(a.finish))
	}
	b = append(b, `,"index":0}]`...)
	if ended {
		b = append(b, `,"usageMetadata":`...)
		b = appendUsage(b, a.usage)
	}
	if a.model != "" {
		b = append(b, `,"modelVersion":`...)
		b = dialects.AppendString(b, a.model)
	}
	b = append(b, `,"responseId":`...)
	b = dialects.AppendString(b, responseID)
	return append(b, '}')
}

func appendPart(b []byte, p *part) []byte {
	b = append(b, '{')
	switch p.kind {
	case partCall:
		b = append(b, `"functionCall":{"id":`...)
		b = dialects.AppendString(b, p.call.ID)
		b = append(b, `,"name":`...)
		b = dialects.AppendString(b, p.call.Name)
		b = append(b, `,"args":`...)
		b = appendArgs(b, p.call.Arguments)
		b = append(b, '}')
	default:
		b = append(b, `"text":`...)
		b = dialects.AppendString(b, string(p.text))
		if p.kind == partThought {
			b = append(b, `,"thought":true`...)
		}
	}
	if p.sig != "" {
		b = append(b, `,"thoughtSignature":`...)
		b = dialects.AppendString(b, p.sig)
	}
	return append(b, '}')
}

// appendArgs writes a call's arguments, which Gemini carries as an
// object: arguments that are not a JSON object (a model may produce
// anything) are wrapped as {"arguments": "<as produced>"}.
func appendArgs(b []byte, args string) []byte {
	t := strings.TrimSpace(args)
	if t == "" {
		return append(b, "{}"...)
	}
	if validjson.String(t) && gjson.Parse(t).IsObject() {
		return append(b, t...)
	}
	b = append(b, `{"arguments":`...)
	b = dialects.AppendString(b, args)
	return append(b, '}')
}

// appendUsage writes usageMetadata. Gemini counts thoughts apart from the
// candidates; the canonical output counts both.
func appendUsage(b []byte, u adapters.Usage) []byte {
	thoughts := min(max(u.ReasoningTokens, 0), u.OutputTokens)
	b = append(b, `{"promptTokenCount":`...)
	b = strconv.AppendInt(b, int64(u.InputTokens), 10)
	b = append(b, `,"candidatesTokenCount":`...)
	b = strconv.AppendInt(b, int64(u.OutputTokens-thoughts), 10)
	b = append(b, `,"totalTokenCount":`...)
	b = strconv.AppendInt(b, int64(u.Total()), 10)
	if thoughts > 0 {
		b = append(b, `,"thoughtsTokenCount":`...)
		b = strconv.AppendInt(b, int64(thoughts), 10)
	}
	if u.CachedTokens > 0 {
		b = append(b, `,"cachedContentTokenCount":`...)
		b = strconv.AppendInt(b, int64(u.CachedTokens), 10)
	}
	return append(b, '}')
}

// finishReason maps a canonical finish reason to Gemini's: a function
// call ends with STOP on Gemini too.
func finishReason(r string) string {
	switch r {
	case "", "stop", "tool_calls":
		return "STOP"
	case "length":
		return "MAX_TOKENS"
	case "content_filter":
		return "SAFETY"
	}
	return "OTHER" // paused, max_iterations
}
