package e2e

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

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
