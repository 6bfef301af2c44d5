package openai

import (
	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
	"github.com/agentgate/agentgate/internal/validjson"
	"github.com/tidwall/gjson"
)

// readResponse emits the events of a non-streamed chat completion. Any
// problem with the body is found before the first event, so it is returned
// as an *adapters.Error with nothing emitted.
func readResponse(body string, reqModel string, status int, emit adapters.Emit) error {
	doc, err := checkAnswer(body, status)
	if err != nil {
		return err
	}
	choice := doc.Get("choices.0")
	msg := choice.Get("message")

	s := events{Emitter: wire.NewEmitter(emit, reqModel)}
	if err := s.Start(doc.Get("model").String()); err != nil {
		return err
	}
	thinking := msg.Get("reasoning_content")
	if thinking.Type != gjson.String || thinking.Str == "" {
		thinking = msg.Get("reasoning")
	}
	if thinking.Type == gjson.String && thinking.Str != "" {
		if err := s.Send(adapters.Event{Type: adapters.EventThinking, Text: thinking.Str}); err != nil {
			return err
		}
	}
	if c := msg.Get("content"); c.Type == gjson.String && c.Str != "" {
		if err := s.Send(adapters.Event{Type: adapters.EventDelta, Text: c.Str}); err != nil {
			return err
		}
	} else if r := msg.Get("refusal"); r.Type == gjson.String && r.Str != "" {
		if err := s.Send(adapters.Event{Type: adapters.EventDelta, Text: r.Str}); err != nil {
			return err
		}
	}
	msg.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
		if !tc.IsObject() {
			return true
		}
		acc := toolAcc{index: len(s.calls), id: tc.Get("id").String(), name: tc.Get("function.name").String()}
		if args := tc.Get("function.arguments"); args.Type == gjson.String {
			acc.args = []byte(args.Str)
		} else if args.IsObject() {
			acc.args = []byte(args.Raw)
		}
		s.calls = append(s.calls, acc)
		return true
	})
	if u := doc.Get("usage"); u.IsObject() {
		s.usage, s.hasUsage = readUsage(u), true
	}
	s.finish = choice.Get("finish_reason").String()
	return s.end()
}

// checkAnswer parses a non-streamed chat completion, or returns the error
// it is: not JSON, an {"error":…} object, no choices.
func checkAnswer(body string, status int) (gjson.Result, error) {
	if !validjson.String(body) {
		return gjson.Result{}, &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream returned an invalid response", UpstreamStatus: status}
	}
	doc := gjson.Parse(body)
	if ev := doc.Get("error"); ev.Exists() && ev.Type != gjson.Null {
		return doc, upstreamError(ev, status)
	}
	if !doc.Get("choices.0").IsObject() {
		return doc, &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream returned no choices", UpstreamStatus: status}
	}
	return doc, nil
}
