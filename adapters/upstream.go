package adapters

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

// ErrNoAPIKey is what a provider's ListModels returns, without calling,
// when it has no API key for its vendor's own API, which answers nothing
// without one (a fresh checkout's example providers): the model catalog
// lists nothing for it and does not warn about a call that could not
// succeed.
var ErrNoAPIKey = errors.New("no API key for the vendor's API")

// ModelLister is implemented by providers whose upstream lists the models
// it serves (OpenAI-compatible GET /models, Gemini's and Anthropic's model
// lists): the gateway lists them to clients as models they may call.
type ModelLister interface {
	ListModels(ctx context.Context) ([]ModelInfo, error)
}

// ModelInfo is one model an upstream serves.
type ModelInfo struct {
	// ID is the model's name as the upstream takes it in requests.
	ID string
	// Created is when the upstream says the model was made; zero when it
	// does not say.
	Created time.Time
}

// Forwarder is implemented by providers that speak OpenAI's HTTP API
// themselves: the gateway hands them the requests it does not translate
// (files, batches, images, audio, …) to send as they came.
type Forwarder interface {
	// Forward sends req to the upstream with the provider's own
	// credentials and returns its answer, whatever its status; the caller
	// closes the body. req.URL holds only the path below the API root
	// ("files/file-abc/content") and the query; Forward resolves it
	// against the provider's base URL and replaces any credentials req
	// carries. An error means no answer came (the upstream is unreachable
	// or the call timed out): an *Error, or ctx's error when the caller
	// gave up.
	Forward(req *http.Request) (*http.Response, error)
}

// ChatRelayer is implemented by providers that speak OpenAI's Chat
// Completions API themselves: the raw passthrough lane hands them a
// client's request body, already in that format (its model patched), and
// relays the bytes of their answer to the client as they arrive, with no
// canonical form in between.
type ChatRelayer interface {
	// RelayChat posts body to the upstream's chat completions with the
	// provider's credentials and headers, and returns its 2xx answer; the
	// caller reads and closes its body. Reading it fails with the *Error
	// the provider's Chat would have reported for the same failure (a
	// stalled stream, a broken connection), or ctx's error. When no 2xx
	// answer came, the error is what Chat would have returned: an *Error
	// (a non-2xx status mapped as Chat maps it), or ctx's error when the
	// caller gave up. A non-streamed answer is read and checked first, as
	// Chat checks it: its body is in memory (a TextBody, when the
	// provider can hand its text over without a copy), ContentLength its
	// length.
	RelayChat(ctx context.Context, body []byte, stream bool) (*http.Response, error)
}

// TextBody is the body of an answer a provider read whole, as a
// ChatRelayer's non-streamed answer is: Text is all of it, which the
// relay reads without copying it out.
type TextBody interface {
	io.ReadCloser
	Text() string
}

// As finds the T that p implements, looking through wrappers that expose
// what they wrap with Unwrap (metering). A pool of several upstreams
// implements every optional interface and serves it through its members,
// so it is a T only when its members are, which its Member tells.
func As[T any](p Provider) (T, bool) {
	var zero T
	for p != nil {
		if t, ok := p.(T); ok {
			if pool, isPool := p.(interface{ Member() Provider }); isPool {
				if _, ok := As[T](pool.Member()); !ok {
					return zero, false
				}
			}
			return t, true
		}
		u, ok := p.(interface{ Unwrap() Provider })
		if !ok {
			break
		}
		p = u.Unwrap()
	}
	return zero, false
}
