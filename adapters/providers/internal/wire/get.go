package wire

import (
	"context"
	"io"
	"net/http"

	"github.com/agentgate/agentgate/adapters"
)

// Get fetches target (a model list, say) with the client's headers and
// returns its 2xx body, bounded by MaxResponseBody, or the error for a
// failed call, mapped as a failed Post is.
func (c *Client) Get(ctx context.Context, target string) (string, error) {
	ctx, cancel := c.WithTimeout(ctx)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", &adapters.Error{Kind: adapters.KindInternal, Message: "cannot build the upstream request"}
	}
	for k, v := range c.headers {
		hreq.Header[k] = v
	}
	hreq.Header.Set("Accept", "application/json")
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", "agentgate")
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return "", c.TransportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return "", c.mapStatus(resp.StatusCode, resp.Header, msg, c.clock.Now())
	}
	return c.ReadBody(ctx, resp)
}
