// Package openai is the provider for OpenAI and every server that speaks
// the OpenAI Chat Completions API (vLLM, Ollama, llama.cpp, Groq,
// OpenRouter, …). It registers itself as provider type "openai".
//
// Requests are encoded straight into a byte buffer and responses are read
// with gjson, chunk by chunk, without decoding into intermediate structs:
// the provider sits on the hot path of every model call.
package openai

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
)

func init() {
	adapters.RegisterProvider("openai", New)
}

// Defaults.
const (
	DefaultBaseURL     = "https://api.openai.com/v1"
	DefaultTimeout     = 10 * time.Minute
	DefaultDialTimeout = 10 * time.Second
)

// Provider calls one OpenAI-compatible upstream. It is safe for concurrent
// use; all calls share one HTTP client and its connection pool.
type Provider struct {
	name     string
	base     string // the API root, without a trailing slash
	chatURL  string
	embedURL string
	client   *wire.Client // sends the key as "Authorization: Bearer <key>"
	// keyless: no key for OpenAI's own API (ListModels does not call).
	keyless bool
}

var (
	_ adapters.Provider  = (*Provider)(nil)
	_ adapters.Embedder  = (*Provider)(nil)
	_ adapters.Forwarder = (*Provider)(nil)
)

// New builds a provider from cfg:
//
//   - BaseURL: the API root (default https://api.openai.com/v1); a trailing
//     slash or a trailing /chat/completions is tolerated.
//   - APIKey: sent as a Bearer token; no Authorization header when empty.
//   - Timeout: bounds one whole call, streams included (default 10m).
//   - StreamHeaderTimeout, StreamIdleTimeout: how long a streamed call
//     waits for the response headers (default 30s) and for more of the
//     stream (default 60s).
//   - Options: "organization" and "project" (OpenAI-Organization and
//     OpenAI-Project headers), "header.<Name>" (any extra header, e.g.
//     header.HTTP-Referer for OpenRouter), "dial_timeout" (default 10s) and
//     "header_timeout" (how long to wait for response headers; default: only
//     Timeout bounds it, since non-streamed answers from reasoning models
//     send headers only when done).
func New(cfg adapters.ProviderConfig) (adapters.Provider, error) {
	return NewProvider(cfg)
}

// NewProvider is New with the concrete type.
func NewProvider(cfg adapters.ProviderConfig) (*Provider, error) {
	o := wire.NewOptions("openai", cfg, DefaultDialTimeout, "Authorization")
	base := strings.TrimSuffix(wire.TrimBaseURL(cfg.BaseURL, DefaultBaseURL), "/chat/completions")
	if _, ok := wire.ParseBaseURL(base); !ok {
		return nil, o.BadBaseURL()
	}
	timeout, err := o.Timeout(cfg.Timeout, DefaultTimeout)
	if err != nil {
		return nil, err
	}
	for k, v := range cfg.Options {
		switch k {
		case "organization":
			o.Headers.Set("OpenAI-Organization", v)
		case "project":
			o.Headers.Set("OpenAI-Project", v)
		default:
			if err := o.Parse(k, v); err != nil {
				return nil, err
			}
		}
	}
	if cfg.APIKey != "" {
		o.Headers.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	return &Provider{
		name:     cfg.Name,
		base:     base,
		chatURL:  base + "/chat/completions",
		embedURL: base + "/embeddings",
		client:   o.Client(timeout, errCallTimeout, MapStatus),
		keyless:  wire.VendorWithoutKey(cfg.APIKey, base, DefaultBaseURL),
	}, nil
}

// CloseIdleConnections closes the provider's idle upstream connections (for
// a config reload that drops the provider).
func (p *Provider) CloseIdleConnections() { p.client.CloseIdleConnections() }

// Chat sends req to {base}/chat/completions and emits its events.
func (p *Provider) Chat(ctx context.Context, req *adapters.Request, emit adapters.Emit) error {
	body, err := buildChatBody(make([]byte, 0, bodySize(req)), req)
	if err != nil {
		return err
	}
	return p.client.Call(ctx, p.chatURL, body, req.Stream,
		func(ctx context.Context, body io.Reader, status int) error {
			return readStream(ctx, body, req.Model, status, p.client.Timeout(), emit)
		},
		func(body string, status int) error {
			return readResponse(body, req.Model, status, emit)
		})
}

// Forward implements adapters.Forwarder: req goes to {base}/{path} with
// the provider's key and headers (organization, project, header.<Name>).
func (p *Provider) Forward(req *http.Request) (*http.Response, error) {
	return p.client.Forward(p.base, req)
}
