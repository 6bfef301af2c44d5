package models

import (
	"fmt"
	"slices"
	"strings"

	"github.com/agentgate/agentgate/adapters"
)

// Route maps model names to a provider instance. Pattern is an exact model
// name, or a prefix ending in "*" ("gpt-*", "openai/*"). Target, when set,
// replaces the model name sent upstream (aliases: "fast" → "gpt-4o-mini");
// for a prefix route ending in "/*", the prefix is stripped instead.
type Route struct {
	Pattern  string
	Provider string
	Target   string
	// Lacks lists what the routed models cannot take.
	Lacks Capabilities
}

// Capabilities are inputs some models cannot take. A request that needs
// one a model lacks gets a clear 400 naming it, instead of a confusing
// upstream error — or, with Drop, goes through without it (logged).
type Capabilities struct {
	Images    bool `json:"images,omitempty"`
	Tools     bool `json:"tools,omitempty"`
	Reasoning bool `json:"reasoning,omitempty"`
	// Documents are PDF and text document parts (Anthropic document
	// blocks).
	Documents bool `json:"documents,omitempty"`
	// Drop removes what the model lacks instead of refusing the request.
	Drop bool `json:"drop,omitempty"`
}

// Router resolves model names to providers.
type Router struct {
	providers map[string]adapters.Provider
	exact     map[string]Route
	prefixes  []Route // longest prefix first
	fallback  string  // the only provider, when there is exactly one
}

// NewRouter builds a router over providers and routes.
func NewRouter(providers map[string]adapters.Provider, routes []Route) (*Router, error) {
	r := &Router{providers: providers, exact: map[string]Route{}}
	for _, rt := range routes {
		if _, ok := providers[rt.Provider]; !ok {
			return nil, fmt.Errorf("route %q: unknown provider %q", rt.Pattern, rt.Provider)
		}
		if p, ok := strings.CutSuffix(rt.Pattern, "*"); ok {
			rt.Pattern = p
			r.prefixes = append(r.prefixes, rt)
			continue
		}
		if _, dup := r.exact[rt.Pattern]; dup {
			return nil, fmt.Errorf("model %q routed twice", rt.Pattern)
		}
		r.exact[rt.Pattern] = rt
	}
	// Longest prefix wins, so "gpt-4o-*" can override "gpt-*".
	for i := 1; i < len(r.prefixes); i++ {
		for j := i; j > 0 && len(r.prefixes[j].Pattern) > len(r.prefixes[j-1].Pattern); j-- {
			r.prefixes[j], r.prefixes[j-1] = r.prefixes[j-1], r.prefixes[j]
		}
	}
	if len(providers) == 1 {
		for name := range providers {
			r.fallback = name
		}
	}
	return r, nil
}

// Resolve returns the provider instance name and upstream model for model.
// pinned, when set, names the provider explicitly and skips routing.
func (r *Router) Resolve(model, pinned string) (string, string, bool) {
	if pinned != "" {
		_, ok := r.providers[pinned]
		return pinned, model, ok
	}
	if rt, ok := r.exact[model]; ok {
		if rt.Target != "" {
			return rt.Provider, rt.Target, true
		}
		return rt.Provider, model, true
	}
	for _, rt := range r.prefixes {
		if rest, ok := strings.CutPrefix(model, rt.Pattern); ok {
			if strings.HasSuffix(rt.Pattern, "/") {
				return rt.Provider, rest, true
			}
			return rt.Provider, model, true
		}
	}
	if r.fallback != "" {
		return r.fallback, model, true
	}
	return "", "", false
}

// Match is Resolve without a pin and without the single-provider
// fallback: it reports whether model is routed explicitly, which is what
// calling a model directly (passthrough) requires.
func (r *Router) Match(model string) (string, string, bool) {
	if _, ok := r.exact[model]; ok {
		return r.Resolve(model, "")
	}
	for _, rt := range r.prefixes {
		if strings.HasPrefix(model, rt.Pattern) {
			return r.Resolve(model, "")
		}
	}
	return "", "", false
}

// Lacks returns what the route serving model (as Resolve finds it) says
// the model cannot take.
func (r *Router) Lacks(model string) Capabilities {
	if rt, ok := r.exact[model]; ok {
		return rt.Lacks
	}
	for _, rt := range r.prefixes {
		if strings.HasPrefix(model, rt.Pattern) {
			return rt.Lacks
		}
	}
	return Capabilities{}
}

// Provider returns the provider instance called name.
func (r *Router) Provider(name string) adapters.Provider { return r.providers[name] }

// Routes returns the exact routes (model names and aliases) by name, and
// the prefix routes, longest prefix first, each Pattern without its "*".
func (r *Router) Routes() (exact, prefixes []Route) {
	exact = make([]Route, 0, len(r.exact))
	for _, rt := range r.exact {
		exact = append(exact, rt)
	}
	slices.SortFunc(exact, func(a, b Route) int { return strings.Compare(a.Pattern, b.Pattern) })
	return exact, slices.Clone(r.prefixes)
}

// IsExact reports whether model is routed by name (an exact route or
// alias), not by a prefix.
func (r *Router) IsExact(model string) bool {
	_, ok := r.exact[model]
	return ok
}
