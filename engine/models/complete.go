package models

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/exchange"
)

// Answer is what one attempt of a model call produced so far; Complete
// returns the attempt that answered (or the last that failed).
type Answer struct {
	// Model is the upstream model that answered; Provider the provider
	// instance it was routed to.
	Model, Provider string
	Text, Thinking  strings.Builder
	// Signature is the provider's signature of the thinking, if any.
	Signature string
	ToolCalls []adapters.ToolCall
	Usage     adapters.Usage
	// Finish is the finish reason the upstream gave; StopSequence the
	// stop sequence that ended the answer, when the upstream says which.
	Finish       string
	StopSequence string
	// Redacted are the encrypted thoughts the provider sent.
	Redacted []string
	// thoughts are the thinking blocks one by one, in their places
	// (Message.SetReasoning); blocks tells whether the last one is still
	// taking text.
	thoughts []thought
	blocks   ThinkingBlocks
	// cuts are where Text splits into the message's text parts: a
	// thinking block after text ends the text part before it, so the
	// blocks replay between the texts they came between.
	cuts      []int
	gotUsage  bool
	firstByte time.Duration
	committed bool
	// emitErr is the error the client side returned: the client left.
	emitErr error
	// executedDeltas tells, by call id, whether the tool calls whose
	// deltas this attempt forwarded are the run's own (Executed).
	executedDeltas map[string]bool
}

func (a *Answer) estimate(req *adapters.Request) adapters.Usage {
	return adapters.Usage{
		InputTokens:     EstimateRequestTokens(req),
		OutputTokens:    EstimateTokens(a.Text.String()) + EstimateTokens(a.Thinking.String()),
		ReasoningTokens: EstimateTokens(a.Thinking.String()),
		Estimated:       true,
	}
}

// Message is the assistant message the answer makes.
func (a *Answer) Message() adapters.Message {
	m := adapters.TextMessage(adapters.RoleAssistant, a.Text.String())
	m.ToolCalls = a.ToolCalls
	if a.Signature == "" && len(a.Redacted) == 0 {
		// Unsigned thoughts are replayed whole or not at all.
		m.Reasoning = a.Thinking.String()
		return m
	}
	// Signed and redacted blocks are replayed one by one, each in its
	// place among the text parts and calls.
	m.Parts = a.textParts()
	all := a.Thinking.String()
	blocks := make([]adapters.ReasoningBlock, len(a.thoughts))
	for i := range a.thoughts {
		t := &a.thoughts[i]
		blocks[i] = t.block
		blocks[i].Text = all[t.start:t.end]
	}
	m.SetReasoning(blocks)
	return m
}

// textParts are the answer's text parts, Text cut where thinking blocks
// came between them; one part, maybe empty, without cuts (TextMessage).
func (a *Answer) textParts() []adapters.Part {
	text := a.Text.String()
	parts := make([]adapters.Part, 0, len(a.cuts)+1)
	from := 0
	for _, cut := range a.cuts {
		parts = append(parts, adapters.Part{Type: adapters.PartText, Text: text[from:cut]})
		from = cut
	}
	if from < len(text) || len(parts) == 0 {
		parts = append(parts, adapters.Part{Type: adapters.PartText, Text: text[from:]})
	}
	return parts
}

// EditText rewrites the answer's text part by part (the parts its
// thinking blocks cut it into, see textParts), keeping the cuts between
// the rewritten parts.
func (a *Answer) EditText(edit func(string) string) {
	parts := a.textParts()
	var b strings.Builder
	cuts := a.cuts[:0]
	for i := range parts {
		b.WriteString(edit(parts[i].Text))
		if i < len(a.cuts) {
			cuts = append(cuts, b.Len())
		}
	}
	a.Text, a.cuts = b, cuts
}

// SetText replaces the answer's text with s, one text part. The part
// goes after the thinking blocks that came among the old text: the
// output guard sets the text of an answer it held back whole, and
// releases it after the thinking that streamed meanwhile, so the message
// keeps the order the client saw. Blocks after tool calls stay after
// them.
func (a *Answer) SetText(s string) {
	parts := len(a.textParts())
	for i := range a.thoughts {
		if b := &a.thoughts[i].block; b.At <= parts {
			b.At = 0
		} else {
			b.At -= parts - 1
		}
	}
	a.Text.Reset()
	a.Text.WriteString(s)
	a.cuts = nil
}

