// Package openai is the provider for OpenAI and every server that speaks
// the OpenAI Chat Completions API (vLLM, Ollama, llama.cpp, Groq,
// OpenRouter, …). It registers itself as provider type "openai".
//
// Requests are encoded straight into a byte buffer and responses are read
// with gjson, chunk by chunk, without decoding into intermediate structs:
// the provider sits on the hot path of every model call.
package openai

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
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

// maxResponseBody bounds a non-streamed response.
const maxResponseBody = 64 << 20

// Provider calls one OpenAI-compatible upstream. It is safe for concurrent
// use; all calls share one HTTP client and its connection pool.
type Provider struct {
	name      string
	chatURL   string
	embedURL  string
	auth      string // "Bearer <key>", or empty
	headers   http.Header
	timeout   time.Duration
	client    *http.Client
	transport *http.Transport
}

var (
	_ adapters.Provider = (*Provider)(nil)
	_ adapters.Embedder = (*Provider)(nil)
)

// New builds a provider from cfg:
//
//   - BaseURL: the API root (default https://api.openai.com/v1); a trailing
//     slash or a trailing /chat/completions is tolerated.
//   - APIKey: sent as a Bearer token; no Authorization header when empty.
//   - Timeout: bounds one whole call, streams included (default 10m).
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
	base := strings.TrimSpace(cfg.BaseURL)
	if base == "" {
		base = DefaultBaseURL
	}
	base = strings.TrimRight(base, "/")
	base = strings.TrimSuffix(base, "/chat/completions")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai provider %q: base URL %q must be an absolute http(s) URL", cfg.Name, cfg.BaseURL)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("openai provider %q: negative timeout", cfg.Name)
	}
	p := &Provider{
		name:     cfg.Name,
		chatURL:  base + "/chat/completions",
		embedURL: base + "/embeddings",
		timeout:  cfg.Timeout,
		headers:  http.Header{},
	}
	if p.timeout == 0 {
		p.timeout = DefaultTimeout
	}
	if cfg.APIKey != "" {
		p.auth = "Bearer " + cfg.APIKey
	}
	dialTimeout := DefaultDialTimeout
	var headerTimeout time.Duration
	for k, v := range cfg.Options {
		switch {
		case k == "organization":
			p.headers.Set("OpenAI-Organization", v)
		case k == "project":
			p.headers.Set("OpenAI-Project", v)
		case strings.HasPrefix(k, "header."):
			name := strings.TrimPrefix(k, "header.")
			if name == "" || strings.EqualFold(name, "Authorization") {
				return nil, fmt.Errorf("openai provider %q: option %q: set the key with api_key", cfg.Name, k)
			}
			p.headers.Set(name, v)
		case k == "dial_timeout" || k == "header_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("openai provider %q: option %s: invalid duration %q", cfg.Name, k, v)
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

// Chat sends req to {base}/chat/completions and emits its events.
func (p *Provider) Chat(ctx context.Context, req *adapters.Request, emit adapters.Emit) error {
	body, err := buildChatBody(make([]byte, 0, bodySize(req)), req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, p.timeout, errCallTimeout)
	defer cancel()
	resp, err := p.post(ctx, p.chatURL, body, req.Stream)
	if err != nil {
		return err
	}
	defer resp.Body.Close()

	ct := resp.Header.Get("Content-Type")
	stream := req.Stream
	if stream && strings.HasPrefix(ct, "application/json") {
		stream = false // the server ignored "stream"
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
	// bytes.Buffer reads straight into itself; io.Copy into a
	// strings.Builder would allocate a 32 KiB copy buffer per call.
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= maxResponseBody {
		buf.Grow(int(n) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, maxResponseBody+1))
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
	return readResponse(buf.String(), req.Model, resp.StatusCode, emit)
}

// post sends a JSON body and returns a 2xx response, or the error for a
// failed call: an *adapters.Error, or ctx's error when the caller gave up.
func (p *Provider) post(ctx context.Context, target string, body []byte, stream bool) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
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
	if p.auth != "" {
		h.Set("Authorization", p.auth)
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
// terminator after [DONE]) so the connection returns to the pool, giving up
// quickly if the upstream keeps it open.
func drain(body io.Reader, cancel context.CancelFunc) {
	t := time.AfterFunc(100*time.Millisecond, cancel)
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	t.Stop()
}
