package models

import (
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters"
)

func threeProviders() map[string]adapters.Provider {
	return map[string]adapters.Provider{
		"openai": newFake(), "anthropic": newFake(), "local": newFake(),
	}
}

func TestRouterResolve(t *testing.T) {
	routes := []Route{
		{Pattern: "gpt-*", Provider: "openai"},
		{Pattern: "gpt-4o-*", Provider: "local"}, // longer, declared after the shorter
		{Pattern: "openai/*", Provider: "openai"},
		{Pattern: "claude-*", Provider: "anthropic"},
		{Pattern: "claude-3-haiku-*", Provider: "local"},
		{Pattern: "claude-3-*", Provider: "openai"}, // middle length, declared last
		{Pattern: "gpt-4o", Provider: "anthropic"},  // exact beats any prefix
		{Pattern: "fast", Provider: "openai", Target: "gpt-4o-mini"},
		{Pattern: "plain", Provider: "local"},
	}
	r, err := NewRouter(threeProviders(), routes)
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	tests := []struct {
		name, model, pinned string
		wantProvider        string
		wantModel           string
		wantOK              bool
	}{
		{"exact", "plain", "", "local", "plain", true},
		{"exact beats prefix", "gpt-4o", "", "anthropic", "gpt-4o", true},
		{"alias target", "fast", "", "openai", "gpt-4o-mini", true},
		{"prefix keeps model", "gpt-3.5-turbo", "", "openai", "gpt-3.5-turbo", true},
		{"slash prefix stripped", "openai/gpt-4o", "", "openai", "gpt-4o", true},
		{"slash prefix stripped nested", "openai/org/model", "", "openai", "org/model", true},
		{"longest prefix wins", "gpt-4o-mini", "", "local", "gpt-4o-mini", true},
		{"shorter prefix still serves", "gpt-4-turbo", "", "openai", "gpt-4-turbo", true},
		{"longest of three", "claude-3-haiku-2024", "", "local", "claude-3-haiku-2024", true},
		{"middle of three", "claude-3-opus", "", "openai", "claude-3-opus", true},
		{"shortest of three", "claude-2", "", "anthropic", "claude-2", true},
		{"pinned skips routing", "gpt-4o-mini", "anthropic", "anthropic", "gpt-4o-mini", true},
		{"pinned skips alias", "fast", "local", "local", "fast", true},
		{"pinned skips stripping", "openai/gpt-4o", "local", "local", "openai/gpt-4o", true},
		{"pinned unknown provider", "gpt-4o", "nope", "nope", "gpt-4o", false},
		{"no match, several providers", "mistral-large", "", "", "", false},
		{"no match, prefix is case sensitive", "GPT-4o", "", "", "", false},
		{"no match, empty model", "", "", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prov, model, ok := r.Resolve(tc.model, tc.pinned)
			if ok != tc.wantOK {
				t.Fatalf("Resolve(%q, %q) ok = %v, want %v", tc.model, tc.pinned, ok, tc.wantOK)
			}
			if !ok && tc.pinned == "" {
				if prov != "" || model != "" {
					t.Errorf("Resolve(%q) = %q, %q on failure, want empty", tc.model, prov, model)
				}
				return
			}
			if prov != tc.wantProvider || model != tc.wantModel {
				t.Errorf("Resolve(%q, %q) = %q, %q; want %q, %q", tc.model, tc.pinned, prov, model, tc.wantProvider, tc.wantModel)
			}
		})
	}
}

func TestRouterLongestPrefixIndependentOfOrder(t *testing.T) {
	orders := map[string][]Route{
		"short first": {{Pattern: "a*", Provider: "openai"}, {Pattern: "ab*", Provider: "anthropic"}, {Pattern: "abc*", Provider: "local"}},
		"long first":  {{Pattern: "abc*", Provider: "local"}, {Pattern: "ab*", Provider: "anthropic"}, {Pattern: "a*", Provider: "openai"}},
		"mixed":       {{Pattern: "ab*", Provider: "anthropic"}, {Pattern: "abc*", Provider: "local"}, {Pattern: "a*", Provider: "openai"}},
	}
	want := map[string]string{"a": "openai", "ax": "openai", "ab": "anthropic", "abx": "anthropic", "abc": "local", "abcd": "local"}
	for name, routes := range orders {
		t.Run(name, func(t *testing.T) {
			r, err := NewRouter(threeProviders(), routes)
			if err != nil {
				t.Fatalf("NewRouter: %v", err)
			}
			for model, wantProv := range want {
				prov, got, ok := r.Resolve(model, "")
				if !ok || prov != wantProv || got != model {
					t.Errorf("Resolve(%q) = %q, %q, %v; want %q, %q, true", model, prov, got, ok, wantProv, model)
				}
			}
		})
	}
}

func TestRouterSingleProviderFallback(t *testing.T) {
	only := newFake()
	tests := []struct {
		name   string
		routes []Route
		model  string
		want   string // upstream model
	}{
		{"no routes", nil, "anything-at-all", "anything-at-all"},
		{"unmatched with routes", []Route{{Pattern: "gpt-*", Provider: "solo"}}, "llama3", "llama3"},
		{"route still applies", []Route{{Pattern: "x/*", Provider: "solo"}}, "x/llama3", "llama3"},
		{"alias still applies", []Route{{Pattern: "fast", Provider: "solo", Target: "tiny"}}, "fast", "tiny"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRouter(map[string]adapters.Provider{"solo": only}, tc.routes)
			if err != nil {
				t.Fatalf("NewRouter: %v", err)
			}
			prov, model, ok := r.Resolve(tc.model, "")
			if !ok || prov != "solo" || model != tc.want {
				t.Errorf("Resolve(%q) = %q, %q, %v; want solo, %q, true", tc.model, prov, model, ok, tc.want)
			}
			if r.Provider("solo") != adapters.Provider(only) {
				t.Error("Provider(solo) is not the configured provider")
			}
		})
	}
}

func TestRouterNoProviders(t *testing.T) {
	r, err := NewRouter(map[string]adapters.Provider{}, nil)
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	if prov, model, ok := r.Resolve("gpt-4o", ""); ok {
		t.Errorf("Resolve with no providers = %q, %q, true; want false", prov, model)
	}
	if r.Provider("x") != nil {
		t.Error("Provider of unknown name is not nil")
	}
}

func TestNewRouterErrors(t *testing.T) {
	tests := []struct {
		name    string
		routes  []Route
		wantErr string
	}{
		{"unknown provider exact", []Route{{Pattern: "gpt-4o", Provider: "azure"}}, `unknown provider "azure"`},
		{"unknown provider prefix", []Route{{Pattern: "gpt-*", Provider: "azure"}}, `unknown provider "azure"`},
		{"duplicate exact", []Route{{Pattern: "gpt-4o", Provider: "openai"}, {Pattern: "gpt-4o", Provider: "local"}}, `"gpt-4o" routed twice`},
		{"duplicate alias", []Route{{Pattern: "fast", Provider: "openai", Target: "a"}, {Pattern: "fast", Provider: "openai", Target: "b"}}, `"fast" routed twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRouter(threeProviders(), tc.routes)
			if err == nil {
				t.Fatalf("NewRouter = %v, nil; want error", r)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}
