package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/internal/clock"
)

// MaxResponseBody bounds a non-streamed response.
const MaxResponseBody = 64 << 20

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// Header values every call sends, shared by their requests.
var (
	jsonType        = []string{"application/json"}
	eventStreamType = []string{"text/event-stream"}
	userAgent       = []string{"agentgate"}
)

// Client posts JSON to an upstream for a provider that speaks HTTP itself.
// It is safe for concurrent use; all calls share one connection pool.
type Client struct {
	http        *http.Client
	transport   *http.Transport
	headers     http.Header
	timeout     time.Duration
	callTimeout error
	clock       clock.Clock
	mapStatus   MapStatus
}

// MapStatus turns a provider's non-2xx answer into the gateway's error;
// now is the time it arrived, on the gateway's clock (a Retry-After date
// is counted from it).
type MapStatus func(status int, header http.Header, body []byte, now time.Time) *adapters.Error

// Client returns a client that sends o.Headers with every request, bounds
// every call by timeout with cause callTimeout (a provider's own sentinel),
// streamed calls also by o.Stream, and turns non-2xx answers into errors
// with mapStatus at the time of o.Clock.
func (o *Options) Client(timeout time.Duration, callTimeout error, mapStatus MapStatus) *Client {
	t := o.Transport()
	return &Client{http: &http.Client{Transport: o.StreamGuard(t)}, transport: t, headers: o.Headers,
		timeout: timeout, callTimeout: callTimeout, clock: o.Clock, mapStatus: mapStatus}
}

// Timeout is the bound on one whole call, streams included (which the
// stream timeouts bound more tightly while the upstream is silent).
func (c *Client) Timeout() time.Duration { return c.timeout }

// CloseIdleConnections closes the idle upstream connections.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }

// WithTimeout bounds ctx by the call timeout, with the cause
// TransportError tells from the caller's own deadline.
func (c *Client) WithTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, c.timeout, c.callTimeout)
}

// TransportError is TransportError for a call bounded by WithTimeout.
func (c *Client) TransportError(ctx context.Context, err error) error {
	return TransportError(ctx, err, c.timeout, c.callTimeout)
}

// Post sends a JSON body and returns a 2xx response, or the error for a
// failed call: an *adapters.Error, or ctx's error when the caller gave up.
func (c *Client) Post(ctx context.Context, target string, body []byte, stream bool) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, &adapters.Error{Kind: adapters.KindInternal, Message: "cannot build the upstream request"}
	}
	// The values are shared, never written: the transport only reads them.
	h := make(http.Header, len(c.headers)+3)
	for k, v := range c.headers {
		h[k] = v
	}
	h["Content-Type"] = jsonType
	if stream {
		h["Accept"] = eventStreamType
	} else {
		h["Accept"] = jsonType
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = userAgent
	}
	hreq.Header = h
	resp, err := c.send(hreq)
	if err != nil {
		return nil, c.TransportError(ctx, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return nil, redactCredentials(c.mapStatus(resp.StatusCode, resp.Header, msg, c.clock.Now()), c.headers)
}

// send makes req's round trip as http.Client.Do would, without what Do
// spends on every call for redirects it rarely follows (a copy of the
// headers, and its bookkeeping): the transport answers, and only an
// answer that redirects goes to Do, which follows it by its rules (a 307
// or 308 sends the body again, a 301, 302 or 303 turns a POST into a GET
// without one, credentials stay off another host; a 3xx without a
// Location comes back as it is) from that answer, so that each hop is
// sent once. Errors are Do's *url.Error.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	if req.URL.User != nil {
		return c.http.Do(req) // Do's errors hide the password
	}
	resp, err := c.http.Transport.RoundTrip(req)
	if err != nil {
		return nil, &url.Error{Op: req.Method[:1] + strings.ToLower(req.Method[1:]), URL: req.URL.String(), Err: err}
	}
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		follow := &http.Client{Transport: &answered{resp: resp, next: c.http.Transport}}
		return follow.Do(req)
	}
	return resp, nil
}

