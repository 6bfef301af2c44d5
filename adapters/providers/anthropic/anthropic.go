// Package anthropic is the provider for Anthropic's Messages API
// (POST /v1/messages). It registers itself as provider type "anthropic".
//
// Requests are encoded straight into a byte buffer and responses are read
// with gjson, event by event, without decoding into intermediate structs,
// as the openai provider does.
//
// # Translation
//
// The canonical system prompt and every RoleSystem message become the
// top-level "system" (the Messages API has no system role). Consecutive
// messages of one role are merged into one message, RoleTool messages
// becoming tool_result blocks of a user message (placed before any text,
// as Anthropic requires). Images are base64 (data: URLs) or url image
// blocks. An assistant message's Reasoning is replayed as a thinking block
// when it has a ReasoningSignature. max_tokens, which Anthropic requires,
// is the request's or DefaultMaxTokens (plus the thinking budget).
// Reasoning becomes thinking {type: enabled, budget_tokens}; temperature is
// then left out (Anthropic rejects it with thinking), as is a top_p under
// 0.95. See planRequest for how thinking, forced tools and max_tokens are
// reconciled.
//
// # Events
//
// Chat emits Start, then Thinking, Delta and ToolCall events in content
// order, then Usage and Done. Tool calls are emitted complete, when their
// block ends. Thinking text is emitted as it streams; the block's
// signature follows in a Thinking event of its own with an empty Text (a
// non-streamed answer gives one Thinking event with both). So a consumer
// concatenates the Text of Thinking events and keeps the last non-empty
// Signature. Stop reasons map end_turn, stop_sequence and pause_turn to
// stop, max_tokens to length, tool_use to tool_calls and refusal to
// content_filter. redacted_thinking blocks are not surfaced.
package anthropic

import (
	"context"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
)

func init() {
	adapters.RegisterProvider("anthropic", New)
}

// Defaults.
const (
	DefaultBaseURL     = "https://api.anthropic.com"
	DefaultVersion     = "2023-06-01"
	DefaultTimeout     = 10 * time.Minute
	DefaultDialTimeout = 10 * time.Second
)

// Provider calls one Anthropic Messages API upstream. It is safe for
// concurrent use; all calls share one HTTP client and its connection pool.
type Provider struct {
	name        string
	messagesURL string
	reqOpts     requestOptions
	client      *wire.Client // sends the key as x-api-key or a Bearer token
	// keyless: no key for Anthropic's own API (ListModels does not call).
	keyless bool
}

var _ adapters.Provider = (*Provider)(nil)

// New builds a provider from cfg:
//
//   - BaseURL: the API root (default https://api.anthropic.com, like
//     ANTHROPIC_BASE_URL); a trailing slash, /v1 or /v1/messages is
//     tolerated.
//   - APIKey: sent as x-api-key; no key header when empty.
//   - Timeout: bounds one whole call, streams included (default 10m).
//   - StreamHeaderTimeout, StreamIdleTimeout: how long a streamed call
//     waits for the response headers (default 30s) and for more of the
//     stream (default 60s).
//   - Options: "version" (anthropic-version, default 2023-06-01), "beta"
//     (anthropic-beta, comma-separated), "auth" ("x-api-key", the default,
//     or "bearer" to send the key as Authorization: Bearer, for OAuth
//     tokens and gateways), "max_tokens" (the default max_tokens, 4096),
//     "thinking" ("enabled", the default, sends budget_tokens; "adaptive"
//     sends {"type":"adaptive"} and output_config.effort, which Claude
//     Opus 4.7 and later require), "header.<Name>" (any extra header),
//     "dial_timeout" (default 10s) and "header_timeout" (how long to wait
//     for response headers; default: only Timeout bounds it).
func New(cfg adapters.ProviderConfig) (adapters.Provider, error) {
	return NewProvider(cfg)
}

// NewProvider is New with the concrete type.
func NewProvider(cfg adapters.ProviderConfig) (*Provider, error) {
	o := wire.NewOptions("anthropic", cfg, DefaultDialTimeout, "Authorization", "X-Api-Key")
	base := wire.TrimBaseURL(cfg.BaseURL, DefaultBaseURL)
	base = strings.TrimSuffix(base, "/v1/messages")
	base = strings.TrimSuffix(base, "/v1")
	if _, ok := wire.ParseBaseURL(base); !ok {
		return nil, o.BadBaseURL()
	}
	timeout, err := o.Timeout(cfg.Timeout, DefaultTimeout)
	if err != nil {
		return nil, err
	}
	p := &Provider{
		name:        cfg.Name,
		messagesURL: base + "/v1/messages",
	}
	o.Headers.Set("Anthropic-Version", DefaultVersion)
	bearer := false
	for k, v := range cfg.Options {
		switch k {
		case "version":
			if v != "" {
				o.Headers.Set("Anthropic-Version", v)
			}
		case "beta":
			if v != "" {
				o.Headers.Set("Anthropic-Beta", v)
			}
		case "auth":
			switch strings.ToLower(v) {
			case "", "x-api-key":
			case "bearer":
				bearer = true
			default:
				return nil, o.Errorf("option auth: %q is neither x-api-key nor bearer", v)
			}
		case "max_tokens":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, o.Errorf("option max_tokens: invalid count %q", v)
			}
			p.reqOpts.defMaxTokens = n
		case "thinking":
			switch v {
			case "", "enabled":
			case "adaptive":
				p.reqOpts.adaptive = true
			default:
				return nil, o.Errorf("option thinking: %q is neither enabled nor adaptive", v)
			}
		default:
			if err := o.Parse(k, v); err != nil {
				return nil, err
			}
		}
	}
	switch {
	case cfg.APIKey == "":
	case bearer:
		o.Headers.Set("Authorization", "Bearer "+cfg.APIKey)
	default:
		o.Headers.Set("X-Api-Key", cfg.APIKey)
	}
	p.client = o.Client(timeout, errCallTimeout, MapStatus)
	p.keyless = wire.VendorWithoutKey(cfg.APIKey, base, DefaultBaseURL)
	return p, nil
}

// CloseIdleConnections closes the provider's idle upstream connections (for
// a config reload that drops the provider).
func (p *Provider) CloseIdleConnections() { p.client.CloseIdleConnections() }

// Chat sends req to {base}/v1/messages and emits its events.
func (p *Provider) Chat(ctx context.Context, req *adapters.Request, emit adapters.Emit) error {
	body, err := buildBody(make([]byte, 0, bodySize(req)), req, p.reqOpts)
	if err != nil {
		return err
	}
	return p.client.Call(ctx, p.messagesURL, body, req.Stream,
		func(ctx context.Context, body io.Reader, status int) error {
			return readStream(ctx, body, req.Model, status, p.client.Timeout(), emit)
		},
		func(body string, status int) error {
			return readResponse(body, req.Model, status, emit)
		})
}
