package models

import (
	"context"
	"strconv"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/tracing"
)

// Embedding is one embedding call: its inputs, the model, and on whose
// behalf it is made.
type Embedding struct {
	Account
	Model  string
	Inputs []string
	// Direct marks a model the client named (the embeddings API): it must
	// be routed explicitly, as passthrough requires, and errors name
	// "model". Otherwise (documents, knowledge queries, memories) the
	// model is routed like an agent's, the single-provider fallback
	// included, and errors name "embedding_model".
	Direct bool
	// ID prefixes the usage record's id; empty means "emb-".
	IDPrefix string
	// Unmetered leaves the call out of the request's Meter (memory's own
	// calls).
	Unmetered bool
}

// Embed computes an embedding of each input with e.Model, routed like any
// model call, and reports the call's usage. Unless the client named the
// model, a result that does not hold one vector per input is an upstream
// error.
func (m *Models) Embed(ctx context.Context, e *Embedding) ([][]float32, adapters.Usage, error) {
	param, what := "embedding_model", "no provider serves embedding model "
	provider, upstream, ok := m.router.Resolve(e.Model, "")
	if e.Direct {
		param = "model"
		provider, upstream, ok = m.router.Match(e.Model)
	}
	if !ok {
		return nil, adapters.Usage{}, &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: param,
			Message: what + adapters.Quote(e.Model)}
	}
	emb, ok := m.router.Provider(provider).(adapters.Embedder)
	if !ok {
		return nil, adapters.Usage{}, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "embeddings_not_supported", Param: param,
			Message: "provider " + adapters.Quote(provider) + " of model " + adapters.Quote(e.Model) + " does not compute embeddings"}
	}
	ctx, span := startEmbeddings(ctx, provider, upstream, emb)
	t0 := m.now()
	vecs, usage, err := emb.Embed(ctx, upstream, e.Inputs)
	if err == nil && len(vecs) != len(e.Inputs) && !e.Direct {
		err = &adapters.Error{Kind: adapters.KindUpstream, Code: "upstream_error", Param: param,
			Message: "embedding model " + adapters.Quote(e.Model) + " returned " + strconv.Itoa(len(vecs)) + " vectors for " +
				strconv.Itoa(len(e.Inputs)) + " inputs"}
	}
	at := m.now()
	prefix := e.IDPrefix
	if prefix == "" {
		prefix = "emb-"
	}
	m.report(ctx, &report{Account: e.Account, id: adapters.NewID(prefix), model: upstream, provider: provider,
		usage: usage, latency: at.Sub(t0), at: at, err: err, unmetered: e.Unmetered})
	if span.IsRecording() {
		span.SetAttributes(tracing.InputTokensKey.Int(usage.InputTokens))
	}
	tracing.End(span, err)
	return vecs, usage, err
}
