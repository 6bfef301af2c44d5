package openai

import (
	"io"
	"net/http"
	"strings"

	"github.com/agentgate/agentgate/adapters"
	"github.com/tidwall/gjson"
)

// requestHeaders are the client's headers a passed-through request
// carries upstream; the rest (its key, cookies, its own organization and
// project, which mean nothing to the provider's account) stay behind.
var requestHeaders = []string{"Content-Type", "Accept", "OpenAI-Beta", "Idempotency-Key", "User-Agent"}

// dropResponseHeaders are the upstream's headers a client never sees:
// hop-by-hop ones, cookies, and what describes the provider's account
// (its organization, project and rate limits; the gateway sets its own
// x-ratelimit-* headers).
var dropResponseHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Set-Cookie": true,
	"Openai-Organization": true, "Openai-Project": true, "Alt-Svc": true,
}

// copyResponseHeaders copies the upstream's headers a client may see.
func copyResponseHeaders(dst, src http.Header) {
	for k, v := range src {
		if dropResponseHeaders[k] || strings.HasPrefix(k, "X-Ratelimit-") {
			continue
		}
		dst[k] = v
	}
}

// jsonUsage reads an answer's usage, in any of OpenAI's shapes:
// prompt/completion tokens (completions, embeddings) or input/output
// tokens (images, audio, responses), with their details.
func jsonUsage(u gjson.Result) (adapters.Usage, bool) {
	if !u.IsObject() {
		return adapters.Usage{}, false
	}
	first := func(paths ...string) int {
		for _, p := range paths {
			if v := u.Get(p); v.Type == gjson.Number {
				return int(v.Int())
			}
		}
		return 0
	}
	out := adapters.Usage{
		InputTokens:     first("prompt_tokens", "input_tokens"),
		OutputTokens:    first("completion_tokens", "output_tokens"),
		ReasoningTokens: first("completion_tokens_details.reasoning_tokens", "output_tokens_details.reasoning_tokens"),
		CachedTokens:    first("prompt_tokens_details.cached_tokens", "input_tokens_details.cached_tokens"),
	}
	if out.InputTokens == 0 && out.OutputTokens == 0 {
		// Usage given only as a total (some moderation servers).
		out.InputTokens = first("total_tokens")
	}
	return out, true
}

// relay copies body to w as it arrives, flushing after each read when
// flush is set (event streams, chunked and unsized answers), and shows
// every chunk to observe. It returns the first error of either side.
func relay(w http.ResponseWriter, body io.Reader, flush bool, observe func([]byte)) error {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if observe != nil {
				observe(buf[:n])
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
			if flush {
				if err := rc.Flush(); err != nil {
					return err
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
