package models

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/exchange"
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

// configurePassthrough finds the providers that speak OpenAI's API and
// checks the passthrough configuration against them.
func (m *Models) configurePassthrough(cfg PassthroughConfig, providers map[string]adapters.Provider) error {
	m.passthrough = cfg
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
		m.passthrough.DefaultProvider = names[0]
	}
	m.forwarding = len(names) > 0
	return nil
}

// PassthroughEnabled reports whether requests the gateway does not
// translate go upstream: passthrough is not disabled and some provider
// speaks OpenAI's API.
func (m *Models) PassthroughEnabled() bool { return !m.passthrough.Disabled && m.forwarding }

// Forwarder returns the provider instance serving model (as Match routes
// it) as an OpenAI-compatible upstream: a 400 naming model when its
// provider does not speak OpenAI's API.
func (m *Models) Forwarder(provider, model, upstream string) (*Upstream, error) {
	fw, ok := adapters.As[adapters.Forwarder](m.router.Provider(provider))
	if !ok {
		return nil, &adapters.Error{Kind: adapters.KindInvalidRequest, Code: "passthrough_not_supported", Param: "model",
			Message: "model " + adapters.Quote(model) + " is served by provider " + adapters.Quote(provider) +
				", which does not speak OpenAI's API; this endpoint is passed only to OpenAI-compatible providers"}
	}
	return &Upstream{Provider: provider, Model: upstream, Forwarder: fw}, nil
}

// UpstreamNamed returns provider instance name as an upstream, if it
// speaks OpenAI's API; "" names the default provider.
func (m *Models) UpstreamNamed(name string) (*Upstream, bool) {
	if name == "" {
		name = m.passthrough.DefaultProvider
	}
	if name == "" {
		return nil, false
	}
	fw, ok := adapters.As[adapters.Forwarder](m.router.Provider(name))
	if !ok {
		return nil, false
	}
	return &Upstream{Provider: name, Forwarder: fw}, true
}

// RecordForwarded accounts one call passed upstream as it came (by the
// OpenAI passthrough, or a raw lane) for x's request, that named model or
// reported usage, at the one point every model call's usage is reported
// (report.go). status is "ok" or the call's error code.
func (m *Models) RecordForwarded(ctx context.Context, x *exchange.Exchange, provider, model string, u adapters.Usage, latency time.Duration, status string) {
	at := m.now()
	m.report(ctx, x, &report{Account: Account{Principal: x.Principal, Dialect: x.Dialect}, id: adapters.NewID("fwd-"), model: model,
		provider: provider, usage: u, latency: latency, at: at, status: status})
}