// EditThinking rewrites the answer's thoughts block by block, keeping
// each block's text its own.
func (a *Answer) EditThinking(edit func(string) string) {
	all := a.Thinking.String()
	var b strings.Builder
	for i := range a.thoughts {
		if t := &a.thoughts[i]; t.block.Redacted == "" {
			text := edit(all[t.start:t.end])
			t.start = b.Len()
			b.WriteString(text)
			t.end = b.Len()
		}
	}
	a.Thinking = b
}

// thought is one thinking block of an answer; its text is
// Thinking[start:end].
type thought struct {
	block      adapters.ReasoningBlock
	start, end int
}

// ThinkingBlocks follows where a stream's Thinking events start thinking
// blocks: a redacted block is one of its own; thoughts and a signature
// continue the open block of thoughts or start one, and a signature ends
// it. Answer keeps its blocks so; the output guard follows the same
// events with one of its own, so that the text it holds back ends where
// the answer's text parts do.
type ThinkingBlocks struct{ open bool }

// Starts reports whether Thinking event ev starts a block, and follows
// it.
func (b *ThinkingBlocks) Starts(ev *adapters.Event) bool {
	thoughts := ev.Text != "" || ev.Signature != ""
	starts := ev.Redacted != "" || thoughts && !b.open
	if ev.Redacted != "" {
		b.open = false
	}
	if thoughts {
		b.open = ev.Signature == ""
	}
	return starts
}

// think records a Thinking event: its text continues the open thinking
// block or starts one, its signature ends it, and a redacted block is one
// of its own. A block that starts after text cuts the text there; its
// place counts the text parts before it (at least the message's one, once
// text or a call came) and the calls.
func (a *Answer) think(ev *adapters.Event) {
	continues := a.blocks.open && ev.Redacted == ""
	if n := a.Text.Len(); a.blocks.Starts(ev) && n > 0 && (len(a.cuts) == 0 || a.cuts[len(a.cuts)-1] < n) {
		a.cuts = append(a.cuts, n)
	}
	at := 0
	if a.Text.Len() > 0 || len(a.ToolCalls) > 0 {
		at = max(len(a.cuts), 1) + len(a.ToolCalls)
	}
	if ev.Redacted != "" {
		a.Redacted = append(a.Redacted, ev.Redacted)
		a.thoughts = append(a.thoughts, thought{block: adapters.ReasoningBlock{Redacted: ev.Redacted, At: at}})
	}
	if ev.Text == "" && ev.Signature == "" {
		return
	}
	if !continues {
		n := a.Thinking.Len()
		a.thoughts = append(a.thoughts, thought{block: adapters.ReasoningBlock{At: at}, start: n, end: n})
	}
	t := &a.thoughts[len(a.thoughts)-1]
	a.Thinking.WriteString(ev.Text)
	t.end = a.Thinking.Len()
	if ev.Signature != "" {
		a.Signature, t.block.Signature = ev.Signature, ev.Signature
	}
}

// Run is what the model calls of one agent run share: the call they
// serve, the exchange of the request they are made for, where their
// events go, whether the run's Start went out, and how many attempts the
// run made (their usage records are the run's id, then id.1, id.2, …).
type Run struct {
	Call *adapters.Call
	// X is the request's exchange: every attempt is accounted there.
	X *exchange.Exchange
	// ID is the run's id.
	ID string
	// Emit receives the events the client sees.
	Emit adapters.Emit
	// Executes reports whether the run executes tool name itself: its
	// calls are marked Executed, so clients observe them and do not run
	// them. Nil means none.
	Executes func(name string) bool
	started  bool
	attempts int
}

// Start emits the run's Start unless a model call did (an empty answer,
// a cancelled run).
func (r *Run) Start(model string) error {
	if r.started {
		return nil
	}
	r.started = true
	return r.Emit(adapters.Event{Type: adapters.EventStart, Model: model})
}

func (r *Run) executes(name string) bool { return r.Executes != nil && r.Executes(name) }

