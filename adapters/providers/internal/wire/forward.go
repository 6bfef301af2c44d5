package wire

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Forward sends req, whose URL holds a path below base (the API root,
// without a trailing slash) and a query, to the upstream with the
// client's headers (its key among them) replacing any req carries, and
// returns the answer whatever its status. The call is bounded by the call
// timeout until the answer's body is closed. An error means no answer
// came: an *adapters.Error, or ctx's error when the caller gave up.
func (c *Client) Forward(base string, req *http.Request) (*http.Response, error) {
	target, err := url.Parse(base + "/" + strings.TrimPrefix(req.URL.EscapedPath(), "/"))
	if err != nil {
		return nil, TransportError(req.Context(), err, c.timeout, c.callTimeout)
	}
	target.RawQuery = req.URL.RawQuery
	ctx, cancel := c.WithTimeout(req.Context())
	out := req.Clone(ctx)
	out.URL, out.Host, out.RequestURI = target, "", ""
	out.Header.Del("Authorization") // only the provider's own key goes upstream
	for k, v := range c.headers {
		out.Header[k] = v
	}
	if out.Header.Get("User-Agent") == "" {
		out.Header.Set("User-Agent", "agentgate")
	}
	resp, err := c.http.Do(out)
	if err != nil {
		// Classified before cancel: a cancelled ctx reads as the caller
		// giving up.
		err = c.TransportError(ctx, err)
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends a call's context when its answer's body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
