package engine

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/guard"
	"github.com/agentgate/agentgate/engine/knowledge"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/toolloop"
	"go.uber.org/zap"
)

// Guardrails are applied by the engine for every dialect:
//
//   - input: before any model call, the new messages and the history a
//     dialect keeps itself (every role but the assistant's) and a
//     request's system prompt are checked against the
//     deny rules (400 guardrail_blocked naming the rule), bounded by
//     max_input_chars, and redacted (PII, redaction rules) — the model
//     and the stored session see the redacted text only;
//   - output: the answer streams through a filter that redacts and checks
//     deny rules while holding back only the characters that may still
//     become part of a match, so streams stay streams; a deny match ends
//     the run with guardrail_blocked (param "output") before the matching
//     text reaches the client. The Result, the session and the next model
//     call of a tool loop get the same redacted text. A model's thinking
//     is redacted in the stream too (deny rules do not apply to it);
//   - output JSON schema: the answer is held until complete, validated,
//     sent back to the model once with the validation error when it does
//     not match, and the run fails with guardrail_output_invalid (502)
//     when the repaired answer does not match either. The answer emitted
//     and returned is the bare JSON (a Markdown fence around it dropped).

// guardCacheSize bounds the compiled guardrails an engine keeps: agents
// are read from the store per call, so compiled forms are found by
// content.
const guardCacheSize = 512

// ValidateGuardrails checks an agent's guardrails as a dialect or the
// configuration would set them: nil, or an invalid-request error naming
// the field at fault (guardrails.deny_patterns[0].pattern, …).
func ValidateGuardrails(g *adapters.Guardrails) error {
	if g == nil {
		return nil
	}
	_, err := compile(g)
	return err
}

// ValidateGuardrailsAndKnowledge checks an agent's guardrails and
// knowledge settings as a dialect would set them on an agent it creates
// or updates (the engine checks declared agents itself): nil, or a 400
// naming the field (guardrails.deny_patterns[0].pattern,
// knowledge.sources[1], knowledge.embedding_model, …).
func (e *Engine) ValidateGuardrailsAndKnowledge(a *adapters.Agent) error {
	return validateAgent(a, e.models.Router())
}

func validateAgent(a *adapters.Agent, router *models.Router) error {
	if err := ValidateGuardrails(a.Guardrails); err != nil {
		return err
	}
	return knowledge.Validate(a.Knowledge, router)
}

// compileGuard compiles g, once per distinct configuration.
func (e *Engine) compileGuard(g *adapters.Guardrails) (*guard.Guard, error) {
	if g == nil {
		return nil, nil
	}
	key, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	if c, ok := e.guards.Get(string(key)); ok {
		return c, nil
	}
	c, err := compile(g)
	if err != nil {
		return nil, err
	}
	e.guards.Add(string(key), c)
	return c, nil
}

// compile compiles g, naming the field at fault in a 400.
func compile(g *adapters.Guardrails) (*guard.Guard, error) {
	c, err := guard.Compile(g)
	if err != nil {
		var fe *guard.FieldError
		if errors.As(err, &fe) {
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "invalid_guardrails", Param: "guardrails." + fe.Field,
				Message: "guardrails." + fe.Error()}
		}
		return nil, err
	}
	return c, nil
}

// guardBlocked is the error of a deny rule's match.
func guardBlocked(rule, where string) *adapters.Error {
	return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "guardrail_blocked", Param: where,
		Message: "blocked by guardrail " + adapters.Quote(rule)}
}

// guardInput applies the agent's input rules to call: a copy with its
// messages redacted, or call itself when nothing changes.
func (e *Engine) guardInput(call *adapters.Call) (*adapters.Call, error) {
	g, err := e.compileGuard(call.Agent.Guardrails)
	if g == nil || err != nil {
		return call, err
	}
	if g.MaxInputChars > 0 {
		n := 0
		if call.SystemPrompt != nil {
			n += utf8.RuneCountInString(*call.SystemPrompt)
		}
		for i := range call.Messages {
			if call.Messages[i].Role != adapters.RoleAssistant {
				for _, p := range call.Messages[i].Parts {
					n += utf8.RuneCountInString(p.Text)
				}
			}
		}
		if n > g.MaxInputChars {
			return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "guardrail_blocked", Param: "input",
				Message: "blocked by guardrail 'max_input_chars': the input is " + strconv.Itoa(n) +
					" characters, more than the " + strconv.Itoa(g.MaxInputChars) + " allowed"}
		}
	}
	if g.Input == nil {
		return call, nil
	}
	var out *adapters.Call
	copied := func() *adapters.Call {
		if out == nil {
			c := *call
			out = &c
		}
		return out
	}
	if call.SystemPrompt != nil {
		red, denied := g.Input.Apply(*call.SystemPrompt)
		if denied != "" {
			return nil, guardBlocked(denied, "input")
		}
		if red != *call.SystemPrompt {
			copied().SystemPrompt = &red
		}
	}
	// The history a dialect keeps itself (a Responses conversation, whose
	// items a client may have written directly) is input the model is
	// sent as much as the new messages are (max_input_chars bounds the
	// request's own input only).
	hist, err := guardMessages(g.Input, call.History)
	if err != nil {
		return nil, err
	}
	if hist != nil {
		copied().History = hist
	}
	msgs, err := guardMessages(g.Input, call.Messages)
	if err != nil {
		return nil, err
	}
	if msgs != nil {
		copied().Messages = msgs
	}
	if out == nil {
		return call, nil
	}
	return out, nil
}