// Complete makes one model call of run r with req, trying the
// candidates' models in order (the call's, then the agent's fallbacks),
// retrying each per the retry policy while nothing of this call has
// reached the client. Every attempt is reported (report.go).
// Usage and Done are not forwarded: the run emits them once, when it
// ends. A traced call is a span with one below it per attempt
// (tracing.go).
func (m *Models) Complete(ctx context.Context, r *Run, req *adapters.Request) (answer *Answer, err error) {
	call := r.Call
	started := m.now()
	deadline := started.Add(m.retry.Deadline)
	// On the stack unless the agent has fallbacks.
	var first [1]string
	models := append(append(first[:0], call.Model), call.Agent.Fallbacks...)
	if call.Model == "" {
		models[0] = call.Agent.Model
	}
	var (
		last          *Answer
		lastErr       error
		attempts      int
		providerAttrs []attribute.KeyValue
	)
	ctx, span := startChat(ctx, models[0], req)
	defer func() { endChat(ctx, span, answer, attempts, providerAttrs, err) }()
	for mi, model := range models {
		pinned := ""
		if mi == 0 {
			pinned = call.Agent.Provider
			// A request's model that the operator routed explicitly goes
			// where it is routed, not to the provider the agent's own
			// model is pinned to.
			if call.Model != "" && call.Model != call.Agent.Model {
				if _, _, routed := m.router.Match(call.Model); routed {
					pinned = ""
				}
			}
		}
		provider, upstream, ok := m.router.Resolve(model, pinned)
		if !ok {
			if mi == 0 {
				return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
					Message: "no provider serves model " + adapters.Quote(model)}
			}
			continue
		}
		fitted := *req
		fitted.Model = upstream
		if err := m.fitCapabilities(&fitted, model, call.Agent); err != nil {
			if mi == 0 {
				return nil, err
			}
			continue // a fallback that cannot take the request is no fallback
		}
		p := m.router.Provider(provider)
		if span.IsRecording() {
			providerAttrs = m.traceAttrs[provider]
		}
		for try := 0; ; try++ {
			a := &Answer{Model: upstream, Provider: provider}
			attempts++
			actx, aspan := startAttempt(ctx, provider, upstream, attempts, providerAttrs)
			t0 := m.now()
			err := p.Chat(actx, &fitted, m.forwarder(a, r, t0))
			if err == nil && !a.gotUsage {
				a.Usage, a.gotUsage = a.estimate(&fitted), true
			}
			endAttempt(aspan, a, err)
			id := r.ID
			if r.attempts > 0 {
				id += "." + strconv.Itoa(r.attempts)
			}
			r.attempts++
			m.reportAttempt(ctx, r, &fitted, a, id, m.now().Sub(t0), err)
			if err == nil {
				return a, nil
			}
			last, lastErr = a, err
			if a.committed || ctx.Err() != nil || !retryable(err) {
				return a, err
			}
			if try >= m.retry.Max {
				break
			}
			wait := m.retry.wait(try, err)
			if m.now().Add(wait).After(deadline) {
				break
			}
			if err := m.sleep(ctx, wait); err != nil {
				return a, err
			}
		}
		if m.now().After(deadline) {
			break
		}
	}
	return last, lastErr
}

// forwarder accumulates an attempt's events and passes its content on.
// The provider's Start goes out at once (once per run), so the client's
// first byte follows the upstream's; an attempt that sent anything to the
// client is committed and no longer retried. Tool-call deltas go out as
// they arrive; the run's loop works on the whole calls that follow them.
func (m *Models) forwarder(a *Answer, r *Run, t0 time.Time) adapters.Emit {
	emit := func(ev adapters.Event) error {
		err := r.Emit(ev)
		if err != nil && a.emitErr == nil {
			a.emitErr = err
		}
		return err
	}
	commit := func() error {
		if a.firstByte == 0 {
			a.firstByte = m.now().Sub(t0)
		}
		a.committed = true
		return nil
	}
	return func(ev adapters.Event) error {
		switch ev.Type {
		case adapters.EventStart:
			if ev.Model != "" {
				a.Model = ev.Model
			}
			if r.started {
				return nil
			}
			r.started, a.committed = true, true
			return emit(ev)
		case adapters.EventThinking:
			a.think(&ev)
		case adapters.EventDelta:
			a.Text.WriteString(ev.Text)
		case adapters.EventToolCallDelta:
			// The call's first delta names it; later ones only continue it.
			executed, seen := a.executedDeltas[ev.ToolCall.ID]
			if !seen {
				executed = r.executes(ev.ToolCall.Name)
				if a.executedDeltas == nil {
					a.executedDeltas = map[string]bool{}
				}
				a.executedDeltas[ev.ToolCall.ID] = executed
			}
			ev.Executed = executed
		case adapters.EventToolCall:
			a.ToolCalls = append(a.ToolCalls, *ev.ToolCall)
			ev.Executed = r.executes(ev.ToolCall.Name)
		case adapters.EventUsage:
			a.gotUsage = true
			a.Usage.Add(*ev.Usage)
			return nil
		case adapters.EventDone:
			a.Finish, a.StopSequence = ev.FinishReason, ev.StopSequence
			return nil
		case adapters.EventError:
			if !a.committed {
				return nil // the error is returned too; it may yet be retried
			}
		}
		if err := commit(); err != nil {
			return err
		}
		return emit(ev)
	}
}

