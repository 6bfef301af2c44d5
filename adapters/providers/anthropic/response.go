package anthropic

import (
	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
	"github.com/agentgate/agentgate/internal/validjson"
	"github.com/tidwall/gjson"
)

// readResponse emits the events of a non-streamed Messages API answer.
// Any problem with the body is found before the first event, so it is
// returned as an *adapters.Error with nothing emitted.
//
// Each thinking block gives one Thinking event holding both its text and
// its signature; text blocks give Delta events and tool_use blocks
// ToolCall events, in content order.
func readResponse(body string, reqModel string, status int, emit adapters.Emit) error {
	if !validjson.String(body) {
		return &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream returned an invalid response", UpstreamStatus: status}
	}
	doc := gjson.Parse(body)
	if !doc.IsObject() {
		return &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream returned an invalid response", UpstreamStatus: status}
	}
	if doc.Get("type").Str == "error" || doc.Get("error").IsObject() {
		return streamError(doc.Get("error"), status)
	}
	content := doc.Get("content")
	if !content.IsArray() {
		return &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream returned no content", UpstreamStatus: status}
	}

	s := events{Emitter: wire.NewEmitter(emit, reqModel)}
	if err := s.Start(doc.Get("model").String()); err != nil {
		return err
	}
	var err error
	content.ForEach(func(_, cb gjson.Result) bool {
		if !cb.IsObject() {
			return true
		}
		switch cb.Get("type").String() {
		case blockText:
			if t := cb.Get("text"); t.Type == gjson.String && t.Str != "" {
				err = s.Send(adapters.Event{Type: adapters.EventDelta, Text: t.Str})
			}
		case blockThinking:
			t, sig := cb.Get("thinking").String(), cb.Get("signature").String()
			if t != "" || sig != "" {
				err = s.Send(adapters.Event{Type: adapters.EventThinking, Text: t, Signature: sig})
			}
		case blockRedacted:
			if d := cb.Get("data").String(); d != "" {
				err = s.Send(adapters.Event{Type: adapters.EventThinking, Redacted: d})
			}
		case blockToolUse:
			args := compactObject(cb.Get("input"))
			if args == "" {
				args = "{}"
			}
			s.calls++
			err = s.Send(adapters.Event{Type: adapters.EventToolCall, ToolCall: &adapters.ToolCall{
				ID: cb.Get("id").String(), Name: cb.Get("name").String(), Arguments: args}})
		}
		return err == nil
	})
	if err != nil {
		return err
	}
	s.readUsage(doc.Get("usage"))
	s.stopReason = doc.Get("stop_reason").String()
	s.stopSequence = doc.Get("stop_sequence").String()
	return s.end()
}
