package anthropic

import (
	"context"
	"net/http"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/dialects"
	"github.com/agentgate/agentgate/exchange"
)

// messages serves POST /v1/messages.
func (d *Dialect) messages(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	if err := checkVersion(r); err != nil {
		return err
	}
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, err := decodeMessages(body, d.env.Limits, false)
	if err != nil {
		return err
	}
	ctx := r.Context()
	agent, err := d.resolve(ctx, p, req.model)
	if err != nil {
		return err
	}
	call := &req.call
	call.Principal, call.Dialect, call.Agent = p, Name, agent
	setRequestID(w)
	enc := newEncoder(adapters.NewID("msg_"), req.model, nil)
	if !call.Stream {
		if _, err := d.env.Engine.Run(ctx, x, call, enc.emit); err != nil {
			return err
		}
		dialects.WriteRawJSON(w, http.StatusOK, enc.appendMessage(nil))
		return nil
	}
	sse := dialects.NewSSE(w)
	enc.send = sse.Event
	k := startKeepalive(enc, d.pingInterval)
	// Deferred too: a panic in the run must not leave the pings writing
	// to a response the panic's recovery (caddymodule) has ended.
	defer k.stop()
	_, err = d.env.Engine.Run(ctx, x, call, k.emit)
	k.stop()
	if err != nil && !sse.Started() {
		return err
	}
	if err != nil {
		// After the stream began, a failure is an error event, which the
		// SDKs raise as the matching exception.
		_ = sse.Event("error", appendError(nil, adapters.AsError(err)))
	}
	return nil
}

// countTokens serves POST /v1/messages/count_tokens: the prompt's tokens
// as the model would get it (engine.CountTokens: the agent's system
// prompt, its session history and tools, the system, the messages and the
// client's tools), estimated by the gateway's tokenizer-free rule (four
// bytes a token) since not every upstream can count.
func (d *Dialect) countTokens(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) error {
	p := x.Principal
	if err := checkVersion(r); err != nil {
		return err
	}
	body, err := dialects.ReadBody(r, d.env.Limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	req, err := decodeMessages(body, d.env.Limits, true)
	if err != nil {
		return err
	}
	agent, err := d.resolve(r.Context(), p, req.model)
	if err != nil {
		return err
	}
	call := &req.call
	call.Principal, call.Dialect, call.Agent = p, Name, agent
	n, err := d.env.Engine.CountTokens(r.Context(), x, call)
	if err != nil {
		return err
	}
	setRequestID(w)
	dialects.WriteRawJSON(w, http.StatusOK, append(strconv.AppendInt([]byte(`{"input_tokens":`), int64(n), 10), '}'))
	return nil
}

// resolve finds what a request's model names: an agent's id or name or,
// failing that, a routed upstream model called directly (passthrough,
// within the tier's models allowlist), so existing Anthropic code works by
// changing only its base URL.
func (d *Dialect) resolve(ctx context.Context, p *adapters.Principal, model string) (*adapters.Agent, error) {
	agent, err := dialects.ResolveModel(ctx, d.env.Engine, p, model)
	if err != nil && adapters.AsError(err).Kind == adapters.KindNotFound {
		return nil, modelNotFound(model)
	}
	return agent, err
}

// modelNotFound is Anthropic's not_found_error for a model, in its
// wording.
func modelNotFound(model string) error {
	return &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
		Message: "model: " + model + " (not an agent or a routed model; GET /v1/models lists the agents)"}
}
