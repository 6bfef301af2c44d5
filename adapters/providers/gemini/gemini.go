// Package gemini is the provider for Google's Gemini API
// (generativelanguage.googleapis.com, v1beta). It registers itself as
// provider type "gemini".
//
// It is built on google.golang.org/genai, Google's maintained Go SDK for the
// Gemini API. The older github.com/google/generative-ai-go is deprecated
// (its README: support ended 2025-08-31) and points to genai as its
// successor, so it is not used. Calls go through Models.GenerateContent
// (POST …/models/{model}:generateContent), Models.GenerateContentStream
// (…:streamGenerateContent?alt=sse, parsed by the SDK) and
// Models.EmbedContent (…:batchEmbedContents), with the key in the
// x-goog-api-key header.
//
// Translation, in short: the system prompt and system messages become
// systemInstruction; user and assistant turns become "user" and "model"
// contents; tool results become functionResponse parts named after the call
// they answer; images become inlineData (data: URLs) or fileData (http(s)
// URLs); tools become function declarations with parametersJsonSchema; a
// reasoning request becomes thinkingConfig with includeThoughts. Gemini
// rarely gives function calls ids, so the provider makes them up; thought
// signatures are surfaced on Thinking events and tool calls and sent back on
// later turns, as Gemini 3 requires.
//
// The SDK's own retries and automatic continuation stay off: retrying is the
// gateway's decision, made before the first byte reaches the client.
package gemini

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/adapters/providers/internal/wire"
	"github.com/agentgate/agentgate/internal/clock"
	"google.golang.org/genai"
)

func init() {
	adapters.RegisterProvider("gemini", New)
}

// Defaults.
const (
	DefaultBaseURL     = "https://generativelanguage.googleapis.com"
	DefaultAPIVersion  = "v1beta"
	DefaultTimeout     = 10 * time.Minute
	DefaultDialTimeout = 10 * time.Second
)

// maxResponseBody bounds a non-streamed response (and an error body). It is
// a variable for tests.
var maxResponseBody int64 = 64 << 20

// Provider calls the Gemini API. It is safe for concurrent use; all calls
// share one SDK client, one HTTP client and its connection pool.
type Provider struct {
	apiKey    string
	timeout   time.Duration
	clock     clock.Clock
	client    *genai.Client
	transport *http.Transport
	// newCallID makes the id of a function call Gemini sent without one.
	newCallID func() string
	// keyless: no key for Google's own Gemini API (ListModels does not
	// call).
	keyless bool
}

var (
	_ adapters.Provider = (*Provider)(nil)
	_ adapters.Embedder = (*Provider)(nil)
)

// New builds a provider from cfg:
//
//   - BaseURL: the API root (default https://generativelanguage.googleapis.com);
//     a trailing slash and a trailing API version (/v1beta, /v1, /v1alpha)
//     are tolerated, the version then being used.
//   - APIKey: sent as x-goog-api-key. When empty no key is sent (for a proxy
//     that adds its own); the SDK's GEMINI_API_KEY/GOOGLE_API_KEY
//     environment fallback is never used.
//   - Timeout: bounds one whole call, streams included (default 10m).
//   - StreamHeaderTimeout, StreamIdleTimeout: how long a streamed call
//     waits for the response headers (default 30s) and for more of the
//     stream (default 60s).
//   - Options: "api_version" (default v1beta), "header.<Name>" (any extra
//     header), "dial_timeout" (default 10s) and "header_timeout" (how long
//     to wait for response headers; default: only Timeout bounds it).
func New(cfg adapters.ProviderConfig) (adapters.Provider, error) {
	return NewProvider(cfg)
}

