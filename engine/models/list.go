package models

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

// List lists the upstream models a key may call directly: the exact
// routes (model names, aliases and providers' models lists), and for each
// prefix route the models its provider lists (fetched from the upstream
// and cached) that the prefix covers, named as clients call them
// ("openai/" routes list "openai/gpt-4o"). A name is listed only where
// routing sends it, and only if allowed (the key's tier) lets it be
// called. Sorted by name.
func (m *Models) List(ctx context.Context, allowed func(string) bool) ([]Model, error) {
	exact, prefixes := m.router.Routes()
	seen := map[string]bool{}
	var out []Model
	add := func(md Model) {
		if !seen[md.ID] && allowed(md.ID) {
			seen[md.ID] = true
			out = append(out, md)
		}
	}
	for _, r := range exact {
		md := Model{ID: r.Pattern, Provider: r.Provider, Created: m.loaded}
		if known, _, ok := m.providerModels(ctx, r.Provider); ok {
			upstream := r.Pattern
			if r.Target != "" {
				upstream = r.Target
			}
			if info, ok := known[upstream]; ok && !info.Created.IsZero() {
				md.Created = info.Created
			}
		}
		add(md)
	}
	for _, r := range prefixes {
		_, list, ok := m.providerModels(ctx, r.Provider)
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
			if prov, upstream, ok := m.router.Match(id); !ok || prov != r.Provider || upstream != info.ID {
				continue
			}
			created := info.Created
			if created.IsZero() {
				created = m.loaded
			}
			add(Model{ID: id, Provider: r.Provider, Created: created})
		}
	}
	slices.SortFunc(out, func(a, b Model) int { return strings.Compare(a.ID, b.ID) })
	return out, ctx.Err()
}

// Get returns the upstream model id if a key may call it directly:
// routed, allowed (by the key's tier) and, for a name a prefix route
// covers, served by its provider when the provider lists its models.
// Otherwise a 404 model_not_found.
func (m *Models) Get(ctx context.Context, id string, allowed func(string) bool) (*Model, error) {
	notFound := &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
		Message: "model " + adapters.Quote(id) + " is neither an agent nor a model this key may call"}
	provider, upstream, ok := m.router.Match(id)
	if !ok || !allowed(id) {
		return nil, notFound
	}
	md := &Model{ID: id, Provider: provider, Created: m.loaded}
	known, _, listed := m.providerModels(ctx, provider)
	info, found := known[upstream]
	if listed && !found && !m.router.IsExact(id) {
		return nil, notFound
	}
	if found && !info.Created.IsZero() {
		md.Created = info.Created
	}
	return md, nil
}

// providerModels is the cached model list of provider name, if it lists
// its models.
func (m *Models) providerModels(ctx context.Context, name string) (map[string]adapters.ModelInfo, []adapters.ModelInfo, bool) {
	lister, ok := adapters.As[adapters.ModelLister](m.router.Provider(name))
	if !ok {
		return nil, nil, false
	}
	return m.catalog.models(ctx, name, lister)
}
