package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/agentgate/agentgate/internal/fakeupstream"
	"github.com/agentgate/agentgate/internal/testgate"
	"github.com/openai/openai-go/v3"
)

// adminDo sends a request to g's admin API.
func adminDo(t *testing.T, g *testgate.Gateway, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+g.Admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// wantAPIError checks that err is an OpenAI API error with status and,
// when not empty, code.
func wantAPIError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Errorf("want an API error %d %s, got %v", status, code, err)
		return
	}
	if apiErr.StatusCode != status || code != "" && apiErr.Code != code {
		t.Errorf("error = %d %s (%s), want %d %s", apiErr.StatusCode, apiErr.Code, apiErr.Message, status, code)
	}
}

// overloadedOnce fronts model with an upstream that answers its first call
// with OpenAI's 503, then passes every call to model: one retried
// attempt.
func overloadedOnce(t *testing.T, model *fakeupstream.OpenAI) *httptest.Server {
	t.Helper()
	target, _ := url.Parse(model.Server.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var calls atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"message":"overloaded","type":"server_error"}}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	return up
}

// threeProviders declares an openai, a gemini and an anthropic provider at
// the given base URLs, each with its own key, and routes gpt-*, gemini-*
// and claude-* to them.
func threeProviders(openaiURL, geminiURL, anthropicURL string) string {
	return fmt.Sprintf(`
		provider openai openai {
			base_url %s
			api_key sk-oa
		}
		provider gemini gemini {
			base_url %s
			api_key gm-key
		}
		provider anthropic anthropic {
			base_url %s
			api_key an-key
		}
		route gpt-* openai
		route gemini-* gemini
		route claude-* anthropic
`, openaiURL, geminiURL, anthropicURL)
}
