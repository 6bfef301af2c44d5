package engine

import (
	"context"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/exchange"
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
// explicitly and allowed by the tier of x's caller, for x's request,
// which it admits first (the inputs' tokens at model's prices).
func (e *Engine) Embed(ctx context.Context, x *exchange.Exchange, model string, inputs []string) ([][]float32, adapters.Usage, error) {
	p := x.Principal
	if _, _, ok := e.models.Router().Match(model); !ok {
		return nil, adapters.Usage{}, &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
			Message: "no provider serves embedding model " + adapters.Quote(model)}
	}
	if err := e.tiers.CheckModel(p, model); err != nil {
		return nil, adapters.Usage{}, err
	}
	if err := x.Admit(ctx, models.EstimateEmbedding(model, inputs)); err != nil {
		return nil, adapters.Usage{}, err
	}
	return e.models.Embed(ctx, &models.Embedding{Account: models.Account{Principal: p, Dialect: x.Dialect}, X: x, Model: model,
		Inputs: inputs, Direct: true})
}

// ListModels lists the upstream models p may call directly, as its tier
// allows (models.Models.List).
func (e *Engine) ListModels(ctx context.Context, p *adapters.Principal) ([]models.Model, error) {
	return e.models.List(ctx, e.allowsModel(p))
}

// Model returns the upstream model id if p may call it directly
// (models.Models.Get): a 404 model_not_found otherwise.
func (e *Engine) Model(ctx context.Context, p *adapters.Principal, id string) (*models.Model, error) {
	return e.models.Get(ctx, id, e.allowsModel(p))
}

// allowsModel returns whether p's tier lets it call a model directly.
func (e *Engine) allowsModel(p *adapters.Principal) func(string) bool {
	tier, ok := e.tiers.Get(p.Tier)
	if !ok {
		return func(string) bool { return true }
	}
	return tier.AllowsModel
}

// UpstreamFor returns the OpenAI-compatible upstream serving model for p:
// the model must be routed explicitly and allowed by p's tier (404 and
// 403 otherwise), and its provider must speak OpenAI's API (400 naming
// model otherwise).
func (e *Engine) UpstreamFor(p *adapters.Principal, model string) (*models.Upstream, error) {
	provider, upstream, ok := e.models.Router().Match(model)
	if !ok {
		return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
			Message: "The model " + adapters.Quote(model) + " does not exist or you do not have access to it: no route sends it upstream."}
	}
	if err := e.tiers.CheckModel(p, model); err != nil {
		return nil, err
	}
	return e.models.Forwarder(provider, model, upstream)
}
