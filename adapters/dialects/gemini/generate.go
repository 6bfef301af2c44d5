package gemini

import (
	"net/http"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
)

// generate serves :generateContent and :streamGenerateContent.
func (d *Dialect) generate(w http.ResponseWriter, r *http.Request, x *exchange.Exchange, model string, stream bool) error {
	p := x.Principal
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, err := decodeGenerate(body, d.env.Limits)
	if err != nil {
		return err
	}
	ctx := r.Context()
	agent, err := d.resolve(ctx, p, model)
	if err != nil {
		return err
	}
	call := &req.call
	call.Principal, call.Dialect, call.Agent, call.Stream = p, Name, agent, stream
	// The run's id is the responseId, so a response can be found in the
	// usage log; every chunk carries it, so it is chosen up front.
	call.RunID = adapters.NewID("run-")
	a := &answer{showThoughts: req.showThoughts, merge: !stream}

	if !stream {
		_, err := d.env.Engine.Run(ctx, x, call, func(ev adapters.Event) error {
			a.add(ev)
			return nil
		})
		if err != nil {
			return err
		}
		dialects.WriteRawJSON(w, http.StatusOK, a.appendResponse(nil, a.parts, true, call.RunID))
		return nil
	}
	var f framing = newArrayFraming(w)
	if sseRequested(r) {
		f = sseFraming{dialects.NewSSE(w)}
	}
	var buf []byte
	_, err = d.env.Engine.Run(ctx, x, call, func(ev adapters.Event) error {
		if ev.Type == adapters.EventStart {
			a.add(ev)
			return f.start() // headers go out with the upstream's first byte
		}
		if !a.add(ev) {
			return nil
		}
		ended := ev.Type == adapters.EventDone
		buf = a.appendResponse(buf[:0], a.parts, ended, call.RunID)
		a.parts = a.parts[:0]
		if err := f.chunk(buf); err != nil {
			return err
		}
		if ended {
			return f.end()
		}
		return nil
	})
	if err == nil {
		return nil
	}
	if !f.started() {
		return err
	}
	// After the stream began, a failure is its last element, which the
	// SDKs raise as an APIError, as Google's own streams do.
	if f.chunk(appendError(nil, adapters.AsError(err))) == nil {
		_ = f.end()
	}
	return nil
}