// NewProvider is New with the concrete type.
func NewProvider(cfg adapters.ProviderConfig) (*Provider, error) {
	o := wire.NewOptions("gemini", cfg, DefaultDialTimeout, "x-goog-api-key", "Authorization")
	base := wire.TrimBaseURL(cfg.BaseURL, DefaultBaseURL)
	version := ""
	for _, v := range []string{"v1beta", "v1alpha", "v1"} {
		if strings.HasSuffix(base, "/"+v) {
			base, version = strings.TrimSuffix(base, "/"+v), v
			break
		}
	}
	if u, ok := wire.ParseBaseURL(base); !ok || u.RawQuery != "" {
		return nil, o.BadBaseURL()
	}
	timeout, err := o.Timeout(cfg.Timeout, DefaultTimeout)
	if err != nil {
		return nil, err
	}
	p := &Provider{
		apiKey:    cfg.APIKey,
		timeout:   timeout,
		clock:     o.Clock,
		newCallID: randomCallID,
	}
	for k, v := range cfg.Options {
		switch k {
		case "api_version":
			if v == "" || strings.ContainsAny(v, "/?#") {
				return nil, o.Errorf("invalid api_version %q", v)
			}
			version = v
		default:
			if err := o.Parse(k, v); err != nil {
				return nil, err
			}
		}
	}
	if version == "" {
		version = DefaultAPIVersion
	}
	p.transport = o.Transport()
	key := cfg.APIKey
	if key == "" {
		// The SDK insists on a key for the Gemini API and would otherwise
		// take one from the environment; the transport drops this one.
		key = noKey
	}
	rt := &transport{base: o.StreamGuard(p.transport), headers: o.Headers, dropKey: cfg.APIKey == ""}
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:     key,
		Backend:    genai.BackendGeminiAPI,
		HTTPClient: &http.Client{Transport: rt},
		HTTPOptions: genai.HTTPOptions{
			BaseURL:    base + "/",
			APIVersion: version,
		},
	})
	if err != nil {
		return nil, o.Errorf("%v", err)
	}
	p.client = client
	p.keyless = wire.VendorWithoutKey(cfg.APIKey, base, DefaultBaseURL)
	return p, nil
}

// noKey stands in for an empty API key inside the SDK.
const noKey = "agentgate-no-key"

// CloseIdleConnections closes the provider's idle upstream connections (for
// a config reload that drops the provider).
func (p *Provider) CloseIdleConnections() { p.transport.CloseIdleConnections() }

// Chat sends req to models/{model}:generateContent, or
// :streamGenerateContent?alt=sse when req.Stream, and emits its events.
func (p *Provider) Chat(ctx context.Context, req *adapters.Request, emit adapters.Emit) error {
	if err := checkModel(req.Model); err != nil {
		return err
	}
	contents, config, err := buildRequest(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, p.timeout, errCallTimeout)
	defer cancel()
	rec := &exchange{}
	ctx = context.WithValue(ctx, exchangeKey{}, rec)
	s := &events{Emitter: wire.NewEmitter(emit, req.Model), newCallID: p.newCallID, streaming: req.Stream}

	if !req.Stream {
		resp, err := p.client.Models.GenerateContent(ctx, req.Model, contents, config)
		if err != nil {
			return p.callError(ctx, err, rec)
		}
		s.status = rec.status
		return s.response(resp)
	}
	for resp, err := range p.client.Models.GenerateContentStream(wire.StreamCall(ctx), req.Model, contents, config) {
		s.status = rec.status
		if err != nil {
			if s.EmitFailed() {
				return err
			}
			return s.Fail(p.streamError(ctx, err, rec, s.Started()))
		}
		if err := s.chunk(resp); err != nil {
			if s.EmitFailed() {
				return err
			}
			return s.Fail(err)
		}
	}
	return s.endStream()
}

// checkModel rejects model names the SDK would refuse to put in a URL.
func checkModel(model string) error {
	if model == "" {
		return adapters.BadField("model", "is required")
	}
	if strings.ContainsAny(model, "?&#") || strings.Contains(model, "..") {
		return adapters.BadField("model", "invalid model name %q", model)
	}
	return nil
}

// randomCallID makes a function call id: "call_" and 24 hex digits.
func randomCallID() string {
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 29)
	b = append(b, "call_"...)
	for range 2 {
		v := rand.Uint64()
		for range 12 {
			b = append(b, hex[v&0xf])
			v >>= 4
		}
	}
	return string(b)
}

// exchange records what the upstream answered to one call: the SDK's
// errors carry neither the HTTP status nor the headers (Retry-After).
type exchange struct {
	sent   bool
	status int
	header http.Header
}

type exchangeKey struct{}

