package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/agentgate/agentgate/engine/tools"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// ToolkitConfig declares an HTTP toolkit: each method is a webhook that
// receives the call's arguments as a JSON object and answers JSON.
type ToolkitConfig struct {
	Name    string         `json:"name"`
	Methods []MethodConfig `json:"methods"`
}

// MethodConfig declares one webhook method.
type MethodConfig struct {
	Name        string `json:"name"`
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
	// Parameters is the JSON Schema of the arguments object.
	Parameters json.RawMessage `json:"parameters,omitempty"`
	// Confirm pauses runs before this method until a person confirms.
	Confirm bool           `json:"confirm,omitempty"`
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Headers are sent with every call (e.g. the webhook's own auth);
	// placeholders such as {env.X} are expanded.
	Headers map[string]string `json:"headers,omitempty"`
}

// MCPConfig declares an MCP server (streamable HTTP) whose tools become a
// toolkit's methods.
type MCPConfig struct {
	Name     string `json:"name"`
	Endpoint string `json:"endpoint"`
	// Confirm lists the server's tools that pause runs for confirmation.
	Confirm []string          `json:"confirm,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Timeout caddy.Duration    `json:"timeout,omitempty"`
}

// toolset is a config's provisioned tools: the registry, and the MCP
// sessions to close with the config (ctx ends their connection attempts).
type toolset struct {
	registry *tools.Registry
	ctx      context.Context
	cancel   context.CancelFunc
	mu       sync.Mutex
	closers  []io.Closer
}

// provisionTools builds the registry: the built-ins and the HTTP
// toolkits; the MCP servers' tools join it when they connect (connect,
// called when the app starts).
func (a *App) provisionTools(log *zap.Logger) (*toolset, error) {
	repl := caddy.NewReplacer()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second}}
	kits := []*tools.Toolkit{tools.Builtins(a.clock.Now)}
	// notConfigured are the webhooks whose URL is empty (an unset
	// {env.…}): a normal state for the example's tools, told once.
	var notConfigured []string
	for i, tk := range a.Toolkits {
		var methods []tools.HTTPMethodConfig
		var unconfigured []*tools.Method
		for _, m := range tk.Methods {
			url := repl.ReplaceAll(m.URL, "")
			if url == "" {
				unconfigured = append(unconfigured, unconfiguredMethod(m))
				notConfigured = append(notConfigured, tk.Name+"."+m.Name)
				continue
			}
			headers := make(map[string]string, len(m.Headers))
			for k, v := range m.Headers {
				headers[k] = repl.ReplaceAll(v, "")
			}
			methods = append(methods, tools.HTTPMethodConfig{Name: m.Name, Description: m.Description,
				URL: url, Parameters: m.Parameters, RequiresConfirmation: m.Confirm,
				Timeout: time.Duration(m.Timeout), Headers: headers})
		}
		kit := &tools.Toolkit{Name: tk.Name}
		if len(methods) > 0 {
			var err error
			if kit, err = tools.HTTPToolkit(tk.Name, methods, client); err != nil {
				return nil, fmt.Errorf("toolkits[%d] %q: %v", i, tk.Name, err)
			}
		}
		kit.Methods = append(kit.Methods, unconfigured...)
		kits = append(kits, kit)
	}
	if len(notConfigured) > 0 {
		log.Info("tools without a webhook URL answer the model that they are not configured; set their URLs to use them",
			zap.Strings("tools", notConfigured))
	}
	reg, err := tools.NewRegistry(kits...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &toolset{registry: reg, ctx: ctx, cancel: cancel}, nil
}

// connect connects the MCP servers of servers, in the background (a
// server that is down must not keep Caddy from starting; its tools appear
// when it answers, and agents naming them meanwhile run without them).
func (ts *toolset) connect(servers []MCPConfig, log *zap.Logger) {
	repl := caddy.NewReplacer()
	for _, mc := range servers {
		headers := make(map[string]string, len(mc.Headers))
		for k, v := range mc.Headers {
			headers[k] = repl.ReplaceAll(v, "")
		}
		go ts.connectMCP(ts.ctx, mc, repl.ReplaceAll(mc.Endpoint, ""), headers, log)
	}
}

// unconfiguredMethod stands for a webhook whose URL is not set: the model
// sees the tool and hears, when it calls it, what the operator must set.
func unconfiguredMethod(m MethodConfig) *tools.Method {
	msg := "this tool's webhook is not configured: the operator must set " + m.URL
	return &tools.Method{Name: m.Name, Description: m.Description, Parameters: m.Parameters,
		RequiresConfirmation: m.Confirm, Timeout: time.Duration(m.Timeout),
		Call: func(context.Context, json.RawMessage) (json.RawMessage, error) { return nil, errors.New(msg) }}
}

// connectMCP lists an MCP server's tools, retrying with backoff until it
// answers or the config is cleaned up.
func (ts *toolset) connectMCP(ctx context.Context, mc MCPConfig, endpoint string, headers map[string]string, log *zap.Logger) {
	wait := time.Second
	for {
		kit, closer, err := tools.MCPToolkit(ctx, mc.Name, endpoint,
			tools.MCPOptions{Headers: headers, Confirm: mc.Confirm, Timeout: time.Duration(mc.Timeout)})
		if err == nil {
			if err := ts.registry.Add(kit); err != nil {
				log.Error("MCP server's tools clash with declared ones; not added", zap.String("mcp", mc.Name), zap.Error(err))
				_ = closer.Close()
				return
			}
			ts.mu.Lock()
			ts.closers = append(ts.closers, closer)
			ts.mu.Unlock()
			log.Info("MCP server connected", zap.String("mcp", mc.Name), zap.Int("tools", len(kit.Methods)))
			return
		}
		// The endpoint may carry a token: the log shows its scheme and
		// host, and MCPToolkit's errors never quote it.
		log.Warn("MCP server not reachable yet; retrying", zap.String("mcp", mc.Name), zap.String("endpoint", tools.RedactURL(endpoint)),
			zap.Duration("retry_in", wait), zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

// close ends the MCP sessions and stops pending connection attempts.
func (ts *toolset) close() {
	if ts == nil {
		return
	}
	ts.cancel()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, c := range ts.closers {
		_ = c.Close()
	}
	ts.closers = nil
}
