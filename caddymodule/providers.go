package caddymodule

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/internal/clock"
	"github.com/agentgate/agentgate/internal/tracing"
	"github.com/caddyserver/caddy/v2"
	"go.opentelemetry.io/otel/attribute"
)

// build makes the provider a config declares: one upstream, or a pool of
// one upstream per base URL and key when several are given.
func (pc ProviderConfig) build(repl *caddy.Replacer, clk clock.Clock) (adapters.Provider, error) {
	opts := make(map[string]string, len(pc.Options))
	for k, v := range pc.Options {
		opts[k] = repl.ReplaceAll(v, "")
	}
	keys := expandAll(repl, append([]string{pc.APIKey}, pc.APIKeys...))
	urls := expandAll(repl, append([]string{pc.BaseURL}, pc.BaseURLs...))
	if len(keys) == 0 {
		keys = []string{""}
	}
	if len(urls) == 0 {
		urls = []string{""}
	}
	var members []models.PoolMember
	for _, u := range urls {
		for _, k := range keys {
			p, err := adapters.NewProvider(pc.Type, adapters.ProviderConfig{Name: pc.Name, BaseURL: u, APIKey: k,
				Timeout:             time.Duration(pc.Timeout),
				StreamHeaderTimeout: time.Duration(pc.StreamHeaderTimeout),
				StreamIdleTimeout:   time.Duration(pc.StreamIdleTimeout),
				Options:             opts, Clock: clk})
			if err != nil {
				return nil, err
			}
			members = append(members, models.PoolMember{Provider: p})
		}
	}
	if len(members) == 1 {
		return members[0].Provider, nil
	}
	return models.NewPool(members, nil), nil
}

// info describes p, built from pc, for the status.
func (pc ProviderConfig) info(p adapters.Provider, repl *caddy.Replacer) providerInfo {
	info := providerInfo{name: pc.Name, typ: pc.Type, members: 1}
	for _, u := range expandAll(repl, append([]string{pc.BaseURL}, pc.BaseURLs...)) {
		info.baseURLs = append(info.baseURLs, publicURL(u))
	}
	if pool, ok := p.(*models.Pool); ok {
		info.cooldowns = pool.Cooldowns
		info.members = len(pool.Cooldowns())
	}
	return info
}

// traceAttributes are what traces say of pc's calls: the kind of
// provider (gen_ai.provider.name) and, for one base URL, its host and
// port (server.address, server.port); a pool's calls go to several.
func (pc ProviderConfig) traceAttributes(repl *caddy.Replacer) []attribute.KeyValue {
	attrs := []attribute.KeyValue{tracing.ProviderKey.String(tracing.ProviderName(pc.Type))}
	urls := expandAll(repl, append([]string{pc.BaseURL}, pc.BaseURLs...))
	if len(urls) != 1 {
		return attrs
	}
	u, err := url.Parse(urls[0])
	if err != nil || u.Hostname() == "" {
		return attrs
	}
	attrs = append(attrs, tracing.ServerAddressKey.String(u.Hostname()))
	if port, err := strconv.Atoi(u.Port()); err == nil {
		attrs = append(attrs, tracing.ServerPortKey.Int(port))
	}
	return attrs
}

// expandAll expands placeholders and drops what expands to nothing (an
// unset {env.X}).
func expandAll(repl *caddy.Replacer, vals []string) []string {
	var out []string
	for _, v := range vals {
		if v = repl.ReplaceAll(v, ""); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// RetryConfig bounds how failed upstream calls are retried: only before
// anything reached the client, for connection errors, timeouts, 429 and
// 5xx, with exponential backoff and full jitter.
type RetryConfig struct {
	// Max retries per model; default 2, negative for none.
	Max int `json:"max,omitempty"`
	// Backoff is the first wait (default 250ms), doubled per retry up to
	// MaxBackoff (default 4s); an upstream Retry-After replaces it.
	Backoff    caddy.Duration `json:"backoff,omitempty"`
	MaxBackoff caddy.Duration `json:"max_backoff,omitempty"`
	// Deadline, counted from the start of a model call, is when its
	// retrying stops (default 30s): no retry or fallback starts after it,
	// nor after a backoff that would end past it. It does not cut the
	// attempt in progress, which the provider's timeouts bound.
	Deadline caddy.Duration `json:"deadline,omitempty"`
}

func (c *RetryConfig) policy() models.RetryPolicy {
	if c == nil {
		return models.RetryPolicy{}
	}
	return models.RetryPolicy{Max: c.Max, Backoff: time.Duration(c.Backoff), MaxBackoff: time.Duration(c.MaxBackoff),
		Deadline: time.Duration(c.Deadline)}
}

// checkAgentTools refuses declared agents that name tools nobody
// declared (MCP servers connect later, so their names are taken on trust).
func (a *App) checkAgentTools(agents []*adapters.Agent) error {
	mcp := map[string]bool{}
	for _, m := range a.MCPServers {
		mcp[m.Name] = true
	}
	var errs []error
	for _, ag := range agents {
		for _, name := range ag.Tools {
			if mcp[name] {
				continue
			}
			if _, err := a.tools.registry.Resolve([]string{name}); err != nil {
				errs = append(errs, fmt.Errorf("agent %q: tool %q is not declared (toolkits: %v)", ag.ID, name, a.tools.registry.Names()))
			}
		}
	}
	return errors.Join(errs...)
}
