package caddymodule

import (
	"net/http/httptest"
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
