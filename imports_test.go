package agentgate

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

// TestModelListsWithoutKey: every registered provider that lists models
// does not call its vendor's API without an API key (a fresh checkout's
// example providers), and does call any other base URL without one (a
// local OpenAI-compatible server needs none).
func TestModelListsWithoutKey(t *testing.T) {
	var calls atomic.Int32
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, `{"error":{"message":"no"}}`, http.StatusTeapot)
	}))
	defer local.Close()
	listers := 0
	for _, typ := range adapters.ProviderTypes() {
		p, err := adapters.NewProvider(typ, adapters.ProviderConfig{Name: typ})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		l, ok := adapters.As[adapters.ModelLister](p)
		if !ok {
			continue
		}
		listers++
		if _, err := l.ListModels(context.Background()); !errors.Is(err, adapters.ErrNoAPIKey) {
			t.Errorf("%s on its vendor's API without a key: %v, want ErrNoAPIKey", typ, err)
		}
		p, err = adapters.NewProvider(typ, adapters.ProviderConfig{Name: typ, BaseURL: local.URL})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		l, _ = adapters.As[adapters.ModelLister](p)
		before := calls.Load()
		if _, err := l.ListModels(context.Background()); err == nil || errors.Is(err, adapters.ErrNoAPIKey) || calls.Load() == before {
			t.Errorf("%s on a local server without a key: %v after %d calls, want the server's refusal", typ, err, calls.Load()-before)
		}
	}
	if listers < 3 {
		t.Errorf("%d providers list models, want openai, anthropic and gemini at least", listers)
	}
}
