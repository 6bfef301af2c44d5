package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/adapters/dialects"
)

// TestRouteSet: routes with a When are tried first, in order; the one
// without serves the rest; two without are a configuration error.
func TestRouteSet(t *testing.T) {
	anthropic, openai, other := &route{dialect: "anthropic"}, &route{dialect: "openai"}, &route{dialect: "other"}
	set := &routeSet{}
	if err := set.add(openai, nil); err != nil {
		t.Fatal(err)
	}
	if err := set.add(anthropic, dialects.HasHeader("anthropic-version")); err != nil {
		t.Fatal(err)
	}
	if err := set.add(other, nil); err == nil {
		t.Error("a second unconditional route was accepted")
	}
	r := httptest.NewRequest("GET", "/v1/models", nil)
	if got := set.pick(r); got != openai {
		t.Errorf("no header: %v", got.dialect)
	}
	r.Header.Set("Anthropic-Version", "2023-06-01")
	if got := set.pick(r); got != anthropic {
		t.Errorf("anthropic-version: %v", got.dialect)
	}
	guarded := &routeSet{}
	_ = guarded.add(anthropic, dialects.HasHeader("anthropic-version"))
	if got := guarded.pick(httptest.NewRequest("GET", "/v1/models", nil)); got != nil {
		t.Errorf("a request no route takes went to %v", got.dialect)
	}
}

// TestConflictingRoutes: two patterns that claim the same requests,
// neither more specific, are a provisioning error, not a panic.
func TestConflictingRoutes(t *testing.T) {
	mux := http.NewServeMux()
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if err := handle(mux, "GET /v1/models/{id}", ok); err != nil {
		t.Fatal(err)
	}
	if err := handle(mux, "GET /v1/models/{model...}", ok); err != nil {
		t.Fatalf("a more general pattern beside a specific one: %v", err)
	}
	err := handle(mux, "GET /v1/{kind}/list", ok)
	if err == nil || !strings.Contains(err.Error(), "dialect routes conflict") || !strings.Contains(err.Error(), `"GET /v1/{kind}/list" (registered at`) {
		t.Fatalf("conflicting pattern: %v", err)
	}
}