// reportAttempt reports the usage of one attempt of run r. A failed
// attempt that produced output is billed for it (the client saw it, or
// left while it streamed); one that failed before producing anything
// costs nothing.
func (m *Models) reportAttempt(ctx context.Context, r *Run, req *adapters.Request, a *Answer, id string, latency time.Duration, err error) {
	if err != nil && !a.gotUsage && (a.Text.Len() > 0 || a.Thinking.Len() > 0) {
		a.Usage = a.estimate(req)
	}
	call := r.Call
	parent := call.ParentRunID
	if id != r.ID {
		parent = r.ID
	}
	m.report(ctx, r.X, &report{
		Account: Account{Principal: call.Principal, Dialect: call.Dialect, AgentID: call.Agent.ID, SessionID: call.SessionID, ParentID: parent},
		id:      id, model: a.Model, provider: a.Provider, usage: a.Usage, firstByte: a.firstByte, latency: latency,
		at: m.now(), err: err, emitErr: a.emitErr, asked: req.Model, images: imagesIn(req.Messages),
	})
}

// fitCapabilities checks req against what model lacks: a clear 400, or,
// where the operator chose to drop, req without the missing input.
//
// An agent that bounds its reasoning steps (v2 reasoning_min_steps and
// reasoning_max_steps) reasons natively where the model can, and where it
// cannot, is asked for those steps explicitly in the system prompt.
func (m *Models) fitCapabilities(req *adapters.Request, model string, agent *adapters.Agent) error {
	lacks := m.router.Lacks(model)
	if lacks.Reasoning && req.Reasoning != nil && (agent.ReasoningMinSteps > 0 || agent.ReasoningMaxSteps > 0) {
		req.Reasoning = nil
		instr := ReasoningStepsInstruction(agent.ReasoningMinSteps, agent.ReasoningMaxSteps)
		if req.System != "" {
			instr = req.System + "\n\n" + instr
		}
		req.System = instr
	}
	if !lacks.Images && !lacks.Tools && !lacks.Reasoning && !lacks.Documents {
		return nil
	}
	refuse := func(what, param string) error {
		if lacks.Drop {
			m.log.Warn("dropping input the model cannot take", zap.String("model", model), zap.String("input", what))
			return nil
		}
		return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "unsupported_" + param, Param: param,
			Message: "model " + adapters.Quote(model) + " cannot take " + what}
	}
	if lacks.Images && hasImages(req.Messages) {
		if err := refuse("images", "images"); err != nil {
			return err
		}
		req.Messages = without(req.Messages, adapters.PartImage)
	}
	if lacks.Documents && hasDocuments(req.Messages) {
		if err := refuse("documents", "documents"); err != nil {
			return err
		}
		req.Messages = without(req.Messages, adapters.PartDocument)
	}
	if lacks.Tools && len(req.Tools) > 0 {
		if err := refuse("tools", "tools"); err != nil {
			return err
		}
		req.Tools, req.ToolChoice = nil, nil
	}
	if lacks.Reasoning && req.Reasoning != nil {
		if err := refuse("reasoning", "reasoning"); err != nil {
			return err
		}
		req.Reasoning = nil
	}
	return nil
}

func hasImages(msgs []adapters.Message) bool {
	for i := range msgs {
		if msgs[i].HasImages() {
			return true
		}
	}
	return false
}

func hasDocuments(msgs []adapters.Message) bool {
	for i := range msgs {
		if msgs[i].HasDocuments() {
			return true
		}
	}
	return false
}

// without copies msgs without their parts of type t.
func without(msgs []adapters.Message, t adapters.PartType) []adapters.Message {
	out := make([]adapters.Message, len(msgs))
	for i, m := range msgs {
		if slices.ContainsFunc(m.Parts, func(p adapters.Part) bool { return p.Type == t }) {
			parts := make([]adapters.Part, 0, len(m.Parts))
			for _, p := range m.Parts {
				if p.Type != t {
					parts = append(parts, p)
				}
			}
			m.Parts = parts
		}
		out[i] = m
	}
	return out
}
