package wire

import "github.com/agentgate/agentgate/adapters"

// Emitter is the bookkeeping every provider does around emit. Start goes
// out once, before any other event, naming the upstream's model (else the
// requested one); an emit failure is remembered, so the caller never
// reports it as an upstream error; after Start, a failure is also emitted
// as an Error event. Providers embed it in their event builders.
type Emitter struct {
	emit       adapters.Emit
	reqModel   string
	model      string
	started    bool
	emitFailed bool
}

// NewEmitter returns an Emitter for a call that asked for reqModel.
func NewEmitter(emit adapters.Emit, reqModel string) Emitter {
	return Emitter{emit: emit, reqModel: reqModel}
}

// Started reports whether Start has been emitted.
func (e *Emitter) Started() bool { return e.started }

// EmitFailed reports whether emit has failed: the error to return is then
// emit's own, as it is.
func (e *Emitter) EmitFailed() bool { return e.emitFailed }

// Send emits ev, remembering a failure.
func (e *Emitter) Send(ev adapters.Event) error {
	if err := e.emit(ev); err != nil {
		e.emitFailed = true
		return err
	}
	return nil
}

// Start emits Start unless it has been: with model, or the requested model
// when the upstream named none.
func (e *Emitter) Start(model string) error {
	if e.started {
		return nil
	}
	e.started = true
	if model == "" {
		model = e.reqModel
	}
	e.model = model
	return e.Send(adapters.Event{Type: adapters.EventStart, Model: model})
}

// Fail reports err: after Start an *adapters.Error is also emitted as an
// Error event. Errors that are not *adapters.Error (the caller's context
// ending) are returned as they are.
func (e *Emitter) Fail(err error) error {
	ae, ok := err.(*adapters.Error)
	if !ok || !e.started || e.emitFailed {
		return err
	}
	if sendErr := e.Send(adapters.Event{Type: adapters.EventError, Err: ae}); sendErr != nil {
		return sendErr
	}
	return err
}

// Done emits Done with the model Start named and reason.
func (e *Emitter) Done(reason string) error { return e.DoneStop(reason, "") }

// DoneStop is Done naming the stop sequence that ended the answer.
func (e *Emitter) DoneStop(reason, stopSequence string) error {
	return e.Send(adapters.Event{Type: adapters.EventDone, Model: e.model, FinishReason: reason, StopSequence: stopSequence})
}

// EndStream finishes a stream that ended without a read error. A stream
// that never started is an error with nothing emitted, one that stopped
// before the answer was complete an Error event; otherwise end emits what
// is left (tool calls, usage, Done).
func (e *Emitter) EndStream(complete bool, status int, end func() error) error {
	if !e.started {
		return &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream returned an empty stream", UpstreamStatus: status}
	}
	if !complete {
		return e.Fail(&adapters.Error{Kind: adapters.KindUpstream, Message: "upstream stream ended before the answer was complete", UpstreamStatus: status})
	}
	return end()
}
