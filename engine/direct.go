package engine

import (
	"context"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
)

// Calling a model directly, for clients that name an upstream model
// rather than an agent.

// Passthrough returns an ad-hoc agent that calls model directly, for
// OpenAI-compatible clients that name an upstream model rather than an
// agent: no system prompt, no tools, no memory. The model must be routed
// explicitly and allowed by p's tier.
func (e *Engine) Passthrough(p *adapters.Principal, model string) (*adapters.Agent, error) {
	if _, _, ok := e.models.Router().Match(model); !ok {
		return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
			Message: "model " + adapters.Quote(model) + " is neither an agent nor a routed model"}
	}
	if err := e.tiers.CheckModel(p, model); err != nil {
		return nil, err
	}
	return &adapters.Agent{Name: model, Model: model, Status: adapters.StatusActive}, nil
}

// Embed computes embeddings of inputs with model, which must be routed
// explicitly and allowed by p's tier, and accounts the usage to p.
func (e *Engine) Embed(ctx context.Context, p *adapters.Principal, dialect, model string, inputs []string) ([][]float32, adapters.Usage, error) {
	if _, _, ok := e.models.Router().Match(model); !ok {
		return nil, adapters.Usage{}, &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
			Message: "no provider serves embedding model " + adapters.Quote(model)}
	}
	if err := e.tiers.CheckModel(p, model); err != nil {
		return nil, adapters.Usage{}, err
	}
	return e.models.Embed(ctx, &models.Embedding{Account: models.Account{Principal: p, Dialect: dialect}, Model: model,
		Inputs: inputs, Direct: true})
}
