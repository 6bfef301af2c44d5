package runtime

import (
	"context"

	"github.com/agentgate/agentgate/adapters"
)

// CountTokens estimates the prompt tokens of call as its run would send
// them: the agent's system prompt, the session's history, the client's
// messages and every tool the model would be offered. It makes no model
// call and records no usage. Recalled memory and knowledge are left out:
// finding them costs an embedding call, and they depend on the answer's
// moment, not on the prompt alone.
func (rt *Runtime) CountTokens(ctx context.Context, call *adapters.Call) (int, error) {
	req, err := rt.buildRequest(ctx, call)
	if err != nil {
		return 0, err
	}
	methods, err := rt.runTools(call)
	if err != nil {
		return 0, err
	}
	req.Tools = appendTools(req.Tools, methods)
	n := EstimateRequestTokens(req)
	for i := range req.Tools {
		t := &req.Tools[i]
		n += EstimateTokens(t.Name) + EstimateTokens(t.Description) + EstimateTokens(string(t.Parameters))
	}
	return n, nil
}