// guardMessages applies the input rules r to the text of msgs, every
// role's but the assistant's: a redacted copy, or nil when nothing
// changes.
func guardMessages(r *guard.Rules, msgs []adapters.Message) ([]adapters.Message, error) {
	var out []adapters.Message
	for i := range msgs {
		m := &msgs[i]
		if m.Role == adapters.RoleAssistant {
			continue
		}
		var parts []adapters.Part
		for j, p := range m.Parts {
			if p.Type != adapters.PartText || p.Text == "" {
				continue
			}
			red, denied := r.Apply(p.Text)
			if denied != "" {
				return nil, guardBlocked(denied, "input")
			}
			if red == p.Text {
				continue
			}
			if parts == nil {
				parts = slices.Clone(m.Parts)
			}
			parts[j].Text = red
		}
		if parts != nil {
			if out == nil {
				out = slices.Clone(msgs)
			}
			out[i].Parts = parts
		}
	}
	return out, nil
}

// RedactInput is call's new messages as its agent's input guardrails
// let the model see them (what a dialect may store of a request): the
// messages themselves when nothing changes, an error when a rule denies
// them.
func (e *Engine) RedactInput(call *adapters.Call) ([]adapters.Message, error) {
	g, err := e.compileGuard(call.Agent.Guardrails)
	if g == nil || g.Input == nil || err != nil {
		return call.Messages, err
	}
	msgs, err := guardMessages(g.Input, call.Messages)
	if msgs == nil && err == nil {
		return call.Messages, nil
	}
	return msgs, err
}

// schemaInstruction asks for JSON matching the agent's output schema; it
// ends the system prompt of agents that require one.
func schemaInstruction(schema string) string {
	return "Answer with only a JSON value, without any other text or code fences, that matches this JSON Schema:\n" + schema
}

// outputGuard filters the client-bound events of a run: answer text and
// thinking through stream filters, the answer held whole when it must be
// validated JSON. It is the run's toolloop.Checker.
type outputGuard struct {
	models         *models.Models
	log            *zap.Logger
	g              *guard.Guard
	next           adapters.Emit
	text, thinking *guard.Stream
	// blocks follows the thinking blocks of the model call's answer as
	// its models.Answer does (Check starts each call's afresh).
	blocks models.ThinkingBlocks
	// holdJSON holds the answer's text until it is validated.
	holdJSON bool
	held     strings.Builder
	// blocked is the error of a deny rule the answer matched.
	blocked error
	mu      sync.Mutex
}

// guardStream puts the agent's output rules between st's run and its
// client, and returns the check of its answers (nil when it has none).
func (e *Engine) guardStream(st *toolloop.State) (toolloop.Checker, error) {
	g, err := e.compileGuard(st.Call.Agent.Guardrails)
	if g == nil || err != nil {
		return nil, err
	}
	if g.Output == nil && g.Schema == nil {
		return nil, nil
	}
	og := &outputGuard{models: e.models, log: e.log, g: g, next: st.Model.Emit, text: guard.NewStream(g.Output),
		thinking: guard.NewStream(g.OutputRedact), holdJSON: g.Schema != nil}
	st.Model.Emit = og.emit
	return og, nil
}

func (o *outputGuard) emit(ev adapters.Event) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.blocked != nil {
		return o.blocked
	}
	switch ev.Type {
	case adapters.EventStart:
		return o.next(ev)
	case adapters.EventThinking:
		if o.blocks.Starts(&ev) && !o.holdJSON {
			// A thinking block ends the text before it (the answer's
			// text part): what the filter holds back of it goes out
			// first, in its own block. Thoughts that continue a block do
			// not: the answer redacts the text around them as one.
			if err := o.writeText("", true); err != nil {
				return err
			}
		}
		if ev.Redacted != "" {
			// A block of its own: the thinking before it ends first.
			if err := o.endThinking(); err != nil {
				return err
			}
		}
		out, _ := o.thinking.Write(ev.Text)
		if ev.Signature != "" {
			// The signature ends its block: what the filter holds back
			// is this block's, not the next one's.
			rest, _ := o.thinking.Flush()
			out += rest
		}
		if out == "" && ev.Signature == "" && ev.Redacted == "" {
			return nil
		}
		ev.Text = out
		return o.next(ev)
	case adapters.EventDelta:
		if err := o.endThinking(); err != nil {
			return err
		}
		if o.holdJSON {
			o.held.WriteString(ev.Text)
			return nil
		}
		return o.writeText(ev.Text, false)
	case adapters.EventError:
		// What is held back may be the start of a secret: drop it.
		o.text.Reset()
		o.thinking.Reset()
		o.held.Reset()
		return o.next(ev)
	default: // tool calls and their deltas, usage, paused, done: the text so far is whole
		if err := o.endThinking(); err != nil {
			return err
		}
		if o.held.Len() > 0 {
			held := o.held.String()
			o.held.Reset()
			if err := o.writeText(held, false); err != nil {
				return err
			}
		}
		if err := o.writeText("", true); err != nil {
			return err
		}
		return o.next(ev)
	}
}

