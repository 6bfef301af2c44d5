package engine

import (
	"context"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/toolloop"
)

// CountTokens estimates the prompt tokens of call as its run would send
// them: the agent's system prompt, the session's history, the client's
// messages and every tool the model would be offered. It makes no model
// call and records no usage. Recalled memory and knowledge are left out:
// finding them costs an embedding call, and they depend on the answer's
// moment, not on the prompt alone.
func (e *Engine) CountTokens(ctx context.Context, call *adapters.Call) (int, error) {
	req, err := e.buildRequest(ctx, call)
	if err != nil {
		return 0, err
	}
	methods, err := e.loop.Methods(call)
	if err != nil {
		return 0, err
	}
	req.Tools = toolloop.AppendTools(req.Tools, methods)
	n := models.EstimateRequestTokens(req)
	for i := range req.Tools {
		t := &req.Tools[i]
		n += models.EstimateTokens(t.Name) + models.EstimateTokens(t.Description) + models.EstimateTokens(string(t.Parameters))
	}
	return n, nil
}
