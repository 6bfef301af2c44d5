package engine

import (
	"context"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/toolloop"
	"github.com/agentgate/agentgate/exchange"
)

// CountTokens estimates the prompt tokens of call as its run would send
// them: the agent's system prompt, the session's history, the client's
// messages and every tool the model would be offered. It makes no model
// call and records no usage: admission takes x's request as one that
// calls no model (its request limits only). Recalled memory and
// knowledge are left out: finding them costs an embedding call, and they
// depend on the answer's moment, not on the prompt alone.
func (e *Engine) CountTokens(ctx context.Context, x *exchange.Exchange, call *adapters.Call) (int, error) {
	if err := x.Admit(ctx, exchange.Estimate{}); err != nil {
		return 0, err
	}
	req, err := e.buildRequest(ctx, call)
	if err != nil {
		return 0, err
	}
	methods, err := e.loop.Methods(call)
	if err != nil {
		return 0, err
	}
	req.Tools = toolloop.AppendTools(req.Tools, methods)
	return models.EstimatePrompt(req), nil
}
