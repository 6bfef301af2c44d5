package runtime

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"go.uber.org/zap"
)

// attempt is one try of one model call: what it produced so far.
type attempt struct {
	model, provider string
	text, thinking  strings.Builder
	// signature is the provider's signature of the thinking, if any.
	signature string
	// redacted are the encrypted thoughts the provider sent.
	redacted  []string
	toolCalls []adapters.ToolCall
	usage     adapters.Usage
	gotUsage  bool
	finish    string
	firstByte time.Duration
	committed bool
	// emitErr is the error the client side returned: the client left.
	emitErr error
	// stopSequence is the stop sequence that ended the answer, if known.
	stopSequence string
}

func (a *attempt) estimate(req *adapters.Request) adapters.Usage {
	return adapters.Usage{
		InputTokens:     EstimateRequestTokens(req),
		OutputTokens:    EstimateTokens(a.text.String()) + EstimateTokens(a.thinking.String()),
		ReasoningTokens: EstimateTokens(a.thinking.String()),
		Estimated:       true,
	}
}

// message is the assistant message the attempt produced.
func (a *attempt) message() adapters.Message {
	m := adapters.TextMessage(adapters.RoleAssistant, a.text.String())
	m.Reasoning, m.ReasoningSignature, m.ToolCalls = a.thinking.String(), a.signature, a.toolCalls
	m.RedactedReasoning = a.redacted
	return m
}

// complete makes one model call for st's request with the candidates'
// models in order (the call's, then the agent's fallbacks), retrying each
// per the retry policy while nothing of this call has reached the client.
// Every attempt is accounted (usage record and meter). Usage and Done are
// not forwarded: the run emits them once, when it ends.
func (rt *Runtime) complete(ctx context.Context, st *runState) (*attempt, error) {
	call, req := st.call, st.req
	started := rt.now()
	deadline := started.Add(rt.retry.Deadline)
	models := append([]string{call.Model}, call.Agent.Fallbacks...)
	if call.Model == "" {
		models[0] = call.Agent.Model
	}
	var (
		last    *attempt
		lastErr error
	)
	for mi, model := range models {
		pinned := ""
		if mi == 0 {
			pinned = call.Agent.Provider
			// A request's model that the operator routed explicitly goes
			// where it is routed, not to the provider the agent's own
			// model is pinned to.
			if call.Model != "" && call.Model != call.Agent.Model {
				if _, _, routed := rt.router.Match(call.Model); routed {
					pinned = ""
				}
			}
		}
		provider, upstream, ok := rt.router.Resolve(model, pinned)
		if !ok {
			if mi == 0 {
				return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
					Message: "no provider serves model " + quote(model)}
			}
			continue
		}
		r := *req
		r.Model = upstream
		if err := rt.fitCapabilities(&r, model, call.Agent); err != nil {
			if mi == 0 {
				return nil, err
			}
			continue // a fallback that cannot take the request is no fallback
		}
		for try := 0; ; try++ {
			a := &attempt{model: upstream, provider: provider}
			t0 := rt.now()
			err := rt.router.Provider(provider).Chat(ctx, &r, rt.forwarder(a, st, t0))
			if err == nil && !a.gotUsage {
				a.usage, a.gotUsage = a.estimate(&r), true
			}
			id := st.res.RunID
			if st.attempts > 0 {
				id += "." + strconv.Itoa(st.attempts)
			}
			st.attempts++
			rt.accountAttempt(ctx, call, &r, a, id, st.res.RunID, rt.now().Sub(t0), err)
			if err == nil {
				return a, nil
			}
			last, lastErr = a, err
			if a.committed || ctx.Err() != nil || !retryable(err) {
				return a, err
			}
			if try >= rt.retry.Max {
				break
			}
			wait := rt.retry.wait(try, err)
			if rt.now().Add(wait).After(deadline) {
				break
			}
			if err := rt.sleep(ctx, wait); err != nil {
				return a, err
			}
		}
		if rt.now().After(deadline) {
			break
		}
	}
	return last, lastErr
}

// forwarder accumulates an attempt's events and passes its content on.
// The provider's Start goes out at once (once per run), so the client's
// first byte follows the upstream's; an attempt that sent anything to the
// client is committed and no longer retried.
func (rt *Runtime) forwarder(a *attempt, st *runState, t0 time.Time) adapters.Emit {
	emit := func(ev adapters.Event) error {
		err := st.emit(ev)
		if err != nil && a.emitErr == nil {
			a.emitErr = err
		}
		return err
	}
	commit := func() error {
		if a.firstByte == 0 {
			a.firstByte = rt.now().Sub(t0)
		}
		a.committed = true
		return nil
	}
	return func(ev adapters.Event) error {
		switch ev.Type {
		case adapters.EventStart:
			if ev.Model != "" {
				a.model = ev.Model
			}
			if st.startSent {
				return nil
			}
			st.startSent, a.committed = true, true
			return emit(ev)
		case adapters.EventThinking:
			a.thinking.WriteString(ev.Text)
			if ev.Signature != "" {
				a.signature = ev.Signature
			}
			if ev.Redacted != "" {
				a.redacted = append(a.redacted, ev.Redacted)
			}
		case adapters.EventDelta:
			a.text.WriteString(ev.Text)
		case adapters.EventToolCall:
			a.toolCalls = append(a.toolCalls, *ev.ToolCall)
			_, ev.Executed = st.methods[ev.ToolCall.Name]
		case adapters.EventUsage:
			a.gotUsage = true
			a.usage.Add(*ev.Usage)
			return nil
		case adapters.EventDone:
			a.finish, a.stopSequence = ev.FinishReason, ev.StopSequence
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

// fitCapabilities checks req against what model lacks: a clear 400, or,
// where the operator chose to drop, req without the missing input.
//
// An agent that bounds its reasoning steps (v2 reasoning_min_steps and
// reasoning_max_steps) reasons natively where the model can, and where it
// cannot, is asked for those steps explicitly in the system prompt.
func (rt *Runtime) fitCapabilities(req *adapters.Request, model string, agent *adapters.Agent) error {
	lacks := rt.router.Lacks(model)
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
			rt.log.Warn("dropping input the model cannot take", zap.String("model", model), zap.String("input", what))
			return nil
		}
		return &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "unsupported_" + param, Param: param,
			Message: "model " + quote(model) + " cannot take " + what}
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
