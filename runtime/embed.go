package runtime

import (
	"context"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// Embed computes embeddings of inputs with model, routed like any model
// call, and accounts the usage to p.
func (rt *Runtime) Embed(ctx context.Context, p *adapters.Principal, dialect, model string, inputs []string) ([][]float32, adapters.Usage, error) {
	provider, upstream, ok := rt.router.Match(model)
	if !ok {
		return nil, adapters.Usage{}, &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
			Message: "no provider serves embedding model " + quote(model)}
	}
	if err := rt.checkModelAllowed(p, model); err != nil {
		return nil, adapters.Usage{}, err
	}
	emb, ok := rt.router.Provider(provider).(adapters.Embedder)
	if !ok {
		return nil, adapters.Usage{}, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "embeddings_not_supported", Param: "model",
			Message: "provider " + quote(provider) + " of model " + quote(model) + " does not compute embeddings"}
	}
	t0 := rt.now()
	vecs, usage, err := emb.Embed(ctx, upstream, inputs)
	at := rt.now()
	latency := at.Sub(t0)
	status := "ok"
	if err != nil {
		status = errorCode(ctx, err, nil)
	}
	cost := rt.cost(usage, 0, upstream)
	rt.recorder.Record(state.UsageRecord{
		ID: NewID("emb-"), Time: at, Tenant: p.Tenant, KeyID: p.KeyID, Dialect: dialect, Model: upstream,
		Provider: provider, InputTokens: usage.InputTokens, Estimated: usage.Estimated,
		LatencyMs: latency.Milliseconds(), Status: status, Cost: cost,
	})
	errCode := ""
	if err != nil {
		errCode = status
	}
	MeterFrom(ctx).recordCall("", upstream, provider, usage, cost, 0, latency, errCode, at)
	return vecs, usage, err
}
