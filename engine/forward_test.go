package engine

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/engine/models"
	"github.com/agentgate/agentgate/engine/tiers"
	"github.com/agentgate/agentgate/state"
)

// forwardingProvider is a provider that speaks OpenAI's API.
type forwardingProvider struct{ fakeProvider }

func (*forwardingProvider) Forward(*http.Request) (*http.Response, error) { return nil, nil }

func TestPassthroughConfig(t *testing.T) {
	providers := func(forwarders ...string) map[string]adapters.Provider {
		out := map[string]adapters.Provider{"plain": newFake()}
		for _, f := range forwarders {
			out[f] = &forwardingProvider{}
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		providers map[string]adapters.Provider
		cfg       models.PassthroughConfig
		enabled   bool
		def       string // the default upstream, "" when none
		err       string
	}{
		{"the only OpenAI-compatible provider is the default", providers("up"), models.PassthroughConfig{}, true, "up", ""},
		{"two, none named: no default", providers("a", "b"), models.PassthroughConfig{}, true, "", ""},
		{"named", providers("a", "b"), models.PassthroughConfig{DefaultProvider: "b"}, true, "b", ""},
		{"off", providers("up"), models.PassthroughConfig{Disabled: true}, false, "up", ""},
		{"no OpenAI-compatible provider", providers(), models.PassthroughConfig{}, false, "", ""},
		{"unknown default", providers("up"), models.PassthroughConfig{DefaultProvider: "nope"}, false, "", `unknown default provider "nope"`},
		{"default not OpenAI-compatible", providers("up"), models.PassthroughConfig{DefaultProvider: "plain"}, false, "", "does not speak OpenAI's API"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := openStore(t)
			rt, err := New(Config{Store: store, Providers: tc.providers, Passthrough: tc.cfg,
				Now: func() time.Time { return testClock }, UsageFlushInterval: time.Millisecond})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("New: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close()
			if rt.Models().PassthroughEnabled() != tc.enabled {
				t.Errorf("enabled = %v", rt.Models().PassthroughEnabled())
			}
			got := ""
			if up, ok := rt.Models().UpstreamNamed(""); ok {
				got = up.Provider
			}
			if got != tc.def {
				t.Errorf("default upstream %q, want %q", got, tc.def)
			}
		})
	}
}

func TestUpstreamFor(t *testing.T) {
	rt, _ := newTestRuntime(t, Config{
		Providers: map[string]adapters.Provider{"up": &forwardingProvider{}, "plain": newFake()},
		Routes: []models.Route{{Pattern: "gpt-*", Provider: "up"}, {Pattern: "fast", Provider: "up", Target: "gpt-4o-mini"},
			{Pattern: "openai/*", Provider: "up"}, {Pattern: "claude-*", Provider: "plain"}},
		Tiers: tiers.New(state.Tier{Name: "limited", Models: []string{"fast"}}),
	})
	limited := &adapters.Principal{Tenant: "t", Tier: "limited"}
	for _, tc := range []struct {
		model string
		p     *adapters.Principal
		want  string // upstream model, or the error code
	}{
		{"gpt-4o", tenantA, "gpt-4o"},
		{"fast", tenantA, "gpt-4o-mini"},
		{"openai/gpt-4o", tenantA, "gpt-4o"},
		{"claude-x", tenantA, "passthrough_not_supported"},
		{"nothing", tenantA, "model_not_found"},
		{"gpt-4o", limited, "model_not_allowed"},
		{"fast", limited, "gpt-4o-mini"},
	} {
		up, err := rt.UpstreamFor(tc.p, tc.model)
		got := ""
		if err != nil {
			got = adapters.AsError(err).CodeOrDefault()
		} else {
			got = up.Model
		}
		if got != tc.want {
			t.Errorf("UpstreamFor(%s, %s) = %q, want %q", tc.p.Tier, tc.model, got, tc.want)
		}
	}
}