// writeText passes text through the answer's filter (flushing it when
// final) and emits what it lets out.
func (o *outputGuard) writeText(text string, final bool) error {
	var out, denied string
	if final {
		out, denied = o.text.Flush()
	} else {
		out, denied = o.text.Write(text)
	}
	if denied != "" {
		o.blocked = guardBlocked(denied, "output")
		return o.blocked
	}
	if out == "" {
		return nil
	}
	return o.next(adapters.Event{Type: adapters.EventDelta, Text: out})
}

func (o *outputGuard) endThinking() error {
	if out, _ := o.thinking.Flush(); out != "" {
		return o.next(adapters.Event{Type: adapters.EventThinking, Text: out})
	}
	return nil
}

// err is the deny error the stream hit, if any.
func (o *outputGuard) err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.blocked
}

// release emits a validated answer held back whole.
func (o *outputGuard) release(text string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.held.Reset()
	if text == "" {
		return nil
	}
	return o.next(adapters.Event{Type: adapters.EventDelta, Text: text})
}

// discard drops an answer held back whole.
func (o *outputGuard) discard() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.held.Reset()
}

// filterAnswer applies the output rules to what an answer keeps (its
// text and, unless signed for replay, its thinking), as the stream did.
func (o *outputGuard) filterAnswer(a *models.Answer) error {
	if _, denied := o.g.Output.Apply(a.Text.String()); denied != "" {
		return guardBlocked(denied, "output")
	}
	// Part by part: the text between thinking blocks stays between them.
	a.EditText(func(text string) string {
		out, _ := o.g.Output.Apply(text)
		return out
	})
	if a.Signature == "" && o.g.OutputRedact != nil {
		a.EditThinking(func(thinking string) string {
			out, _ := o.g.OutputRedact.Apply(thinking)
			return out
		})
	}
	return nil
}

// nextAnswer starts following the thinking blocks of the next model
// call's answer.
func (o *outputGuard) nextAnswer() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.blocks = models.ThinkingBlocks{}
}

// Check applies the output rules to a model call's result: the deny
// error its stream hit, the redaction of what the run keeps, and for a
// final answer the JSON schema, with one repair call.
func (og *outputGuard) Check(ctx context.Context, st *toolloop.State, a *models.Answer, err error) (*models.Answer, error) {
	og.nextAnswer()
	if berr := og.err(); berr != nil {
		return a, berr
	}
	if err != nil || a == nil {
		return a, err
	}
	if err := og.filterAnswer(a); err != nil {
		return a, err
	}
	if og.g.Schema == nil || len(a.ToolCalls) > 0 {
		return a, nil
	}
	doc, verr := og.g.CheckJSON(a.Text.String())
	if verr == nil {
		a.SetText(doc)
		return a, og.release(doc)
	}
	og.log.Debug("answer does not match the output schema; asking for a repair")
	og.discard()
	msgs := st.Request.Messages
	st.Request.Messages = append(slices.Clip(msgs), a.Message(), adapters.TextMessage(adapters.RoleUser,
		"Your answer does not match the required JSON Schema: "+verr.Error()+
			". Answer again with only the corrected JSON value, without any other text."))
	a2, err := og.models.Complete(ctx, st.Model, st.Request)
	og.nextAnswer()
	st.Request.Messages = msgs
	if a2 == nil {
		return a, err
	}
	a2.Usage.Add(a.Usage)
	if berr := og.err(); berr != nil {
		return a2, berr
	}
	if err != nil {
		return a2, err
	}
	if err := og.filterAnswer(a2); err != nil {
		return a2, err
	}
	if len(a2.ToolCalls) > 0 {
		return a2, nil // the loop runs them; the next answer is checked again
	}
	doc, verr = og.g.CheckJSON(a2.Text.String())
	if verr != nil {
		og.discard()
		return a2, &adapters.Error{Kind: adapters.KindUpstream, Code: "guardrail_output_invalid", Param: "output",
			Message: "the model's answer does not match the agent's output JSON schema after one repair attempt: " + verr.Error()}
	}
	a2.SetText(doc)
	return a2, og.release(doc)
}
