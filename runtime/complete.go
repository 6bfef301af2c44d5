package runtime

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// attempt is one try of one model call: what it produced so far.
type attempt struct {
	model, provider string
	text, thinking  strings.Builder
	// signature is the provider's signature of the thinking, if any.
	signature string
	toolCalls []adapters.ToolCall
	usage     adapters.Usage
	gotUsage  bool
	finish    string
	firstByte time.Duration
	// start is the provider's Start event, held back until the first
	// event with content so a failure before it can still be retried:
	// until then nothing of the answer has reached the client.
	start     *adapters.Event
	committed bool
	// emitErr is the error the client side returned: the client left.
	emitErr error
}

func (a *attempt) estimate(req *adapters.Request) adapters.Usage {
	return adapters.Usage{
		InputTokens:     EstimateRequestTokens(req),
		OutputTokens:    EstimateTokens(a.text.String()) + EstimateTokens(a.thinking.String()),
		ReasoningTokens: EstimateTokens(a.thinking.String()),
		Estimated:       true,
	}
}

// complete makes one model call for req with the candidates' models in
// order (the first, then fallbacks), retrying each per the retry policy
// while nothing has reached the client. Every attempt is accounted (usage
// record and meter). beforeDone runs when the answer is complete, before
// Done is forwarded.
func (rt *Runtime) complete(ctx context.Context, call *adapters.Call, req *adapters.Request, runID string,
	emit adapters.Emit, beforeDone func(*attempt) error) (*attempt, error) {
	started := rt.now()
	deadline := started.Add(rt.retry.Deadline)
	models := append([]string{call.Model}, call.Agent.Fallbacks...)
	if call.Model == "" {
		models[0] = call.Agent.Model
	}
	var (
		last    *attempt
		lastErr error
		n       int
	)
	for mi, model := range models {
		pinned := ""
		if mi == 0 {
			pinned = call.Agent.Provider
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
		for try := 0; ; try++ {
			a := &attempt{model: upstream, provider: provider}
			t0 := rt.now()
			err := rt.router.Provider(provider).Chat(ctx, &r, rt.forwarder(ctx, a, &r, t0, emit, beforeDone))
			id := runID
			if n > 0 {
				id = runID + "." + strconv.Itoa(n)
			}
			n++
			rt.accountAttempt(ctx, call, &r, a, id, runID, rt.now().Sub(t0), err)
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

// forwarder accumulates an attempt's events and passes them on, holding
// back Start until content follows and estimating usage the upstream did
// not report.
func (rt *Runtime) forwarder(ctx context.Context, a *attempt, req *adapters.Request, t0 time.Time,
	emit adapters.Emit, beforeDone func(*attempt) error) adapters.Emit {
	commit := func() error {
		if a.committed {
			return nil
		}
		a.committed = true
		if a.firstByte == 0 {
			a.firstByte = rt.now().Sub(t0)
		}
		if a.start != nil {
			return emit(*a.start)
		}
		return nil
	}
	emitTo := emit
	emit = func(ev adapters.Event) error {
		err := emitTo(ev)
		if err != nil && a.emitErr == nil {
			a.emitErr = err
		}
		return err
	}
	return func(ev adapters.Event) error {
		switch ev.Type {
		case adapters.EventStart:
			if ev.Model != "" {
				a.model = ev.Model
			}
			held := ev
			a.start = &held
			return nil
		case adapters.EventThinking:
			a.thinking.WriteString(ev.Text)
			if ev.Signature != "" {
				a.signature = ev.Signature
			}
		case adapters.EventDelta:
			a.text.WriteString(ev.Text)
		case adapters.EventToolCall:
			a.toolCalls = append(a.toolCalls, *ev.ToolCall)
		case adapters.EventUsage:
			a.gotUsage = true
			a.usage.Add(*ev.Usage)
		case adapters.EventDone:
			a.finish = ev.FinishReason
			if err := commit(); err != nil {
				return err
			}
			if !a.gotUsage {
				a.gotUsage = true
				a.usage = a.estimate(req)
				u := a.usage
				if err := emit(adapters.Event{Type: adapters.EventUsage, Usage: &u}); err != nil {
					return err
				}
			}
			if beforeDone != nil {
				if err := beforeDone(a); err != nil {
					return err
				}
			}
			return emit(ev)
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
