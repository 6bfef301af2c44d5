package runtime

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// PassthroughConfig says whether the OpenAI endpoints the gateway does
// not translate (files, batches, images, audio, …) are passed to an
// OpenAI-compatible upstream as they came, and where those that name no
// model go.
type PassthroughConfig struct {
	// Disabled turns passthrough off: such paths go to the site's next
	// handler.
	Disabled bool
	// DefaultProvider serves requests that name no model and no object
	// made through the gateway. Empty means the only OpenAI-compatible
	// provider, when there is exactly one.
	DefaultProvider string
}

// Upstream is an OpenAI-compatible upstream a request is passed to.
type Upstream struct {
	// Provider is the provider instance's name.
	Provider string
	// Model is the upstream's name of the model the request named (an
	// alias resolved, a routing prefix stripped); "" when it named none.
	Model string
	adapters.Forwarder
}

// forwarders finds the providers that speak OpenAI's API and checks the
// passthrough configuration against them.
func (rt *Runtime) configurePassthrough(cfg PassthroughConfig, providers map[string]adapters.Provider) error {
	rt.passthrough = cfg
	var names []string
	for name, p := range providers {
		if _, ok := adapters.As[adapters.Forwarder](p); ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if cfg.DefaultProvider != "" {
		p, ok := providers[cfg.DefaultProvider]
		if !ok {
			return fmt.Errorf("passthrough: unknown default provider %q", cfg.DefaultProvider)
		}
		if _, ok := adapters.As[adapters.Forwarder](p); !ok {
			return fmt.Errorf("passthrough: default provider %q does not speak OpenAI's API (OpenAI-compatible providers: %v)", cfg.DefaultProvider, names)
		}
	} else if len(names) == 1 {
		rt.passthrough.DefaultProvider = names[0]
	}
	rt.forwarding = len(names) > 0
	return nil
}

// PassthroughEnabled reports whether requests the gateway does not
// translate go upstream: passthrough is not disabled and some provider
// speaks OpenAI's API.
func (rt *Runtime) PassthroughEnabled() bool { return !rt.passthrough.Disabled && rt.forwarding }

// UpstreamFor returns the OpenAI-compatible upstream serving model for p:
// the model must be routed explicitly and allowed by p's tier (404 and
// 403 otherwise), and its provider must speak OpenAI's API (400 naming
// model otherwise).
func (rt *Runtime) UpstreamFor(p *adapters.Principal, model string) (*Upstream, error) {
	provider, upstream, ok := rt.router.Match(model)
	if !ok {
		return nil, &adapters.Error{Kind: adapters.KindNotFound, Code: "model_not_found", Param: "model",
			Message: "The model " + quote(model) + " does not exist or you do not have access to it: no route sends it upstream."}
	}
	if err := rt.checkModelAllowed(p, model); err != nil {
		return nil, err
	}
	fw, ok := adapters.As[adapters.Forwarder](rt.router.Provider(provider))
	if !ok {
		return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "passthrough_not_supported", Param: "model",
			Message: "model " + quote(model) + " is served by provider " + quote(provider) +
				", which does not speak OpenAI's API; this endpoint is passed only to OpenAI-compatible providers"}
	}
	return &Upstream{Provider: provider, Model: upstream, Forwarder: fw}, nil
}

// UpstreamNamed returns provider instance name as an upstream, if it
// speaks OpenAI's API; "" names the default provider.
func (rt *Runtime) UpstreamNamed(name string) (*Upstream, bool) {
	if name == "" {
		name = rt.passthrough.DefaultProvider
	}
	if name == "" {
		return nil, false
	}
	fw, ok := adapters.As[adapters.Forwarder](rt.router.Provider(name))
	if !ok {
		return nil, false
	}
	return &Upstream{Provider: name, Forwarder: fw}, true
}

// RecordForwarded accounts one passed-through call of p that named model
// or reported usage: a usage record, and the request's meter (which
// settles its quota reservation and feeds metrics). status is "ok" or
// the call's error code.
func (rt *Runtime) RecordForwarded(ctx context.Context, p *adapters.Principal, dialect, provider, model string, u adapters.Usage, latency time.Duration, status string) {
	at := rt.now()
	cost := rt.cost(u, 0, model)
	rt.recorder.Record(state.UsageRecord{
		ID: NewID("fwd-"), Time: at, Tenant: p.Tenant, KeyID: p.KeyID, Dialect: dialect, Model: model,
		Provider: provider, InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, ReasoningTokens: u.ReasoningTokens,
		CachedTokens: u.CachedTokens, Estimated: u.Estimated, LatencyMs: latency.Milliseconds(), Status: status, Cost: cost,
	})
	errCode := ""
	if status != "ok" {
		errCode = status
	}
	MeterFrom(ctx).recordCall("", model, provider, u, cost, 0, latency, errCode, at)
}