// transport adds the configured headers, drops the placeholder key,
// bounds non-streamed bodies and records each answer's status and headers
// in the call's exchange.
type transport struct {
	base    http.RoundTripper
	headers http.Header
	dropKey bool
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(t.headers) > 0 || t.dropKey {
		req = req.Clone(req.Context())
		for k, v := range t.headers {
			req.Header[k] = v
		}
		if t.dropKey {
			req.Header.Del("x-goog-api-key")
		}
	}
	rec, _ := req.Context().Value(exchangeKey{}).(*exchange)
	if rec != nil {
		rec.sent = true
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		rec.status, rec.header = resp.StatusCode, resp.Header
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body = &limitedBody{rc: resp.Body, left: maxResponseBody}
	}
	return resp, nil
}

var errTooLarge = errors.New("gemini: upstream response too large")

// limitedBody fails reads past its limit instead of truncating silently.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// At the limit: fine if the body ends here.
		var one [1]byte
		if n, err := b.rc.Read(one[:]); n == 0 {
			return 0, err
		}
		return 0, errTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// callError turns the error of a call that produced no event into the
// gateway's error: an *adapters.Error, or ctx's error when the caller gave
// up.
func (p *Provider) callError(ctx context.Context, err error, rec *exchange) error {
	if apiErr, ok := asAPIError(err); ok {
		if rec.status >= 200 && rec.status < 300 {
			// An error event at the start of a 200 stream.
			e := fromAPIError(apiErr, 0, nil, p.clock.Now())
			e.UpstreamStatus = inbandStatus(apiErr.Code, rec.status)
			return wire.Redact(e, p.apiKey)
		}
		return wire.Redact(fromAPIError(apiErr, rec.status, rec.header, p.clock.Now()), p.apiKey)
	}
	if ctx.Err() == nil && errors.Is(err, errTooLarge) {
		return &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream response too large", UpstreamStatus: rec.status}
	}
	if !rec.sent && ctx.Err() == nil {
		return &adapters.Error{Kind: adapters.KindInternal, Message: "cannot build the upstream request"}
	}
	if rec.status >= 200 && rec.status < 300 && ctx.Err() == nil && !isNetError(err) {
		return &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream returned an invalid response", UpstreamStatus: rec.status}
	}
	te := wire.TransportError(ctx, err, p.timeout, errCallTimeout)
	if ae, ok := te.(*adapters.Error); ok && rec.status != 0 {
		ae.UpstreamStatus = rec.status
	}
	return te
}

// streamError is callError for an error the stream iterator yielded, before
// or after the first event.
func (p *Provider) streamError(ctx context.Context, err error, rec *exchange, started bool) error {
	if !started {
		if _, ok := asAPIError(err); ok || ctx.Err() != nil || isNetError(err) || errors.Is(err, errTooLarge) || !rec.sent || rec.status < 200 || rec.status >= 300 {
			return p.callError(ctx, err, rec)
		}
	}
	if apiErr, ok := asAPIError(err); ok {
		// An error event inside a 200 stream.
		e := wire.Redact(fromAPIError(apiErr, 0, nil, p.clock.Now()), p.apiKey)
		e.UpstreamStatus = inbandStatus(apiErr.Code, rec.status)
		return e
	}
	if ctx.Err() != nil || isNetError(err) {
		return wire.StreamError(ctx, err, p.timeout, errCallTimeout, rec.status)
	}
	return &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream sent a malformed stream chunk", UpstreamStatus: rec.status}
}

// inbandStatus is the status reported for an error event inside a stream:
// the error's own code, which tells a retryable failure (500, 503) from a
// final one, else the stream's HTTP status.
func inbandStatus(code, httpStatus int) int {
	if code >= 400 && code <= 599 {
		return code
	}
	return httpStatus
}

func asAPIError(err error) (genai.APIError, bool) {
	var v genai.APIError
	if errors.As(err, &v) {
		return v, true
	}
	var pv *genai.APIError
	if errors.As(err, &pv) && pv != nil {
		return *pv, true
	}
	return genai.APIError{}, false
}

func isNetError(err error) bool {
	var nerr net.Error
	if errors.As(err, &nerr) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