// answered is a transport whose first round trip was already made: its
// answer is resp, and the hops after it go to next. Do, given it, follows
// a redirect from an answer in hand. It serves one call.
type answered struct {
	resp *http.Response
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (a *answered) RoundTrip(req *http.Request) (*http.Response, error) {
	resp := a.resp
	if resp == nil {
		return a.next.RoundTrip(req)
	}
	a.resp = nil
	if req.Body != nil {
		_ = req.Body.Close() // a RoundTripper closes the body it was given; the first hop sent it
	}
	return resp, nil
}

// credentialHeaders are the headers providers send their keys in.
var credentialHeaders = []string{"Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key"}

// redactCredentials redacts the keys among h's credential headers from
// e's message and cause: an upstream that repeats the key it was sent
// must not put it in a client's answer or the gateway's logs.
func redactCredentials(e *adapters.Error, h http.Header) *adapters.Error {
	for _, name := range credentialHeaders {
		for _, v := range h.Values(name) {
			Redact(e, strings.TrimPrefix(v, "Bearer "))
		}
	}
	return e
}

// ReadBody reads a non-streamed answer, up to MaxResponseBody.
func (c *Client) ReadBody(ctx context.Context, resp *http.Response) (string, error) {
	text, err := ReadText(resp.Body, resp.ContentLength)
	if err == ErrTooLarge {
		return "", &adapters.Error{Kind: adapters.KindUpstream, Message: "upstream response too large", UpstreamStatus: resp.StatusCode}
	}
	if err != nil {
		te := c.TransportError(ctx, err)
		if ae, ok := te.(*adapters.Error); ok {
			ae.UpstreamStatus = resp.StatusCode
		}
		return "", te
	}
	return text, nil
}

// ErrTooLarge is ReadText's error for a body past MaxResponseBody.
var ErrTooLarge = errors.New("upstream response too large")

// textBuffers are the buffers ReadText reads through, reused: the answer's
// one allocation is then its text.
var textBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledText bounds the buffers kept for reuse: those a huge answer
// grew are left to the collector.
const maxPooledText = 64 << 10

// ReadText reads body, an answer of size bytes (a Content-Length; -1 when
// unknown), to its end: its text, or ErrTooLarge past MaxResponseBody,
// or the error reading it returned. bytes.Buffer reads straight into
// itself; io.Copy into a strings.Builder would allocate a 32 KiB copy
// buffer per call.
func ReadText(body io.Reader, size int64) (string, error) {
	buf := textBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledText {
			buf.Reset()
			textBuffers.Put(buf)
		}
	}()
	if size > 0 && size <= MaxResponseBody {
		buf.Grow(int(size) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(body, MaxResponseBody+1))
	if err != nil {
		return "", err
	}
	if n > MaxResponseBody {
		return "", ErrTooLarge
	}
	return buf.String(), nil
}

// TextBody is an answer's body read whole (adapters.TextBody).
type TextBody struct {
	strings.Reader
	text string
}

// NewTextBody is a body of text.
func NewTextBody(text string) *TextBody {
	b := &TextBody{text: text}
	b.Reset(text)
	return b
}

// Text implements adapters.TextBody.
func (b *TextBody) Text() string { return b.text }

// Close implements io.Closer.
func (b *TextBody) Close() error { return nil }

// Call makes one call bounded by the call timeout (and by the stream
// timeouts when stream is asked for): it posts body and hands a 2xx answer
// to readStream when it is an event stream, draining what is left after a
// clean end so the connection is reused, or to readWhole. The
// Content-Type decides, not what was asked: a server may ignore "stream",
// and a proxy may answer a stream with one message.
func (c *Client) Call(ctx context.Context, target string, body []byte, stream bool,
	readStream func(ctx context.Context, body io.Reader, status int) error,
	readWhole func(body string, status int) error,
) error {
	ctx, cancel := c.WithTimeout(ctx)
	defer cancel()
	if stream {
		ctx = StreamCall(ctx)
	}
	resp, err := c.Post(ctx, target, body, stream)
	if err != nil {
		return err
	}
	defer resp.Body.Close()

	ct := resp.Header.Get("Content-Type")
	if stream && strings.HasPrefix(ct, "application/json") {
		stream = false
	} else if !stream && strings.HasPrefix(ct, "text/event-stream") {
		stream = true
	}
	if stream {
		err := readStream(ctx, resp.Body, resp.StatusCode)
		if err == nil {
			drain(resp.Body, cancel)
		}
		return err
	}
	text, err := c.ReadBody(ctx, resp)
	if err != nil {
		return err
	}
	return readWhole(text, resp.StatusCode)
}

// drain reads what is left of a finished stream (usually only the chunked
// terminator after the final event) so the connection returns to the
// pool, giving up quickly if the upstream keeps it open.
func drain(body io.Reader, cancel context.CancelFunc) {
	t := time.AfterFunc(100*time.Millisecond, cancel)
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	t.Stop()
}
