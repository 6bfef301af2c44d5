package adapters

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/clock"
)

// Provider sends canonical requests to one upstream.
type Provider interface {
	// Chat makes one model call and emits its events in order: Start,
	// Thinking/Delta/ToolCall, Usage (when the upstream reports one), Done.
	// It returns an *Error for failures before the first event; failures
	// after it are emitted as an Error event and also returned.
	Chat(ctx context.Context, req *Request, emit Emit) error
}

// Embedder is implemented by providers that compute embeddings.
type Embedder interface {
	Embed(ctx context.Context, model string, inputs []string) ([][]float32, Usage, error)
}

// ProviderConfig is the operator's configuration of one provider instance.
// It is deliberately generic so a provider package needs no Caddy import.
type ProviderConfig struct {
	// Name is the instance name agents refer to ("openai", "local").
	Name    string
	BaseURL string
	APIKey  string
	// Timeout bounds one upstream call; 0 means a provider default.
	Timeout time.Duration
	// StreamHeaderTimeout bounds the wait for the response headers of a
	// streamed call, and StreamIdleTimeout every silence of its body (from
	// the headers to the first bytes, then between two reads): an upstream
	// that stops answering fails the call long before Timeout, which must
	// leave a non-streamed answer minutes of thought. 0 means the
	// provider's default, a negative value none.
	StreamHeaderTimeout, StreamIdleTimeout time.Duration
	// Options carry provider-specific settings (mock: delay).
	Options map[string]string
	// Clock is the gateway's clock, which an upstream's Retry-After date
	// is counted from; nil means the machine's (clock.Real).
	Clock clock.Clock
}

// ProviderFactory builds a Provider from its configuration.
type ProviderFactory func(cfg ProviderConfig) (Provider, error)

var (
	providersMu sync.RWMutex
	providers   = map[string]ProviderFactory{}
)

// RegisterProvider makes a provider type available under typ. It is called
// from provider packages' init functions and panics on duplicates.
func RegisterProvider(typ string, f ProviderFactory) {
	providersMu.Lock()
	defer providersMu.Unlock()
	if _, dup := providers[typ]; dup {
		panic("adapters: provider type registered twice: " + typ)
	}
	providers[typ] = f
}

// NewProvider builds a provider of type typ.
func NewProvider(typ string, cfg ProviderConfig) (Provider, error) {
	providersMu.RLock()
	f, ok := providers[typ]
	providersMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown provider type %q (known: %v)", typ, ProviderTypes())
	}
	return f(cfg)
}

// ProviderTypes lists the registered provider types.
func ProviderTypes() []string {
	providersMu.RLock()
	defer providersMu.RUnlock()
	out := make([]string, 0, len(providers))
	for k := range providers {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
