package runtime

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
)

// Model is an upstream model a key may call directly, by the name the
// gateway routes.
type Model struct {
	ID string
	// Provider is the provider instance the model is routed to.
	Provider string
	// Created is when the upstream says the model was made, else when the
	// gateway's configuration was loaded.
	Created time.Time
}

// Models lists the upstream models p may call directly: the exact routes
// (model names, aliases and providers' models lists), and for each prefix
// route the models its provider lists (fetched from the upstream and
// cached) that the prefix covers, named as clients call them ("openai/"
// routes list "openai/gpt-4o"). A name is listed only where routing
// sends it, and only if p's tier allows calling it. Sorted by name.
func (rt *Runtime) Models(ctx context.Context, p *adapters.Principal) ([]Model, error) {
	allowed := rt.allowsModel(p)
	exact, prefixes := rt.router.Routes()
	seen := map[string]bool{}
	var out []Model
	add := func(m Model) {
		if !seen[m.ID] && allowed(m.ID) {
			seen[m.ID] = true
			out = append(out, m)
		}
	}
	for _, r := range exact {
		m := Model{ID: r.Pattern, Provider: r.Provider, Created: rt.loaded}
		if known, _, ok := rt.providerModels(ctx, r.Provider); ok {
			upstream := r.Pattern
			if r.Target != "" {
				upstream = r.Target
			}
			if info, ok := known[upstream]; ok && !info.Created.IsZero() {
				m.Created = info.Created
			}
		}
		add(m)
	}
	for _, r := range prefixes {
		_, list, ok := rt.providerModels(ctx, r.Provider)
		if !ok {
			continue
		}
		for _, info := range list {
			id := info.ID
			if strings.HasSuffix(r.Pattern, "/") {
				id = r.Pattern + info.ID
			} else if !strings.HasPrefix(id, r.Pattern) {
				continue
			}
			// Listed only if routing sends the name to this model.
			if prov, upstream, ok := rt.router.Match(id); !ok || prov != r.Provider || upstream != info.ID {
				continue
			}
			created := info.Created
			if created.IsZero() {
				created = rt.loaded
			}
			add(Model{ID: id, Provider: r.Provider, Created: created})
		}
	}
	slices.SortFunc(out, func(a, b Model) int { return strings.Compare(a.ID, b.ID) })
	return out, ctx.Err()
}

// Model returns the upstream model id if p may call it directly: routed,
// allowed by p's tier and, for a name a prefix route covers, served by
// its provider when the provider lists its models. Otherwise a 404
// model_not_found.
func (rt *Runtime) Model(ctx context.Context, p *adapters.Principal, id string) (*Model, error) {
	notFound := &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
		Message: "model " + quote(id) + " is neither an agent nor a model this key may call"}
	provider, upstream, ok := rt.router.Match(id)
	if !ok || !rt.allowsModel(p)(id) {
		return nil, notFound
	}
	m := &Model{ID: id, Provider: provider, Created: rt.loaded}
	known, _, listed := rt.providerModels(ctx, provider)
	info, found := known[upstream]
	if listed && !found && !rt.router.IsExact(id) {
		return nil, notFound
	}
	if found && !info.Created.IsZero() {
		m.Created = info.Created
	}
	return m, nil
}

// providerModels is the cached model list of provider name, if it lists
// its models.
func (rt *Runtime) providerModels(ctx context.Context, name string) (map[string]adapters.ModelInfo, []adapters.ModelInfo, bool) {
	lister, ok := adapters.As[adapters.ModelLister](rt.router.Provider(name))
	if !ok {
		return nil, nil, false
	}
	return rt.catalog.models(ctx, name, lister)
}

// allowsModel returns whether p's tier lets it call a model directly.
func (rt *Runtime) allowsModel(p *adapters.Principal) func(string) bool {
	tier, ok := rt.tiers.Get(p.Tier)
	if !ok {
		return func(string) bool { return true }
	}
	return tier.AllowsModel
}
