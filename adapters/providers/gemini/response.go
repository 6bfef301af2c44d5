package gemini

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
	"google.golang.org/genai"
)

// maxToolCalls bounds the function calls of one answer.
const maxToolCalls = 256

// events turns Gemini responses (a whole one, or stream chunks) into
// canonical events. Gemini sends each function call whole: streaming, it
// goes out as one tool-call delta when its chunk arrives. The whole calls,
// usage and the finish reason wait for the end; the Emitter remembers emit
// failures so they are never reported as upstream errors.
type events struct {
	wire.Emitter
	newCallID func() string
	streaming bool
	status    int
	finish    genai.FinishReason
	usage     *genai.GenerateContentResponseUsageMetadata
	calls     []adapters.ToolCall
}

// response emits the events of a non-streamed answer.
func (s *events) response(resp *genai.GenerateContentResponse) error {
	if resp == nil || len(resp.Candidates) == 0 || resp.Candidates[0] == nil {
		if resp != nil {
			if err := s.blocked(resp.PromptFeedback); err != nil {
				return err
			}
		}
		return &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream returned no candidates", UpstreamStatus: s.status}
	}
	if err := s.chunk(resp); err != nil {
		return s.Fail(err)
	}
	return s.end()
}

// endStream finishes a stream that ended without an error. Gemini streams
// have no terminator: the finish reason is the only sign that the answer
// is complete.
func (s *events) endStream() error {
	return s.EndStream(s.finish != "", s.status, s.end)
}

// blocked is the error for a prompt Gemini refused to answer, or nil.
func (s *events) blocked(pf *genai.GenerateContentResponsePromptFeedback) *adapters.Error {
	if pf == nil || pf.BlockReason == "" || pf.BlockReason == genai.BlockedReasonUnspecified {
		return nil
	}
	msg := "the upstream's content filter blocked the prompt (" + string(pf.BlockReason) + ")"
	if pf.BlockReasonMessage != "" {
		msg += ": " + wire.Clip(pf.BlockReasonMessage)
	}
	return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "content_blocked", Message: msg, UpstreamStatus: s.status}
}

// chunk handles one response or stream chunk.
func (s *events) chunk(resp *genai.GenerateContentResponse) error {
	if resp == nil {
		return nil
	}
	if len(resp.Candidates) == 0 {
		if err := s.blocked(resp.PromptFeedback); err != nil {
			return err
		}
	}
	if err := s.Start(resp.ModelVersion); err != nil {
		return err
	}
	if resp.UsageMetadata != nil {
		// Every chunk carries the running totals; the last one counts.
		s.usage = resp.UsageMetadata
	}
	if len(resp.Candidates) == 0 || resp.Candidates[0] == nil {
		return nil
	}
	// Only the first candidate is relayed (candidateCount is never set).
	c := resp.Candidates[0]
	if c.Content != nil {
		for _, p := range c.Content.Parts {
			if p == nil {
				continue
			}
			if err := s.part(p); err != nil {
				return err
			}
		}
	}
	if c.FinishReason != "" && c.FinishReason != genai.FinishReasonUnspecified {
		s.finish = c.FinishReason
	}
	return nil
}

// part emits one content part: thoughts as Thinking, text as Delta, and
// function calls as a delta (streaming), kept whole for the end. A thought signature on a part that is
// not a thought or a call is surfaced as a Thinking event with no text, so
// the caller can keep it with the turn's reasoning.
func (s *events) part(p *genai.Part) error {
	var sig string
	if len(p.ThoughtSignature) > 0 {
		sig = base64.StdEncoding.EncodeToString(p.ThoughtSignature)
	}
	switch {
	case p.FunctionCall != nil:
		if len(s.calls) >= maxToolCalls {
			return nil
		}
		fc := p.FunctionCall
		if fc.Name == "" {
			// No client can run a call without a name: the answer is
			// unusable, as a MALFORMED_FUNCTION_CALL one is.
			return &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream sent a function call without a name", UpstreamStatus: s.status}
		}
		id := fc.ID
		if id == "" {
			id = s.newCallID()
		}
		args := "{}"
		if len(fc.Args) > 0 {
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(fc.Args); err != nil {
				return &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream sent undecodable function call arguments", UpstreamStatus: s.status}
			}
			args = strings.TrimSuffix(b.String(), "\n")
		}
		s.calls = append(s.calls, adapters.ToolCall{ID: id, Name: fc.Name, Arguments: args, Signature: sig})
		if s.streaming {
			return s.Send(adapters.Event{Type: adapters.EventToolCallDelta, ToolCall: &adapters.ToolCall{ID: id, Name: fc.Name, Arguments: args}})
		}
		return nil
	case p.Thought:
		if p.Text == "" && sig == "" {
			return nil
		}
		return s.Send(adapters.Event{Type: adapters.EventThinking, Text: p.Text, Signature: sig})
	}
	if sig != "" {
		if err := s.Send(adapters.Event{Type: adapters.EventThinking, Signature: sig}); err != nil {
			return err
		}
	}
	if p.Text != "" {
		return s.Send(adapters.Event{Type: adapters.EventDelta, Text: p.Text})
	}
	return nil
}

// end emits the function calls, the usage and Done, or fails the call when
// the model's function call was unusable.
func (s *events) end() error {
	if err := s.Start(""); err != nil {
		return err
	}
	reason, err := s.finishReason()
	if err != nil {
		return s.Fail(err)
	}
	for i := range s.calls {
		if err := s.Send(adapters.Event{Type: adapters.EventToolCall, ToolCall: &s.calls[i]}); err != nil {
			return err
		}
	}
	if u := s.usage; u != nil {
		usage := adapters.Usage{
			InputTokens:     int(u.PromptTokenCount) + int(u.ToolUsePromptTokenCount),
			OutputTokens:    int(u.CandidatesTokenCount) + int(u.ThoughtsTokenCount),
			ReasoningTokens: int(u.ThoughtsTokenCount),
			CachedTokens:    int(u.CachedContentTokenCount),
		}
		if err := s.Send(adapters.Event{Type: adapters.EventUsage, Usage: &usage}); err != nil {
			return err
		}
	}
	return s.Done(reason)
}

// finishReason normalises Gemini's finish reason to stop, length,
// tool_calls or content_filter. A function call Gemini could not produce
// properly, with no call to show for it, fails the call instead of ending
// it with an empty answer.
func (s *events) finishReason() (string, error) {
	switch s.finish {
	case genai.FinishReasonSafety, genai.FinishReasonRecitation, genai.FinishReasonProhibitedContent,
		genai.FinishReasonBlocklist, genai.FinishReasonSPII, genai.FinishReasonImageSafety,
		genai.FinishReasonImageProhibitedContent, genai.FinishReasonImageRecitation:
		return "content_filter", nil
	}
	if len(s.calls) > 0 {
		return "tool_calls", nil
	}
	switch s.finish {
	case genai.FinishReasonMaxTokens, genai.FinishReasonContinuation:
		return "length", nil
	case genai.FinishReasonMalformedFunctionCall, genai.FinishReasonUnexpectedToolCall, genai.FinishReasonTooManyToolCalls:
		return "", &adapters.Error{Kind: adapters.KindUpstream, Code: "invalid_function_call",
			Message: "upstream model produced an unusable function call (" + string(s.finish) + ")", UpstreamStatus: s.status}
	}
	return "stop", nil
}
