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
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
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

// maxResponseBody bounds a non-streamed response.
const maxResponseBody = 64 << 20

// Provider calls one Anthropic Messages API upstream. It is safe for
// concurrent use; all calls share one HTTP client and its connection pool.
type Provider struct {
	name        string
	messagesURL string
	apiKey      string
	bearer      bool
	headers     http.Header
	timeout     time.Duration
	reqOpts     requestOptions
	client      *http.Client
	transport   *http.Transport
}

var _ adapters.Provider = (*Provider)(nil)

// New builds a provider from cfg:
//
//   - BaseURL: the API root (default https://api.anthropic.com, like
//     ANTHROPIC_BASE_URL); a trailing slash, /v1 or /v1/messages is
//     tolerated.
//   - APIKey: sent as x-api-key; no key header when empty.
//   - Timeout: bounds one whole call, streams included (default 10m).
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
	base := strings.TrimSpace(cfg.BaseURL)
	if base == "" {
		base = DefaultBaseURL
	}
	base = strings.TrimRight(base, "/")
	base = strings.TrimSuffix(base, "/v1/messages")
	base = strings.TrimSuffix(base, "/v1")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("anthropic provider %q: base URL %q must be an absolute http(s) URL", cfg.Name, cfg.BaseURL)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("anthropic provider %q: negative timeout", cfg.Name)
	}
	p := &Provider{
		name:        cfg.Name,
		messagesURL: base + "/v1/messages",
		apiKey:      cfg.APIKey,
		timeout:     cfg.Timeout,
		headers:     http.Header{},
	}
	if p.timeout == 0 {
		p.timeout = DefaultTimeout
	}
	p.headers.Set("Anthropic-Version", DefaultVersion)
	dialTimeout := DefaultDialTimeout
	var headerTimeout time.Duration
	for k, v := range cfg.Options {
		switch {
		case k == "version":
			if v != "" {
				p.headers.Set("Anthropic-Version", v)
			}
		case k == "beta":
			if v != "" {
				p.headers.Set("Anthropic-Beta", v)
			}
		case k == "auth":
			switch strings.ToLower(v) {
			case "", "x-api-key":
			case "bearer":
				p.bearer = true
			default:
				return nil, fmt.Errorf("anthropic provider %q: option auth: %q is neither x-api-key nor bearer", cfg.Name, v)
			}
		case k == "max_tokens":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("anthropic provider %q: option max_tokens: invalid count %q", cfg.Name, v)
			}
			p.reqOpts.defMaxTokens = n
		case k == "thinking":
			switch v {
			case "", "enabled":
			case "adaptive":
				p.reqOpts.adaptive = true
			default:
				return nil, fmt.Errorf("anthropic provider %q: option thinking: %q is neither enabled nor adaptive", cfg.Name, v)
			}
		case strings.HasPrefix(k, "header."):
			name := strings.TrimPrefix(k, "header.")
			if name == "" || strings.EqualFold(name, "Authorization") || strings.EqualFold(name, "X-Api-Key") {
				return nil, fmt.Errorf("anthropic provider %q: option %q: set the key with api_key", cfg.Name, k)
			}
			p.headers.Set(name, v)
		case k == "dial_timeout" || k == "header_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("anthropic provider %q: option %s: invalid duration %q", cfg.Name, k, v)
			}
			if k == "dial_timeout" {
				dialTimeout = d
			} else {
				headerTimeout = d
			}
		}
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	p.transport = &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: headerTimeout,
		ExpectContinueTimeout: time.Second,
	}
	p.client = &http.Client{Transport: p.transport}
	return p, nil
}

// CloseIdleConnections closes the provider's idle upstream connections (for
// a config reload that drops the provider).
func (p *Provider) CloseIdleConnections() { p.transport.CloseIdleConnections() }

// Chat sends req to {base}/v1/messages and emits its events.
func (p *Provider) Chat(ctx context.Context, req *adapters.Request, emit adapters.Emit) error {
	body, err := buildBody(make([]byte, 0, bodySize(req)), req, p.reqOpts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, p.timeout, errCallTimeout)
	defer cancel()
	resp, err := p.post(ctx, body, req.Stream)
	if err != nil {
		return err
	}
	defer resp.Body.Close()

	ct := resp.Header.Get("Content-Type")
	stream := req.Stream
	if stream && strings.HasPrefix(ct, "application/json") {
		stream = false // a proxy answered the stream with one message
	} else if !stream && strings.HasPrefix(ct, "text/event-stream") {
		stream = true
	}
	if stream {
		err := readStream(ctx, resp.Body, req.Model, resp.StatusCode, p.timeout, emit)
		if err == nil {
			drain(resp.Body, cancel)
		}
		return err
	}
	var sb strings.Builder
	if n := resp.ContentLength; n > 0 && n <= maxResponseBody {
		sb.Grow(int(n))
	}
	n, err := io.Copy(&sb, io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		te := transportError(ctx, err, p.timeout)
		if ae, ok := te.(*adapters.Error); ok {
			ae.UpstreamStatus = resp.StatusCode
		}
		return te
	}
	if n > maxResponseBody {
		return &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream response too large", UpstreamStatus: resp.StatusCode}
	}
	return readResponse(sb.String(), req.Model, resp.StatusCode, emit)
}

// post sends a JSON body and returns a 2xx response, or the error for a
// failed call: an *adapters.Error, or ctx's error when the caller gave up.
func (p *Provider) post(ctx context.Context, body []byte, stream bool) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, p.messagesURL, bytes.NewReader(body))
	if err != nil {
		return nil, &adapters.Error{Kind: adapters.KindInternal, Message: "cannot build the upstream request"}
	}
	h := hreq.Header
	for k, v := range p.headers {
		h[k] = v
	}
	h.Set("Content-Type", "application/json")
	if stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	if p.apiKey != "" {
		if p.bearer {
			h.Set("Authorization", "Bearer "+p.apiKey)
		} else {
			h.Set("X-Api-Key", p.apiKey)
		}
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", "agentgate")
	}
	resp, err := p.client.Do(hreq)
	if err != nil {
		return nil, transportError(ctx, err, p.timeout)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return nil, MapStatus(resp.StatusCode, resp.Header, msg)
}

// drain reads what is left of a finished stream (usually only the chunked
// terminator after message_stop) so the connection returns to the pool,
// giving up quickly if the upstream keeps it open.
func drain(body io.Reader, cancel context.CancelFunc) {
	t := time.AfterFunc(100*time.Millisecond, cancel)
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	t.Stop()
}
